//! The local AI engine through the platform: agents' verdicts, live accuracy, training on demand
//! and on schedule, promotion only of a better model, the worker switching to the promoted
//! version, and the encoder's files fetched from S3.

use crate::helpers::{eventually, sdk_config, spawn_app, test_env, Member, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

async fn review(app: &TestApp, token: &str, message_id: &str, category: &str) -> reqwest::Response {
    app.http
        .put(format!("{}/v1/messages/{message_id}/classification", app.base))
        .bearer_auth(token)
        .json(&json!({ "category": category }))
        .send()
        .await
        .unwrap()
}

/// Posts a message and returns its id once classified, with its classification.
async fn classified(app: &TestApp, token: &str, text: &str) -> (String, Value) {
    let accepted = app.accept(token, "buyer@customer.example", text).await;
    let id = accepted["id"].as_str().unwrap().to_string();
    let message = app.wait_classified(token, &id).await;
    (id, message["classification"].clone())
}

#[tokio::test]
async fn verdicts_become_training_data_and_live_accuracy() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let agent = app.invite(&owner, "agent").await;

    let (refund, predicted) = classified(&app, &agent.token, "I want my money back for the broken kettle").await;
    assert_eq!(predicted["category"], "refund");
    let (other, _) = classified(&app, &agent.token, "Is the kettle available in blue?").await;

    // A confirmation and a correction (to a category of the organisation's own).
    let confirmed = review(&app, &agent.token, &refund, "refund").await;
    assert_eq!(confirmed.status(), 200);
    let confirmed: Value = confirmed.json().await.unwrap();
    assert_eq!(confirmed["verdict"], "confirmation");
    assert_eq!(confirmed["predicted_category"], "refund");
    let corrected: Value = review(&app, &agent.token, &other, "product_question").await.json().await.unwrap();
    assert_eq!(corrected["verdict"], "correction");
    assert_eq!(corrected["category"], "product_question");

    // The message and its conversation show the agent's category.
    let message = app.get_json(&agent.token, &format!("/v1/messages/{other}")).await;
    assert_eq!(message["classification"]["reviewed_category"], "product_question");
    let conversation = app
        .get_json(&agent.token, &format!("/v1/conversations/{}", message["conversation_id"].as_str().unwrap()))
        .await;
    assert_eq!(conversation["category"], "product_question");

    // Changing one's mind replaces the verdict: still one training example per message.
    let again: Value = review(&app, &agent.token, &other, "refund").await.json().await.unwrap();
    assert_eq!(again["verdict"], "correction");
    let examples = app.store.training_examples(owner.org).await.unwrap();
    assert_eq!(examples.len(), 2);
    assert!(examples.iter().all(|e| e.label == "refund"));

    let metrics = app.get_json(&agent.token, "/v1/ai/metrics").await;
    assert_eq!(metrics["classified"], 2, "{metrics}");
    assert_eq!(metrics["reviewed"], 2);
    assert_eq!(metrics["confirmed"], 1);
    assert_eq!(metrics["corrected"], 1);
    assert_eq!(metrics["accuracy"], 0.5);
    let model = &metrics["by_model"][0];
    assert_eq!(model["model_version"], helpdesk_ai::triage::DEFAULTS_VERSION);
    assert!(model["latency_ms_p50"].as_f64().unwrap() > 0.0);
    assert_eq!(metrics["active_model"], Value::Null);

    // Bad input: a clear answer, nothing recorded.
    let bad = review(&app, &agent.token, &refund, "Not A Category!").await;
    assert_eq!(bad.status(), 422);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let unknown = review(&app, &agent.token, &uuid::Uuid::now_v7().to_string(), "refund").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(app.store.training_examples(owner.org).await.unwrap().len(), 2);

    // A viewer reads the figures but may not judge; only admins and owners train.
    let viewer = app.invite(&owner, "viewer").await;
    assert_eq!(review(&app, &viewer.token, &refund, "refund").await.status(), 403);
    assert_eq!(app.get(&viewer.token, "/v1/ai/metrics").await.status(), 200);
    assert_eq!(app.post(Some(&agent.token), "/v1/ai/training-runs", &json!({})).await.status(), 403);
}

/// Thirty messages about warranty claims, a category the defaults do not have, each confirmed
/// or corrected to `warranty` by an agent; plus a few confirmations of default categories.
async fn teach_warranty(app: &TestApp, member: &Member) {
    let products = ["blender", "kettle", "toaster", "vacuum cleaner", "coffee machine", "hair dryer"];
    let faults = [
        "stopped working after two months, is it still under warranty?",
        "broke within the warranty period, I want the warranty repair",
        "is faulty; please register my warranty claim",
        "died after a year, does the two year warranty cover it?",
        "has a defect, how do I claim the manufacturer warranty?",
    ];
    let mut ids = Vec::new();
    for product in products {
        for fault in faults {
            let accepted = app.accept(&member.token, "buyer@customer.example", &format!("My {product} {fault}")).await;
            ids.push(accepted["id"].as_str().unwrap().to_string());
        }
    }
    for id in &ids {
        assert_eq!(review(app, &member.token, id, "warranty").await.status(), 200);
    }
}

async fn finished_run(app: &TestApp, token: &str, run_id: &str) -> Value {
    eventually(&format!("training run {run_id} to finish"), Duration::from_secs(120), || async {
        let run = app.get_json(token, &format!("/v1/ai/training-runs/{run_id}")).await;
        (!["queued", "running"].contains(&run["status"].as_str().unwrap())).then_some(run)
    })
    .await
}

