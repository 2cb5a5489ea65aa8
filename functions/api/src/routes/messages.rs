use super::parse_id;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use helpdesk_domain::message::RawInboundMessage;
use helpdesk_domain::{InboundMessage, MessageId, Permission};
use helpdesk_http::{ApiError, ApiJson, AuthContext, Problem, RequestId};
use helpdesk_store::{AcceptOutcome, AcceptedMessage, IdempotencyKey, MessageRecord};

const IDEMPOTENCY_HEADER: &str = "idempotency-key";

/// `POST /v1/messages`: stores the message durably, then hands it to the AI pipeline.
#[utoipa::path(
    post, path = "/v1/messages", tag = "messages",
    request_body = RawInboundMessage,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key returns the first answer")),
    responses(
        (status = 202, description = "Stored; classification follows", body = AcceptedMessage),
        (status = 400, description = "Malformed JSON or header", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or an idempotency key reused with another body", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    ApiJson(raw): ApiJson<RawInboundMessage>,
) -> Result<Response, ApiError> {
    auth.require(Permission::MessagesWrite)?;
    let idempotency = idempotency_key(&headers, &auth, &raw)?;
    let message = InboundMessage::parse(raw).map_err(ApiError::Validation)?;

    let outcome = state.store.accept_inbound(auth.org, &message, idempotency.as_ref(), Some(&request_id.0)).await?;
    match outcome {
        AcceptOutcome::Created(accepted) => {
            if let Some(record) = &accepted.announcement {
                // The message is durable already; if SQS is down the sweeper relays it later.
                helpdesk_platform::outbox::relay_now(
                    &state.store,
                    &state.publisher,
                    auth.org,
                    std::slice::from_ref(record),
                )
                .await;
            }
            Ok((StatusCode::ACCEPTED, Json(accepted)).into_response())
        }
        AcceptOutcome::Replayed(accepted) => {
            Ok((StatusCode::ACCEPTED, [("idempotent-replayed", "true")], Json(accepted)).into_response())
        }
        AcceptOutcome::KeyReused => {
            Err(ApiError::Unprocessable("this Idempotency-Key was already used with a different request body".into()))
        }
    }
}

/// `GET /v1/messages/{id}`: the message, with its classification once the AI worker is done.
#[utoipa::path(
    get, path = "/v1/messages/{id}", tag = "messages",
    params(("id" = uuid::Uuid, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message", body = MessageRecord),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthContext,
    Path(id): Path<String>,
) -> Result<Json<MessageRecord>, ApiError> {
    auth.require(Permission::MessagesRead)?;
    let id: MessageId = parse_id(&id, "message")?;
    state
        .store
        .get_message(auth.org, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("message {id} not found")))
}

/// The client's `Idempotency-Key`, scoped to the caller (two API clients of one organisation
/// may pick the same key), with a fingerprint of the request's meaning (its parsed fields, so
/// whitespace or key order does not make a retry look different).
fn idempotency_key(
    headers: &HeaderMap,
    auth: &AuthContext,
    raw: &RawInboundMessage,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_HEADER) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.chars().all(|c| c.is_ascii_graphic()))
        .ok_or_else(|| ApiError::BadRequest("Idempotency-Key must be 1 to 255 visible ASCII characters".into()))?;
    let canonical = serde_json::to_vec(raw).map_err(ApiError::internal)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &canonical);
    Ok(Some(IdempotencyKey {
        principal: auth.principal.key(),
        key: key.to_string(),
        request_hash: hex::encode(digest.as_ref()),
    }))
}
