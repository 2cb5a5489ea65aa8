use crate::helpers::{ids, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn a_contacts_messages_share_a_thread_until_it_is_resolved() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    let first = app.accept(&token, "i@customer.example", "one").await;
    let second = app.accept(&token, "I@Customer.EXAMPLE", "two").await;
    assert_ne!(first["id"], second["id"]);
    // The address differs only in case: one contact, one thread.
    assert_eq!(second["conversation_id"], first["conversation_id"]);
    let conversation = first["conversation_id"].as_str().unwrap();
    let path = format!("/v1/conversations/{conversation}");
    let thread = app.get_json(&token, &path).await;
    let bodies: Vec<&str> =
        thread["messages"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["one", "two"], "oldest first");

    // A pending thread is reopened by the customer's reply.
    app.set_conversation(conversation, "status", "pending").await;
    let third = app.accept(&token, "i@customer.example", "three").await;
    assert_eq!(third["conversation_id"], first["conversation_id"]);
    assert_eq!(app.get_json(&token, &path).await["status"], "open");

    // A resolved one is not: the customer starts a new thread.
    app.set_conversation(conversation, "status", "resolved").await;
    let fourth = app.accept(&token, "i@customer.example", "four").await;
    assert_ne!(fourth["conversation_id"], first["conversation_id"]);
}

#[tokio::test]
async fn the_list_is_newest_first_filtered_and_paginated() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let mut conversations = Vec::new();
    for (i, text) in ["I want a refund", "My package tracking is broken", "Please refund me now"].iter().enumerate() {
        let accepted = app.accept(&token, &format!("p{i}@customer.example"), text).await;
        app.wait_classified(&token, accepted["id"].as_str().unwrap()).await;
        conversations.push(accepted["conversation_id"].as_str().unwrap().to_string());
    }
    let [oldest, middle, newest] = [&conversations[0], &conversations[1], &conversations[2]].map(String::as_str);

    let page1 = app.get_json(&token, "/v1/conversations?limit=2").await;
    assert_eq!(ids(&page1), [newest, middle], "newest first");
    let cursor = page1["next_cursor"].as_str().expect("a next page");
    let page2 = app.get_json(&token, &format!("/v1/conversations?limit=2&cursor={cursor}")).await;
    assert_eq!(ids(&page2), [oldest]);
    assert!(page2["next_cursor"].is_null());

    let refunds = app.get_json(&token, "/v1/conversations?category=refund").await;
    assert_eq!(ids(&refunds), [newest, oldest]);
    assert_eq!(ids(&app.get_json(&token, "/v1/conversations?status=open").await).len(), 3);
    assert!(ids(&app.get_json(&token, "/v1/conversations?status=pending").await).is_empty());

    let agent = app.store.create_user(org, "agent@team.example", None, helpdesk_domain::Role::Agent).await.unwrap();
    app.set_conversation(middle, "assignee_id", &agent.to_string()).await;
    let assigned: Value = app.get_json(&token, &format!("/v1/conversations?assignee={agent}")).await;
    assert_eq!(ids(&assigned), [middle]);
}
