//! Connecting Gmail and Microsoft 365 mailboxes: the OAuth 2.0 authorization-code flow with
//! PKCE, in three steps.
//!
//! 1. `start` (an admin, signed in) keeps the flow — organisation, caller, PKCE verifier, the
//!    mailbox's settings — in Redis under its random `state` for ten minutes and answers the
//!    consent URL.
//! 2. The provider sends the browser back to `callback` (public: the single-use `state` names
//!    the flow), which trades the code for tokens, asks whose account it is, seals the refresh
//!    token and keeps the result as a pending connection (ten minutes), then sends the browser
//!    to the dashboard with the connection's id.
//! 3. The same caller confirms it (`POST /v1/mailboxes/oauth/connections/{id}`, signed in):
//!    the mailbox is created — or, for a mailbox of that account already there, its token is
//!    renewed (reconnecting after `auth_failed`).
//!
//! The third step is what binds the consent to whoever started it: a consent link sent to
//! someone else (so that their mailbox lands in the sender's organisation) ends at a dashboard
//! where they are not that caller, and connects nothing.

use crate::routes::{inbound_token, seal, shown};
use crate::IntegrationsState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use helpdesk_domain::email::{MailboxSettings, NewMailbox, OAuthMailbox, OAuthStart, RawOAuthStart};
use helpdesk_domain::{EmailAddress, OrgId, Permission, Principal, SealedSecret};
use helpdesk_http::{ApiError, ApiJson, ApiQuery, AuthContext, NoBody, Problem};
use helpdesk_platform::oauth::{OAuthError, Provider};
use helpdesk_store::{CreateMailbox, MailboxRecord, MailboxUpdate};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};

/// How long a consent may take, from start to callback (seconds).
pub const FLOW_SECONDS: u64 = 600;

/// A flow between its start and its callback (kept in Redis; never shown).
#[derive(Serialize, Deserialize)]
struct Flow {
    organization_id: OrgId,
    /// Who started it (`user:<id>` or `key:<id>`): only they confirm it.
    principal: String,
    provider: Provider,
    verifier: String,
    settings: OAuthStart,
}

/// A consent given, waiting for its starter to confirm it (kept in Redis; never shown).
#[derive(Serialize, Deserialize)]
struct Pending {
    organization_id: OrgId,
    principal: String,
    provider: Provider,
    account: String,
    settings: OAuthStart,
    /// The refresh token, sealed (the envelope's three parts, base64).
    sealed: [String; 3],
}

fn principal_key(principal: Principal) -> String {
    match principal {
        Principal::User(id) => format!("user:{id}"),
        Principal::ApiKey(id) => format!("key:{id}"),
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD.decode(text).map_err(ApiError::internal)
}

/// A consent given at the provider, for its starter to confirm.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthConnection {
    /// Confirm with `POST /v1/mailboxes/oauth/connections/{connection}`.
    pub connection: String,
    pub provider: String,
    /// The account that consented.
    pub account: String,
    /// Seconds left to confirm.
    pub expires_in: u64,
}

/// `POST /v1/mailboxes/oauth/{provider}/start`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthConsent {
    /// Where to send the admin's browser: the provider's consent page.
    pub authorization_url: String,
    /// Seconds the consent may take.
    pub expires_in: u64,
}

fn provider(name: &str) -> Result<Provider, ApiError> {
    Provider::parse(name).ok_or_else(|| ApiError::NotFound(format!("no OAuth provider {name:?} (google, microsoft)")))
}

/// A flow's key names its provider too: a callback for another provider finds nothing (and
/// uses nothing up).
fn flow_key(state: &IntegrationsState, provider: Provider, flow_state: &str) -> String {
    format!("{}:oauth-flow:{}:{flow_state}", state.redis_prefix, provider.as_str())
}

fn connection_key(state: &IntegrationsState, id: &str) -> String {
    format!("{}:oauth-connection:{id}", state.redis_prefix)
}

fn provider_error(e: OAuthError) -> ApiError {
    match e {
        OAuthError::NotConfigured(..) => ApiError::Unavailable(e.to_string()),
        OAuthError::Refused(_) => ApiError::BadRequest(e.to_string()),
        _ => ApiError::Unavailable(format!("the provider did not answer as expected: {e}")),
    }
}

