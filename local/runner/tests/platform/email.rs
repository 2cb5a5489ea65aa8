//! Email in through the whole platform: mailboxes over the API, raw MIME posted to a forwarding
//! mailbox, and what becomes of it — threading, de-duplication, reply extraction, attachments,
//! the loop guard, bounces — in Postgres, S3 (moto) and the AI pipeline.

use crate::helpers::spawn_app;
use serde_json::Value;

/// A plain email as a customer's client sends it (CRLF line ends).
fn mail(from: &str, subject: &str, message_id: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: support@shop.example\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\
         Date: Mon, 24 Nov 2025 10:02:00 +0000\r\n{extra_headers}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{}\r\n",
        body.replace('\n', "\r\n")
    )
}

fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[tokio::test]
async fn a_forwarded_email_becomes_a_conversation_its_answers_thread_and_a_repeat_is_a_duplicate() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let mailbox_id = mailbox["id"].as_str().unwrap();
    assert!(mailbox["inbound_address"].as_str().unwrap().ends_with("@mail.helpdesk.invalid"), "{mailbox}");

    let first_id = format!("{}@mail.customer.example", unique());
    let first = mail(
        "Ana López <ana@customer.example>",
        "My order has not arrived",
        &first_id,
        "",
        "Hello, order 4711 has not arrived yet.\n\nSent from my iPhone",
    );
    let (status, accepted) = app.post_raw(&owner.token, mailbox_id, &first).await;
    assert_eq!((status, accepted["status"].as_str()), (202, Some("accepted")), "{accepted}");
    let message_id = accepted["message_id"].as_str().unwrap().to_string();
    let conversation = accepted["conversation_id"].as_str().unwrap().to_string();

    // The same bytes again (a forwarding service's retry): the first answer's ids.
    let (status, again) = app.post_raw(&owner.token, mailbox_id, &first).await;
    assert_eq!((status, again["status"].as_str()), (202, Some("duplicate")));
    assert_eq!(
        (again["message_id"].as_str(), again["conversation_id"].as_str()),
        (Some(&*message_id), Some(&*conversation))
    );

    let stored = app.get_json(&owner.token, &format!("/v1/messages/{message_id}")).await;
    assert_eq!(stored["channel"], "email");
    assert_eq!(stored["stripped_text"], "Hello, order 4711 has not arrived yet.", "{stored}");
    assert_eq!(stored["email_message_id"], first_id.as_str());
    assert_eq!(stored["from"]["name"], "Ana López");
    // The AI read the customer's words and classified them.
    let classified = app.wait_classified(&owner.token, &message_id).await;
    assert!(classified["classification"]["category"].is_string(), "{classified}");

    // Her answer quotes our conversation's message: same conversation, quote cut.
    let answer = mail(
        "ana@customer.example",
        "Re: My order has not arrived",
        &format!("{}@mail.customer.example", unique()),
        &format!("In-Reply-To: <{first_id}>\r\nReferences: <{first_id}>\r\n"),
        "Still nothing, please help.\n\nOn Mon, 24 Nov 2025 at 10:02, Ana López <ana@customer.example> wrote:\n> Hello, order 4711 has not arrived yet.",
    );
    let (_, threaded) = app.post_raw(&owner.token, mailbox_id, &answer).await;
    assert_eq!(threaded["status"], "accepted");
    assert_eq!(threaded["conversation_id"].as_str(), Some(&*conversation));
    let stored =
        app.get_json(&owner.token, &format!("/v1/messages/{}", threaded["message_id"].as_str().unwrap())).await;
    assert_eq!(stored["stripped_text"], "Still nothing, please help.");

    // A new subject with no references from the same person is a new conversation (email
    // threads by its headers, not by who writes).
    let other = mail(
        "ana@customer.example",
        "Invoice question",
        &format!("{}@x.example", unique()),
        "",
        "Can I get an invoice?",
    );
    let (_, separate) = app.post_raw(&owner.token, mailbox_id, &other).await;
    assert_ne!(separate["conversation_id"].as_str(), Some(&*conversation));

    // A customer's answer to a resolved conversation reopens it.
    app.set_conversation(&conversation, "status", "resolved").await;
    let late = mail(
        "ana@customer.example",
        "Re: My order has not arrived",
        &format!("{}@x.example", unique()),
        &format!("In-Reply-To: <{first_id}>\r\n"),
        "It came today, thanks. But the box was damaged.",
    );
    let (_, reopened) = app.post_raw(&owner.token, mailbox_id, &late).await;
    assert_eq!(reopened["conversation_id"].as_str(), Some(&*conversation));
    let shown = app.get_json(&owner.token, &format!("/v1/conversations/{conversation}")).await;
    assert_eq!(shown["status"], "open", "{shown}");
}

