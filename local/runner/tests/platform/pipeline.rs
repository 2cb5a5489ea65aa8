use crate::helpers::{eventually, provision, spawn_app, spawn_app_with, test_env, Options, TestApp};
use helpdesk_domain::MessageId;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn sqs_record(id: &str, body: &str) -> Value {
    json!({
        "messageId": id,
        "receiptHandle": format!("handle-{id}"),
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test",
        "awsRegion": "us-east-1"
    })
}

/// Posts a message and returns its id and the queue record that announces it (the runner's
/// poller may process that record too: classification is idempotent, so either order is fine).
async fn stored_message(app: &TestApp, token: &str, text: &str) -> (String, String) {
    let accepted = app.accept(token, "q@customer.example", text).await;
    let claims = app.keys.verify(token).unwrap();
    let body = json!({
        "type": "message.received",
        "organization_id": claims.org,
        "message_id": accepted["id"],
        "conversation_id": accepted["conversation_id"],
    });
    (accepted["id"].as_str().unwrap().to_string(), body.to_string())
}

#[tokio::test]
async fn a_poison_record_fails_alone_and_the_rest_of_its_batch_is_classified() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let (id, good) = stored_message(&app, &token, "Please cancel my subscription").await;
    let missing = json!({"type": "message.received", "organization_id": org, "message_id": uuid::Uuid::new_v4(), "conversation_id": uuid::Uuid::new_v4()});

    let event = json!({"Records": [
        sqs_record("r1", "not json at all"),
        sqs_record("r2", &good),
        sqs_record("r3", &missing.to_string()),
    ]});
    let worker = app.running.function("ai-worker").unwrap();
    let answer = worker.invoke("test", event).await.unwrap();
    let failed: Vec<&str> =
        answer["batchItemFailures"].as_array().unwrap().iter().map(|f| f["itemIdentifier"].as_str().unwrap()).collect();
    assert_eq!(failed, ["r1", "r3"]);

    let id: MessageId = id.parse().unwrap();
    assert_eq!(app.store.classification_count(org, id).await.unwrap(), 1);
}

#[tokio::test]
async fn a_redelivered_record_does_not_duplicate_the_classification() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let (id, body) = stored_message(&app, &token, "My invoice is wrong").await;
    let worker = app.running.function("ai-worker").unwrap();

    for attempt in 0..3 {
        let answer = worker.invoke("test", json!({"Records": [sqs_record("same", &body)]})).await.unwrap();
        assert_eq!(answer["batchItemFailures"], json!([]), "attempt {attempt}");
    }
    let id: MessageId = id.parse().unwrap();
    assert_eq!(app.store.classification_count(org, id).await.unwrap(), 1);
    let announced: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE queue = 'events' AND payload->>'message_id' = $1")
            .bind(id.to_string())
            .fetch_one(app.owner.pool())
            .await
            .unwrap();
    assert_eq!(announced, 1, "message.classified is announced once");
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dlq_after_max_receive_count() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    app.sqs
        .send_message()
        .queue_url(app.queue_url("InboundMessagesQueue"))
        .message_body("{\"poison\": true}")
        .send()
        .await
        .unwrap();
    let accepted = app.accept(&token, "r@customer.example", "refund please").await;

    app.wait_classified(&token, accepted["id"].as_str().unwrap()).await;
    let dead = eventually("the poison message in the DLQ", Duration::from_secs(60), || async {
        let bodies = app.drain("InboundMessagesDlq").await;
        (!bodies.is_empty()).then_some(bodies)
    })
    .await;
    assert_eq!(dead, ["{\"poison\": true}"]);
}

/// Waits until the worker has relayed its own `message.classified` rows (it does so right after
/// its commit; with a zero minimum age the sweeper would otherwise race it).
async fn outbox_drained(app: &TestApp) {
    eventually("the outbox to be empty", Duration::from_secs(30), || async {
        (app.owner.pending_outbox_count().await.ok()? == 0).then_some(())
    })
    .await;
}

/// moto's server on a port of its own, so this test can stop and restart it.
struct PrivateMoto {
    port: u16,
    child: tokio::process::Child,
}

impl PrivateMoto {
    async fn start(port: u16) -> Self {
        let moto = PathBuf::from(test_env().python).with_file_name("moto_server");
        let child = tokio::process::Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server starts");
        eventually("moto to listen", Duration::from_secs(30), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
        })
        .await;
        Self { port, child }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }
}

#[tokio::test]
async fn the_outbox_delivers_what_was_accepted_while_the_emulator_was_down() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let moto = PrivateMoto::start(port).await;
    let app = spawn_app_with(Options {
        endpoint: Some(moto.endpoint()),
        env_overrides: BTreeMap::from([("OUTBOX_MIN_AGE_SECS".to_string(), "0".to_string())]),
        ..Options::default()
    })
    .await;
    let (org, token) = app.org().await;

    let before = app.accept(&token, "s@customer.example", "before the outage").await;
    app.wait_classified(&token, before["id"].as_str().unwrap()).await;
    outbox_drained(&app).await;

    moto.stop().await;
    // Accepted all the same: it is durable in Postgres.
    let during = app.accept(&token, "t@customer.example", "during the outage, refund").await;
    assert_eq!(app.owner.pending_outbox_count().await.unwrap(), 1, "waiting in the outbox");
    let swept = app.running.fire_schedule("outbox-relay").await.unwrap();
    assert_eq!(swept["relayed"], 0, "nothing can be relayed while SQS is down");

    // The emulator comes back (empty, as a restarted moto is): the stack is created again.
    let moto = PrivateMoto::start(port).await;
    provision(&test_env(), &app.resources.stack, &moto.endpoint()).await;
    let swept = app.running.fire_schedule("outbox-relay").await.unwrap();
    assert_eq!(swept["relayed"], 1);
    app.wait_classified(&token, during["id"].as_str().unwrap()).await;
    outbox_drained(&app).await;

    let swept = app.running.fire_schedule("outbox-relay").await.unwrap();
    assert_eq!(swept["relayed"], 0, "nothing is relayed twice");
    for id in [&before["id"], &during["id"]] {
        let id: MessageId = id.as_str().unwrap().parse().unwrap();
        assert_eq!(app.store.classification_count(org, id).await.unwrap(), 1);
    }
    assert_eq!(app.store.message_count(org).await.unwrap(), 2);
    moto.stop().await;
}

#[tokio::test]
async fn the_scheduled_sweep_relays_what_no_request_relayed() {
    let app = spawn_app_with(Options {
        env_overrides: BTreeMap::from([("OUTBOX_MIN_AGE_SECS".to_string(), "0".to_string())]),
        schedule_period: Some(Duration::from_millis(300)),
        ..Options::default()
    })
    .await;
    let (org, token) = app.org().await;
    // Stored as the API stores it, but nobody relays it: only the schedule can.
    let raw: helpdesk_domain::message::RawInboundMessage =
        serde_json::from_value(crate::helpers::sample_message("u@customer.example", "cancel my plan")).unwrap();
    let message = helpdesk_domain::InboundMessage::parse(raw).unwrap();
    let accepted = match app.store.accept_inbound(org, &message, None, None).await.unwrap() {
        helpdesk_store::AcceptOutcome::Created(accepted) => accepted,
        other => panic!("{other:?}"),
    };
    let classified = app.wait_classified(&token, &accepted.id.to_string()).await;
    assert_eq!(classified["classification"]["category"], "cancellation");
}
