//! Reply drafts, summaries, translation and search through the `ai-api` function: the local
//! engine's drafts from past replies and templates, an LLM's grounded in the knowledge base with
//! personal data redacted and restored, the quality gates, agents' replies and feedback.

use crate::helpers::{eventually, spawn_app, TestApp};
use crate::llm::{put_settings, settings};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// A message from a named customer; returns (message id, conversation id) once classified.
async fn customer_writes(
    app: &TestApp,
    token: &str,
    email: &str,
    name: &str,
    subject: &str,
    body: &str,
) -> (String, String) {
    let message = json!({"channel": "api", "from": {"email": email, "name": name}, "subject": subject, "body": body});
    let response = app.post_message(token, &message, None).await;
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let id = accepted["id"].as_str().unwrap().to_string();
    app.wait_classified(token, &id).await;
    (id, accepted["conversation_id"].as_str().unwrap().to_string())
}

async fn draft(app: &TestApp, token: &str, conversation: &str) -> Value {
    let response = app.post(Some(token), &format!("/v1/conversations/{conversation}/draft"), &json!({})).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body
}

async fn reply(app: &TestApp, token: &str, conversation: &str, body: Value) -> reqwest::Response {
    app.post(Some(token), &format!("/v1/conversations/{conversation}/replies"), &body).await
}

async fn local_only(app: &TestApp, token: &str) {
    put_settings(app, token, settings(json!({"external_llm_allowed": false, "provider": null, "model": null}))).await;
}

/// The organisation's own provider at `server`; classification stays local (threshold 0), so
/// only the feature under test calls it.
fn own_provider(server: &MockServer) -> Value {
    crate::llm::gateway::own_provider(server, json!({"hybrid_threshold": 0.0}))
}

fn chat_answer(content: &str) -> Value {
    crate::llm::gateway::answer(content, "gpt-4o-mini")
}

async fn published_article(app: &TestApp, token: &str, title: &str, body: &str) -> String {
    let response =
        app.post(Some(token), "/v1/kb/articles", &json!({"title": title, "body": body, "published": true})).await;
    assert_eq!(response.status(), 201);
    let id = response.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    eventually("the article to be indexed", Duration::from_secs(30), || async {
        (app.get_json(token, &format!("/v1/kb/articles/{id}")).await["indexed_version"] == 1).then_some(())
    })
    .await;
    id
}

