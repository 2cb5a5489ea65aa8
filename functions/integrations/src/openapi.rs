//! This function's part of the OpenAPI document (the `api` function merges it into the one it
//! serves).

use crate::{oauth, routes, IntegrationsState};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(tags((name = "mailboxes", description = "Where email comes in: IMAP, Gmail, Microsoft 365 and forwarding mailboxes, raw MIME import")))]
struct IntegrationsDoc;

/// The routes with their descriptions; the router and the document both come from here.
pub fn documented_routes() -> OpenApiRouter<IntegrationsState> {
    OpenApiRouter::with_openapi(IntegrationsDoc::openapi())
        .routes(routes!(routes::create, routes::list))
        .routes(routes!(routes::show, routes::update, routes::delete))
        .routes(routes!(routes::post_raw_message))
        .routes(routes!(routes::test))
        .routes(routes!(routes::attachment))
        .routes(routes!(routes::raw_message))
        .routes(routes!(oauth::start))
        .routes(routes!(oauth::callback))
        .routes(routes!(oauth::confirm))
}

/// This function's routes as an OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    documented_routes().split_for_parts().1
}