/// `POST /v1/mailboxes/oauth/{provider}/start`: begins connecting a Gmail (`google`) or
/// Microsoft 365 (`microsoft`) mailbox. Answers the consent URL to send the browser to; the
/// provider returns it to the callback, which creates the mailbox.
#[utoipa::path(
    post, path = "/v1/mailboxes/oauth/{provider}/start", tag = "mailboxes",
    params(("provider" = String, Path, description = "`google` or `microsoft`")),
    request_body = RawOAuthStart,
    responses(
        (status = 200, description = "The consent URL", body = OAuthConsent),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "This provider is not set up on the platform", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["integrations:configure"]))
)]
pub async fn start(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path(name): Path<String>,
    ApiJson(raw): ApiJson<RawOAuthStart>,
) -> Result<Json<OAuthConsent>, ApiError> {
    auth.require(Permission::IntegrationsConfigure)?;
    let provider = provider(&name)?;
    let settings = OAuthStart::parse(raw).map_err(ApiError::Validation)?;
    let consent = state.oauth.consent(provider).map_err(provider_error)?;
    let flow = Flow {
        organization_id: auth.org,
        principal: principal_key(auth.principal),
        provider,
        verifier: consent.verifier,
        settings,
    };
    let mut redis = state.redis.connection().await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    let _: () = redis
        .set_ex(
            flow_key(&state, provider, &consent.state),
            serde_json::to_string(&flow).map_err(ApiError::internal)?,
            FLOW_SECONDS,
        )
        .await
        .map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    Ok(Json(OAuthConsent { authorization_url: consent.url, expires_in: FLOW_SECONDS }))
}

/// What the provider sends the browser back with.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The flow's `state`, as `start` made it.
    pub state: Option<String>,
    /// Set when the consent was refused (`access_denied`) or failed.
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// `GET /v1/mailboxes/oauth/{provider}/callback`: where the provider returns the browser.
/// Public — the single-use `state` names the flow. Trades the code for tokens and keeps the
/// consent as a pending connection for the flow's starter to confirm; sends the browser to the
/// dashboard path the flow named (`?connection={id}`, or `?error=`), else answers the
/// connection.
#[utoipa::path(
    get, path = "/v1/mailboxes/oauth/{provider}/callback", tag = "mailboxes",
    params(("provider" = String, Path, description = "`google` or `microsoft`"), CallbackQuery),
    responses(
        (status = 200, description = "The consent, to confirm", body = OAuthConnection),
        (status = 303, description = "To the dashboard path the flow named, with `connection` or `error`"),
        (status = 400, description = "The flow is unknown, expired or used, or the consent was refused", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The provider is not set up, or did not answer", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn callback(
    State(state): State<IntegrationsState>,
    Path(name): Path<String>,
    ApiQuery(query): ApiQuery<CallbackQuery>,
) -> Result<Response, ApiError> {
    let provider = provider(&name)?;
    let flow_state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 128)
        .ok_or_else(|| ApiError::BadRequest("no state: start the connection again from the dashboard".into()))?;
    let mut redis = state.redis.connection().await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    let stored: Option<String> = redis
        .get_del(flow_key(&state, provider, flow_state))
        .await
        .map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    let flow: Flow =
        stored.and_then(|s| serde_json::from_str(&s).ok()).filter(|f: &Flow| f.provider == provider).ok_or_else(
            || ApiError::BadRequest("this consent expired or was used already: start the connection again".into()),
        )?;
    let outcome = match (&query.error, query.code.as_deref()) {
        (Some(error), _) => {
            let detail = query.error_description.as_deref().unwrap_or(error);
            Err(ApiError::BadRequest(format!("the provider's consent was not given: {}", words(detail))))
        }
        (None, None) => Err(ApiError::BadRequest("no code from the provider".into())),
        (None, Some(code)) => consented(&state, &flow, code).await,
    };
    finish(&state, flow.settings.return_to.as_deref(), outcome)
}

/// `POST /v1/mailboxes/oauth/connections/{id}`: the flow's starter confirms the consent the
/// callback kept; the mailbox is created, or the token of the organisation's mailbox for that
/// account renewed.
#[utoipa::path(
    post, path = "/v1/mailboxes/oauth/connections/{id}", tag = "mailboxes",
    params(("id" = String, Path, description = "The connection the callback named")),
    responses(
        (status = 201, description = "The mailbox was connected", body = MailboxRecord),
        (status = 200, description = "The account's mailbox was there: its token was renewed", body = MailboxRecord),
        (status = 404, description = "No such connection for you (expired, used, or someone else's)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A mailbox of another kind has this address", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["integrations:configure"]))
)]
pub async fn confirm(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    auth.require(Permission::IntegrationsConfigure)?;
    let missing = || ApiError::NotFound("no such connection for you: it expired, was used, or is not yours".into());
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(missing());
    }
    let key = connection_key(&state, &id);
    let mut redis = state.redis.connection().await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    let stored: Option<String> = redis.get(&key).await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    let pending: Pending = stored.and_then(|s| serde_json::from_str(&s).ok()).ok_or_else(missing)?;
    if pending.organization_id != auth.org || pending.principal != principal_key(auth.principal) {
        return Err(missing());
    }
    // Used once: whoever deletes it connects it.
    let deleted: i64 = redis.del(&key).await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    if deleted != 1 {
        return Err(missing());
    }
    let (record, created) = connect(&state, &pending).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(record)).into_response())
}

