use super::parse_id;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use helpdesk_domain::{ConversationId, ConversationStatus, Permission, UserId, ValidationError};
use helpdesk_http::{ApiError, ApiJson, ApiQuery, AuthContext, Cursor, Problem, RequestId};
use helpdesk_store::{
    ConversationFilter, ConversationRecord, ConversationSummary, MessageRecord, NewReply, ReplyOutcome, ReplyRecord,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const DEFAULT_PAGE: i64 = 25;
const MAX_PAGE: i64 = 100;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only conversations in this state.
    #[param(value_type = Option<ConversationStatus>)]
    status: Option<String>,
    /// The category of the conversation's latest classified message.
    category: Option<String>,
    /// Only conversations assigned to this user.
    #[param(value_type = Option<uuid::Uuid>)]
    assignee: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size; 25 by default.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// An empty free-text parameter (`?category=`) means no filter, as in a form left blank; typed
/// ones (`status`, `assignee`) must be valid when present.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /v1/conversations`: newest activity first, filtered, cursor-paginated.
#[utoipa::path(
    get, path = "/v1/conversations", tag = "conversations",
    params(ListParams),
    responses(
        (status = 200, description = "A page of conversations", body = Page<ConversationSummary>),
        (status = 400, description = "A bad filter, cursor or limit", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Page<ConversationSummary>>, ApiError> {
    auth.require(Permission::MessagesRead)?;
    let (status, category, assignee, cursor) =
        (params.status, given(params.category), params.assignee, given(params.cursor));
    if category.as_deref().is_some_and(|c| c.contains('\0')) {
        return Err(ApiError::BadRequest("category must not contain NUL characters".into()));
    }
    let status = status
        .as_deref()
        .map(|s| {
            ConversationStatus::parse(s).ok_or_else(|| {
                ApiError::BadRequest(format!("status must be one of open, pending, snoozed, resolved; got '{s}'"))
            })
        })
        .transpose()?;
    let assignee = assignee.as_deref().map(|a| parse_id::<UserId>(a, "assignee")).transpose()?;
    let before = cursor
        .as_deref()
        .map(|c| Cursor::decode(c).ok_or_else(|| ApiError::BadRequest("cursor is not one this API issued".into())))
        .transpose()?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_PAGE}")));
    }

    let filter =
        ConversationFilter { status, category, assignee, before: before.map(|c| (c.at, c.id)), limit: limit + 1 };
    let mut data = state.store.list_conversations(auth.org, &filter).await?;
    let next_cursor = if data.len() as i64 > limit {
        data.truncate(limit as usize);
        data.last().map(|c| Cursor { at: c.last_message_at, id: c.id }.encode())
    } else {
        None
    };
    Ok(Json(Page { data, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationWithMessages {
    #[serde(flatten)]
    pub conversation: ConversationRecord,
    pub messages: Vec<MessageRecord>,
}

/// `GET /v1/conversations/{id}`: the conversation with its messages, oldest first.
#[utoipa::path(
    get, path = "/v1/conversations/{id}", tag = "conversations",
    params(("id" = uuid::Uuid, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The conversation and its messages", body = ConversationWithMessages),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthContext,
    Path(id): Path<String>,
) -> Result<Json<ConversationWithMessages>, ApiError> {
    auth.require(Permission::MessagesRead)?;
    let id: ConversationId = parse_id(&id, "conversation")?;
    let (conversation, messages) = state
        .store
        .get_conversation(auth.org, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("conversation {id} not found")))?;
    Ok(Json(ConversationWithMessages { conversation, messages }))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// The reply, 1 to 20,000 characters.
    #[schema(example = "Hi Ana, your refund was issued today.")]
    pub body: String,
    /// The draft it was written from (`POST /v1/conversations/{id}/draft`): recorded as
    /// accepted when sent as drafted, edited otherwise.
    pub draft_id: Option<uuid::Uuid>,
    /// Resolve the conversation with this reply (its replies then become retrieval passages
    /// for future drafts). `false` by default.
    #[serde(default)]
    pub resolve: bool,
}

/// `POST /v1/conversations/{id}/replies`: an agent's reply, stored before the answer (sending
/// it comes with the outbound mail function); with `resolve`, the conversation is resolved and
/// its replies are indexed for drafts.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/replies", tag = "conversations",
    params(("id" = uuid::Uuid, Path, description = "Conversation id")),
    request_body = ReplyBody,
    responses(
        (status = 201, description = "Stored", body = ReplyRecord),
        (status = 404, description = "No such conversation, or no such draft of it", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The draft already has feedback, or it failed a quality gate and is sent unchanged", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn reply(
    State(state): State<AppState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<ReplyRecord>), ApiError> {
    auth.require(Permission::MessagesWrite)?;
    let id: ConversationId = parse_id(&id, "conversation")?;
    let text = body.body.trim();
    helpdesk_domain::text::check_text(text, 20_000, true)
        .map_err(|e| ApiError::Validation(vec![ValidationError::new("body", e)]))?;
    let reply = NewReply {
        conversation_id: id.0,
        body: text.to_string(),
        author: auth.user_id().ok(),
        draft_id: body.draft_id,
        resolve: body.resolve,
        request_id: Some(request_id.0.clone()),
    };
    match state.store.record_reply(auth.org, &reply).await? {
        ReplyOutcome::Recorded(record, announcements) => {
            helpdesk_platform::outbox::relay_now(&state.store, &state.publisher, auth.org, &announcements).await;
            Ok((StatusCode::CREATED, Json(record)))
        }
        ReplyOutcome::NoSuchConversation => Err(ApiError::NotFound(format!("conversation {id} not found"))),
        ReplyOutcome::NoSuchDraft => Err(ApiError::NotFound("no such draft of this conversation".into())),
        ReplyOutcome::DraftConflict { status } => Err(ApiError::Conflict(match status.as_str() {
            "blocked" => "the draft failed a quality gate: edit it before sending".to_string(),
            other => format!("the draft is already {other}"),
        })),
    }
}
