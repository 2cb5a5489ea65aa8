//! The `api` function: messages and conversations over API Gateway's HTTP API. The router is
//! built here so that Lambda (`main.rs`), the local runner and the tests all run the same code.

pub mod openapi;
pub mod routes;
mod state;

pub use openapi::openapi;
pub use state::AppState;

use axum::Router;

/// Every route of the function, with its OpenAPI description. template.yaml declares the same
/// routes for API Gateway; a test keeps the two in step.
pub fn router(state: AppState) -> Router {
    let (routes, _) = openapi::documented_routes().split_for_parts();
    let api = helpdesk_http::RouteTable::from_openapi(openapi());
    helpdesk_platform::gateway::http_function(routes, "api", state.gateway.clone(), api, state)
}