#[tokio::test]
async fn without_an_llm_a_resolved_conversations_reply_is_reused_for_the_next_customer() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    local_only(&app, &owner.token).await;

    // Maria's refund question, answered and resolved by an agent.
    let (_, maria) = customer_writes(
        &app,
        &owner.token,
        "maria@shop.example",
        "Maria Lopez",
        "Refund not received",
        "Hi, my refund for order #55120 has not arrived yet. When will I get my money back?",
    )
    .await;
    let answer =
        "Hi Maria, the refund for order #55120 was issued on Monday and reaches your card within 5 working days. \
                  We also sent the confirmation to maria@shop.example.";
    let sent = reply(&app, &owner.token, &maria, json!({"body": answer, "resolve": true})).await;
    assert_eq!(sent.status(), 201);
    let sent: Value = sent.json().await.unwrap();
    assert_eq!((sent["status"].as_str(), sent["conversation_status"].as_str()), (Some("queued"), Some("resolved")));

    // The indexer turns it into a passage: a template without Maria's data.
    let found = eventually("the reply to be indexed", Duration::from_secs(30), || async {
        let search = app.get_json(&owner.token, "/v1/kb/search?q=refund%20not%20arrived").await;
        let passages = search["passages"].as_array().cloned().unwrap_or_default();
        passages.into_iter().find(|p| p["source"] == "reply")
    })
    .await;
    let content = found["content"].as_str().unwrap();
    for gone in ["Maria", "55120", "maria@shop.example"] {
        assert!(!content.contains(gone), "{gone} in the indexed reply: {content}");
    }
    assert!(content.contains("{{customer_name}}") && content.contains("{{order_number}}"), "{content}");

    // Ana asks the same: her draft is that reply, filled with her name, order and email.
    let (ana_message, ana) = customer_writes(
        &app,
        &owner.token,
        "ana@mail.example",
        "Ana Silva",
        "Refund not received",
        "Hi, my refund for order #A-7781 has not arrived yet. When will I get my money back?",
    )
    .await;
    let drafted = draft(&app, &owner.token, &ana).await;
    assert_eq!(
        (drafted["provider"].as_str(), drafted["fallback_reason"].as_str(), drafted["status"].as_str()),
        (Some("local"), Some("not_allowed"), Some("draft")),
        "{drafted}"
    );
    assert_eq!(drafted["gates"], json!([]));
    assert_eq!(drafted["message_id"].as_str(), Some(ana_message.as_str()));
    assert_eq!(drafted["language"], "eng");
    let body = drafted["body"].as_str().unwrap();
    assert!(
        body.starts_with("Hi Ana, the refund for order #A-7781 was issued on Monday")
            && body.contains("ana@mail.example"),
        "{body}"
    );
    assert_eq!(drafted["sources"][0]["kind"], "reply");
    assert!(drafted["sources"][0]["similarity"].as_f64().unwrap() >= ai_api::assistant::REPLY_MATCH);
    assert!(drafted["latency_ms"].as_i64().is_some());

    // Sent as drafted: the draft is accepted, counts in the metrics, and confirms the category.
    let sent = reply(&app, &owner.token, &ana, json!({"body": body, "draft_id": drafted["id"]})).await;
    assert_eq!(sent.status(), 201);
    assert_eq!(sent.json::<Value>().await.unwrap()["draft_outcome"], "accepted");
    let again = app
        .post(
            Some(&owner.token),
            &format!("/v1/drafts/{}/feedback", drafted["id"].as_str().unwrap()),
            &json!({"outcome": "rejected"}),
        )
        .await;
    assert_eq!(again.status(), 409, "feedback is given once");
    let metrics = app.get_json(&owner.token, "/v1/ai/metrics").await;
    assert_eq!((metrics["drafts"]["generated"].clone(), metrics["drafts"]["accepted"].clone()), (json!(1), json!(1)));
    assert_eq!(metrics["drafts"]["acceptance_rate"], json!(1.0));
    let label: (String, String) = sqlx::query_as("SELECT label, source FROM training_data WHERE message_id = $1::uuid")
        .bind(&ana_message)
        .fetch_one(app.owner.pool())
        .await
        .unwrap();
    assert_eq!(label.1, "draft_feedback");
    assert_eq!(label.0, metrics["by_category"][0]["category"].as_str().unwrap_or(&label.0));
}

#[tokio::test]
async fn without_a_close_reply_the_draft_is_the_categorys_template_quoting_the_article() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    local_only(&app, &owner.token).await;
    let article = published_article(
        &app,
        &owner.token,
        "How long does a refund take?",
        "Card refunds reach your card within 5 to 10 working days after we receive the returned item.",
    )
    .await;
    let (_, conversation) = customer_writes(
        &app,
        &owner.token,
        "li@mail.example",
        "Li Wei",
        "Refund",
        "I returned the shoes. How long does a refund take for order 10042?",
    )
    .await;
    let drafted = draft(&app, &owner.token, &conversation).await;
    let body = drafted["body"].as_str().unwrap();
    assert!(body.starts_with("Hi Li,"), "{body}");
    assert!(body.contains("order 10042") && body.contains("5 to 10 working days"), "{body}");
    assert_eq!(drafted["sources"][0]["kind"], "article");
    assert_eq!(drafted["sources"][0]["article_id"].as_str(), Some(article.as_str()));
    assert_eq!(drafted["status"], "draft", "{drafted}");

    // The same passage is what search finds first.
    let search = app.get_json(&owner.token, "/v1/kb/search?q=how%20long%20until%20my%20refund").await;
    assert_eq!(search["passages"][0]["article_id"].as_str(), Some(article.as_str()));
    let bad = app.get(&owner.token, "/v1/kb/search?q=").await;
    assert_eq!(bad.status(), 400);

    // Without LLMs the summary is extractive; translation says it needs one.
    let summary = app.post(Some(&owner.token), &format!("/v1/conversations/{conversation}/summary"), &json!({})).await;
    assert_eq!(summary.status(), 200);
    let summary: Value = summary.json().await.unwrap();
    assert_eq!(
        (summary["provider"].as_str(), summary["fallback_reason"].as_str()),
        (Some("local"), Some("not_allowed"))
    );
    assert!(summary["summary"].as_str().unwrap().contains("How long does a refund take for order 10042?"), "{summary}");
    let message = drafted["message_id"].as_str().unwrap();
    let refused = app
        .post(Some(&owner.token), &format!("/v1/messages/{message}/translate"), &json!({"target_language": "spa"}))
        .await;
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let same = app.post(Some(&owner.token), &format!("/v1/messages/{message}/translate"), &json!({})).await;
    assert_eq!(same.status(), 200, "English into English needs no LLM");
    assert_eq!(same.json::<Value>().await.unwrap()["provider"], "none");
}

