use crate::helpers::{sample_message, spawn_app};
use serde_json::Value;

#[tokio::test]
async fn a_contacts_messages_share_a_thread_until_it_is_resolved() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    let first: Value = app
        .post_message(&token, &sample_message("i@customer.example", "one"), None)
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .post_message(&token, &sample_message("I@Customer.EXAMPLE", "two"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(first["id"], second["id"]);
    // The address differs only in case: one contact, one thread.
    assert_eq!(second["conversation_id"], first["conversation_id"]);
    let conversation = first["conversation_id"].as_str().unwrap();
    let thread: Value = app
        .get(&token, &format!("/v1/conversations/{conversation}"))
        .await
        .json()
        .await
        .unwrap();
    let bodies: Vec<&str> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["one", "two"], "oldest first");

    // A pending thread is reopened by the customer's reply.
    sqlx::query("UPDATE conversations SET status = 'pending' WHERE id = $1::uuid")
        .bind(conversation)
        .execute(app.store.pool())
        .await
        .unwrap();
    let third: Value = app
        .post_message(&token, &sample_message("i@customer.example", "three"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(third["conversation_id"], first["conversation_id"]);
    let thread: Value = app
        .get(&token, &format!("/v1/conversations/{conversation}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(thread["status"], "open");

    sqlx::query("UPDATE conversations SET status = 'resolved' WHERE id = $1::uuid")
        .bind(conversation)
        .execute(app.store.pool())
        .await
        .unwrap();
    let fourth: Value = app
        .post_message(&token, &sample_message("i@customer.example", "four"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(
        fourth["conversation_id"], first["conversation_id"],
        "a resolved thread is not reopened"
    );
}

#[tokio::test]
async fn the_list_is_newest_first_filtered_and_paginated() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    let mut ids = Vec::new();
    for (i, text) in [
        "I want a refund",
        "My package tracking is broken",
        "Please refund me now",
    ]
    .iter()
    .enumerate()
    {
        let accepted: Value = app
            .post_message(
                &token,
                &sample_message(&format!("p{i}@customer.example"), text),
                None,
            )
            .await
            .json()
            .await
            .unwrap();
        app.wait_classified(&token, accepted["id"].as_str().unwrap())
            .await;
        ids.push(accepted["conversation_id"].as_str().unwrap().to_string());
    }

    let page1: Value = app
        .get(&token, "/v1/conversations?limit=2")
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<&str> = page1["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[1].as_str()], "newest first");
    let cursor = page1["next_cursor"].as_str().expect("a next page");

    let page2: Value = app
        .get(
            &token,
            &format!("/v1/conversations?limit=2&cursor={cursor}"),
        )
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<&str> = page2["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[0].as_str()]);
    assert!(page2["next_cursor"].is_null());

    let refunds: Value = app
        .get(&token, "/v1/conversations?category=refund")
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<&str> = refunds["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[2].as_str(), ids[0].as_str()]);

    let open: Value = app
        .get(&token, "/v1/conversations?status=open")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(open["data"].as_array().unwrap().len(), 3);
    let pending: Value = app
        .get(&token, "/v1/conversations?status=pending")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["data"].as_array().unwrap().len(), 0);

    // Assign one conversation to a teammate and filter by assignee.
    let org = app.keys.verify(&token).unwrap().org;
    let agent = app
        .store
        .create_user(
            org,
            "agent@team.example",
            None,
            helpdesk_domain::Role::Agent,
        )
        .await
        .unwrap();
    sqlx::query("UPDATE conversations SET assignee_id = $1 WHERE id = $2::uuid")
        .bind(agent.0)
        .bind(&ids[1])
        .execute(app.store.pool())
        .await
        .unwrap();
    let mine: Value = app
        .get(&token, &format!("/v1/conversations?assignee={agent}"))
        .await
        .json()
        .await
        .unwrap();
    let got: Vec<&str> = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, [ids[1].as_str()]);
}
