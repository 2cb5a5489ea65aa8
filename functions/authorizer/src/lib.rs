//! The `authorizer` function: API Gateway's HTTP API Lambda authorizer (REQUEST type, payload
//! 2.0, simple responses). It accepts a bearer access token (signature, algorithm, issuer,
//! audience and times checked, then its session and authorisation version in Redis) or an API
//! key (its hash and scope in Postgres), and hands API Gateway the caller as the context every
//! function reads: `{org_id, principal_type, user_id | key_id, role, permissions, session_id,
//! authz_version}`. API Gateway caches the answer per `Authorization` header (template.yaml),
//! which is why the functions check the session again on every call.

use aws_lambda_events::apigw::{ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request};
use helpdesk_domain::{ApiKeyId, OrgId, PermissionSet};
use helpdesk_http::{AuthContext, JwtKeys};
use helpdesk_platform::config::{ConfigError, DatabaseConfig, Environment, FromEnvironment, JwtConfig, RedisConfig};
use helpdesk_platform::credentials::{Credential, Kind};
use helpdesk_platform::{Deps, EventFunction, Function, Sessions};
use helpdesk_store::PgStore;
use serde_json::Value;

#[derive(Clone)]
pub struct Authorizer {
    pub jwt: JwtKeys,
    pub sessions: Sessions,
    pub store: PgStore,
}

/// Why a credential was refused (logged, never returned: API Gateway answers a bare 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    NoCredential,
    InvalidToken,
    SessionEnded,
    UnknownKey,
    RevokedOrExpiredKey,
}

/// A failure to decide (Redis or Postgres unreachable): an error, so API Gateway answers 500
/// and caches nothing.
pub type Failure = anyhow::Error;

/// The `authorizer` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub jwt: JwtConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self { database: env.section()?, redis: env.section()?, jwt: env.section()? })
    }
}

impl Function for Authorizer {
    const NAME: &'static str = "authorizer";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        Ok(Self {
            jwt: JwtKeys::hs256(&deps.secrets.jwt_secret(&config.jwt).await?),
            sessions: Sessions::new(deps.redis(&config.redis)?, config.redis.redis_key_prefix.clone()),
            store: deps.database(&config.database).await?,
        })
    }
}

impl EventFunction for Authorizer {
    type Event = ApiGatewayV2CustomAuthorizerV2Request;
    type Response = ApiGatewayV2CustomAuthorizerSimpleResponse<Value>;

    async fn handle(&self, event: Self::Event) -> anyhow::Result<Self::Response> {
        self.authorize(event).await
    }
}

impl Authorizer {
    /// Decides on one request.
    pub async fn authorize(
        &self,
        request: ApiGatewayV2CustomAuthorizerV2Request,
    ) -> Result<ApiGatewayV2CustomAuthorizerSimpleResponse<Value>, Failure> {
        let credential = request
            .identity_source
            .as_ref()
            .and_then(|sources| sources.first().cloned())
            .or_else(|| request.headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string));
        let decision = match credential {
            Some(value) => self.decide(&value).await?,
            None => Err(Denial::NoCredential),
        };
        // The type is non-exhaustive: built from its default.
        let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::<Value>::default();
        match decision {
            Ok(caller) => {
                tracing::info!(org = %caller.org, principal = %caller.principal.key(), outcome = "allow", "authorizer");
                response.is_authorized = true;
                response.context = Value::Object(caller.to_authorizer_context());
            }
            Err(denial) => {
                tracing::info!(reason = ?denial, outcome = "deny", "authorizer");
                response.context = Value::Object(Default::default());
            }
        }
        Ok(response)
    }

    /// The caller a credential (`Bearer <JWT or API key>`) stands for, or why not.
    pub async fn decide(&self, header: &str) -> Result<Result<AuthContext, Denial>, Failure> {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else { return Ok(Err(Denial::NoCredential)) };
        if token.starts_with("hdk_") {
            return self.api_key(token).await;
        }
        let Ok(caller) = self.jwt.verify(token) else { return Ok(Err(Denial::InvalidToken)) };
        if !self.sessions.is_live(&caller).await? {
            return Ok(Err(Denial::SessionEnded));
        }
        Ok(Ok(caller))
    }

    async fn api_key(&self, token: &str) -> Result<Result<AuthContext, Denial>, Failure> {
        let Some(key) = Credential::decode(Kind::ApiKey, token) else { return Ok(Err(Denial::UnknownKey)) };
        let (org, id) = (OrgId(key.ids[0]), ApiKeyId(key.ids[1]));
        let Some(stored) = self.store.api_key_secret(org, id).await? else { return Ok(Err(Denial::UnknownKey)) };
        if !key.matches(&stored.secret_hash) {
            return Ok(Err(Denial::UnknownKey));
        }
        let expired = stored.expires_at.is_some_and(|at| at <= chrono::Utc::now());
        if stored.revoked_at.is_some() || expired {
            return Ok(Err(Denial::RevokedOrExpiredKey));
        }
        let permissions = PermissionSet::from_known_names(&stored.permissions);
        Ok(Ok(AuthContext::api_key(org, id, permissions, stored.expires_at.map(|at| at.timestamp()))))
    }
}
