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
