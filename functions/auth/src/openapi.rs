//! The auth function's part of the OpenAPI document. The api function serves the whole document
//! at `/v1/openapi.json`, merging this part in, so consumers see one API.

use crate::{routes, AuthState};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Tags and common parts are described once, in the api function's document.
#[derive(OpenApi)]
struct AuthDoc;

/// The routes with their descriptions; the router and the document both come from here.
pub fn documented_routes() -> OpenApiRouter<AuthState> {
    use routes::*;
    OpenApiRouter::with_openapi(AuthDoc::openapi())
        .routes(routes!(session::signup))
        .routes(routes!(session::login))
        .routes(routes!(session::refresh))
        .routes(routes!(session::logout))
        .routes(routes!(session::me))
        .routes(routes!(users::list))
        .routes(routes!(users::change_role))
        .routes(routes!(users::deactivate))
        .routes(routes!(invitations::create, invitations::list))
        .routes(routes!(invitations::revoke))
        .routes(routes!(invitations::accept))
        .routes(routes!(roles::list, roles::create))
        .routes(routes!(roles::update))
        .routes(routes!(roles::delete))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(audit::list))
}

/// This function's routes as an OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    documented_routes().split_for_parts().1
}
