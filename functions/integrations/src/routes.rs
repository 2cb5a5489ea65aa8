//! `/v1/mailboxes`: create, list, show, change and delete mailboxes, and post raw MIME to one.

use crate::IntegrationsState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use helpdesk_domain::email::{EmailOutcome, MailboxChange, NewMailbox, RawMailbox};
use helpdesk_domain::{MailboxId, MessageId, OrgId, Permission, SealedSecret, MAILBOX_SECRET_PURPOSE};
use helpdesk_http::{parse_id, ApiError, ApiJson, AuthContext, NoBody, Problem, RequestId};
use helpdesk_store::{CreateMailbox, MailboxRecord, MailboxUpdate};
use serde::Serialize;

/// The largest raw message `POST /v1/mailboxes/{id}/messages` takes (bytes). API Gateway hands
/// a binary body to Lambda in base64, and a synchronous invocation carries at most 6 MB: 4.5 MB
/// of MIME is what fits. Larger mail comes in through SES receiving or a mailbox's fetcher.
pub const MAX_RAW_MESSAGE_BYTES: usize = 4_500_000;

/// `GET /v1/mailboxes`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MailboxList {
    pub mailboxes: Vec<MailboxRecord>,
}

/// `POST /v1/mailboxes`: an IMAP or forwarding mailbox (Gmail and Microsoft 365 connect through
/// their consent flow). The secret is sealed and never shown again.
#[utoipa::path(
    post, path = "/v1/mailboxes", tag = "mailboxes",
    request_body = RawMailbox,
    responses(
        (status = 201, description = "Created", body = MailboxRecord),
        (status = 409, description = "Another mailbox has this address", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["integrations:configure"]))
)]
pub async fn create(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    ApiJson(raw): ApiJson<RawMailbox>,
) -> Result<Response, ApiError> {
    auth.require(Permission::IntegrationsConfigure)?;
    let mailbox = NewMailbox::parse(raw).map_err(ApiError::Validation)?;
    let secret = match &mailbox.secret {
        Some(secret) => Some(seal(&state, auth.org, secret).await?),
        None => None,
    };
    match state.store.create_mailbox(auth.org, &mailbox, secret.as_ref(), &inbound_token()?).await? {
        CreateMailbox::Created(record) => Ok((StatusCode::CREATED, Json(shown(&state, *record))).into_response()),
        CreateMailbox::AddressTaken => {
            Err(ApiError::Conflict(format!("a mailbox for {} exists already", mailbox.address)))
        }
    }
}

/// `GET /v1/mailboxes`: the organisation's mailboxes with their health.
#[utoipa::path(
    get, path = "/v1/mailboxes", tag = "mailboxes",
    responses((status = 200, description = "The mailboxes, oldest first", body = MailboxList)),
    security(("bearer" = ["integrations:read"]))
)]
pub async fn list(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    _: NoBody,
) -> Result<Json<MailboxList>, ApiError> {
    auth.require(Permission::IntegrationsRead)?;
    let mailboxes = state.store.list_mailboxes(auth.org).await?.into_iter().map(|m| shown(&state, m)).collect();
    Ok(Json(MailboxList { mailboxes }))
}

