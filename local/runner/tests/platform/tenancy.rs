use crate::helpers::{ids, sample_message, spawn_app};
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

/// Every route of the OpenAPI document, called with another organisation's token and, where the
/// route takes an id, our ids: 404 for an id route (403 would do for a route that is not), and
/// never a byte of our data. A new id route must say here which of our ids to try.
#[tokio::test]
async fn every_documented_route_refuses_another_organisations_ids() {
    let app = spawn_app().await;
    let (_, ours) = app.org().await;
    let (_, theirs) = app.org().await;
    let marker = format!("tenant-secret-{}", uuid::Uuid::new_v4().simple());
    let accepted = app.accept(&ours, "x@customer.example", &marker).await;
    app.wait_classified(&ours, accepted["id"].as_str().unwrap()).await;
    let our_ids = [
        ("/v1/messages/{id}", accepted["id"].as_str().unwrap()),
        ("/v1/conversations/{id}", accepted["conversation_id"].as_str().unwrap()),
    ];

    let spec: Value = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let mut walked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let url = match our_ids.iter().find(|(p, _)| p == path) {
                Some((_, id)) => path.replace("{id}", id),
                None => {
                    assert!(!path.contains('{'), "{path}: add which of our ids to try to this test");
                    path.clone()
                }
            };
            let request = app
                .http
                .request(method.to_uppercase().parse().unwrap(), format!("{}{url}", app.base))
                .bearer_auth(&theirs);
            let request = if method == "post" {
                request.json(&sample_message("intruder@their.example", "hello from another tenant"))
            } else {
                request
            };
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            if path.contains('{') {
                assert!(status == 404, "{method} {path}: {status} for another organisation's id");
            } else {
                assert!(status < 500, "{method} {path}: {status}");
            }
            // (The id the caller sent may be echoed back; any other of ours may not.)
            let others = our_ids.iter().filter(|(p, _)| p != path).map(|(_, id)| *id);
            for secret in [marker.as_str(), "x@customer.example"].into_iter().chain(others) {
                assert!(!body.contains(secret), "{method} {path} leaked {secret}");
            }
            walked += 1;
        }
    }
    assert!(walked >= 8, "walked {walked} routes");
}
