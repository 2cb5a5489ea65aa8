//! This function's part of the OpenAPI document (the `api` function merges it into the one it
//! serves).

use crate::{routes, AiApiState};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The tags are the `api` function's document's.
#[derive(OpenApi)]
struct AiApiDoc;

/// The routes with their descriptions; the router and the document both come from here.
pub fn documented_routes() -> OpenApiRouter<AiApiState> {
    OpenApiRouter::with_openapi(AiApiDoc::openapi())
        .routes(routes!(routes::draft))
        .routes(routes!(routes::show_draft))
        .routes(routes!(routes::feedback))
        .routes(routes!(routes::summary))
        .routes(routes!(routes::translate))
        .routes(routes!(routes::search))
}

/// This function's routes as an OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    documented_routes().split_for_parts().1
}