#[tokio::test]
async fn an_answer_to_a_long_resolved_conversation_starts_a_new_one() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let mailbox_id = mailbox["id"].as_str().unwrap();
    let first_id = format!("{}@x.example", unique());
    let (_, first) = app
        .post_raw(&owner.token, mailbox_id, &mail("ben@customer.example", "Broken kettle", &first_id, "", "It leaks."))
        .await;
    let conversation = first["conversation_id"].as_str().unwrap();
    app.set_conversation(conversation, "status", "resolved").await;
    sqlx::query("UPDATE conversations SET resolved_at = now() - interval '31 days' WHERE id = $1::uuid")
        .bind(conversation)
        .execute(app.owner.pool())
        .await
        .unwrap();
    let answer = mail(
        "ben@customer.example",
        "Re: Broken kettle",
        &format!("{}@x.example", unique()),
        &format!("In-Reply-To: <{first_id}>\r\n"),
        "The new one leaks too.",
    );
    let (_, later) = app.post_raw(&owner.token, mailbox_id, &answer).await;
    assert_eq!(later["status"], "accepted");
    assert_ne!(later["conversation_id"].as_str(), Some(conversation), "resolved 31 days ago, reopen_days 30");
}

#[tokio::test]
async fn subject_tokens_thread_only_for_participants_and_cc_senders_become_participants() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let mailbox_id = mailbox["id"].as_str().unwrap();
    let (_, first) = app
        .post_raw(
            &owner.token,
            mailbox_id,
            &mail(
                "cleo@customer.example",
                "Damaged parcel",
                &format!("{}@x.example", unique()),
                "Cc: Dan <dan@customer.example>\r\n",
                "The parcel was damaged.",
            ),
        )
        .await;
    let conversation = first["conversation_id"].as_str().unwrap();
    let number: i64 = sqlx::query_scalar("SELECT number FROM conversations WHERE id = $1::uuid")
        .bind(conversation)
        .fetch_one(app.owner.pool())
        .await
        .unwrap();

    // Dan was in Cc: his mail with the token (and no headers to thread by) joins.
    let subject = format!("Re: [#{number}] Damaged parcel");
    let (_, dan) = app
        .post_raw(
            &owner.token,
            mailbox_id,
            &mail("dan@customer.example", &subject, &format!("{}@x.example", unique()), "", "Photos attached."),
        )
        .await;
    assert_eq!(dan["conversation_id"].as_str(), Some(conversation));
    // A stranger typing the same token does not graft onto the thread.
    let (_, stranger) = app
        .post_raw(
            &owner.token,
            mailbox_id,
            &mail("eve@elsewhere.example", &subject, &format!("{}@x.example", unique()), "", "Hi"),
        )
        .await;
    assert_ne!(stranger["conversation_id"].as_str(), Some(conversation));
    let participants: Vec<(String, String)> = sqlx::query_as(
        "SELECT ct.email, p.role FROM conversation_participants p JOIN contacts ct ON ct.id = p.contact_id \
         WHERE p.conversation_id = $1::uuid ORDER BY ct.email",
    )
    .bind(conversation)
    .fetch_all(app.owner.pool())
    .await
    .unwrap();
    assert_eq!(
        participants,
        [("cleo@customer.example".into(), "from".into()), ("dan@customer.example".into(), "cc".into())]
    );
}

