//! Fetching mailboxes (`mail-fetcher` → S3 → `mail-ingest`) against a real IMAP server
//! (Dovecot on loopback, each test with its own user and Maildir), and SES receiving as an S3
//! object plus SES's receipt notification on the queue.

use crate::helpers::{eventually, spawn_app, spawn_app_with, ImapAccount, Member, Options, TestApp};
use serde_json::Value;
use std::time::Duration;

fn mail(n: usize, subject: &str) -> String {
    format!(
        "From: Customer {n} <customer{n}@example.net>\r\nTo: support@shop.example\r\nSubject: {subject}\r\n\
         Message-ID: <fetch-{n}-{}@example.net>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n\
         Hello, this is message {n}: {subject}.\r\n",
        uuid::Uuid::new_v4().simple()
    )
}

/// An IMAP mailbox on the account, fetching INBOX from `start` (`now`, or `import` of 30 days).
async fn imap_mailbox(app: &TestApp, owner: &Member, account: &ImapAccount, start: &str) -> String {
    let mut body = serde_json::json!({
        "name": "Support (IMAP)",
        "address": format!("{}@shop.example", account.user),
        "kind": "imap",
        "imap": {"host": "127.0.0.1", "port": account.port, "security": "none", "username": account.user,
                 "start": start},
        "secret": account.password,
    });
    if start == "import" {
        body["imap"]["import_days"] = serde_json::json!(30);
    }
    let created = app.post(Some(&owner.token), "/v1/mailboxes", &body).await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

/// One sync of the mailbox, as a `mailbox-sync` record would run it; the fetcher's answer.
async fn sync(app: &TestApp, owner: &Member, mailbox: &str) -> Value {
    let body =
        serde_json::json!({"type": "mailbox.sync_requested", "organization_id": owner.org, "mailbox_id": mailbox});
    let event =
        serde_json::json!({"Records": [{"messageId": uuid::Uuid::new_v4().to_string(), "body": body.to_string()}]});
    let fetcher = app.running.function("mail-fetcher").unwrap().clone();
    let answer = fetcher.invoke("test", event).await.unwrap();
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");
    answer
}

/// The subjects of the mailbox's messages, once there are `n` of them (the ingest runs from
/// its queue).
async fn subjects_when(app: &TestApp, owner: &Member, mailbox: &str, n: i64) -> Vec<String> {
    let count = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM messages WHERE organization_id = $1 AND mailbox_id = $2::uuid",
        )
        .bind(owner.org.0)
        .bind(mailbox)
        .fetch_one(app.owner.pool())
        .await
        .unwrap()
    };
    eventually(&format!("{n} messages in the mailbox"), Duration::from_secs(60), || async {
        (count().await >= n).then_some(())
    })
    .await;
    assert_eq!(count().await, n, "no more than {n}");
    sqlx::query_scalar(
        "SELECT c.subject FROM messages m JOIN conversations c ON c.id = m.conversation_id \
         WHERE m.organization_id = $1 AND m.mailbox_id = $2::uuid ORDER BY c.subject",
    )
    .bind(owner.org.0)
    .bind(mailbox)
    .fetch_all(app.owner.pool())
    .await
    .unwrap()
}

async fn mailbox_record(app: &TestApp, owner: &Member, mailbox: &str) -> Value {
    app.get_json(&owner.token, &format!("/v1/mailboxes/{mailbox}")).await
}

/// Whether the mailbox's latest recorded run went to the end of every folder (a complete sync
/// sets `last_sync_at` with `updated_at`; a run that left mail for the next sets only
/// `updated_at`), and its status. Read from the database: polling the API is rate limited.
async fn sync_state(app: &TestApp, mailbox: &str) -> (bool, String) {
    sqlx::query_as("SELECT coalesce(last_sync_at = updated_at, false), status FROM mailboxes WHERE id = $1::uuid")
        .bind(mailbox)
        .fetch_one(app.owner.pool())
        .await
        .unwrap()
}

