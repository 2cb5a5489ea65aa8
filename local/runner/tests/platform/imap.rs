//! IMAP mailboxes against a real IMAP server: Debian's Dovecot on loopback (`local/dev test`
//! starts it), each test with its own user and Maildir.

use crate::helpers::{spawn_app, ImapAccount, TestApp};
use serde_json::Value;

async fn imap_mailbox(app: &TestApp, token: &str, account: &ImapAccount, secret: &str, folders: &[&str]) -> String {
    let body = serde_json::json!({
        "name": "Support (IMAP)",
        "address": format!("{}@shop.example", account.user),
        "kind": "imap",
        "imap": {"host": "127.0.0.1", "port": account.port, "security": "none", "username": account.user, "folders": folders},
        "secret": secret,
    });
    let created = app.post(Some(token), "/v1/mailboxes", &body).await;
    assert_eq!(created.status(), 201);
    created.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
}

async fn test_mailbox(app: &TestApp, token: &str, id: &str) -> Value {
    let answer = app.post(Some(token), &format!("/v1/mailboxes/{id}/test"), &serde_json::json!({})).await;
    assert_eq!(answer.status(), 200);
    answer.json().await.unwrap()
}

#[tokio::test]
async fn a_check_signs_in_and_reads_each_folders_state() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    for i in 0..2 {
        account.deliver(&format!(
            "From: a@customer.example\r\nSubject: {i}\r\nMessage-ID: <{i}@customer.example>\r\n\r\nhello\r\n"
        ));
    }
    let id = imap_mailbox(&app, &owner.token, &account, &account.password.clone(), &["INBOX"]).await;
    let check = test_mailbox(&app, &owner.token, &id).await;
    assert_eq!((check["ok"].as_bool(), check["status"].as_str()), (Some(true), Some("ok")), "{check}");
    let inbox = &check["folders"][0];
    assert_eq!((inbox["name"].as_str(), inbox["exists"].as_u64()), (Some("INBOX"), Some(2)));
    assert!(inbox["uid_validity"].as_u64().unwrap() > 0);
    assert_eq!(inbox["uid_next"].as_u64(), Some(3));
    // The check read; it did not take the mail (nothing is marked seen or moved).
    let check = test_mailbox(&app, &owner.token, &id).await;
    assert_eq!(check["folders"][0]["exists"].as_u64(), Some(2));
}

#[tokio::test]
async fn a_refused_password_marks_the_mailbox_and_a_new_secret_clears_it() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    let id = imap_mailbox(&app, &owner.token, &account, "not-the-password", &["INBOX"]).await;
    let check = test_mailbox(&app, &owner.token, &id).await;
    assert_eq!((check["ok"].as_bool(), check["status"].as_str()), (Some(false), Some("auth_failed")), "{check}");
    let shown = app.get(&owner.token, &format!("/v1/mailboxes/{id}")).await.text().await.unwrap();
    assert!(shown.contains("\"status\":\"auth_failed\"") && shown.contains("refused"), "{shown}");
    assert!(!shown.contains("not-the-password") && !shown.contains(&account.password), "no secret in the record");

    let patched = app
        .http
        .patch(format!("{}/v1/mailboxes/{id}", app.base))
        .bearer_auth(&owner.token)
        .json(&serde_json::json!({"secret": account.password}))
        .send()
        .await
        .unwrap();
    let patched: Value = patched.json().await.unwrap();
    assert_eq!((patched["status"].as_str(), patched["last_error"].as_str()), (Some("ok"), None));
    assert_eq!(test_mailbox(&app, &owner.token, &id).await["ok"], true);
}

#[tokio::test]
async fn an_unreachable_server_or_a_missing_folder_is_unreachable_and_a_lasting_failure_is_announced_once() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let Some(account) = ImapAccount::new() else { return };
    let id = imap_mailbox(&app, &owner.token, &account, &account.password.clone(), &["INBOX", "Archive"]).await;
    let check = test_mailbox(&app, &owner.token, &id).await;
    assert_eq!(check["status"], "unreachable", "{check}");
    assert!(check["error"].as_str().unwrap().contains("EXAMINE Archive"), "{check}");

    // Nothing listens on port 1.
    let closed = app.mailbox(&owner.token, "imap").await;
    let closed_id = closed["id"].as_str().unwrap();
    let check = test_mailbox(&app, &owner.token, closed_id).await;
    assert_eq!((check["ok"].as_bool(), check["status"].as_str()), (Some(false), Some("unreachable")), "{check}");

    // Failing for a quarter of an hour: announced once as `mailbox.failed`, however often it fails.
    let announced = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM events WHERE event_type = 'mailbox.failed' AND organization_id = $1",
        )
        .bind(owner.org.0)
        .fetch_one(app.owner.pool())
        .await
        .unwrap()
    };
    assert_eq!(announced().await, 0, "one failure is not yet an event");
    sqlx::query("UPDATE mailboxes SET failing_since = now() - interval '16 minutes' WHERE id = $1::uuid")
        .bind(closed_id)
        .execute(app.owner.pool())
        .await
        .unwrap();
    test_mailbox(&app, &owner.token, closed_id).await;
    test_mailbox(&app, &owner.token, closed_id).await;
    assert_eq!(announced().await, 1);
}
