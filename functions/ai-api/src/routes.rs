//! The routes: parse, check the permission, call the assistant, answer. Every failure is a
//! problem+json answer (RFC 9457).

use crate::assistant::{AssistError, Source, Summary, Translation};
use crate::AiApiState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use helpdesk_domain::{ConversationId, MessageId, Permission, ValidationError};
use helpdesk_http::{parse_id, ApiError, ApiJson, ApiQuery, AuthContext, NoBody, Problem, RequestId};
use helpdesk_store::{DraftOutcome, DraftRecord, FeedbackOutcome, RetrievedPassage};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<AssistError> for ApiError {
    fn from(e: AssistError) -> Self {
        match e {
            AssistError::NotFound(what) => ApiError::NotFound(what.to_string()),
            AssistError::Conflict(detail) => ApiError::Conflict(detail),
            AssistError::Unavailable(detail) => ApiError::Unavailable(detail),
            AssistError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// A draft as the API shows it: `{body, language, sources[], provider, model, confidence,
/// latency_ms}` with its id, status and the gates it failed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Draft {
    pub id: uuid::Uuid,
    pub conversation_id: uuid::Uuid,
    /// The customer message it answers.
    pub message_id: Option<uuid::Uuid>,
    pub body: String,
    /// ISO 639-3: the customer's language.
    pub language: Option<String>,
    pub sources: Vec<Source>,
    /// `openai`, `anthropic`, `openai_compatible`, `azure_openai`, or `local`.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub confidence: Option<f32>,
    pub latency_ms: Option<i32>,
    /// `draft`: passed every gate; `blocked`: failed one (see `gates`) and is not to be sent as
    /// is; then `accepted`, `edited` or `rejected`.
    pub status: String,
    /// The quality gates it failed: `{gate, detail}` with gate `placeholder`, `foreign_pii`,
    /// `language`, `length` or `blocked_phrase`.
    #[schema(value_type = Vec<Object>)]
    pub gates: serde_json::Value,
    /// Why the local engine wrote it: `not_allowed`, `no_provider`, `over_budget`, `failed`.
    pub fallback_reason: Option<String>,
    pub final_body: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub feedback_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<DraftRecord> for Draft {
    fn from(r: DraftRecord) -> Self {
        Self {
            id: r.id,
            conversation_id: r.conversation_id,
            message_id: r.message_id,
            body: r.body,
            language: r.language,
            sources: serde_json::from_value(r.sources.0).unwrap_or_default(),
            provider: r.provider,
            model: r.model,
            confidence: r.confidence,
            latency_ms: r.latency_ms,
            status: r.status,
            gates: r.gates.0,
            fallback_reason: r.fallback_reason,
            final_body: r.final_body,
            created_at: r.created_at,
            feedback_at: r.feedback_at,
        }
    }
}

/// `POST /v1/conversations/{id}/draft`: a reply draft for the latest customer message.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/draft", tag = "assist",
    params(("id" = uuid::Uuid, Path, description = "Conversation id")),
    responses(
        (status = 201, description = "The draft, checked by the quality gates and stored", body = Draft),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No customer message to answer", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn draft(
    State(state): State<AiApiState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<(StatusCode, Json<Draft>), ApiError> {
    auth.require(Permission::MessagesWrite)?;
    let id: ConversationId = parse_id(&id, "conversation")?;
    let record = state.assistant.draft(auth.org, id, auth.user_id().ok(), Some(&request_id.0)).await?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// `GET /v1/drafts/{id}`: a draft and what was done with it.
#[utoipa::path(
    get, path = "/v1/drafts/{id}", tag = "assist",
    params(("id" = uuid::Uuid, Path, description = "Draft id")),
    responses(
        (status = 200, description = "The draft", body = Draft),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such draft in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn show_draft(
    State(state): State<AiApiState>,
    auth: AuthContext,
    Path(id): Path<String>,
) -> Result<Json<Draft>, ApiError> {
    auth.require(Permission::MessagesRead)?;
    let id: uuid::Uuid = parse_id(&id, "draft")?;
    let record = state.assistant.store.draft(auth.org, id).await?;
    Ok(Json(record.ok_or_else(|| ApiError::NotFound(format!("draft {id} not found")))?.into()))
}

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// `accepted` (used as drafted), `edited` (used after changes: send `body`) or `rejected`.
    #[schema(example = "edited")]
    pub outcome: String,
    /// What the agent made of it (required for `edited`).
    pub body: Option<String>,
}

/// `POST /v1/drafts/{id}/feedback`: what the agent did with the draft (once). Accepted and
/// edited drafts confirm the category of the message they answer as training data; all three
/// count in `GET /v1/ai/metrics`. (A reply sent with `draft_id` records this by itself.)
#[utoipa::path(
    post, path = "/v1/drafts/{id}/feedback", tag = "assist",
    params(("id" = uuid::Uuid, Path, description = "Draft id")),
    request_body = FeedbackBody,
    responses(
        (status = 200, description = "Recorded", body = Draft),
        (status = 404, description = "No such draft in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The draft already has feedback, or it failed a gate and cannot be accepted as is", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn feedback(
    State(state): State<AiApiState>,
    auth: AuthContext,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<FeedbackBody>,
) -> Result<Json<Draft>, ApiError> {
    auth.require(Permission::MessagesWrite)?;
    let id: uuid::Uuid = parse_id(&id, "draft")?;
    let outcome = match body.outcome.as_str() {
        "accepted" => DraftOutcome::Accepted,
        "edited" => DraftOutcome::Edited,
        "rejected" => DraftOutcome::Rejected,
        _ => return Err(ApiError::Validation(vec![ValidationError::new("outcome", "accepted, edited or rejected")])),
    };
    let final_body = match (outcome, body.body.as_deref().map(str::trim)) {
        (DraftOutcome::Edited, body) => {
            let body = body.unwrap_or_default();
            helpdesk_domain::text::check_text(body, 20_000, true).map_err(|e| {
                ApiError::Validation(vec![ValidationError::new("body", format!("the edited text {e}"))])
            })?;
            Some(body)
        }
        _ => None,
    };
    let recorded =
        state.assistant.store.record_draft_feedback(auth.org, id, outcome, final_body, auth.user_id().ok()).await?;
    match recorded {
        FeedbackOutcome::Recorded(record) => Ok(Json((*record).into())),
        FeedbackOutcome::NoSuchDraft => Err(ApiError::NotFound(format!("draft {id} not found"))),
        FeedbackOutcome::Conflict { status } => Err(ApiError::Conflict(match status.as_str() {
            "blocked" => "the draft failed a quality gate: edit it or reject it".to_string(),
            other => format!("the draft is already {other}"),
        })),
    }
}

/// `POST /v1/conversations/{id}/summary`: what the customer wants, what was done, what is open.
#[utoipa::path(
    post, path = "/v1/conversations/{id}/summary", tag = "assist",
    params(("id" = uuid::Uuid, Path, description = "Conversation id")),
    responses(
        (status = 200, description = "The summary (an LLM's, or the thread's most central sentences)", body = Summary),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such conversation in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn summary(
    State(state): State<AiApiState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<Json<Summary>, ApiError> {
    auth.require(Permission::MessagesRead)?;
    let id: ConversationId = parse_id(&id, "conversation")?;
    Ok(Json(state.assistant.summarize(auth.org, id, Some(&request_id.0)).await?))
}

#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranslateBody {
    /// ISO 639-3. Default: English for the message itself; the message's language for `text`.
    #[schema(example = "eng")]
    pub target_language: Option<String>,
    /// An agent's reply to translate (into the customer's language unless `target_language`
    /// says otherwise) instead of the message.
    pub text: Option<String>,
}

/// `POST /v1/messages/{id}/translate`: the message for an agent, or an agent's reply for the
/// customer. Needs an external LLM: 409 when none may be used (forbidden, none configured, budget
/// spent), 503 when every provider failed.
#[utoipa::path(
    post, path = "/v1/messages/{id}/translate", tag = "assist",
    params(("id" = uuid::Uuid, Path, description = "Message id")),
    request_body = TranslateBody,
    responses(
        (status = 200, description = "The translation", body = Translation),
        (status = 404, description = "No such message in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No external LLM may be used (forbidden, none configured, budget spent)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Every provider failed", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:read"]))
)]
pub async fn translate(
    State(state): State<AiApiState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TranslateBody>,
) -> Result<Json<Translation>, ApiError> {
    auth.require(Permission::MessagesRead)?;
    let id: MessageId = parse_id(&id, "message")?;
    let mut errors = Vec::new();
    if let Some(target) = &body.target_language {
        if !helpdesk_domain::is_language_code(target) {
            errors.push(ValidationError::new("target_language", "an ISO 639-3 code such as eng, spa, fra"));
        }
    }
    if let Some(text) = &body.text {
        if let Err(e) = helpdesk_domain::text::check_text(text, 20_000, true) {
            errors.push(ValidationError::new("text", e));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let translation = state
        .assistant
        .translate(auth.org, id, body.text.as_deref(), body.target_language.as_deref(), Some(&request_id.0))
        .await?;
    Ok(Json(translation))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// What to look for (1 to 1,000 characters).
    q: String,
    /// ISO 639-3 of the query's words (detected when absent).
    language: Option<String>,
    /// How many passages; 5 by default.
    #[param(minimum = 1, maximum = 20)]
    limit: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    pub passages: Vec<RetrievedPassage>,
}

/// `GET /v1/kb/search`: the published passages (articles and past replies) best matching the
/// query, by meaning and by words.
#[utoipa::path(
    get, path = "/v1/kb/search", tag = "kb",
    params(SearchParams),
    responses(
        (status = 200, description = "Best first", body = SearchResults),
        (status = 400, description = "A bad query", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["kb:read"]))
)]
pub async fn search(
    State(state): State<AiApiState>,
    auth: AuthContext,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchResults>, ApiError> {
    auth.require(Permission::KbRead)?;
    let q = params.q.trim();
    helpdesk_domain::text::check_text(q, 1000, true).map_err(|e| ApiError::BadRequest(format!("q {e}")))?;
    if params.language.as_deref().is_some_and(|l| !helpdesk_domain::is_language_code(l)) {
        return Err(ApiError::BadRequest("language: an ISO 639-3 code such as eng".into()));
    }
    let limit = params.limit.unwrap_or(5);
    if !(1..=20).contains(&limit) {
        return Err(ApiError::BadRequest("limit: 1 to 20".into()));
    }
    let passages = state.assistant.search(auth.org, q, params.language.as_deref(), limit).await?;
    Ok(Json(SearchResults { passages }))
}