async fn events_of(app: &TestApp, owner: &Member, kind: &str) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT payload FROM events WHERE organization_id = $1 AND event_type = $2 ORDER BY occurred_at, id",
    )
    .bind(owner.org.0)
    .bind(kind)
    .fetch_all(app.owner.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn a_mailbox_started_now_takes_only_new_mail_leaves_it_unread_and_skips_what_was_deleted() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    account.deliver(&mail(1, "Old news"));
    let id = imap_mailbox(&app, &owner, &account, "now").await;

    let first = sync(&app, &owner, &id).await;
    assert_eq!(first["batchItemFailures"], serde_json::json!([]));
    let record = mailbox_record(&app, &owner, &id).await;
    assert_eq!(record["status"], "ok", "{record}");
    assert!(record["last_sync_at"].is_string(), "a complete sync is recorded: {record}");

    let kept = account.deliver(&mail(2, "Where is my order"));
    let gone = account.deliver(&mail(3, "Refund please"));
    account.deliver(&mail(4, "Broken kettle"));
    std::fs::remove_file(account.message_path(&gone)).unwrap();
    sync(&app, &owner, &id).await;
    let subjects = subjects_when(&app, &owner, &id, 2).await;
    assert_eq!(subjects, ["Broken kettle", "Where is my order"], "not the old one, not the deleted one");
    // Read without a trace: nothing was marked \Seen (BODY.PEEK[] from an EXAMINEd folder).
    assert!(account.flags().iter().all(|f| !f.contains('S')), "{:?}", account.flags());
    assert!(account.message_path(&kept).exists());

    // Nothing new: a sync takes nothing, and a message fetched again is one message.
    sync(&app, &owner, &id).await;
    account.deliver(&mail(5, "Thanks"));
    sync(&app, &owner, &id).await;
    assert_eq!(subjects_when(&app, &owner, &id, 3).await.len(), 3);
}

#[tokio::test]
async fn folders_are_named_as_people_write_them_and_each_is_read() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    account.deliver(&mail(1, "In the inbox"));
    // "Entwürfe" as Dovecot keeps it: modified UTF-7 (RFC 3501 §5.1.3) behind Maildir++'s dot.
    account.deliver_to(".Entw&APw-rfe", &mail(2, "In the drafts"));
    let body = serde_json::json!({
        "name": "Two folders", "address": format!("{}@shop.example", account.user), "kind": "imap",
        "imap": {"host": "127.0.0.1", "port": account.port, "security": "none", "username": account.user,
                 "folders": ["INBOX", "Entwürfe"], "start": "import", "import_days": 30},
        "secret": account.password,
    });
    let created = app.post(Some(&owner.token), "/v1/mailboxes", &body).await;
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    sync(&app, &owner, &id).await;
    assert_eq!(subjects_when(&app, &owner, &id, 2).await, ["In the drafts", "In the inbox"]);
    assert_eq!(mailbox_record(&app, &owner, &id).await["status"], "ok");
}

#[tokio::test]
async fn an_import_reads_the_last_days_and_a_new_uidvalidity_reads_again_without_duplicates() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    for n in 1..=3 {
        account.deliver(&mail(n, &format!("Imported {n}")));
    }
    let id = imap_mailbox(&app, &owner, &account, "import").await;
    sync(&app, &owner, &id).await;
    assert_eq!(subjects_when(&app, &owner, &id, 3).await, ["Imported 1", "Imported 2", "Imported 3"]);

    // The server renumbers the folder: every UID is new, the cursor's last UID means nothing.
    account.renumber(4_000_000_000);
    account.deliver(&mail(4, "After the rebuild"));
    sync(&app, &owner, &id).await;
    let subjects = subjects_when(&app, &owner, &id, 4).await;
    assert_eq!(subjects, ["After the rebuild", "Imported 1", "Imported 2", "Imported 3"], "each once");
    account.deliver(&mail(5, "Later"));
    sync(&app, &owner, &id).await;
    assert_eq!(subjects_when(&app, &owner, &id, 5).await.len(), 5);
}