/// The callback's answer: to the dashboard path the flow named, or the mailbox (or the
/// problem) itself.
fn finish(
    state: &IntegrationsState,
    return_to: Option<&str>,
    outcome: Result<OAuthConnection, ApiError>,
) -> Result<Response, ApiError> {
    match (return_to, outcome) {
        (Some(path), Ok(connection)) => Ok(redirect(state, path, &format!("connection={}", connection.connection))),
        (Some(path), Err(e)) => {
            let code = match &e {
                ApiError::Conflict(_) => "address_taken",
                ApiError::BadRequest(_) => "refused",
                _ => "failed",
            };
            tracing::warn!(error = %e, "a mailbox's consent did not connect it");
            Ok(redirect(state, path, &format!("error={code}")))
        }
        (None, Ok(connection)) => Ok(Json(connection).into_response()),
        (None, Err(e)) => Err(e),
    }
}

/// The provider's words, short and on one line.
fn words(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect()
}

fn redirect(state: &IntegrationsState, path: &str, query: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    let location = format!("{}{path}{separator}{query}", state.app_url.trim_end_matches('/'));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The code traded for tokens, the account asked for, the refresh token sealed: a pending
/// connection for the flow's starter.
async fn consented(state: &IntegrationsState, flow: &Flow, code: &str) -> Result<OAuthConnection, ApiError> {
    let org = flow.organization_id;
    let tokens = state.oauth.exchange(flow.provider, code, &flow.verifier).await.map_err(provider_error)?;
    let refresh = tokens.refresh_token.ok_or_else(|| {
        ApiError::BadRequest("the provider gave no refresh token (offline access was not granted)".into())
    })?;
    let api = state.oauth.mail(flow.provider, &tokens.access_token).map_err(provider_error)?;
    let (account, _) = api.profile().await.map_err(provider_error)?;
    let address = EmailAddress::parse(&account)
        .map_err(|e| ApiError::BadRequest(format!("the provider named the account {account:?}: {e}")))?;
    let sealed = seal(state, org, &refresh).await?;
    let id = inbound_token()?;
    let pending = Pending {
        organization_id: org,
        principal: flow.principal.clone(),
        provider: flow.provider,
        account: address.to_string(),
        settings: flow.settings.clone(),
        sealed: [b64(&sealed.encrypted_key), b64(&sealed.nonce), b64(&sealed.ciphertext)],
    };
    let mut redis = state.redis.connection().await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    let _: () = redis
        .set_ex(connection_key(state, &id), serde_json::to_string(&pending).map_err(ApiError::internal)?, FLOW_SECONDS)
        .await
        .map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    Ok(OAuthConnection {
        connection: id,
        provider: flow.provider.as_str().into(),
        account: address.to_string(),
        expires_in: FLOW_SECONDS,
    })
}

/// The confirmed connection made a mailbox (`true`), or the account's mailbox given the new
/// token (`false`).
async fn connect(state: &IntegrationsState, pending: &Pending) -> Result<(MailboxRecord, bool), ApiError> {
    let org = pending.organization_id;
    let sealed = SealedSecret {
        encrypted_key: unb64(&pending.sealed[0])?,
        nonce: unb64(&pending.sealed[1])?,
        ciphertext: unb64(&pending.sealed[2])?,
    };
    let address = EmailAddress::parse(&pending.account).map_err(|e| ApiError::internal(anyhow::anyhow!("{e}")))?;
    let kind = pending.provider.mailbox_kind();
    let settings = &pending.settings;
    let folders = settings.folders.clone().unwrap_or_else(|| vec![pending.provider.default_folder().to_string()]);
    let mailbox = NewMailbox {
        name: settings.name.clone().unwrap_or_else(|| address.to_string()),
        address: address.clone(),
        kind,
        settings: MailboxSettings {
            imap: None,
            oauth: Some(OAuthMailbox {
                account: address.to_string(),
                folders,
                start: settings.start,
                import_days: settings.import_days,
            }),
            max_attachment_bytes: helpdesk_domain::email::DEFAULT_MAX_ATTACHMENT_BYTES,
            reopen_days: helpdesk_domain::email::DEFAULT_REOPEN_DAYS,
        },
        secret: None,
    };
    match state.store.create_mailbox(org, &mailbox, Some(&sealed), &inbound_token()?).await? {
        CreateMailbox::Created(record) => {
            tracing::info!(mailbox = %record.id, provider = pending.provider.as_str(), "mailbox connected by OAuth");
            Ok((shown(state, *record), true))
        }
        CreateMailbox::AddressTaken => {
            // The same account again: its new token replaces the old (a reconnect after
            // `auth_failed`, or a consent given twice).
            let existing = state
                .store
                .list_mailboxes(org)
                .await?
                .into_iter()
                .find(|m| m.address == address.as_str() && m.kind == kind)
                .ok_or_else(|| ApiError::Conflict(format!("a mailbox of another kind has the address {address}")))?;
            let update = MailboxUpdate { secret: Some(sealed), ..MailboxUpdate::default() };
            let record = state
                .store
                .update_mailbox(org, existing.id, &update)
                .await?
                .ok_or_else(|| ApiError::Conflict("the mailbox was deleted meanwhile".into()))?;
            tracing::info!(mailbox = %record.id, provider = pending.provider.as_str(), "mailbox reconnected by OAuth");
            Ok((shown(state, record), false))
        }
    }
}
