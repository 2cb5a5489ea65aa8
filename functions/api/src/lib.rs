//! The `api` function: messages and conversations over API Gateway's HTTP API. The router is
//! built here so that Lambda (`main.rs`), the local runner and the tests all run the same code.

pub mod openapi;
pub mod ratelimit;
pub mod routes;
mod state;

pub use openapi::openapi;
pub use state::AppState;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use helpdesk_http::{ApiError, RequestId, MAX_REQUEST_BYTES};
use lambda_http::RequestExt;
use std::time::Instant;
use tracing::Instrument;

/// Every route of the function, with its OpenAPI description. template.yaml declares the same
/// routes for API Gateway; a test keeps the two in step.
pub fn router(state: AppState) -> Router {
    let (router, _) = openapi::documented_routes().split_for_parts();
    router
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), ratelimit::limit))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(axum::middleware::from_fn(helpdesk_http::headers::security_headers))
        .layer(axum::middleware::from_fn(request_span))
        .with_state(state)
}

/// One log line per request (method, route, status, latency, request id, organisation — never
/// a body), and the request id echoed back to the client.
async fn request_span(mut req: Request, next: Next) -> Response {
    let gateway_id = match req.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let request_id = RequestId::from_parts(gateway_id.as_deref(), req.headers());
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = req.method().clone();
    let span =
        tracing::info_span!("request", request_id = %request_id.0, function = "api", org = tracing::field::Empty);
    req.extensions_mut().insert(request_id.clone());
    let started = Instant::now();
    async move {
        let mut response = next.run(req).await;
        tracing::info!(
            method = %method,
            route = route.as_deref().unwrap_or("unmatched"),
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        if let Ok(value) = request_id.0.parse() {
            response.headers_mut().insert("x-request-id", value);
        }
        response
    }
    .instrument(span)
    .await
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} is not allowed on {}", req.method(), req.uri().path()))
}
