//! Connecting Gmail and Microsoft 365 mailboxes: the OAuth 2.0 authorization-code flow with
//! PKCE. `start` (an admin, signed in) keeps the flow — organisation, member, PKCE verifier,
//! the mailbox's settings — in Redis under its random `state` for ten minutes and answers the
//! consent URL; the provider sends the browser back to `callback` (public: the `state` is the
//! credential, single-use), which trades the code for tokens, asks the provider whose account
//! it is, and creates the mailbox with the refresh token sealed — or, for a mailbox of that
//! account already there, renews its token (reconnecting after `auth_failed`).

use crate::routes::{inbound_token, seal, shown};
use crate::IntegrationsState;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_domain::email::{MailboxSettings, NewMailbox, OAuthMailbox, OAuthStart, RawOAuthStart};
use helpdesk_domain::{EmailAddress, OrgId, Permission, UserId};
use helpdesk_http::{ApiError, ApiJson, ApiQuery, AuthContext, Problem};
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
    user_id: Option<UserId>,
    provider: Provider,
    verifier: String,
    settings: OAuthStart,
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

fn flow_key(state: &IntegrationsState, flow_state: &str) -> String {
    format!("{}:oauth-flow:{flow_state}", state.redis_prefix)
}

fn provider_error(e: OAuthError) -> ApiError {
    match e {
        OAuthError::NotConfigured(_) => ApiError::Unavailable(e.to_string()),
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
        user_id: auth.user_id().ok(),
        provider,
        verifier: consent.verifier,
        settings,
    };
    let mut redis = state.redis.connection().await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
    let _: () = redis
        .set_ex(
            flow_key(&state, &consent.state),
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
/// Public — the single-use `state` names the flow. Creates the mailbox (or renews the token of
/// the organisation's mailbox for that account) and sends the browser to the dashboard path the
/// flow named (`?mailbox={id}`, or `?error=`), else answers the mailbox.
#[utoipa::path(
    get, path = "/v1/mailboxes/oauth/{provider}/callback", tag = "mailboxes",
    params(("provider" = String, Path, description = "`google` or `microsoft`"), CallbackQuery),
    responses(
        (status = 201, description = "The mailbox was connected", body = MailboxRecord),
        (status = 303, description = "Connected (or refused): to the dashboard path the flow named"),
        (status = 400, description = "The flow is unknown, expired or used, or the consent was refused", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A mailbox of another kind has this address", body = Problem, content_type = "application/problem+json"),
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
    let stored: Option<String> =
        redis.get_del(flow_key(&state, flow_state)).await.map_err(|e| ApiError::Unavailable(format!("redis: {e}")))?;
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
        (None, Some(code)) => connect(&state, &flow, code).await,
    };
    finish(&state, flow.settings.return_to.as_deref(), outcome)
}

/// The callback's answer: to the dashboard path the flow named, or the mailbox (or the
/// problem) itself.
fn finish(
    state: &IntegrationsState,
    return_to: Option<&str>,
    outcome: Result<MailboxRecord, ApiError>,
) -> Result<Response, ApiError> {
    match (return_to, outcome) {
        (Some(path), Ok(record)) => Ok(redirect(state, path, &format!("mailbox={}", record.id))),
        (Some(path), Err(e)) => {
            let code = match &e {
                ApiError::Conflict(_) => "address_taken",
                ApiError::BadRequest(_) => "refused",
                _ => "failed",
            };
            tracing::warn!(error = %e, "a mailbox's consent did not connect it");
            Ok(redirect(state, path, &format!("error={code}")))
        }
        (None, Ok(record)) => Ok((StatusCode::CREATED, Json(record)).into_response()),
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

async fn connect(state: &IntegrationsState, flow: &Flow, code: &str) -> Result<MailboxRecord, ApiError> {
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
    let kind = flow.provider.mailbox_kind();
    let folders = flow.settings.folders.clone().unwrap_or_else(|| vec![flow.provider.default_folder().to_string()]);
    let mailbox = NewMailbox {
        name: flow.settings.name.clone().unwrap_or_else(|| address.to_string()),
        address: address.clone(),
        kind,
        settings: MailboxSettings {
            imap: None,
            oauth: Some(OAuthMailbox {
                account: address.to_string(),
                folders,
                start: flow.settings.start,
                import_days: flow.settings.import_days,
            }),
            max_attachment_bytes: helpdesk_domain::email::DEFAULT_MAX_ATTACHMENT_BYTES,
            reopen_days: helpdesk_domain::email::DEFAULT_REOPEN_DAYS,
        },
        secret: None,
    };
    match state.store.create_mailbox(org, &mailbox, Some(&sealed), &inbound_token()?).await? {
        CreateMailbox::Created(record) => {
            tracing::info!(mailbox = %record.id, provider = flow.provider.as_str(), "mailbox connected by OAuth");
            Ok(shown(state, *record))
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
            tracing::info!(mailbox = %record.id, provider = flow.provider.as_str(), "mailbox reconnected by OAuth");
            Ok(shown(state, record))
        }
    }
}