#[tokio::test]
async fn a_long_gap_is_backfilled_run_after_run() {
    // A budget of nothing: every run takes one batch (50 messages) and queues the mailbox again.
    let app = spawn_app_with(Options {
        env_overrides: [("MAIL_SYNC_RUN_SECONDS".to_string(), "0".to_string())].into(),
        ..Options::default()
    })
    .await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    let id = imap_mailbox(&app, &owner, &account, "now").await;
    sync(&app, &owner, &id).await;
    for n in 1..=120 {
        account.deliver(&mail(n, &format!("Backlog {n:03}")));
    }
    // The first run takes 50 and queues the rest; the queued runs go on by themselves.
    let first = sync(&app, &owner, &id).await;
    assert_eq!(first["batchItemFailures"], serde_json::json!([]));
    let subjects = subjects_when(&app, &owner, &id, 120).await;
    assert_eq!(subjects.first().map(String::as_str), Some("Backlog 001"));
    assert_eq!(subjects.last().map(String::as_str), Some("Backlog 120"));
    // The last run, which found nothing left, records a complete sync.
    eventually("the backfill's end recorded", Duration::from_secs(30), || async {
        let (synced, status) = sync_state(&app, &id).await;
        (synced && status == "ok").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_message_the_server_keeps_failing_on_is_found_in_its_batch_and_quarantined_once() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    let id = imap_mailbox(&app, &owner, &account, "now").await;
    sync(&app, &owner, &id).await;
    let names: Vec<String> = (1..=60).map(|n| account.deliver(&mail(n, &format!("Batch {n:03}")))).collect();
    // One the server cannot read: Dovecot (running as `mail`) is refused the file.
    let broken = account.message_path(&names[9]);
    std::os::unix::fs::chown(&broken, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();

    // The batch fails; the next run goes one by one and fails on the broken message, which is
    // tried three times in all, then quarantined, and everything behind it comes in.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        sync(&app, &owner, &id).await;
        statuses.push(mailbox_record(&app, &owner, &id).await["status"].as_str().unwrap().to_string());
    }
    assert_eq!(statuses, ["unreachable", "unreachable", "unreachable", "unreachable", "ok"]);
    let subjects = subjects_when(&app, &owner, &id, 59).await;
    assert!(!subjects.contains(&"Batch 010".to_string()));
    let quarantined = events_of(&app, &owner, "mail.quarantined").await;
    assert_eq!(quarantined.len(), 1, "once: {quarantined:?}");
    assert_eq!(quarantined[0]["folder"], "INBOX");
    assert!(quarantined[0]["reason"].as_str().unwrap().contains("failed 3 times"), "{quarantined:?}");
    // Later runs leave it alone.
    sync(&app, &owner, &id).await;
    assert_eq!(events_of(&app, &owner, "mail.quarantined").await.len(), 1);
    assert_eq!(mailbox_record(&app, &owner, &id).await["status"], "ok");
}

#[tokio::test]
async fn a_refused_password_marks_the_mailbox_which_then_waits_for_new_credentials() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    let body = serde_json::json!({
        "name": "Wrong password", "address": format!("wrong-{}@shop.example", account.user), "kind": "imap",
        "imap": {"host": "127.0.0.1", "port": account.port, "security": "none", "username": account.user},
        "secret": "not-the-password",
    });
    let created = app.post(Some(&owner.token), "/v1/mailboxes", &body).await;
    let wrong = created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string();
    let answer = sync(&app, &owner, &wrong).await;
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "the server's refusal is health, not a retry");
    let record = mailbox_record(&app, &owner, &wrong).await;
    assert_eq!(record["status"], "auth_failed", "{record}");
    assert!(!record.to_string().contains("not-the-password"));

    // The schedule queues the mailboxes that fetch and can: not the refused one (signing in
    // with a wrong password every minute locks accounts), not a forwarding one.
    let good = imap_mailbox(&app, &owner, &account, "now").await;
    app.mailbox(&owner.token, "forwarding").await;
    let scheduled = app.running.fire_schedule("mail-fetcher").await.unwrap();
    assert_eq!(scheduled["queued"], 1, "{scheduled}");
    eventually("the queued sync", Duration::from_secs(30), || async { sync_state(&app, &good).await.0.then_some(()) })
        .await;
    // A new secret makes it fetch again.
    let patched = app
        .http
        .patch(format!("{}/v1/mailboxes/{wrong}", app.base))
        .bearer_auth(&owner.token)
        .json(&serde_json::json!({"secret": account.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.json::<Value>().await.unwrap()["status"], "ok");
    sync(&app, &owner, &wrong).await;
    assert_eq!(mailbox_record(&app, &owner, &wrong).await["status"], "ok");
}

/// SES receiving's raw message in the bucket and its notification on `mail-ingest`.
async fn ses_delivers(app: &TestApp, recipients: &[&str], raw: &str, virus: &str) -> String {
    let key = format!("inbound/ses/{}", uuid::Uuid::new_v4().simple());
    let bucket = app.resources.physical_id("DataBucket").unwrap().to_string();
    let sdk = crate::helpers::sdk_config(&crate::helpers::test_env().endpoint).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
        .put_object()
        .bucket(&bucket)
        .key(&key)
        .body(raw.as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::helpers::test_env().root.join("events/mail-ingest/sqs-batch.json")).unwrap(),
    )
    .unwrap();
    let mut notification: Value = serde_json::from_str(sample["Records"][0]["body"].as_str().unwrap()).unwrap();
    notification["receipt"]["recipients"] = serde_json::json!(recipients);
    notification["mail"]["destination"] = serde_json::json!(recipients);
    notification["receipt"]["action"]["bucketName"] = serde_json::json!(bucket);
    notification["receipt"]["action"]["objectKey"] = serde_json::json!(key);
    notification["receipt"]["virusVerdict"]["status"] = serde_json::json!(virus);
    app.sqs
        .send_message()
        .queue_url(app.queue_url("MailIngestQueue"))
        .message_body(notification.to_string())
        .send()
        .await
        .unwrap();
    key
}

#[tokio::test]
async fn ses_receiving_routes_by_inbound_address_and_signed_reply_address_and_keeps_infected_mail_raw() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let other = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let id = mailbox["id"].as_str().unwrap().to_string();
    let inbound = mailbox["inbound_address"].as_str().unwrap().to_string();
    let elsewhere = app.mailbox(&other.token, "forwarding").await;

    ses_delivers(&app, &[&inbound, "nobody@mail.helpdesk.invalid"], &mail(1, "Via SES"), "PASS").await;
    assert_eq!(subjects_when(&app, &owner, &id, 1).await, ["Via SES"]);
    let conversation: String = sqlx::query_scalar(
        "SELECT conversation_id::text FROM messages WHERE organization_id = $1 AND mailbox_id = $2::uuid",
    )
    .bind(owner.org.0)
    .bind(&id)
    .fetch_one(app.owner.pool())
    .await
    .unwrap();

    // An answer to our signed reply address joins its conversation; a forged one names nothing.
    let keys = helpdesk_mail::threading::ThreadingKeys::derived(&app.signing_secret);
    let reply_to = keys.reply_address(conversation.parse().unwrap(), "mail.helpdesk.invalid");
    let answer = mail(1, "Re: Via SES");
    ses_delivers(&app, &[&reply_to], &answer, "PASS").await;
    subjects_when(&app, &owner, &id, 2).await;
    let forged = format!("reply+c{}{}@mail.helpdesk.invalid", uuid::Uuid::new_v4().simple(), "0".repeat(16));
    ses_delivers(&app, &[&forged], &mail(9, "Forged"), "PASS").await;

    // Infected mail is kept raw and marked, never a conversation.
    ses_delivers(&app, &[&inbound], &mail(2, "EICAR"), "FAIL").await;
    let unreadable = eventually("the infected mail marked", Duration::from_secs(30), || async {
        let found = events_of(&app, &owner, "mail.unreadable").await;
        (!found.is_empty()).then_some(found)
    })
    .await;
    assert!(unreadable[0]["reason"].as_str().unwrap().contains("virus"), "{unreadable:?}");
    assert_eq!(subjects_when(&app, &owner, &id, 2).await.len(), 2, "the forged and the infected made nothing");
    let conversations: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT conversation_id) FROM messages WHERE mailbox_id = $1::uuid")
            .bind(&id)
            .fetch_one(app.owner.pool())
            .await
            .unwrap();
    assert_eq!(conversations, 1, "the answer threaded");
    // The other organisation's mailbox got nothing.
    let theirs: i64 = sqlx::query_scalar("SELECT count(*) FROM messages WHERE mailbox_id = $1::uuid")
        .bind(elsewhere["id"].as_str().unwrap())
        .fetch_one(app.owner.pool())
        .await
        .unwrap();
    assert_eq!(theirs, 0);
}
