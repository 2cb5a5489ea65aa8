//! The AI engine as agents and admins see it: confirming or correcting a message's category
//! (training data and live accuracy), the live figures, training on demand, the model versions.

use super::parse_id;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use helpdesk_domain::{CategoryName, MessageId, Permission, ValidationError};
use helpdesk_http::{ApiError, ApiJson, ApiQuery, AuthContext, NoBody, Problem, RequestId};
use helpdesk_store::{AiMetrics, ModelRecord, TrainingRunRecord, VerdictOutcome, VerdictRecord};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassificationVerdict {
    /// The right category: the model's (a confirmation) or another (a correction). A name the
    /// organisation has not used before becomes a category of its own once a model is trained.
    #[schema(example = "refund", pattern = "^[a-z][a-z0-9_]{0,39}$")]
    pub category: String,
}

/// `PUT /v1/messages/{id}/classification`: an agent confirms or corrects the category.
#[utoipa::path(
    put, path = "/v1/messages/{id}/classification", tag = "ai",
    params(("id" = uuid::Uuid, Path, description = "Message id")),
    request_body = ClassificationVerdict,
    responses(
        (status = 200, description = "Recorded (it replaces an earlier verdict on the same message)", body = VerdictRecord),
        (status = 400, description = "Malformed id or JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such message in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a category name, or not an inbound message", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["messages:write"]))
)]
pub async fn review(
    State(state): State<AppState>,
    auth: AuthContext,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ClassificationVerdict>,
) -> Result<Json<VerdictRecord>, ApiError> {
    auth.require(Permission::MessagesWrite)?;
    let id: MessageId = parse_id(&id, "message")?;
    let category = CategoryName::parse(&body.category)
        .map_err(|e| ApiError::Validation(vec![ValidationError::new("category", e)]))?;
    let reviewer = auth.user_id().ok();
    match state.store.record_verdict(auth.org, id, reviewer, &category).await? {
        VerdictOutcome::Recorded(record) => Ok(Json(record)),
        VerdictOutcome::NoSuchMessage => Err(ApiError::NotFound(format!("message {id} not found"))),
        VerdictOutcome::NotInbound => {
            Err(ApiError::Unprocessable("only inbound messages have a category; this one is a reply or a note".into()))
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricsParams {
    /// The period: classifications made in the last `days` days (30 by default).
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
}

/// `GET /v1/ai/metrics`: the model's live accuracy (agents' confirmations over their reviews),
/// volumes, confidence and latency, per model version and per category.
#[utoipa::path(
    get, path = "/v1/ai/metrics", tag = "ai",
    params(MetricsParams),
    responses(
        (status = 200, description = "The figures of the period", body = AiMetrics),
        (status = 400, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["analytics:read"]))
)]
pub async fn metrics(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiQuery(params): ApiQuery<MetricsParams>,
) -> Result<Json<AiMetrics>, ApiError> {
    auth.require(Permission::AnalyticsRead)?;
    let days = params.days.unwrap_or(30);
    if !(1..=366).contains(&days) {
        return Err(ApiError::BadRequest("days must be between 1 and 366".into()));
    }
    let since = chrono::Utc::now() - chrono::Duration::days(days);
    Ok(Json(state.store.ai_metrics(auth.org, since).await?))
}

/// `POST /v1/ai/training-runs`: trains the organisation's category model now. The run is
/// queued; poll it for the result (`promoted` only if the new model beat the current one).
#[utoipa::path(
    post, path = "/v1/ai/training-runs", tag = "ai",
    responses((status = 202, description = "Queued", body = TrainingRunRecord)),
    security(("bearer" = ["ai:configure"]))
)]
pub async fn train(
    State(state): State<AppState>,
    auth: AuthContext,
    Extension(request_id): Extension<RequestId>,
    _: NoBody,
) -> Result<(StatusCode, Json<TrainingRunRecord>), ApiError> {
    auth.require(Permission::AiConfigure)?;
    let (run, record) = state.store.request_training(auth.org, auth.user_id().ok(), Some(&request_id.0)).await?;
    helpdesk_platform::outbox::relay_now(&state.store, &state.publisher, auth.org, std::slice::from_ref(&record)).await;
    Ok((StatusCode::ACCEPTED, Json(run)))
}

/// `GET /v1/ai/training-runs/{id}`: how a run went.
#[utoipa::path(
    get, path = "/v1/ai/training-runs/{id}", tag = "ai",
    params(("id" = uuid::Uuid, Path, description = "Training run id")),
    responses(
        (status = 200, description = "The run", body = TrainingRunRecord),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["analytics:read"]))
)]
pub async fn training_run(
    State(state): State<AppState>,
    auth: AuthContext,
    Path(id): Path<String>,
) -> Result<Json<TrainingRunRecord>, ApiError> {
    auth.require(Permission::AnalyticsRead)?;
    let id: uuid::Uuid = parse_id(&id, "training run")?;
    state
        .store
        .training_run(auth.org, id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("training run {id} not found")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Newest first: the active version, those it replaced, and candidates that lost.
    pub data: Vec<ModelRecord>,
}

/// `GET /v1/ai/models`: the organisation's category model versions with their held-out figures.
#[utoipa::path(
    get, path = "/v1/ai/models", tag = "ai",
    responses((status = 200, description = "The versions", body = ModelList)),
    security(("bearer" = ["analytics:read"]))
)]
pub async fn models(State(state): State<AppState>, auth: AuthContext) -> Result<Json<ModelList>, ApiError> {
    auth.require(Permission::AnalyticsRead)?;
    Ok(Json(ModelList { data: state.store.list_models(auth.org).await? }))
}