/// `GET /v1/mailboxes/{id}`: one mailbox, its health and its messages of the last day.
#[utoipa::path(
    get, path = "/v1/mailboxes/{id}", tag = "mailboxes",
    params(("id" = uuid::Uuid, Path, description = "Mailbox id")),
    responses(
        (status = 200, description = "The mailbox", body = MailboxRecord),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mailbox in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["integrations:read"]))
)]
pub async fn show(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<MailboxRecord>, ApiError> {
    auth.require(Permission::IntegrationsRead)?;
    let id: MailboxId = parse_id(&id, "mailbox")?;
    let mailbox = state.store.mailbox(auth.org, id).await?.ok_or_else(|| not_found(id))?;
    Ok(Json(shown(&state, mailbox.record)))
}

/// `PATCH /v1/mailboxes/{id}`: rename, change settings or the IMAP connection, set a new
/// secret (which clears `auth_failed`), pause or resume (pausing stops fetching; mail forwarded
/// or posted to the mailbox is still taken in, never lost). The address and kind cannot change.
#[utoipa::path(
    patch, path = "/v1/mailboxes/{id}", tag = "mailboxes",
    params(("id" = uuid::Uuid, Path, description = "Mailbox id")),
    request_body = RawMailbox,
    responses(
        (status = 200, description = "The mailbox as changed", body = MailboxRecord),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mailbox in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["integrations:configure"]))
)]
pub async fn update(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path(id): Path<String>,
    ApiJson(raw): ApiJson<RawMailbox>,
) -> Result<Json<MailboxRecord>, ApiError> {
    auth.require(Permission::IntegrationsConfigure)?;
    let id: MailboxId = parse_id(&id, "mailbox")?;
    let current = state.store.mailbox(auth.org, id).await?.ok_or_else(|| not_found(id))?.record;
    let change = MailboxChange::parse(raw, current.kind, &current.settings).map_err(ApiError::Validation)?;
    let secret = match &change.secret {
        Some(secret) => Some(seal(&state, auth.org, secret).await?),
        None => None,
    };
    let update = MailboxUpdate { name: change.name, settings: change.settings, secret, paused: change.paused };
    let record = state.store.update_mailbox(auth.org, id, &update).await?.ok_or_else(|| not_found(id))?;
    Ok(Json(shown(&state, record)))
}

/// `DELETE /v1/mailboxes/{id}`: stops taking mail in and erases the secret; the messages stay.
#[utoipa::path(
    delete, path = "/v1/mailboxes/{id}", tag = "mailboxes",
    params(("id" = uuid::Uuid, Path, description = "Mailbox id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mailbox in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["integrations:configure"]))
)]
pub async fn delete(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<StatusCode, ApiError> {
    auth.require(Permission::IntegrationsConfigure)?;
    let id: MailboxId = parse_id(&id, "mailbox")?;
    if state.store.delete_mailbox(auth.org, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found(id))
    }
}

/// `POST /v1/mailboxes/{id}/messages` with `Content-Type: message/rfc822` and the raw MIME as
/// the body: what forwarding services (SendGrid Inbound Parse, Postmark, a mail server's pipe)
/// call, and how to import a `.eml`. The raw message is stored before the answer; posting the
/// same message again answers `duplicate` with the first message's ids.
#[utoipa::path(
    post, path = "/v1/mailboxes/{id}/messages", tag = "mailboxes",
    params(("id" = uuid::Uuid, Path, description = "Mailbox id")),
    request_body(content = Vec<u8>, content_type = "message/rfc822", description = "The raw message (RFC 5322 / MIME), up to 4.5 MB"),
    responses(
        (status = 202, description = "accepted (stored; classification follows), duplicate (stored before) or ignored (not made a message, with the reason)", body = EmailOutcome),
        (status = 400, description = "An empty body, or a malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mailbox in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Over 4.5 MB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not message/rfc822", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn post_raw_message(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    auth.require(Permission::MessagesWrite)?;
    let id: MailboxId = parse_id(&id, "mailbox")?;
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("message/rfc822") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "send the raw message as Content-Type: message/rfc822 (got {:?})",
            if content_type.is_empty() { "none" } else { content_type }
        )));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("the body is empty: send the raw message".into()));
    }
    let mailbox = state.store.mailbox(auth.org, id).await?.ok_or_else(|| not_found(id))?.record;
    let outcome = state
        .ingest
        .ingest(auth.org, &mailbox, &body, Some(&request_id.0), &[])
        .await
        .map_err(|e| ApiError::internal(anyhow::Error::new(e)))?;
    if let EmailOutcome::Ignored { reason } = &outcome {
        tracing::info!(mailbox = %id, reason, "raw message ignored");
    }
    Ok((StatusCode::ACCEPTED, Json(outcome)).into_response())
}

/// One folder as a check found it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckedFolder {
    pub name: String,
    /// `UIDVALIDITY`.
    pub uid_validity: Option<u32>,
    /// `UIDNEXT`.
    pub uid_next: Option<u32>,
    /// Messages in it.
    pub exists: u32,
}