#[tokio::test]
async fn an_llm_draft_is_grounded_in_the_articles_with_personal_data_redacted_and_restored() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(|req: &Request| {
            let sent = String::from_utf8_lossy(&req.body).to_string();
            for secret in ["ana@mail.example", "7946", "4111"] {
                assert!(!sent.contains(secret), "{secret} reached the provider: {sent}");
            }
            assert!(sent.contains("[EMAIL_1]") && sent.contains("[PHONE_1]") && sent.contains("[CARD_1]"), "{sent}");
            assert!(sent.contains("Sources:") && sent.contains("5 to 10 working days"), "the article is in the prompt");
            assert!(sent.contains("reply_draft"), "structured output was asked for");
            let content = json!({
                "body": "Hi Ana, I'm sorry about the double charge on card [CARD_1]. The duplicate is refunded \
                         within 5 to 10 working days; we will confirm at [EMAIL_1].",
                "sources": [1], "confidence": 0.86
            });
            ResponseTemplate::new(200).set_body_json(chat_answer(&content.to_string()))
        })
        .expect(1)
        .mount(&server)
        .await;
    put_settings(&app, &owner.token, own_provider(&server)).await;
    let article = published_article(
        &app,
        &owner.token,
        "Double charges",
        "A duplicate card charge is refunded automatically within 5 to 10 working days.",
    )
    .await;
    let (_, conversation) = customer_writes(
        &app,
        &owner.token,
        "ana@mail.example",
        "Ana Silva",
        "Charged twice",
        "Hi, this is ana@mail.example (phone +44 20 7946 0958): card 4111 1111 1111 1111 was charged twice.",
    )
    .await;

    let drafted = draft(&app, &owner.token, &conversation).await;
    assert_eq!(
        drafted["body"],
        "Hi Ana, I'm sorry about the double charge on card 4111 1111 1111 1111. The duplicate is refunded within \
         5 to 10 working days; we will confirm at ana@mail.example."
    );
    assert_eq!(
        (drafted["provider"].as_str(), drafted["model"].as_str(), drafted["status"].as_str()),
        (Some("openai_compatible"), Some("gpt-4o-mini"), Some("draft")),
        "{drafted}"
    );
    assert_eq!(drafted["confidence"], json!(0.86));
    assert_eq!(drafted["sources"].as_array().unwrap().len(), 1);
    assert_eq!(drafted["sources"][0]["article_id"].as_str(), Some(article.as_str()));
    let usage = app.get_json(&owner.token, "/v1/ai/usage").await;
    assert_eq!(usage["by_feature"][0]["key"], "draft");
}