#[tokio::test]
async fn a_trained_model_is_promoted_only_when_better_and_the_worker_uses_it() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let (_, before) = classified(&app, &owner.token, "My toaster broke, is it covered by the warranty?").await;
    assert_ne!(before["category"], "warranty", "the defaults have no such category");
    teach_warranty(&app, &owner).await;

    // On demand: queued through the outbox and SQS, trained by ai-trainer.
    let queued = app.post(Some(&owner.token), "/v1/ai/training-runs", &json!({})).await;
    assert_eq!(queued.status(), 202);
    let queued: Value = queued.json().await.unwrap();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["trigger"], "api");
    let run = finished_run(&app, &owner.token, queued["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "promoted", "{run}");
    assert_eq!(run["model_version"], 1);
    let metrics = &run["metrics"];
    assert!(metrics["accuracy"].as_f64().unwrap() > metrics["current_accuracy"].as_f64().unwrap(), "{metrics}");
    assert!(metrics["heldout_verdicts"].as_u64().unwrap() >= 3);
    assert!(metrics["labels"].as_array().unwrap().contains(&json!("warranty")));

    // Versioned files with their figures in S3.
    let bucket = app.resources.physical_id("DataBucket").unwrap().to_string();
    let s3 = helpdesk_aws::S3Blobs::client_for_large_objects(&sdk_config(&test_env().endpoint).await);
    let prefix = format!("models/{}/category/v1/", owner.org);
    let listed = s3.list_objects_v2().bucket(&bucket).prefix(&prefix).send().await.unwrap();
    let mut names: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()?.strip_prefix(&prefix)).collect();
    names.sort_unstable();
    assert_eq!(names, ["metrics.json", "model.json", "weights.bin"]);

    let models = app.get_json(&owner.token, "/v1/ai/models").await;
    assert_eq!(models["data"][0]["version"], 1);
    assert_eq!(models["data"][0]["status"], "active");

    // The worker loads version 1 for this organisation's next message.
    let (_, after) = classified(&app, &owner.token, "My hair dryer broke last week, can I use the warranty?").await;
    assert_eq!(after["category"], "warranty", "{after}");
    assert_eq!(after["model_id"], helpdesk_ai::triage::TENANT_MODEL_ID);
    assert_eq!(after["model_version"], "1");

    // The same verdicts again: the candidate is no better than version 1, so it is kept out.
    let queued: Value = app.post(Some(&owner.token), "/v1/ai/training-runs", &json!({})).await.json().await.unwrap();
    let run = finished_run(&app, &owner.token, queued["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "rejected", "{run}");
    assert_eq!(run["model_version"], 2);
    let models = app.get_json(&owner.token, "/v1/ai/models").await;
    let statuses: Vec<(i64, &str)> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["version"].as_i64().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert_eq!(statuses, [(2, "rejected"), (1, "active")]);
    let metrics = app.get_json(&owner.token, "/v1/ai/metrics").await;
    assert_eq!(metrics["active_model"]["version"], 1);

    // Another organisation still gets the defaults.
    let (_, token) = app.org().await;
    let (_, elsewhere) = classified(&app, &token, "My hair dryer broke last week, can I use the warranty?").await;
    assert_ne!(elsewhere["model_id"], helpdesk_ai::triage::TENANT_MODEL_ID);
}

#[tokio::test]
async fn the_schedule_trains_organisations_with_new_verdicts_only() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let (_, idle) = app.org().await;
    app.accept(&idle, "someone@customer.example", "hello").await;
    teach_warranty(&app, &owner).await;

    let report = app.running.fire_schedule("ai-trainer").await.unwrap();
    assert_eq!(report["organizations"], 1, "{report}");
    assert_eq!(report["runs"][0][1], "promoted", "{report}");

    // Nothing new since: the next tick trains nobody.
    let report = app.running.fire_schedule("ai-trainer").await.unwrap();
    assert_eq!(report["organizations"], 0, "{report}");
}

#[tokio::test]
async fn the_encoder_files_come_from_s3_once_per_container() {
    let Some(local) = helpdesk_platform::ai::local_encoder_dir() else {
        eprintln!("SKIPPED: HELPDESK_MODELS has no encoder files (run `local/dev test`, which fetches them)");
        return;
    };
    let app = spawn_app().await;
    let bucket = app.resources.physical_id("DataBucket").unwrap().to_string();
    let s3 = helpdesk_aws::S3Blobs::client_for_large_objects(&sdk_config(&test_env().endpoint).await);
    let blobs = helpdesk_aws::S3Blobs::new(s3, bucket);
    let prefix = "encoders/all-MiniLM-L6-v2/";
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        let bytes = std::fs::read(local.join(name)).unwrap();
        helpdesk_domain::BlobStore::put(&blobs, &format!("{prefix}{name}"), bytes).await.unwrap();
    }
    let cache_dir = std::env::temp_dir().join(format!("encoder-{}", uuid::Uuid::new_v4().simple()));
    let source = helpdesk_platform::ai::EncoderSource::S3 { prefix: prefix.into(), cache_dir: cache_dir.clone() };
    let precision = helpdesk_ai::encoder::Precision::fastest_here();
    let encoder = source.load(precision, Some(&blobs)).await.unwrap().expect("an encoder");
    let embedding = encoder.encode(&["where is my parcel"]).unwrap();
    assert_eq!(embedding[0].len(), 384);
    // A warm container finds the files in /tmp and copies nothing.
    assert_eq!(blobs.download_prefix(prefix, &cache_dir).await.unwrap(), 0);
    std::fs::remove_dir_all(&cache_dir).unwrap();
}
