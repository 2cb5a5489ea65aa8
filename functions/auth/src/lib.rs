//! The `auth` function: sign-up, sign-in, refresh-token rotation, logout, the caller's profile,
//! and the organisation's team (users, invitations, custom roles, API keys, audit log). The
//! router is built here so that Lambda (`main.rs`), the local runner and the tests all run the
//! same code.

pub mod openapi;
pub mod passwords;
pub mod routes;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::Router;
use helpdesk_domain::{Mailer, OrgId, PermissionSet, Principal, Role, RoleName, SessionId, UserId};
use helpdesk_http::{ApiError, AuthContext, JwtKeys};
use helpdesk_platform::config::{
    AppUrlConfig, ConfigError, DatabaseConfig, Environment, FromEnvironment, JwtConfig, RedisConfig,
};
use helpdesk_platform::credentials::{Credential, Kind};
use helpdesk_platform::{Deps, Function, Gateway, HttpFunction, RateLimits, Sessions};
use helpdesk_store::{AuditEntry, PgStore, UserCredentials};
use passwords::Passwords;
use std::sync::Arc;

/// Access tokens live about fifteen minutes; sessions (refresh) up to thirty days.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
/// Invitations expire after a week.
pub const INVITATION_TTL_DAYS: i64 = 7;

/// The routes that take a password or a secret: they get the tighter per-IP bucket.
pub const CREDENTIAL_ROUTES: &[&str] =
    &["/v1/auth/signup", "/v1/auth/login", "/v1/auth/refresh", "/v1/invitations/accept"];

/// The function's dependencies, built once per container.
#[derive(Clone)]
pub struct AuthState {
    pub store: PgStore,
    pub sessions: Sessions,
    pub jwt: JwtKeys,
    pub passwords: Passwords,
    pub mailer: Arc<dyn Mailer>,
    pub gateway: Gateway,
    /// Where the dashboard runs, for the links in emails.
    pub app_url: String,
}

/// The `auth` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub limits: RateLimits,
    pub jwt: JwtConfig,
    pub app: AppUrlConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            database: env.section()?,
            redis: env.section()?,
            limits: env.section()?,
            jwt: env.section()?,
            app: env.section()?,
        })
    }
}

impl Function for AuthState {
    const NAME: &'static str = "auth";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let store = deps.database(&config.database).await?;
        let redis = deps.redis(&config.redis)?;
        let gateway = Gateway::new(store.clone(), redis, &config.redis, config.limits, CREDENTIAL_ROUTES);
        Ok(Self {
            sessions: gateway.sessions.clone(),
            gateway,
            store,
            jwt: JwtKeys::hs256(&deps.secrets.jwt_secret(&config.jwt).await?),
            passwords: Passwords::default(),
            mailer: deps.mailer.clone(),
            app_url: config.app.app_url,
        })
    }
}

impl HttpFunction for AuthState {
    fn router(&self) -> Router {
        router(self.clone())
    }
}

impl AuthState {
    /// Starts a session for a user who just proved who they are, and returns its tokens.
    pub(crate) async fn start_session(&self, org: OrgId, user: &UserCredentials) -> Result<Tokens, ApiError> {
        let sid = SessionId::new();
        let refresh = Credential::generate(Kind::Refresh, &[org.0, user.id, sid.0]);
        self.sessions
            .create(org, UserId(user.id), sid, user.authz_version, &refresh.secret_hash())
            .await
            .map_err(session_store_down)?;
        self.tokens(org, user, sid, &refresh)
    }

    pub(crate) fn tokens(
        &self,
        org: OrgId,
        user: &UserCredentials,
        sid: SessionId,
        refresh: &Credential,
    ) -> Result<Tokens, ApiError> {
        let (role, permissions) = role_and_permissions(user)?;
        let caller = AuthContext {
            org,
            principal: Principal::User(UserId(user.id)),
            role,
            permissions,
            session: Some(sid),
            authz_version: user.authz_version,
            expires_at: None,
        };
        Ok(Tokens {
            access_token: self.jwt.issue(&caller, ACCESS_TTL_SECS)?,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TTL_SECS,
            refresh_token: refresh.encode(),
            organization_id: org.0,
            user_id: user.id,
            session_id: sid.0,
        })
    }

