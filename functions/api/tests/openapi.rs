//! The OpenAPI document is generated from the handlers: check its shape and that it lists what
//! template.yaml routes to the function.

use std::collections::BTreeSet;

/// The document generated from the three HTTP functions' handlers (what the tests check, and
/// what `docs/openapi.json` must hold).
fn spec() -> serde_json::Value {
    let merged = api::openapi::merged([
        auth::openapi::document(),
        ai_api::openapi::document(),
        integrations::openapi::document(),
    ]);
    serde_json::to_value(merged).unwrap()
}

/// The document the api function serves is data (`docs/openapi.json`), so that its binary links
/// no other function.
#[test]
fn the_served_document_is_the_handlers_document() {
    let generated = serde_json::to_string_pretty(&spec()).unwrap() + "\n";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    assert!(
        api::openapi::DOCUMENT_JSON == generated,
        "docs/openapi.json is stale: run `UPDATE_DOCS=1 cargo test -p api --test openapi`"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_bearer_auth() {
    let spec = spec();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(spec["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    // A protected route names the scheme and documents its problems.
    let create = &spec["paths"]["/v1/messages"]["post"];
    assert_eq!(create["security"][0]["bearer"], serde_json::json!(["messages:write"]));
    assert!(create["responses"]["422"]["content"]["application/problem+json"].is_object());
}

#[test]
fn the_document_and_template_yaml_list_the_same_routes() {
    let spec = spec();
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();

    let template: BTreeSet<(String, String)> = template_routes().into_iter().map(|(m, p, _)| (m, p)).collect();
    assert_eq!(documented, template, "routes in the OpenAPI document vs. HttpApi events in template.yaml");
}

/// A route is public in the document (no `security`) exactly when template.yaml exempts it from
/// the authorizer (`Auth: Authorizer: NONE`).
#[test]
fn public_routes_are_the_ones_the_authorizer_skips() {
    let spec = spec();
    for (method, path, public_in_template) in template_routes() {
        let operation = &spec["paths"][&path][method.to_lowercase()];
        let public_in_document = operation.get("security").is_none();
        assert_eq!(public_in_document, public_in_template, "{method} {path}");
    }
}

/// Every function's HttpApi events (method, path, whether `Authorizer: NONE`), but for the
/// `$default` catch-all.
fn template_routes() -> Vec<(String, String, bool)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let doc: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(root.join("template.yaml")).unwrap()).unwrap();
    let mut routes = Vec::new();
    for resource in doc["Resources"].as_mapping().unwrap().values() {
        let Some(events) = resource["Properties"]["Events"].as_mapping() else { continue };
        for event in events.values().filter(|e| e["Type"] == "HttpApi") {
            let p = &event["Properties"];
            let (Some(method), Some(path)) = (p["Method"].as_str(), p["Path"].as_str()) else { continue };
            let public = p["Auth"]["Authorizer"].as_str() == Some("NONE");
            routes.push((method.to_uppercase(), path.to_string(), public));
        }
    }
    routes
}

#[test]
fn the_permissions_table_in_the_docs_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/permissions.md");
    let generated = api::openapi::permissions_markdown(&spec());
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/permissions.md is stale: run `UPDATE_DOCS=1 cargo test -p api --test openapi`"
    );
}

#[test]
fn every_protected_route_names_a_known_permission() {
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for scope in requirement["bearer"].as_array().unwrap() {
                    let scope = scope.as_str().unwrap();
                    assert!(
                        helpdesk_domain::Permission::parse(scope).is_some(),
                        "{method} {path}: unknown permission {scope}"
                    );
                }
            }
        }
    }
}

#[test]
fn protected_routes_document_401_403_and_every_route_429() {
    let spec = spec();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            assert!(responses["429"].is_object(), "{method} {path}: no 429");
            if let Some(scope) = operation["security"][0]["bearer"][0].as_str() {
                assert!(responses["401"].is_object(), "{method} {path}: no 401");
                assert!(responses["403"]["description"].as_str().unwrap().contains(scope), "{method} {path}: no 403");
            }
        }
    }
}
