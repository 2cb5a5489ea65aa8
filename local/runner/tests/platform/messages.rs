use crate::helpers::{sample_message, spawn_app};
use helpdesk_domain::Role;
use serde_json::Value;

#[tokio::test]
async fn posted_message_comes_back_classified() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;

    let response = app
        .post_message(&token, &sample_message("ana@customer.example", "The blender is faulty, please refund me"), None)
        .await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "received");
    let id = accepted["id"].as_str().unwrap();

    let message = app.wait_classified(&token, id).await;
    let classification = &message["classification"];
    assert_eq!(classification["category"], "refund");
    assert!(
        ["default-zero-shot-minilm", "default-ngram"].contains(&classification["model_id"].as_str().unwrap()),
        "{classification}"
    );
    assert_eq!(classification["model_version"], helpdesk_ai::triage::DEFAULTS_VERSION);
    assert_eq!(classification["language"], "eng");
    assert!(classification["language_confidence"].as_f64().unwrap() > 0.5);
    let confidence = classification["confidence"].as_f64().unwrap();
    assert!(confidence > 0.0 && confidence <= 1.0);
    assert!(classification["sentiment_confidence"].as_f64().is_some());
    assert!(classification["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(classification["reviewed_category"], Value::Null);
    assert_eq!(message["status"], "classified");
    assert_eq!(message["from"]["email"], "ana@customer.example");

    let conversation =
        app.get_json(&token, &format!("/v1/conversations/{}", accepted["conversation_id"].as_str().unwrap())).await;
    assert_eq!(conversation["category"], "refund");
    assert_eq!(conversation["messages"].as_array().unwrap().len(), 1);
    assert_eq!(conversation["messages"][0]["id"], id);

    // message.classified was announced on the events queue.
    let events = app.drain("EventsQueue").await;
    let event: Value = serde_json::from_str(events.first().expect("an event")).unwrap();
    assert_eq!(event["type"], "message.classified");
    assert_eq!(event["message_id"], id);
    assert_eq!(event["organization_id"], org.to_string());
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_answer_and_stores_nothing_new() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let body = sample_message("ben@customer.example", "Where is my invoice?");

    let first = app.post_message(&token, &body, Some("key-1")).await;
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    // Retried after the message moved on: the answer is still the first one.
    app.wait_classified(&token, first["id"].as_str().unwrap()).await;

    let second = app.post_message(&token, &body, Some("key-1")).await;
    assert_eq!(second.status(), 202);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    let second: Value = second.json().await.unwrap();

    assert_eq!(first, second);
    assert_eq!(app.store.message_count(org).await.unwrap(), 1);
}

#[tokio::test]
async fn an_idempotency_key_reused_with_another_body_is_refused() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    app.post_message(&token, &sample_message("c@customer.example", "first"), Some("key-2")).await;

    let response = app.post_message(&token, &sample_message("c@customer.example", "second"), Some("key-2")).await;
    assert_eq!(response.status(), 422);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("Idempotency-Key"));
    assert_eq!(app.store.message_count(org).await.unwrap(), 1);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_store_one_message() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let body = sample_message("d@customer.example", "Double click on send");

    let requests = (0..5).map(|_| app.post_message(&token, &body, Some("key-3")));
    let responses = futures::future::join_all(requests).await;
    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 202);
        ids.push(response.json::<Value>().await.unwrap()["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every request got the same message id");
    assert_eq!(app.store.message_count(org).await.unwrap(), 1);
}

#[tokio::test]
async fn a_channel_external_id_is_stored_once() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let mut body = sample_message("e@customer.example", "Forwarded twice by the mail server");
    body["external_id"] = "<abc@mail.example>".into();

    let first: Value = app.post_message(&token, &body, None).await.json().await.unwrap();
    let second = app.post_message(&token, &body, None).await;
    assert_eq!(second.status(), 202);
    assert_eq!(second.json::<Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(app.store.message_count(org).await.unwrap(), 1);
}

#[tokio::test]
async fn a_viewer_cannot_post_messages() {
    let app = spawn_app().await;
    let (org, _, token) = app.org_with(Role::Viewer).await;
    let response = app.post_message(&token, &sample_message("f@customer.example", "hello"), None).await;
    assert_eq!(response.status(), 403);
    assert_eq!(app.store.message_count(org).await.unwrap(), 0);
}
