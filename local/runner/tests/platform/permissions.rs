//! Each role × each route of the OpenAPI document against the permission matrix: a route answers
//! 403 exactly when the caller's role lacks the permission the route declares.

use crate::helpers::{sample_message, spawn_app};
use helpdesk_domain::{Permission, Role};
use serde_json::Value;

#[tokio::test]
async fn every_role_meets_every_route_as_the_matrix_says() {
    let app = spawn_app().await;
    let (org, admin) = app.org().await;
    let accepted = app.accept(&admin, "y@customer.example", "for the matrix").await;
    let ids = [
        ("/v1/messages/{id}", accepted["id"].as_str().unwrap().to_string()),
        ("/v1/conversations/{id}", accepted["conversation_id"].as_str().unwrap().to_string()),
    ];
    let spec: Value = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();

    let mut checked = 0;
    for role in [Role::Owner, Role::Admin, Role::Agent, Role::Viewer] {
        let user = app.store.create_user(org, &format!("{}@team.example", role.as_str()), None, role).await.unwrap();
        let token = app.keys.issue(org, user, role, 600).unwrap();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let Some(needs) = operation["security"][0]["bearer"][0].as_str() else { continue };
                let needs = Permission::parse(needs).unwrap();
                let url = match ids.iter().find(|(p, _)| p == path) {
                    Some((_, id)) => path.replace("{id}", id),
                    None => path.clone(),
                };
                let request = app
                    .http
                    .request(method.to_uppercase().parse().unwrap(), format!("{}{url}", app.base))
                    .bearer_auth(&token);
                let request =
                    if method == "post" { request.json(&sample_message("z@customer.example", "hi")) } else { request };
                let status = request.send().await.unwrap().status().as_u16();
                let allowed = role.permissions().contains(needs);
                assert_eq!(
                    status == 403,
                    !allowed,
                    "{} on {} {path} (needs {}): {status}",
                    role.as_str(),
                    method.to_uppercase(),
                    needs.as_str()
                );
                if allowed {
                    assert!(status < 300, "{} on {} {path}: {status}", role.as_str(), method.to_uppercase());
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 16, "checked {checked} role × route pairs");
}
