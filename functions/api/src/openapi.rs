//! The OpenAPI 3.1 description, generated from the handlers themselves: a route exists in the
//! router if and only if it is in the document, and `GET /v1/openapi.json` serves it.

use crate::{routes, AppState};
use std::sync::OnceLock;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::Ref;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Helpdesk API",
        description = "An AI customer-service platform. Every route but health, this document, sign-up, \
            sign-in, refresh and accepting an invitation needs `Authorization: Bearer <access token or API \
            key>` and sees only the caller's organisation. Errors are `application/problem+json` (RFC 9457), \
            except API Gateway's own refusals before a function runs: 401 `{\"message\":\"Unauthorized\"}` \
            without an Authorization header and 403 `{\"message\":\"Forbidden\"}` for a credential the \
            authorizer refuses."
    ),
    modifiers(&Conventions),
    components(schemas(helpdesk_domain::ConversationStatus, GatewayMessage)),
    tags(
        (name = "messages", description = "Inbound messages and their classification"),
        (name = "auth", description = "Sign-up, sign-in, refresh-token rotation, logout, the caller"),
        (name = "users", description = "The team: members, invitations, roles, the audit log"),
        (name = "api-keys", description = "Keys for API consumers, scoped to permissions"),
        (name = "conversations", description = "Threads of a contact's messages"),
        (name = "ai", description = "Category reviews, live model accuracy, training, model versions, LLM settings and usage"),
        (name = "kb", description = "The knowledge base: articles drafts are grounded in, and search"),
        (name = "assist", description = "Reply drafts, summaries, translation (the ai-api function)"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "This document")
    )
)]
struct ApiDoc;

/// API Gateway's own refusal body (before any function runs).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct GatewayMessage {
    message: String,
}

/// The bearer scheme every protected route names.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT access token, or an API key (hdk_…)")
                    .build(),
            ),
        );
    }
}

/// The answers every route may give, added once the routes are in so that handlers document only
/// their own: 429 from the rate limiter anywhere, and on protected routes 401 (no token, or a
/// session that has ended) and 403 (a refused credential, or the caller lacks the route's
/// permission). API Gateway's own 401 and 403 are `{"message": …}` in `application/json`.
fn document_common_answers(openapi: &mut Document) {
    let problem_content = || ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
    let gateway_content = || ContentBuilder::new().schema(Some(Ref::from_schema_name("GatewayMessage"))).build();
    let problem = |description: String| {
        ResponseBuilder::new().description(description).content("application/problem+json", problem_content()).build()
    };
    let refusal = |description: String| {
        ResponseBuilder::new()
            .description(description)
            .content("application/problem+json", problem_content())
            .content("application/json", gateway_content())
            .build()
    };
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            let answers = &mut operation.responses.responses;
            let rate_limited = problem("Rate limit reached; see Retry-After and the RateLimit-* headers".into());
            answers.entry("429".into()).or_insert_with(|| rate_limited.into());
            if operation.request_body.is_some() {
                for (status, description) in [
                    ("400", "Malformed JSON"),
                    ("413", "Body over 256 KB"),
                    ("415", "Not JSON"),
                    ("422", "Invalid fields"),
                ] {
                    answers.entry(status.into()).or_insert_with(|| problem(description.into()).into());
                }
            }
            let Some(requirements) = &operation.security else { continue };
            let scopes: Vec<String> = serde_json::to_value(requirements)
                .ok()
                .and_then(|v| v.as_array().cloned())
                .into_iter()
                .flatten()
                .filter_map(|r| r["bearer"].as_array().cloned())
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect();
            let unauthorized = refusal("No credential, or its session has ended".into());
            answers.entry("401".into()).or_insert_with(|| unauthorized.into());
            let forbidden = if scopes.is_empty() {
                refusal("The credential was refused".into())
            } else {
                refusal(format!("The credential was refused, or the caller lacks {}", scopes.join(", ")))
            };
            answers.entry("403".into()).or_insert_with(|| forbidden.into());
        }
    }
}