/// `POST /v1/mailboxes/{id}/test`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct MailboxCheck {
    /// The connection and the credentials work.
    pub ok: bool,
    /// The mailbox's health after the check (`ok`, `auth_failed`, `unreachable`; `paused` stays).
    #[schema(value_type = helpdesk_domain::email::MailboxStatus)]
    pub status: helpdesk_domain::email::MailboxStatus,
    /// What went wrong, in words (never the secret).
    pub error: Option<String>,
    /// Each configured folder's state (IMAP).
    pub folders: Vec<CheckedFolder>,
}

/// What an IMAP mailbox's secret is sealed for is [`MAILBOX_SECRET_PURPOSE`]; this opens it.
async fn open_secret(state: &IntegrationsState, org: OrgId, sealed: &SealedSecret) -> Result<String, ApiError> {
    let bytes = state
        .sealer
        .open(org, MAILBOX_SECRET_PURPOSE, sealed)
        .await
        .map_err(|e| ApiError::Unavailable(format!("the key service did not open the mailbox's secret: {e}")))?;
    String::from_utf8(bytes).map_err(|_| ApiError::internal(anyhow::anyhow!("a mailbox secret is not UTF-8")))
}

/// `POST /v1/mailboxes/{id}/test`: connects to an IMAP mailbox's server with its settings and
/// secret — TLS or STARTTLS as configured, `LOGIN` or `XOAUTH2`, every folder selected — and
/// records the mailbox's health from what happened (`ok`, `auth_failed`, `unreachable`). A
/// forwarding mailbox has nothing to connect to: it is ready as soon as mail is forwarded to
/// its inbound address.
#[utoipa::path(
    post, path = "/v1/mailboxes/{id}/test", tag = "mailboxes",
    params(("id" = uuid::Uuid, Path, description = "Mailbox id")),
    responses(
        (status = 200, description = "What the check found (`ok` false with the error when it failed)", body = MailboxCheck),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such mailbox in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["integrations:configure"]))
)]
pub async fn test(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<MailboxCheck>, ApiError> {
    use helpdesk_domain::email::MailboxStatus;
    use helpdesk_platform::imap::{check, ImapFailure};
    auth.require(Permission::IntegrationsConfigure)?;
    let id: MailboxId = parse_id(&id, "mailbox")?;
    let mailbox = state.store.mailbox(auth.org, id).await?.ok_or_else(|| not_found(id))?;
    let (Some(imap), Some(sealed)) = (&mailbox.record.settings.imap, &mailbox.secret) else {
        return Ok(Json(MailboxCheck { ok: true, status: mailbox.record.status, error: None, folders: Vec::new() }));
    };
    let secret = open_secret(&state, auth.org, sealed).await?;
    let checked = check(imap, &secret, state.destinations).await;
    let failure = match &checked {
        Ok(_) => None,
        Err(e @ ImapFailure::AuthFailed(_)) => Some((MailboxStatus::AuthFailed, e.to_string())),
        Err(e @ ImapFailure::Unreachable(_)) => Some((MailboxStatus::Unreachable, e.to_string())),
    };
    let record = state
        .store
        .record_mailbox_health(
            auth.org,
            id,
            mailbox.record.updated_at,
            failure.as_ref().map(|(s, e)| (*s, e.as_str())),
            false,
        )
        .await?
        .ok_or_else(|| not_found(id))?;
    let folders = checked
        .unwrap_or_default()
        .into_iter()
        .map(|f| CheckedFolder { name: f.name, uid_validity: f.uid_validity, uid_next: f.uid_next, exists: f.exists })
        .collect();
    Ok(Json(MailboxCheck { ok: failure.is_none(), status: record.status, error: failure.map(|(_, e)| e), folders }))
}

/// How long a download link works.
pub const DOWNLOAD_LINK_SECS: u64 = 300;
/// Raw messages up to this size are answered in the body; larger ones by a download link (a
/// Lambda response carries at most 6 MB, base64 included).
pub const MAX_INLINE_RAW_BYTES: usize = 4_000_000;

/// `GET /v1/messages/{id}/attachments/{attachment_id}`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AttachmentLink {
    /// A presigned download URL.
    pub url: String,
    /// Seconds the URL works for.
    pub expires_in: u64,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: i64,
}