#[tokio::test]
async fn automatic_mail_is_flagged_capped_and_never_reopens_and_our_own_mail_is_ignored() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let mailbox_id = mailbox["id"].as_str().unwrap();

    // Two autoresponders mailing each other through the platform: five get in, then the cap.
    let mut outcomes = Vec::new();
    for i in 0..7 {
        let raw = mail(
            "robot@autoresponder.example",
            &format!("Automatic reply: your message {i}"),
            &format!("{}@x.example", unique()),
            "Auto-Submitted: auto-replied\r\n",
            "I am away until Monday.",
        );
        let (status, answer) = app.post_raw(&owner.token, mailbox_id, &raw).await;
        assert_eq!(status, 202);
        outcomes.push(answer["status"].as_str().unwrap().to_string());
    }
    assert_eq!(outcomes, ["accepted", "accepted", "accepted", "accepted", "accepted", "ignored", "ignored"]);
    let flagged: Value = sqlx::query_scalar(
        "SELECT metadata FROM messages WHERE channel = 'email' AND organization_id = $1 ORDER BY created_at LIMIT 1",
    )
    .bind(owner.org.0)
    .fetch_one(app.owner.pool())
    .await
    .unwrap();
    assert_eq!(flagged["automatic"]["kind"], "auto_replied", "{flagged}");

    // Exchange's X-Auto-Response-Suppress is on people's own mail: a person wrote this one.
    let person = mail(
        "fay@customer.example",
        "Re: refund",
        &format!("{}@x.example", unique()),
        "X-Auto-Response-Suppress: All\r\n",
        "Where is my refund?",
    );
    let (_, answer) = app.post_raw(&owner.token, mailbox_id, &person).await;
    let stored = app.get_json(&owner.token, &format!("/v1/messages/{}", answer["message_id"].as_str().unwrap())).await;
    assert!(stored["metadata"].get("automatic").is_none(), "{stored}");

    // Mail from one of our own mailboxes' addresses is a loop.
    let ours = mail(mailbox["address"].as_str().unwrap(), "Re: x", &format!("{}@x.example", unique()), "", "loop");
    let (_, looped) = app.post_raw(&owner.token, mailbox_id, &ours).await;
    assert_eq!(looped["status"], "ignored");
    assert!(looped["reason"].as_str().unwrap().contains("own mailbox"), "{looped}");
}

fn bounce(failed: &str, original_message_id: &str) -> String {
    format!(
        "From: Mail Delivery System <MAILER-DAEMON@mx.customer.example>\r\nTo: support@shop.example\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{}@mx.customer.example>\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n\
         --r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.example\r\n\r\n\
         Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n\
         --r\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{original_message_id}>\r\nSubject: Question\r\n--r--\r\n",
        unique()
    )
}

