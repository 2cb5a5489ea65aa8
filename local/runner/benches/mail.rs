//! Email in, end to end, through the local runner and its real peers (Postgres, Redis, moto,
//! Dovecot):
//!
//!     local/dev deps && .local/venv/bin/python local/stack.py deps --imap && source .local/env
//!     cargo build --release -p mail-ingest        # for the memory figure (skipped without it)
//!     cargo bench -p local-runner --bench mail [-- --messages 5000] [--samples 200] [--ingested 1000]
//!
//! 1. Raw MIME accepted → classified: `--samples` messages posted one at a time to a forwarding
//!    mailbox (`POST /v1/mailboxes/{id}/messages`), each timed from the request to its
//!    classification row (the ai-worker's, through SQS); p50 / p95 / p99.
//! 2. IMAP first sync: `--messages` messages in a Dovecot INBOX (a mix: short plain text, HTML
//!    replies with a quote, messages with a 40 KB attachment), a mailbox importing the last 30
//!    days; the time of the fetcher's run (every message in S3 and on `mail-ingest`) and until
//!    every message is a stored message (the ingest, from its queue).
//! 3. The ingest function's memory on a 10 MB message: the release binary of `mail-ingest`
//!    (`$CARGO_TARGET_DIR/release`, or `MAIL_INGEST_BINARY`) invoked once through a stand-in
//!    Lambda Runtime API with an `email.fetched` record; its peak resident memory (`VmHWM`,
//!    what Lambda reports as "Max Memory Used").

#[allow(dead_code)]
#[path = "../tests/platform/helpers.rs"]
mod helpers;

use helpers::{spawn_app, ImapAccount, Member, TestApp};
use serde_json::Value;
use std::time::{Duration, Instant};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// One of three kinds of customer mail, by `n`.
fn message(n: usize) -> String {
    let id = format!("<bench-{n}-{}@customer.example>", uuid::Uuid::new_v4().simple());
    let head = format!(
        "From: Customer {n} <c{n}@customer.example>\r\nTo: support@shop.example\r\nSubject: Order {n} question\r\n\
         Message-ID: {id}\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
    );
    match n % 20 {
        0..=11 => format!(
            "{head}Content-Type: text/plain; charset=utf-8\r\n\r\nHello, my order {n} has not arrived yet and the tracking \
             number does not work. Could you check where it is?\r\n\r\nThanks, Sam\r\n"
        ),
        12..=16 => format!(
            "{head}Content-Type: text/html; charset=utf-8\r\n\r\n<div dir=\"ltr\">Thanks, but the refund for order {n} is \
             still missing.</div><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Fri, 27 Nov 2026 at 09:12, Shop \
             Support &lt;support@shop.example&gt; wrote:</div><blockquote class=\"gmail_quote\"><p>We have issued the refund; \
             it takes five days.</p><p>Kind regards,<br>Shop Support</p></blockquote></div>\r\n"
        ),
        _ => {
            use base64::Engine;
            let pdf = base64::engine::general_purpose::STANDARD.encode(vec![b'%'; 40 * 1024]);
            let lines: Vec<&str> = pdf.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\nContent-Type: text/plain; \
                 charset=utf-8\r\n\r\nThe invoice for order {n} is attached; the amount is wrong.\r\n--b{n}\r\n\
                 Content-Type: application/pdf; name=\"invoice-{n}.pdf\"\r\nContent-Disposition: attachment; \
                 filename=\"invoice-{n}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b{n}--\r\n",
                lines.join("\r\n")
            )
        }
    }
}

async fn count(app: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query_scalar(sql).bind(bind).fetch_one(app.owner.pool()).await.expect("a count")
}

async fn accepted_to_classified(app: &TestApp, owner: &Member, samples: usize) {
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let id = mailbox["id"].as_str().expect("an id").to_string();
    let mut times = Vec::with_capacity(samples);
    for n in 0..samples {
        let started = Instant::now();
        let (status, answer) = app.post_raw(&owner.token, &id, &message(n)).await;
        assert_eq!(status, 202, "{answer}");
        let message_id = answer["message_id"].as_str().expect("accepted").to_string();
        loop {
            let done =
                count(app, "SELECT count(*) FROM classifications WHERE message_id = $1::uuid", &message_id).await;
            if done == 1 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "message {n} was not classified in 60 s");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        times.push(started.elapsed());
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "raw MIME accepted → classified, {samples} messages one at a time: p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&times, 0.50)),
        ms(percentile(&times, 0.95)),
        ms(percentile(&times, 0.99))
    );
}