    /// Records a security event. A failure to record is an error of the request: an event that
    /// must be audited does not happen unaudited.
    pub(crate) async fn audit(&self, org: OrgId, entry: AuditEntry) -> Result<(), ApiError> {
        self.store.audit(org, entry).await.map_err(ApiError::internal)
    }
}

/// A user's role and what it allows: the built-in matrix, or the custom role's list.
pub(crate) fn role_and_permissions(user: &UserCredentials) -> Result<(RoleName, PermissionSet), ApiError> {
    let role = RoleName::parse(&user.role).map_err(ApiError::bug)?;
    let permissions = match (&role, &user.custom_permissions) {
        (RoleName::Builtin(role), _) => role.permissions(),
        (RoleName::Custom(_), Some(names)) => PermissionSet::from_known_names(names),
        // A custom role that no longer exists grants nothing.
        (RoleName::Custom(_), None) => PermissionSet::default(),
    };
    Ok((role, permissions))
}

/// What a role name grants in an organisation (custom roles are looked up).
pub(crate) async fn permissions_of(store: &PgStore, org: OrgId, role: &RoleName) -> Result<PermissionSet, ApiError> {
    match role {
        RoleName::Builtin(role) => Ok(role.permissions()),
        RoleName::Custom(name) => match store.custom_role_permissions(org, name).await? {
            Some(names) => Ok(PermissionSet::from_known_names(&names)),
            None => Err(ApiError::Unprocessable(format!("there is no role named '{name}'"))),
        },
    }
}

pub(crate) fn session_store_down(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "session store unreachable");
    ApiError::Unavailable("the session store is unavailable; retry shortly".into())
}

/// Access and refresh tokens, as sign-up, sign-in, refresh and accepting an invitation answer.
/// (No Debug: it holds secrets.)
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Tokens {
    /// A JWT for `Authorization: Bearer`, valid `expires_in` seconds.
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    /// Single use: `POST /v1/auth/refresh` exchanges it for new tokens. Presenting it twice ends
    /// the session.
    pub refresh_token: String,
    pub organization_id: uuid::Uuid,
    pub user_id: uuid::Uuid,
    pub session_id: uuid::Uuid,
}

/// Where a request came from, for the audit log.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// An event done by the caller (a user, or an API key).
    pub(crate) fn entry_by(&self, action: &'static str, caller: &AuthContext) -> AuditEntry {
        let mut entry = self.entry(action, caller.principal.user());
        if let Principal::ApiKey(key) = caller.principal {
            entry.actor_key = Some(key);
        }
        entry
    }

    pub(crate) fn entry(&self, action: &'static str, actor: Option<UserId>) -> AuditEntry {
        AuditEntry {
            action,
            actor,
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
            details: serde_json::json!({}),
            ..Default::default()
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let http = match parts.extensions.get::<lambda_http::request::RequestContext>() {
            Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => Some(ctx.http.clone()),
            _ => None,
        };
        let user_agent = http.as_ref().and_then(|h| h.user_agent.clone()).or_else(|| {
            parts.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string)
        });
        Ok(Self { ip: http.and_then(|h| h.source_ip), user_agent: user_agent.map(|ua| ua.chars().take(512).collect()) })
    }
}

/// Every route of the function, with its OpenAPI description. template.yaml declares the same
/// routes for API Gateway; a test keeps the two in step.
pub fn router(state: AuthState) -> Router {
    let (routes, document) = openapi::documented_routes().split_for_parts();
    let own =
        helpdesk_http::RouteTable::from_openapi(&serde_json::to_value(document).expect("the document serialises"));
    helpdesk_platform::gateway::http_function(routes, "auth", state.gateway.clone(), own, state)
}

/// The owner role's name, for the rules only an owner may break.
pub(crate) fn is_owner(role: &RoleName) -> bool {
    role.builtin() == Some(Role::Owner)
}