#[tokio::test]
async fn a_bounce_of_our_message_joins_its_conversation_and_suppresses_the_address_and_a_forged_one_does_not() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let mailbox_id = mailbox["id"].as_str().unwrap();
    let (_, first) = app
        .post_raw(
            &owner.token,
            mailbox_id,
            &mail("gus@customer.example", "Question", &format!("{}@x.example", unique()), "", "Do you ship to Norway?"),
        )
        .await;
    // Our answer in that conversation carried our signed Message-ID (the outbound issue sends
    // it; here the customer's message stands in for ours).
    let keys = helpdesk_mail::threading::ThreadingKeys::derived(&app.signing_secret);
    let ours = keys.message_id(first["message_id"].as_str().unwrap().parse().unwrap(), "shop.example");
    let suppressed = |address: &'static str| {
        let pool = app.owner.pool().clone();
        let org = owner.org.0;
        async move {
            sqlx::query_as::<_, (String, Option<String>)>(
                "SELECT reason, detail FROM email_suppressions WHERE organization_id = $1 AND address = $2",
            )
            .bind(org)
            .bind(address)
            .fetch_optional(&pool)
            .await
            .unwrap()
        }
    };

    // A report naming a stranger about a message that is not ours: stored, but nobody is
    // suppressed on its word.
    let (_, forged) =
        app.post_raw(&owner.token, mailbox_id, &bounce("ceo@bigcustomer.example", "made-up@x.example")).await;
    assert_eq!(forged["status"], "accepted");
    assert_ne!(forged["conversation_id"], first["conversation_id"]);
    assert_eq!(suppressed("ceo@bigcustomer.example").await, None);

    let (_, bounced) = app.post_raw(&owner.token, mailbox_id, &bounce("gus@customer.example", &ours)).await;
    assert_eq!(bounced["status"], "accepted", "{bounced}");
    assert_eq!(bounced["conversation_id"], first["conversation_id"]);
    let (reason, detail) = suppressed("gus@customer.example").await.expect("gus is suppressed");
    assert_eq!(reason, "bounce");
    assert!(detail.unwrap().starts_with("5.1.1"));
    // Reports are not capped: every bounce counts.
    for _ in 0..6 {
        let (_, again) = app.post_raw(&owner.token, mailbox_id, &bounce("gus@customer.example", &ours)).await;
        assert_eq!(again["status"], "accepted");
    }
}

#[tokio::test]
async fn a_contact_form_sent_in_our_name_is_the_customers_message() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let address = mailbox["address"].as_str().unwrap();
    let form = mail(
        &format!("Shop website <{address}>"),
        "Contact form: broken lid",
        &format!("{}@x.example", unique()),
        "Reply-To: Ida <ida@customer.example>\r\n",
        "The lid of my kettle broke.",
    );
    let (_, answer) = app.post_raw(&owner.token, mailbox["id"].as_str().unwrap(), &form).await;
    assert_eq!(answer["status"], "accepted", "{answer}");
    let stored = app.get_json(&owner.token, &format!("/v1/messages/{}", answer["message_id"].as_str().unwrap())).await;
    assert_eq!(stored["from"]["email"], "ida@customer.example");
}

