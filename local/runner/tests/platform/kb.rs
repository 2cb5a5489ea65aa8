//! The knowledge base: articles through the API, indexed by `ai-indexer` off the `kb-indexing`
//! queue into passages on real pgvector, and hybrid retrieval over them.

use crate::helpers::{eventually, spawn_app, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

const REFUNDS: &str = "Refunds reach the card you paid with.\n\n## How long it takes\n\n\
    Card refunds take 5 to 10 working days after we receive the returned item. PayPal refunds \
    arrive within 24 hours.\n\n## Exceptions\n\nGift cards and personalised items cannot be refunded.";
const SHIPPING: &str = "We ship to 40 countries.\n\n## Tracking\n\nEvery parcel gets a tracking number \
    by email when it leaves the warehouse. Tracking pages update once a day.";

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let response = app.post(Some(token), "/v1/kb/articles", &body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn wait_indexed(app: &TestApp, token: &str, id: &str, version: i64) -> Value {
    eventually(&format!("article {id} v{version} to be indexed"), Duration::from_secs(30), || async {
        let article = app.get_json(token, &format!("/v1/kb/articles/{id}")).await;
        (article["indexed_version"] == version).then_some(article)
    })
    .await
}

async fn embed(text: &str) -> Vec<f32> {
    let engine = local_runner::functions::local_ai_engine().await.unwrap();
    let encoder = engine.encoder().expect("the encoder's files (python local/models.py fetch)").clone();
    let text = text.to_string();
    tokio::task::spawn_blocking(move || encoder.encode(&[text]).unwrap().remove(0)).await.unwrap()
}

#[tokio::test]
async fn articles_are_written_read_listed_and_deleted() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let article = create(&app, &owner.token, json!({"title": "Refunds", "body": REFUNDS, "tags": ["billing"]})).await;
    assert_eq!(
        (article["version"].clone(), article["published"].clone(), article["language"].clone()),
        (json!(1), json!(false), json!("eng"))
    );
    let id = article["id"].as_str().unwrap().to_string();

    let updated = app
        .http
        .put(format!("{}/v1/kb/articles/{id}", app.base))
        .bearer_auth(&owner.token)
        .json(&json!({"title": "Refunds and returns", "body": REFUNDS, "published": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!((updated["version"].clone(), updated["title"].clone()), (json!(2), json!("Refunds and returns")));

    for i in 0..3 {
        create(&app, &owner.token, json!({"title": format!("Note {i}"), "body": "text"})).await;
    }
    let first = app.get_json(&owner.token, "/v1/kb/articles?limit=2").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = app.get_json(&owner.token, &format!("/v1/kb/articles?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert!(rest["next_cursor"].is_null());
    let published = app.get_json(&owner.token, "/v1/kb/articles?published=true").await;
    assert_eq!(published["data"].as_array().unwrap().len(), 1);

    let invalid = app
        .post(Some(&owner.token), "/v1/kb/articles", &json!({"title": " ", "body": "x", "language": "english"}))
        .await;
    assert_eq!(invalid.status(), 422);

    let viewer = app.invite(&owner, "viewer").await;
    assert_eq!(app.get(&viewer.token, &format!("/v1/kb/articles/{id}")).await.status(), 200);
    let refused = app.post(Some(&viewer.token), "/v1/kb/articles", &json!({"title": "t", "body": "b"})).await;
    assert_eq!(refused.status(), 403);

    let deleted =
        app.http.delete(format!("{}/v1/kb/articles/{id}", app.base)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.get(&owner.token, &format!("/v1/kb/articles/{id}")).await.status(), 404);
}

#[tokio::test]
async fn published_articles_are_indexed_and_found_by_meaning_and_by_words() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let (other, other_token) = app.org().await;
    let refunds = create(&app, &owner.token, json!({"title": "Refunds", "body": REFUNDS, "published": true})).await;
    let shipping = create(&app, &owner.token, json!({"title": "Shipping", "body": SHIPPING, "published": true})).await;
    let draft = create(
        &app,
        &owner.token,
        json!({"title": "Refund draft", "body": "Internal: refunds take 90 days.", "published": false}),
    )
    .await;
    let theirs = create(
        &app,
        &other_token,
        json!({"title": "Their refunds", "body": "Refunds take 2 days here.", "published": true}),
    )
    .await;
    for (token, article) in
        [(&owner.token, &refunds), (&owner.token, &shipping), (&owner.token, &draft), (&other_token, &theirs)]
    {
        wait_indexed(&app, token, article["id"].as_str().unwrap(), 1).await;
    }
    let passages: i64 = sqlx::query_scalar("SELECT count(*) FROM kb_chunks WHERE article_id = $1::uuid")
        .bind(refunds["id"].as_str().unwrap())
        .fetch_one(app.owner.pool())
        .await
        .unwrap();
    assert_eq!(passages, 3, "one per section");

    // By meaning: no word of the question is in the passage's key sentence.
    let question = "When will I get my money back?";
    let found = app.store.search_passages(owner.org, question, "eng", &embed(question).await, 5).await.unwrap();
    assert_eq!(found[0].article_id.map(|id| id.to_string()).as_deref(), refunds["id"].as_str(), "{found:#?}");
    // Never an unpublished article, never another organisation's.
    for passage in &found {
        assert!(!passage.content.contains("90 days") && !passage.content.contains("2 days here"), "{passage:?}");
    }
    // By words: a tracking question finds the shipping article's passage.
    let words = "tracking number email";
    let found = app.store.search_passages(owner.org, words, "eng", &embed(words).await, 3).await.unwrap();
    assert_eq!(found[0].heading, "Shipping › Tracking");
    let theirs_found = app.store.search_passages(other, question, "eng", &embed(question).await, 5).await.unwrap();
    assert_eq!(theirs_found.len(), 1);

    // An edit re-indexes; a deletion takes the passages with it.
    let id = shipping["id"].as_str().unwrap();
    let edited = app
        .http
        .put(format!("{}/v1/kb/articles/{id}", app.base))
        .bearer_auth(&owner.token)
        .json(&json!({"title": "Shipping", "body": "We ship worldwide.", "published": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    wait_indexed(&app, &owner.token, id, 2).await;
    let count = |id: String| {
        let pool = app.owner.pool().clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM kb_chunks WHERE article_id = $1::uuid")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert_eq!(count(id.to_string()).await, 1);
    app.http.delete(format!("{}/v1/kb/articles/{id}", app.base)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(count(id.to_string()).await, 0);
}
