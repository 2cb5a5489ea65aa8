use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_http::{ApiError, AuthContext, Problem};
use serde::Serialize;
use serde_json::json;
use std::future::Future;
use std::time::{Duration, Instant};

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DependencyStatus {
    pub status: &'static str,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /health/live`: the function runs.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200, description = "Running")))]
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /health/ready`: Postgres, Redis and SQS answer. 503 (problem) naming what does not;
/// the errors themselves (which can name accounts and roles) go to the log and to the
/// authenticated `/health/detailed`, not to anonymous callers.
#[utoipa::path(
    get, path = "/health/ready", tag = "health",
    responses(
        (status = 200, description = "Postgres, Redis and SQS answer"),
        (status = 503, description = "Names the dependencies that do not", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn ready(State(state): State<AppState>) -> Response {
    let checks = check_all(&state).await;
    let failing: Vec<&str> = checks.iter().filter(|(_, s)| s.status != "ok").map(|(name, _)| *name).collect();
    for (name, status) in checks.iter().filter(|(_, s)| s.status != "ok") {
        tracing::warn!(dependency = name, error = status.error.as_deref().unwrap_or(""), "not ready");
    }
    if failing.is_empty() {
        let summary: serde_json::Map<_, _> = checks.iter().map(|(n, s)| (n.to_string(), json!(s.status))).collect();
        Json(json!({ "status": "ok", "checks": summary })).into_response()
    } else {
        ApiError::Unavailable(format!("not ready: {} unavailable", failing.join(", "))).into_response()
    }
}

/// `GET /health/detailed` (authenticated): each dependency's status and latency, and the version.
#[utoipa::path(
    get, path = "/health/detailed", tag = "health",
    responses(
        (status = 200, description = "Every dependency answers; status, latency and version of each"),
        (status = 503, description = "Some dependency does not; the same report"),
    ),
    security(("bearer" = []))
)]
pub async fn detailed(State(state): State<AppState>, _auth: AuthContext) -> Response {
    let checks = check_all(&state).await;
    let healthy = checks.iter().all(|(_, s)| s.status == "ok");
    let body = json!({
        "status": if healthy { "ok" } else { "degraded" },
        "function": "api",
        "version": helpdesk_platform::VERSION,
        "dependencies": checks.into_iter().map(|(n, s)| (n.to_string(), s)).collect::<std::collections::BTreeMap<_, _>>(),
    });
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body)).into_response()
}

async fn check_all(state: &AppState) -> Vec<(&'static str, DependencyStatus)> {
    let (pg, redis, sqs) = tokio::join!(
        timed(async { state.store.ping().await.map_err(|e| e.to_string()) }),
        timed(async { state.redis.ping().await.map_err(|e| e.to_string()) }),
        timed(state.publisher.ping()),
    );
    vec![("postgres", pg), ("redis", redis), ("sqs", sqs)]
}

async fn timed(check: impl Future<Output = Result<(), String>>) -> DependencyStatus {
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, check).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(Ok(())) => DependencyStatus { status: "ok", latency_ms, error: None },
        Ok(Err(e)) => DependencyStatus { status: "error", latency_ms, error: Some(e) },
        Err(_) => DependencyStatus { status: "error", latency_ms, error: Some("timed out".into()) },
    }
}