#[tokio::test]
async fn attachments_are_kept_by_hash_with_their_content_ids_and_oversized_ones_marked() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let mailbox_id = mailbox["id"].as_str().unwrap();
    let patched = app
        .http
        .patch(format!("{}/v1/mailboxes/{mailbox_id}", app.base))
        .bearer_auth(&owner.token)
        .json(&serde_json::json!({"max_attachment_bytes": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let big = "QUFB".repeat(400); // 1,200 bytes decoded
    let raw = format!(
        "From: hal@customer.example\r\nSubject: Photos\r\nMessage-ID: <{}@x.example>\r\n\
         Content-Type: multipart/related; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>See the photo</p><img src=\"cid:photo1@x\">\r\n\
         --b\r\nContent-Type: image/png\r\nContent-ID: <photo1@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n\
         --b\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Disposition: attachment; filename=\"scan.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{big}\r\n--b--\r\n",
        unique()
    );
    let (_, accepted) = app.post_raw(&owner.token, mailbox_id, &raw).await;
    let stored =
        app.get_json(&owner.token, &format!("/v1/messages/{}", accepted["message_id"].as_str().unwrap())).await;
    let files = stored["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{stored}");
    assert_eq!(
        (files[0]["content_id"].as_str(), files[0]["inline"].as_bool(), files[0]["kept"].as_bool()),
        (Some("photo1@x"), Some(true), Some(true))
    );
    assert_eq!((files[1]["filename"].as_str(), files[1]["kept"].as_bool()), (Some("scan.pdf"), Some(false)));
    assert_eq!(stored["metadata"]["attachments_over_limit"]["limit_bytes"], 1000);
    assert!(stored["html"].as_str().unwrap().contains("cid:photo1@x"));
    // The raw message and the kept file are in the data bucket.
    let s3 = aws_sdk_s3::Client::new(&crate::helpers::sdk_config(&crate::helpers::test_env().endpoint).await);
    let bucket = app.resources.physical_id("DataBucket").unwrap().to_string();
    let listed = s3.list_objects_v2().bucket(&bucket).prefix(format!("mail/{}/", owner.org)).send().await.unwrap();
    assert_eq!(listed.contents().len(), 1);
    let sha: String = sqlx::query_scalar(
        "SELECT sha256 FROM message_attachments WHERE content_id = 'photo1@x' AND organization_id = $1",
    )
    .bind(owner.org.0)
    .fetch_one(app.owner.pool())
    .await
    .unwrap();
    let kept = s3.get_object().bucket(&bucket).key(format!("attachments/{}/{sha}", owner.org)).send().await;
    assert!(kept.is_ok());

    // The agent's download: a short-lived link that serves the file as a download.
    let message_id = accepted["message_id"].as_str().unwrap();
    let photo = files[0]["id"].as_str().unwrap();
    let link = app.get_json(&owner.token, &format!("/v1/messages/{message_id}/attachments/{photo}")).await;
    assert_eq!((link["content_type"].as_str(), link["expires_in"].as_u64()), (Some("image/png"), Some(300)), "{link}");
    let downloaded = app.http.get(link["url"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(downloaded.status(), 200);
    assert!(downloaded.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert_eq!(&downloaded.bytes().await.unwrap()[..], b"\x89PNG\r\n\x1a\n");
    let scan = files[1]["id"].as_str().unwrap();
    let not_kept = app.get(&owner.token, &format!("/v1/messages/{message_id}/attachments/{scan}")).await;
    assert_eq!(not_kept.status(), 404);
    assert!(not_kept.text().await.unwrap().contains("size limit"));

    // The original MIME, byte for byte.
    let original = app.get(&owner.token, &format!("/v1/messages/{message_id}/raw")).await;
    assert_eq!(original.status(), 200);
    assert_eq!(original.headers()["content-type"], "message/rfc822");
    assert_eq!(original.text().await.unwrap(), raw);
    // A message that came through the API has no raw MIME.
    let api = app.accept(&owner.token, "ivy@customer.example", "hello").await;
    assert_eq!(app.get(&owner.token, &format!("/v1/messages/{}/raw", api["id"].as_str().unwrap())).await.status(), 404);
}

#[tokio::test]
async fn mailboxes_keep_their_secrets_and_refuse_what_is_unsafe() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "imap").await;
    let id = mailbox["id"].as_str().unwrap();
    let shown = app.get(&owner.token, &format!("/v1/mailboxes/{id}")).await.text().await.unwrap();
    assert!(!shown.contains("imap-password"), "{shown}");
    assert!(shown.contains("\"has_secret\":true"));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_ciphertext FROM mailboxes WHERE id = $1::uuid")
        .bind(id)
        .fetch_one(app.owner.pool())
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&stored).contains("imap-password"), "sealed, not stored plain");

    let plain_remote = serde_json::json!({
        "name": "x", "address": format!("x-{}@shop.example", unique()), "kind": "imap", "secret": "pw",
        "imap": {"host": "imap.shop.example", "security": "none", "username": "u"}
    });
    let refused = app.post(Some(&owner.token), "/v1/mailboxes", &plain_remote).await;
    assert_eq!(refused.status(), 422);
    let problem: Value = refused.json().await.unwrap();
    assert!(problem.to_string().contains("imap.security"), "{problem}");

    let same_address = serde_json::json!({"name": "again", "address": mailbox["address"], "kind": "forwarding"});
    assert_eq!(app.post(Some(&owner.token), "/v1/mailboxes", &same_address).await.status(), 409);

    // Paused, listed, deleted (and then gone, its address free again).
    let paused: Value = app
        .http
        .patch(format!("{}/v1/mailboxes/{id}", app.base))
        .bearer_auth(&owner.token)
        .json(&serde_json::json!({"paused": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(paused["status"], "paused");
    let listed = app.get_json(&owner.token, "/v1/mailboxes").await;
    assert_eq!(listed["mailboxes"].as_array().unwrap().len(), 1);
    let deleted =
        app.http.delete(format!("{}/v1/mailboxes/{id}", app.base)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.get(&owner.token, &format!("/v1/mailboxes/{id}")).await.status(), 404);
    assert_eq!(app.post(Some(&owner.token), "/v1/mailboxes", &same_address).await.status(), 201);
}

#[tokio::test]
async fn raw_messages_that_are_not_mail_are_refused_or_kept_and_marked() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let id = mailbox["id"].as_str().unwrap();
    let url = format!("{}/v1/mailboxes/{id}/messages", app.base);

    let as_json =
        app.http.post(&url).bearer_auth(&owner.token).json(&serde_json::json!({"raw": "x"})).send().await.unwrap();
    assert_eq!(as_json.status(), 415);
    let empty =
        app.http.post(&url).bearer_auth(&owner.token).header("content-type", "message/rfc822").send().await.unwrap();
    assert_eq!(empty.status(), 400);
    assert_eq!(empty.headers()["content-type"], "application/problem+json");
    let too_big = "x".repeat(4_600_000);
    let big = app
        .http
        .post(&url)
        .bearer_auth(&owner.token)
        .header("content-type", "message/rfc822")
        .body(too_big)
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);

    // No header block at all: kept raw, marked, and answered.
    let (status, answer) = app.post_raw(&owner.token, id, "just some words, no headers").await;
    assert_eq!((status, answer["status"].as_str()), (202, Some("ignored")), "{answer}");
    let marked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE organization_id = $1 AND event_type = 'mail.unreadable'")
            .bind(owner.org.0)
            .fetch_one(app.owner.pool())
            .await
            .unwrap();
    assert_eq!(marked, 1);

    // Another organisation's mailbox is not there.
    let other = app.signup().await;
    let (status, _) = app.post_raw(&other.token, id, &mail("a@b.example", "x", "1@b.example", "", "x")).await;
    assert_eq!(status, 404);
}

/// Mail for the inbound domain names its mailbox before its organisation is known: the store
/// finds the tenant by the mailbox's inbound token or, for our reply addresses, by the
/// conversation — as the functions' role, under row-level security, seeing ids only.
#[tokio::test]
async fn inbound_addresses_and_conversations_route_to_their_organisation_and_mailbox() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let other = app.signup().await;
    let mailbox = app.mailbox(&owner.token, "forwarding").await;
    let id: helpdesk_domain::MailboxId = mailbox["id"].as_str().unwrap().parse().unwrap();
    let token = mailbox["inbound_token"].as_str().unwrap();
    assert_eq!(app.store.mailbox_for_inbound_token(token).await.unwrap(), Some((owner.org, id)));
    assert_eq!(app.store.mailbox_for_inbound_token(&token.to_uppercase()).await.unwrap(), Some((owner.org, id)));
    assert_eq!(app.store.mailbox_for_inbound_token("0123456789abcdef0123456789abcdef").await.unwrap(), None);

    let (_, first) = app
        .post_raw(
            &owner.token,
            mailbox["id"].as_str().unwrap(),
            &mail("jo@customer.example", "Hi", &format!("{}@x.example", unique()), "", "Hello"),
        )
        .await;
    let conversation: helpdesk_domain::ConversationId = first["conversation_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.store.mailbox_for_conversation(conversation).await.unwrap(), Some((owner.org, id)));
    // A conversation that came through the API has no mailbox.
    let api = app.accept(&other.token, "kim@customer.example", "hello").await;
    let api_conversation: helpdesk_domain::ConversationId = api["conversation_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(app.store.mailbox_for_conversation(api_conversation).await.unwrap(), None);

    // A deleted mailbox takes no mail.
    app.http.delete(format!("{}/v1/mailboxes/{id}", app.base)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(app.store.mailbox_for_inbound_token(token).await.unwrap(), None);
}
