//! Sign-up, sign-in, refresh, logout and the caller's own profile.

use crate::passwords::Verdict;
use crate::{role_and_permissions, session_store_down, AuthState, ClientInfo, Tokens};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_domain::identity::field;
use helpdesk_domain::text::display_name;
use helpdesk_domain::{EmailAddress, OrgId, Password, SessionId, Slug, UserId};
use helpdesk_http::{ApiError, ApiJson, AuthContext, Problem};
use helpdesk_platform::credentials::{Credential, Kind};
use helpdesk_platform::sessions::{Attempt, Rotation};
use helpdesk_store::{OrganizationRecord, SignupOutcome, UserRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;

// No Debug: it holds a password.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// The organisation's display name.
    pub organization_name: String,
    /// Its sign-in name (letters, digits, dashes); made from the name when left out.
    pub organization_slug: Option<String>,
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    pub name: Option<String>,
}

/// `POST /v1/auth/signup`: a new organisation with the caller as its owner, signed in.
#[utoipa::path(
    post, path = "/v1/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Organisation and owner created; signed in", body = Tokens),
        (status = 409, description = "The sign-in name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn signup(
    State(state): State<AuthState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let name = field("organization_name", display_name(&body.organization_name, 200), &mut errors).unwrap_or_default();
    let slug = match &body.organization_slug {
        Some(slug) => field("organization_slug", Slug::parse(slug), &mut errors),
        None => field(
            "organization_slug",
            Slug::from_name(&name).ok_or_else(|| "cannot be made from this name; choose one".to_string()),
            &mut errors,
        ),
    };
    let email = field("email", EmailAddress::parse(&body.email), &mut errors);
    let password = field("password", Password::parse(&body.password), &mut errors);
    let person = optional_name(body.name.as_deref(), &mut errors);
    let (Some(slug), Some(email), Some(password), true) = (slug, email, password, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let hash = hash(&state, password).await?;
    let (org, owner) = match state.store.signup(&name, &slug, &email, person.as_deref(), &hash).await? {
        SignupOutcome::Created { org, owner } => (org, owner),
        SignupOutcome::SlugTaken => {
            return Err(ApiError::Conflict(format!("the sign-in name '{slug}' is taken; choose another")))
        }
    };
    let mut entry = client.entry("organization.created", Some(owner));
    entry.details = json!({ "slug": slug.as_str() });
    state.audit(org, entry).await?;
    let user = state
        .store
        .credentials_by_id(org, owner)
        .await?
        .ok_or_else(|| ApiError::bug("the owner just created is missing"))?;
    let tokens = state.start_session(org, &user).await?;
    Ok((StatusCode::CREATED, Json(tokens)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The organisation's sign-in name.
    pub organization: String,
    pub email: String,
    pub password: String,
}

/// `POST /v1/auth/login`: the same work and the same answer whether or not the account exists.
/// Five failures in a row lock the account for 30 s, doubling with each further failure (up to
/// an hour).
#[utoipa::path(
    post, path = "/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = Tokens),
        (status = 401, description = "Wrong organisation, email or password", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn login(
    State(state): State<AuthState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Json<Tokens>, ApiError> {
    let mut errors = Vec::new();
    let slug = field("organization", Slug::parse(&body.organization), &mut errors);
    let email = field("email", EmailAddress::parse(&body.email), &mut errors);
    if body.password.is_empty() || body.password.chars().count() > Password::MAX_CHARS {
        errors.push(helpdesk_domain::ValidationError::new("password", "must be 1 to 256 characters"));
    }
    let (Some(slug), Some(email), true) = (slug, email, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let account = format!("{slug}:{email}");
    let lock_if_wrong = match state.sessions.begin_attempt(&account).await.map_err(session_store_down)? {
        Attempt::Locked(secs) => return Err(locked(secs)),
        Attempt::Allowed { lock_if_wrong } => lock_if_wrong,
    };
    let org = state.store.organization_by_slug(slug.as_str()).await?;
    // An unknown organisation still costs the same query (it finds nothing), so timing does not
    // tell which part was wrong.
    let user = state.store.credentials_by_email(org.unwrap_or(OrgId(uuid::Uuid::nil())), &email).await;
    let user = user?.filter(|_| org.is_some());
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let passwords = state.passwords.clone();
    let password = body.password.clone();
    let verdict = tokio::task::spawn_blocking(move || passwords.verify(stored.as_deref(), &password))
        .await
        .map_err(ApiError::internal)?;
    let (org, user, needs_rehash) = match (org, user, verdict) {
        (Some(org), Some(user), Verdict::Valid { needs_rehash }) if user.active => (org, user, needs_rehash),
        (org, user, verdict) => {
            if let Some(org) = org {
                let reason = match (&user, verdict) {
                    (None, _) => "unknown_email",
                    (Some(u), Verdict::Valid { .. }) if !u.active => "deactivated",
                    _ => "wrong_password",
                };
                let mut entry = client.entry("login.failure", user.as_ref().map(|u| UserId(u.id)));
                entry.details = json!({ "email": email.as_str(), "reason": reason, "locked_for_secs": lock_if_wrong });
                state.audit(org, entry).await?;
            }
            return Err(ApiError::Unauthorized("the organisation, email or password is wrong".into()));
        }
    };
    state.sessions.clear_failures(&account).await.map_err(session_store_down)?;
    // A hash made with older parameters is replaced now, while the password is at hand.
    let rehash = match Password::parse(&body.password) {
        Ok(password) if needs_rehash => Some(hash(&state, password).await?),
        _ => None,
    };
    state.store.record_login(org, UserId(user.id), rehash.as_deref()).await?;
    state.audit(org, client.entry("login.success", Some(UserId(user.id)))).await?;
    Ok(Json(state.start_session(org, &user).await?))
}

fn locked(secs: u64) -> ApiError {
    ApiError::TooManyRequests {
        detail: format!("too many failed sign-ins for this account; try again in {secs} s"),
        retry_after_secs: secs,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// `POST /v1/auth/refresh`: new tokens for a refresh token, which is then spent. Presenting a
/// spent refresh token ends its whole session (someone else may hold it) and is audited.
#[utoipa::path(
    post, path = "/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New access and refresh tokens", body = Tokens),
        (status = 401, description = "Unknown, spent or revoked refresh token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    State(state): State<AuthState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<Tokens>, ApiError> {
    let refused = || ApiError::Unauthorized("this refresh token is not valid; sign in again".into());
    let presented = Credential::decode(Kind::Refresh, &body.refresh_token).ok_or_else(refused)?;
    let (org, user, sid) = (OrgId(presented.ids[0]), UserId(presented.ids[1]), SessionId(presented.ids[2]));
    // The user as they are now, read before rotating: the rotation then records their version
    // in the same step, so a logout, deactivation or role change cannot fall in between. A user
    // who is gone or deactivated ends the session, but only once the secret has been checked:
    // ids alone (they are in every access token) must never end anyone's session.
    let current = state.store.credentials_by_id(org, user).await?.filter(|u| u.active);
    let next = Credential::generate(Kind::Refresh, &[org.0, user.0, sid.0]);
    let version = current.as_ref().map(|u| u.authz_version);
    let rotation = state
        .sessions
        .rotate(org, user, sid, &presented.secret_hash(), &next.secret_hash(), version)
        .await
        .map_err(session_store_down)?;
    match (rotation, current) {
        (Rotation::Rotated, Some(current)) => Ok(Json(state.tokens(org, &current, sid, &next)?)),
        (Rotation::Rotated | Rotation::Ended, _) => Err(refused()),
        (Rotation::Reused, _) => {
            let mut entry = client.entry("refresh.reuse", Some(user));
            entry.target_type = Some("session");
            entry.target_id = Some(sid.to_string());
            entry.details = json!({ "session_revoked": true });
            state.audit(org, entry).await?;
            tracing::warn!(%org, session = %sid, "refresh token reused: session revoked");
            Err(refused())
        }
        (Rotation::Unknown, _) => Err(refused()),
    }
}

/// `POST /v1/auth/logout`: ends the caller's session; its access and refresh tokens stop
/// working on their next use.
#[utoipa::path(
    post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out")),
    security(("bearer" = []))
)]
pub async fn logout(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
) -> Result<StatusCode, ApiError> {
    // A body is ignored here, not refused: a client that sends one must still be signed out.
    let user = auth.user_id()?;
    let sid = auth.session.ok_or_else(|| ApiError::Unauthorized("no session".into()))?;
    state.sessions.revoke(user, sid).await.map_err(session_store_down)?;
    let mut entry = client.entry("session.logout", Some(user));
    entry.target_type = Some("session");
    entry.target_id = Some(sid.to_string());
    state.audit(auth.org, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    pub user: UserRecord,
    pub organization: OrganizationRecord,
    /// What the caller may do, by name.
    pub permissions: Vec<String>,
}

/// `GET /v1/me`: the signed-in user, their organisation and their permissions.
#[utoipa::path(
    get, path = "/v1/me", tag = "auth",
    responses((status = 200, description = "The caller", body = Me)),
    security(("bearer" = []))
)]
pub async fn me(State(state): State<AuthState>, auth: AuthContext) -> Result<Json<Me>, ApiError> {
    let user_id = auth.user_id()?;
    let user = state.store.user(auth.org, user_id).await?;
    let organization = state.store.organization(auth.org).await?;
    let (Some(user), Some(organization)) = (user, organization) else {
        return Err(ApiError::Unauthorized("this account no longer exists".into()));
    };
    let current = state.store.credentials_by_id(auth.org, user_id).await?;
    let permissions = match current {
        Some(c) => role_and_permissions(&c)?.1,
        None => auth.permissions,
    };
    Ok(Json(Me { user, organization, permissions: permissions.names().into_iter().map(String::from).collect() }))
}

/// A person's name, when given (blank is no name): [`display_name`]'s rules, 200 characters.
pub(crate) fn optional_name(name: Option<&str>, errors: &mut Vec<helpdesk_domain::ValidationError>) -> Option<String> {
    let name = name.filter(|n| !n.trim().is_empty())?;
    field("name", display_name(name, 200), errors)
}

/// Hashes off the async threads: argon2 takes tens of milliseconds of CPU.
pub(crate) async fn hash(state: &AuthState, password: Password) -> Result<String, ApiError> {
    let passwords = state.passwords.clone();
    tokio::task::spawn_blocking(move || passwords.hash(&password)).await.map_err(ApiError::internal)
}