#[tokio::test]
async fn a_draft_failing_a_gate_is_blocked_and_cannot_be_sent_unchanged() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let server = MockServer::start().await;
    let content = json!({
        "body": "Hi [Customer Name], you have a guaranteed refund. Call our partner at +1 415 555 0134 today.",
        "sources": [], "confidence": 0.7
    });
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(chat_answer(&content.to_string())))
        .mount(&server)
        .await;
    put_settings(&app, &owner.token, own_provider(&server)).await;
    let (_, conversation) =
        customer_writes(&app, &owner.token, "bo@mail.example", "Bo", "Refund", "Where is my refund?").await;

    let drafted = draft(&app, &owner.token, &conversation).await;
    assert_eq!(drafted["status"], "blocked");
    let gates: Vec<&str> = drafted["gates"].as_array().unwrap().iter().map(|g| g["gate"].as_str().unwrap()).collect();
    assert_eq!(gates, ["placeholder", "foreign_pii", "blocked_phrase"], "{drafted}");
    assert!(!drafted["gates"].to_string().contains("555"), "a gate's detail does not repeat the data");

    let id = drafted["id"].as_str().unwrap();
    let unchanged = reply(&app, &owner.token, &conversation, json!({"body": drafted["body"], "draft_id": id})).await;
    assert_eq!(unchanged.status(), 409);
    let feedback = |outcome: Value| {
        let app = &app;
        let token = owner.token.clone();
        async move { app.post(Some(&token), &format!("/v1/drafts/{id}/feedback"), &outcome).await }
    };
    assert_eq!(feedback(json!({"outcome": "accepted"})).await.status(), 409);
    assert_eq!(feedback(json!({"outcome": "edited"})).await.status(), 422, "an edit needs its text");
    let edited = feedback(json!({"outcome": "edited", "body": "Hi Bo, your refund is on its way."})).await;
    assert_eq!(edited.status(), 200);
    let edited: Value = edited.json().await.unwrap();
    assert_eq!(
        (edited["status"].as_str(), edited["final_body"].as_str()),
        (Some("edited"), Some("Hi Bo, your refund is on its way."))
    );
    assert_eq!(app.get_json(&owner.token, &format!("/v1/drafts/{id}")).await["status"], "edited");
}

#[tokio::test]
async fn translation_goes_through_the_llm_both_ways() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(|req: &Request| {
            let sent = String::from_utf8_lossy(&req.body).to_string();
            let answer = if sent.contains("into Spanish") {
                "Hola Lucía, tu reembolso ya está en camino."
            } else {
                assert!(sent.contains("into English"), "{sent}");
                "Hello, where is my refund? I paid two weeks ago."
            };
            ResponseTemplate::new(200).set_body_json(chat_answer(answer))
        })
        .expect(2)
        .mount(&server)
        .await;
    put_settings(&app, &owner.token, own_provider(&server)).await;
    let (message, _) = customer_writes(
        &app,
        &owner.token,
        "lucia@mail.example",
        "Lucía",
        "Reembolso",
        "Hola, ¿dónde está mi reembolso? Pagué hace dos semanas y todavía no he recibido nada.",
    )
    .await;
    let url = format!("/v1/messages/{message}/translate");
    let for_agent: Value = app.post(Some(&owner.token), &url, &json!({})).await.json().await.unwrap();
    assert_eq!(
        (for_agent["text"].as_str(), for_agent["source_language"].as_str(), for_agent["target_language"].as_str()),
        (Some("Hello, where is my refund? I paid two weeks ago."), Some("spa"), Some("eng"))
    );
    let for_customer: Value = app
        .post(Some(&owner.token), &url, &json!({"text": "Hi Lucía, your refund is on its way."}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (for_customer["text"].as_str(), for_customer["target_language"].as_str(), for_customer["provider"].as_str()),
        (Some("Hola Lucía, tu reembolso ya está en camino."), Some("spa"), Some("openai_compatible"))
    );
}

#[tokio::test]
async fn with_external_llms_allowed_a_provider_outage_still_gives_a_local_draft() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"error": {"message": "overloaded"}})))
        .mount(&server)
        .await;
    put_settings(&app, &owner.token, own_provider(&server)).await;
    let (_, conversation) =
        customer_writes(&app, &owner.token, "kim@mail.example", "Kim Park", "Cancel", "Please cancel my order 88231.")
            .await;
    let drafted = draft(&app, &owner.token, &conversation).await;
    assert_eq!((drafted["provider"].as_str(), drafted["fallback_reason"].as_str()), (Some("local"), Some("failed")));
    assert!(drafted["body"].as_str().unwrap().starts_with("Hi Kim,"), "{drafted}");
}