/// The routes with their descriptions; the router and the document both come from here.
pub(crate) fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::messages::create))
        .routes(routes!(routes::messages::show))
        .routes(routes!(routes::ai::review))
        .routes(routes!(routes::ai::metrics))
        .routes(routes!(routes::ai::train))
        .routes(routes!(routes::ai::training_run))
        .routes(routes!(routes::ai::models))
        .routes(routes!(routes::llm::settings, routes::llm::put_settings))
        .routes(routes!(routes::llm::usage))
        .routes(routes!(routes::kb::create, routes::kb::list))
        .routes(routes!(routes::kb::show, routes::kb::update, routes::kb::delete))
        .routes(routes!(routes::conversations::list))
        .routes(routes!(routes::conversations::show))
        .routes(routes!(routes::conversations::reply))
        .routes(routes!(routes::health::live))
        .routes(routes!(routes::health::ready))
        .routes(routes!(routes::health::detailed))
        .routes(routes!(document))
}

/// The platform's whole document as committed in `docs/openapi.json`: this function's routes,
/// then the other HTTP functions' (auth, ai-api), with the answers every route may give. It is
/// data here, so this binary links none of the other functions; the `openapi` test regenerates
/// it from all three (`UPDATE_DOCS=1 cargo test -p api --test openapi`) and fails when stale.
/// (`docs/permissions.md` is generated from the same document.)
pub const DOCUMENT_JSON: &str = include_str!("../../../docs/openapi.json");

/// [`DOCUMENT_JSON`], parsed once.
pub fn openapi() -> &'static serde_json::Value {
    static DOCUMENT: OnceLock<serde_json::Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| serde_json::from_str(DOCUMENT_JSON).expect("docs/openapi.json is JSON"))
}

/// The whole document from this function's part and the others': what `docs/openapi.json` holds.
pub fn merged(others: impl IntoIterator<Item = Document>) -> Document {
    let mut document = documented_routes().split_for_parts().1;
    for part in others {
        document.merge(part);
    }
    document_common_answers(&mut document);
    document.info.version = helpdesk_platform::VERSION.to_string();
    document
}

/// `GET /v1/openapi.json`: the platform's document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta", responses((status = 200, description = "The OpenAPI 3.1 document")))]
pub async fn document() -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], DOCUMENT_JSON)
}

/// The table in `docs/permissions.md`: each route's permission, then each role's permissions.
/// Generated from this document and the domain's matrix; a test keeps the file current.
pub fn permissions_markdown(spec: &serde_json::Value) -> String {
    use helpdesk_domain::{Permission, Role};
    let mut out = String::from(
        "# Permissions\n\nGenerated from the OpenAPI document and the role matrix by \
         `UPDATE_DOCS=1 cargo test -p api --test openapi`; do not edit by hand.\n\n\
         ## Routes\n\n| method | path | needs |\n|---|---|---|\n",
    );
    for (path, item) in spec["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let needs = match operation["security"].as_array() {
                None => "public".to_string(),
                Some(requirements) => {
                    let scopes: Vec<&str> = requirements
                        .iter()
                        .filter_map(|r| r["bearer"].as_array())
                        .flatten()
                        .filter_map(|s| s.as_str())
                        .collect();
                    if scopes.is_empty() {
                        "any signed-in caller".to_string()
                    } else {
                        format!("`{}`", scopes.join("`, `"))
                    }
                }
            };
            out.push_str(&format!("| {} | `{path}` | {needs} |\n", method.to_uppercase()));
        }
    }
    out.push_str(
        "\n## Built-in roles\n\nCustom roles are named sets of these permissions (`POST /v1/roles`); API keys \
         carry a set of them too.\n\n| permission | owner | admin | agent | viewer |\n|---|---|---|---|---|\n",
    );
    for permission in Permission::ALL {
        let cells: Vec<&str> = [Role::Owner, Role::Admin, Role::Agent, Role::Viewer]
            .iter()
            .map(|r| if r.permissions().contains(*permission) { "yes" } else { "" })
            .collect();
        out.push_str(&format!("| `{}` | {} |\n", permission.as_str(), cells.join(" | ")));
    }
    out
}