/// `GET /v1/messages/{id}/attachments/{attachment_id}`: a short-lived download link for one of
/// an email's files (served as a download, never rendered on our origin).
#[utoipa::path(
    get, path = "/v1/messages/{id}/attachments/{attachment_id}", tag = "mailboxes",
    params(
        ("id" = uuid::Uuid, Path, description = "Message id"),
        ("attachment_id" = uuid::Uuid, Path, description = "Attachment id (the message's `attachments[].id`)"),
    ),
    responses(
        (status = 200, description = "A download link", body = AttachmentLink),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message or attachment in your organisation, or a file not kept (over the mailbox's size limit)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn attachment(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path((id, attachment_id)): Path<(String, String)>,
    _: NoBody,
) -> Result<Json<AttachmentLink>, ApiError> {
    auth.require(Permission::MessagesRead)?;
    let message: MessageId = parse_id(&id, "message")?;
    let attachment: uuid::Uuid = parse_id(&attachment_id, "attachment")?;
    let file = state
        .store
        .attachment_file(auth.org, message, attachment)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("attachment {attachment} of message {message} not found")))?;
    let key = file.storage_key.ok_or_else(|| {
        ApiError::NotFound(format!("attachment {attachment} was over its mailbox's size limit and was not kept"))
    })?;
    let url = state
        .bucket
        .presigned_get(
            &key,
            std::time::Duration::from_secs(DOWNLOAD_LINK_SECS),
            &file.content_type,
            file.filename.as_deref(),
        )
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    Ok(Json(AttachmentLink {
        url,
        expires_in: DOWNLOAD_LINK_SECS,
        filename: file.filename,
        content_type: file.content_type,
        size_bytes: file.size_bytes,
    }))
}

/// `GET /v1/messages/{id}/raw`: the original MIME of an email as it arrived; a large one by a
/// `303` to a short-lived download link.
#[utoipa::path(
    get, path = "/v1/messages/{id}/raw", tag = "mailboxes",
    params(("id" = uuid::Uuid, Path, description = "Message id")),
    responses(
        (status = 200, description = "The raw message", body = Vec<u8>, content_type = "message/rfc822"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 303, description = "Over 4 MB: the `Location` header holds a download link good for 5 minutes"),
        (status = 404, description = "No such message in your organisation, or not an email", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn raw_message(
    State(state): State<IntegrationsState>,
    auth: AuthContext,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Response, ApiError> {
    use helpdesk_domain::BlobStore;
    auth.require(Permission::MessagesRead)?;
    let message: MessageId = parse_id(&id, "message")?;
    let key = state
        .store
        .raw_message_key(auth.org, message)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("message {message} not found")))?
        .ok_or_else(|| ApiError::NotFound(format!("message {message} did not come as email: it has no raw MIME")))?;
    let raw = state
        .bucket
        .get(&key)
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("raw message {key} is missing from the bucket")))?;
    if raw.len() <= MAX_INLINE_RAW_BYTES {
        return Ok(([(axum::http::header::CONTENT_TYPE, "message/rfc822")], raw).into_response());
    }
    let filename = format!("{message}.eml");
    let url = state
        .bucket
        .presigned_get(&key, std::time::Duration::from_secs(DOWNLOAD_LINK_SECS), "message/rfc822", Some(&filename))
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!(e)))?;
    Ok((StatusCode::SEE_OTHER, [(axum::http::header::LOCATION, url)]).into_response())
}

fn not_found(id: MailboxId) -> ApiError {
    ApiError::NotFound(format!("mailbox {id} not found"))
}

/// The record as shown, with its inbound address.
pub(crate) fn shown(state: &IntegrationsState, mut record: MailboxRecord) -> MailboxRecord {
    record.inbound_address = Some(format!("{}@{}", record.inbound_token, state.inbound_domain));
    record
}

pub(crate) async fn seal(state: &IntegrationsState, org: OrgId, secret: &str) -> Result<SealedSecret, ApiError> {
    state
        .sealer
        .seal(org, MAILBOX_SECRET_PURPOSE, secret.as_bytes())
        .await
        .map_err(|e| ApiError::Unavailable(format!("the key service did not seal the secret: {e}")))
}

/// A fresh inbound address local part: 128 random bits, lower-case hex (survives any case
/// change a mail server makes).
pub(crate) fn inbound_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(anyhow::anyhow!("random: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
