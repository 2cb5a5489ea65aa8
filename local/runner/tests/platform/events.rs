//! Every sample event in events/ is fed to its function, the way `cargo lambda invoke
//! --data-file` or the Lambda console would.

use crate::helpers::{cloudformation_response_sink, spawn_app, test_env};
use helpdesk_domain::MessageId;
use serde_json::Value;
use std::collections::BTreeSet;

fn load(name: &str) -> Value {
    let path = test_env().root.join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn every_sample_event_runs_through_its_function() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let (org, token) = (owner.org, owner.token.clone());
    let session = app.keys.verify(&token).unwrap().session.unwrap();
    let mut used = BTreeSet::new();
    let mut event = |name: &'static str| {
        used.insert(name);
        let text = serde_json::to_string(&load(name)).unwrap();
        text.replace("REPLACE_WITH_TOKEN_FROM_helpdesk-local_create-org", &token)
            .replace("REPLACE_WITH_ORG_ID", &org.to_string())
            .replace("REPLACE_WITH_USER_ID", &owner.user.to_string())
            .replace("REPLACE_WITH_SESSION_ID", &session.to_string())
            .replace("REPLACE_WITH_ORG_SLUG", &owner.slug)
            .replace("REPLACE_WITH_EMAIL", &owner.email)
            .replace("REPLACE_WITH_PASSWORD", crate::helpers::PASSWORD)
    };
    let invoke = |binary: &'static str, text: String| {
        let f = app.running.function(binary).unwrap().clone();
        async move { f.invoke("test", serde_json::from_str(&text).unwrap()).await.unwrap() }
    };

    let allowed = invoke("authorizer", event("authorizer/request.json")).await;
    assert_eq!(allowed["isAuthorized"], true, "{allowed}");
    assert_eq!(allowed["context"]["org_id"], org.to_string());
    let signed_in = invoke("auth", event("auth/login.json")).await;
    assert_eq!(signed_in["statusCode"], 200, "{signed_in}");

    let live = invoke("api", event("api/health-live.json")).await;
    assert_eq!(live["statusCode"], 200);

    let created = invoke("api", event("api/create-message.json")).await;
    assert_eq!(created["statusCode"], 202, "{created}");
    let accepted: Value = serde_json::from_str(created["body"].as_str().unwrap()).unwrap();

    let listed = invoke("api", event("api/list-conversations.json")).await;
    assert_eq!(listed["statusCode"], 200);
    let page: Value = serde_json::from_str(listed["body"].as_str().unwrap()).unwrap();
    assert_eq!(page["data"][0]["id"], accepted["conversation_id"]);

    let batch = event("ai-worker/sqs-batch.json")
        .replace("REPLACE_WITH_MESSAGE_ID", accepted["id"].as_str().unwrap())
        .replace("REPLACE_WITH_CONVERSATION_ID", accepted["conversation_id"].as_str().unwrap());
    let answer = invoke("ai-worker", batch).await;
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "5f8c1f6a-2b53-4f3e-9d9b-2d1c0c7b9a02"}])
    );
    let id: MessageId = accepted["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.store.classification_count(org, id).await.unwrap(), 1);

    // A reply draft for that conversation, by the local engine (no provider is configured).
    let drafted = invoke(
        "ai-api",
        event("ai-api/draft-reply.json")
            .replace("REPLACE_WITH_CONVERSATION_ID", accepted["conversation_id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(drafted["statusCode"], 201, "{drafted}");
    let draft: Value = serde_json::from_str(drafted["body"].as_str().unwrap()).unwrap();
    assert_eq!(draft["provider"], "local");

    // A training request for a run the API queued: too few verdicts, so the run is skipped.
    let (run, _) = app.store.request_training(org, Some(owner.user), None).await.unwrap();
    let request = event("ai-trainer/training-request.json").replace("REPLACE_WITH_RUN_ID", &run.id.to_string());
    let answer = invoke("ai-trainer", request).await;
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");
    let ended = app.store.training_run(org, run.id).await.unwrap().unwrap();
    assert_eq!(ended.status, "skipped", "{ended:?}");
    let scheduled = invoke("ai-trainer", event("ai-trainer/schedule.json")).await;
    assert_eq!(scheduled["organizations"], 0, "{scheduled}");

    // An article to index: its passages are stored; the malformed record fails alone.
    let input = helpdesk_store::ArticleInput {
        title: "Refunds".into(),
        body: "Refunds take 5 days.".into(),
        tags: vec![],
        language: "eng".into(),
        published: true,
    };
    let (article, _) = app.store.create_article(org, Some(owner.user), &input, None).await.unwrap();
    let batch = event("ai-indexer/sqs-batch.json").replace("REPLACE_WITH_ARTICLE_ID", &article.id.to_string());
    let answer = invoke("ai-indexer", batch).await;
    assert_eq!(
        answer["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "7a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c02"}])
    );
    assert_eq!(app.store.article(org, article.id).await.unwrap().unwrap().indexed_version, Some(1));

    let mailbox = invoke("integrations", event("integrations/create-mailbox.json")).await;
    assert_eq!(mailbox["statusCode"], 201, "{mailbox}");
    let mailbox: Value = serde_json::from_str(mailbox["body"].as_str().unwrap()).unwrap();
    // API Gateway hands a binary body to Lambda in base64.
    let raw =
        event("integrations/post-raw-message.json").replace("REPLACE_WITH_MAILBOX_ID", mailbox["id"].as_str().unwrap());
    let posted = invoke("integrations", raw).await;
    assert_eq!(posted["statusCode"], 202, "{posted}");
    let outcome: Value = serde_json::from_str(posted["body"].as_str().unwrap()).unwrap();
    assert_eq!(outcome["status"], "accepted", "{outcome}");

    // Mail: a sync request for the forwarding mailbox (nothing to fetch from), the schedule
    // (no mailbox fetches), and SES's notification — raw and in SNS's envelope — with the
    // message it names in the bucket, beside a fetched record whose object is not there.
    let mailbox_id = mailbox["id"].as_str().unwrap();
    let synced =
        invoke("mail-fetcher", event("mail-fetcher/sync-request.json").replace("REPLACE_WITH_MAILBOX_ID", mailbox_id))
            .await;
    assert_eq!(synced["batchItemFailures"], serde_json::json!([]), "{synced}");
    let scheduled = invoke("mail-fetcher", event("mail-fetcher/schedule.json")).await;
    assert_eq!(scheduled["queued"], 0, "{scheduled}");
    let bucket = app.resources.physical_id("DataBucket").unwrap().to_string();
    let sdk = crate::helpers::sdk_config(&test_env().endpoint).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
        .put_object()
        .bucket(&bucket)
        .key("inbound/ses/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1")
        .body(b"From: Ana Customer <customer@example.net>\r\nSubject: Where is my order?\r\nMessage-ID: <ses-sample-1@example.net>\r\n\r\nOrder 1234 has not arrived.\r\n".to_vec().into())
        .send()
        .await
        .unwrap();
    let ingested = invoke(
        "mail-ingest",
        event("mail-ingest/sqs-batch.json")
            .replace("REPLACE_WITH_MAILBOX_ID", mailbox_id)
            .replace("REPLACE_WITH_DATA_BUCKET", &bucket)
            .replace("REPLACE_WITH_INBOUND_ADDRESS", mailbox["inbound_address"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        ingested["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "b6f1a0c2-8d3e-4f5a-9b7c-1d2e3f4a5b03"}]),
        "{ingested}"
    );
    let from_ses: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE mailbox_id = $1::uuid AND email_message_id = 'ses-sample-1@example.net'",
    )
    .bind(mailbox_id)
    .fetch_one(app.owner.pool())
    .await
    .unwrap();
    assert_eq!(from_ses, 1, "delivered twice (raw and enveloped), stored once");

    let swept = invoke("outbox-relay", event("outbox-relay/schedule.json")).await;
    assert_eq!(swept["failed"], 0);

    let by_hand = invoke("migrate", event("migrate/by-hand.json")).await;
    assert_eq!(by_hand["applied"], serde_json::json!([]), "the runner applied them at start");

    // CloudFormation waits for the PUT to the response URL: serve one and look at what arrives.
    let (response_url, received) = cloudformation_response_sink().await;
    let create = event("migrate/cloudformation-create.json").replace(
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/sample-presigned-url",
        &response_url,
    );
    invoke("migrate", create).await;
    let reported = received.lock().unwrap().clone().expect("a response was PUT to CloudFormation");
    assert_eq!(reported["Status"], "SUCCESS");
    assert_eq!(reported["LogicalResourceId"], "DatabaseMigrations");
    assert_eq!(reported["RequestId"], "7bfe0f3e-1c1a-4a5f-9b4e-4f0d0c6e7a11");

    // No sample event goes untested.
    let mut on_disk = BTreeSet::new();
    for dir in std::fs::read_dir(test_env().root.join("events")).unwrap() {
        let dir = dir.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            on_disk.insert(format!(
                "{}/{}",
                dir.file_name().unwrap().to_str().unwrap(),
                file.file_name().unwrap().to_str().unwrap()
            ));
        }
    }
    let used: BTreeSet<String> = used.into_iter().map(str::to_string).collect();
    assert_eq!(on_disk, used);
}

#[tokio::test]
async fn every_http_route_of_the_template_is_served_by_its_function() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    for f in &app.running.functions {
        for route in &f.spec.routes {
            if route.path == "$default" {
                continue;
            }
            let path = route.path.replace("{id}", &uuid::Uuid::new_v4().to_string());
            let method: reqwest::Method = route.method.parse().unwrap();
            let response = app
                .http
                .request(method, format!("{}{path}", app.base))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert!(
                !body.contains("no route for"),
                "{} {} is declared in template.yaml but the function has no such route ({status})",
                route.method,
                route.path
            );
        }
    }
}

#[test]
fn the_deploy_runs_the_newest_migration() {
    let root = test_env().root;
    let newest = std::fs::read_dir(root.join("migrations"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.split('_').next().map(str::to_string))
        .max()
        .unwrap();
    let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
    assert!(
        template.contains(&format!("MigrationsVersion: \"{newest}\"")),
        "template.yaml's DatabaseMigrations.MigrationsVersion must be {newest}, or CloudFormation will not run the new migration"
    );
}
