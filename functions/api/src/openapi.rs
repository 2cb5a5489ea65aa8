//! The OpenAPI 3.1 description, generated from the handlers themselves: a route exists in the
//! router if and only if it is in the document, and `GET /v1/openapi.json` serves it.

use crate::{routes, AppState};
use axum::Json;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Helpdesk API",
        description = "Messages and conversations of an AI customer-service platform. Every route but \
            health and this document needs `Authorization: Bearer <JWT>` and sees only the caller's \
            organisation. Errors are `application/problem+json` (RFC 9457)."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "messages", description = "Inbound messages and their classification"),
        (name = "conversations", description = "Threads of a contact's messages"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The routes with their descriptions; the router and the document both come from here.
pub(crate) fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::messages::create))
        .routes(routes!(routes::messages::show))
        .routes(routes!(routes::conversations::list))
        .routes(routes!(routes::conversations::show))
        .routes(routes!(routes::health::live))
        .routes(routes!(routes::health::ready))
        .routes(routes!(routes::health::detailed))
        .routes(routes!(document))
}

/// The OpenAPI document of this function (built once).
pub fn openapi() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = documented_routes().split_for_parts().1;
        document.info.version = helpdesk_platform::VERSION.to_string();
        document
    })
}

/// `GET /v1/openapi.json`: this document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI 3.1 document")))]
pub async fn document() -> Json<&'static Document> {
    Json(openapi())
}
