use crate::helpers::{sample_message, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn another_organisation_sees_nothing_of_ours() {
    let app = spawn_app().await;
    let (_, ours) = app.org().await;
    let (_, theirs) = app.org().await;

    let accepted: Value = app
        .post_message(
            &ours,
            &sample_message("g@customer.example", "private matter"),
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    let message = accepted["id"].as_str().unwrap();
    let conversation = accepted["conversation_id"].as_str().unwrap();

    for path in [
        format!("/v1/messages/{message}"),
        format!("/v1/conversations/{conversation}"),
    ] {
        let response = app.get(&theirs, &path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body = response.text().await.unwrap();
        assert!(!body.contains("private matter"));
        // and the owner still sees it
        assert_eq!(app.get(&ours, &path).await.status(), 200, "{path}");
    }
    let list: Value = app
        .get(&theirs, "/v1/conversations")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 0);

    // The same idempotency key in two organisations means two different requests.
    let body = sample_message("h@customer.example", "same key, other tenant");
    let a: Value = app
        .post_message(&ours, &body, Some("shared-key"))
        .await
        .json()
        .await
        .unwrap();
    let b: Value = app
        .post_message(&theirs, &body, Some("shared-key"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(a["id"], b["id"]);
}