async fn first_sync(app: &TestApp, owner: &Member, messages: usize) {
    let Some(account) = ImapAccount::new() else {
        println!("IMAP first sync: skipped (no Dovecot: `local/stack.py deps --imap`, as root)");
        return;
    };
    for n in 0..messages {
        account.deliver(&message(n));
    }
    let body = serde_json::json!({
        "name": "Bench (IMAP)", "address": format!("{}@shop.example", account.user), "kind": "imap",
        "imap": {"host": "127.0.0.1", "port": account.port, "security": "none", "username": account.user,
                 "start": "import", "import_days": 30},
        "secret": account.password,
    });
    let created: Value = app.post(Some(&owner.token), "/v1/mailboxes", &body).await.json().await.expect("a mailbox");
    let id = created["id"].as_str().expect("an id").to_string();
    let record = serde_json::json!({"type": "mailbox.sync_requested", "organization_id": owner.org, "mailbox_id": id});
    let event = serde_json::json!({"Records": [{"messageId": "bench", "body": record.to_string()}]});
    let fetcher = app.running.function("mail-fetcher").expect("the fetcher").clone();
    let started = Instant::now();
    let answer = fetcher.invoke("bench", event).await.expect("a sync");
    assert_eq!(answer["batchItemFailures"], serde_json::json!([]), "{answer}");
    let fetched = started.elapsed();
    println!(
        "IMAP first sync of {messages} messages: the fetcher's first run (it stops at its budget and queues the \
         rest) ended after {:.1} s ({:.0} messages/s if it took them all)",
        fetched.as_secs_f64(),
        messages as f64 / fetched.as_secs_f64()
    );
    // The ingest from the queue, over the first `--ingested` messages (moto's SQS slows down as
    // thousands wait on one queue, which AWS does not).
    let goal = arg("--ingested", 1000).min(messages);
    loop {
        let stored = count(app, "SELECT count(*) FROM messages WHERE mailbox_id = $1::uuid", &id).await;
        if stored as usize >= goal {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(1800), "{stored} of {goal} stored after 30 minutes");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "  then the first {goal} stored as messages {:.1} s after the fetch began ({:.0} messages/s through one \
         mail-ingest poller)",
        started.elapsed().as_secs_f64(),
        goal as f64 / started.elapsed().as_secs_f64()
    );
}

async fn ingest_memory(app: &TestApp, owner: &Member) {
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| format!("{}/../../target", env!("CARGO_MANIFEST_DIR")));
    let binary = std::env::var("MAIL_INGEST_BINARY")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::PathBuf::from(target).join("release/mail-ingest"));
    if !binary.exists() {
        println!("ingest memory: skipped ({} not built: cargo build --release -p mail-ingest)", binary.display());
        return;
    }
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let mailbox_id: helpdesk_domain::MailboxId = mailbox["id"].as_str().expect("an id").parse().expect("a uuid");
    // 10 MB: a short text and a 7.4 MB attachment, base64 (as mail carries it).
    let mut raw = message(19).replace("invoice-19.pdf", "scan.pdf");
    let big = {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(vec![0x5au8; 7_400_000]);
        encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("\r\n")
    };
    let start = raw.find("Content-Transfer-Encoding: base64\r\n\r\n").expect("the attachment") + 37;
    let end = raw[start..].find("\r\n--b19--").expect("its end") + start;
    raw.replace_range(start..end, &big);
    let raw_key = helpdesk_platform::raw_mail::raw_mail_key(owner.org, mailbox_id, raw.as_bytes());
    let sdk = helpers::sdk_config(&helpers::test_env().endpoint).await;
    let bucket = app.resources.physical_id("DataBucket").expect("the bucket").to_string();
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
        .put_object()
        .bucket(&bucket)
        .key(&raw_key)
        .body(raw.clone().into_bytes().into())
        .send()
        .await
        .expect("the raw message stored");
    let record = serde_json::json!({"type": "email.fetched", "organization_id": owner.org, "mailbox_id": mailbox_id,
                                    "raw_key": raw_key, "source": "bench"});
    let event = serde_json::json!({"Records": [{"messageId": "bench-10mb", "body": record.to_string()}]});
    let root = helpers::test_env().root;
    let template = local_runner::template::Template::load(&root.join("template.yaml")).expect("template.yaml");
    let spec = &app.running.function("mail-ingest").expect("the ingest").spec;
    let secrets = local_runner::functions::LocalSecrets {
        database_url: app.database_url.clone(),
        redis_url: helpers::test_env().redis_url,
        jwt_secret: String::from_utf8(app.signing_secret.clone()).expect("text"),
        jwt_secret_arn: None,
        role_secret_arns: vec![],
    };
    let mut env =
        local_runner::functions::environment(spec, &app.resources, &template.parameters, &Default::default(), &secrets)
            .expect("the function's environment");
    for (name, value) in std::env::vars().filter(|(name, _)| name.starts_with("AWS_")) {
        env.entry(name).or_insert(value);
    }
    let invoked =
        local_runner::coldstart::invoke_once("mail-ingest", &binary, &env, event).await.expect("an invocation");
    assert_eq!(invoked.response["batchItemFailures"], serde_json::json!([]), "{}", invoked.response);
    println!(
        "mail-ingest (release) on a {:.1} MB message: peak resident memory {:.1} MB (the function has 1024 MB)",
        raw.len() as f64 / 1e6,
        invoked.peak_rss_kb as f64 / 1024.0
    );
}

#[tokio::main]
async fn main() {
    if std::env::var("DATABASE_URL").is_err() {
        println!("skipped: run `local/dev deps` and `source .local/env` first");
        return;
    }
    let (messages, samples) = (arg("--messages", 5000), arg("--samples", 200));
    let app = spawn_app().await;
    let owner = app.signup().await;
    accepted_to_classified(&app, &owner, samples).await;
    ingest_memory(&app, &owner).await;
    first_sync(&app, &owner, messages).await;
}
