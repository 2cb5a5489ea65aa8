use crate::helpers::{call, ids, sample_message, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn another_organisation_sees_nothing_of_ours() {
    let app = spawn_app().await;
    let (_, ours) = app.org().await;
    let (_, theirs) = app.org().await;

    let accepted = app.accept(&ours, "g@customer.example", "private matter").await;
    let message = accepted["id"].as_str().unwrap();
    let conversation = accepted["conversation_id"].as_str().unwrap();

    for path in [format!("/v1/messages/{message}"), format!("/v1/conversations/{conversation}")] {
        let response = app.get(&theirs, &path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        assert!(!response.text().await.unwrap().contains("private matter"));
        // and the owner still sees it
        assert_eq!(app.get(&ours, &path).await.status(), 200, "{path}");
    }
    assert!(ids(&app.get_json(&theirs, "/v1/conversations").await).is_empty());

    // The same idempotency key in two organisations means two different requests.
    let body = sample_message("h@customer.example", "same key, other tenant");
    let a: Value = app.post_message(&ours, &body, Some("shared-key")).await.json().await.unwrap();
    let b: Value = app.post_message(&theirs, &body, Some("shared-key")).await.json().await.unwrap();
    assert_ne!(a["id"], b["id"]);
}

/// Routes whose parameter is nothing an organisation owns (a provider's name: an unknown one is
/// 404), or whose id cannot be made here (a pending OAuth connection needs a provider's consent;
/// `providers::a_consent_refused_replayed_or_for_an_unknown_provider_connects_nothing` checks
/// that another organisation cannot confirm one).
const NOT_OWNED: [(&str, &str); 3] = [
    ("/v1/mailboxes/oauth/{provider}/start", "/v1/mailboxes/oauth/yahoo/start"),
    ("/v1/mailboxes/oauth/{provider}/callback", "/v1/mailboxes/oauth/yahoo/callback"),
    ("/v1/mailboxes/oauth/connections/{id}", "/v1/mailboxes/oauth/connections/00ff"),
];

/// Every route of the OpenAPI document, called with another organisation's owner's token and,
/// where the route takes an id, our ids: 404 for an id route (403 would do for a route that is
/// not), and never a byte of our data. A new id route must say here which of our ids to try.
#[tokio::test]
async fn every_documented_route_refuses_another_organisations_ids() {
    let app = spawn_app().await;
    let ours = app.signup().await;
    let theirs = app.signup().await;
    let marker = format!("tenant-secret-{}", uuid::Uuid::new_v4().simple());
    let owned = app.owned_ids(&ours, &marker).await;
    app.wait_classified(&ours.token, &owned.by_path[0].1).await;

    let mut walked = 0;
    for (method, path, _, _) in app.documented_operations().await {
        let url = match owned.by_path.iter().find(|(p, _)| *p == path) {
            Some((_, id)) => crate::helpers::with_ids(&path, id),
            None if NOT_OWNED.iter().any(|(p, _)| *p == path) => {
                NOT_OWNED.iter().find(|(p, _)| *p == path).map(|(_, url)| url.to_string()).unwrap_or_default()
            }
            None => {
                assert!(!path.contains('{'), "{path}: add which of our ids to try to `owned_ids`");
                path.clone()
            }
        };
        let response = call(&app, &theirs.token, &method, &path, &url, &format!("t{walked}")).await;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if path.contains('{') {
            assert!(status == 404, "{method} {path}: {status} for another organisation's id");
        } else {
            assert!(status < 500, "{method} {path}: {status}");
        }
        // (The id the caller sent may be echoed back; any other of ours may not.)
        let others = owned
            .by_path
            .iter()
            .filter(|(p, id)| *p != path && !id.split('|').any(|part| url.contains(part)))
            .flat_map(|(_, id)| id.split('|').map(str::to_string).collect::<Vec<_>>());
        for secret in owned.secrets.iter().cloned().chain(others) {
            assert!(!body.contains(secret.as_str()), "{method} {path} leaked {secret}");
        }
        walked += 1;
    }
    assert!(walked >= 25, "walked {walked} routes");

    // And our things are all still there, untouched.
    let users: serde_json::Value = app.get_json(&ours.token, "/v1/users").await;
    assert!(users.as_array().unwrap().iter().all(|u| u["active"] == true && u["role"] != "agent"));
    assert_eq!(app.get_json(&ours.token, "/v1/api-keys").await[0]["revoked_at"], serde_json::Value::Null);
}
