//! The OpenAPI document is generated from the handlers: check its shape and that it lists what
//! template.yaml routes to the function.

use std::collections::BTreeSet;

fn spec() -> serde_json::Value {
    serde_json::to_value(api::openapi()).unwrap()
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

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let template = local_template_routes(&std::fs::read_to_string(root.join("template.yaml")).unwrap());
    assert_eq!(
        documented, template,
        "routes in the OpenAPI document vs. ApiFunction's HttpApi events in template.yaml"
    );
}

/// ApiFunction's HttpApi events (Path and Method), but for the `$default` catch-all.
fn local_template_routes(template: &str) -> BTreeSet<(String, String)> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template).unwrap();
    let events = doc["Resources"]["ApiFunction"]["Properties"]["Events"].as_mapping().unwrap();
    events
        .values()
        .filter(|e| e["Type"] == "HttpApi")
        .filter_map(|e| {
            let p = &e["Properties"];
            Some((p["Method"].as_str()?.to_uppercase(), p["Path"].as_str()?.to_string()))
        })
        .collect()
}

#[test]
fn the_permissions_table_in_the_docs_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/permissions.md");
    let generated = api::openapi::permissions_markdown();
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
