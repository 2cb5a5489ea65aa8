use crate::helpers::{eventually, logs, spawn_app};
use serde_json::Value;
use std::time::Duration;

#[tokio::test]
async fn each_request_and_record_logs_one_json_line_with_ids_and_no_customer_text() {
    let logs = logs();
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let marker = format!("secret-body-{}", uuid::Uuid::new_v4().simple());
    let email = format!("{}@private.example", uuid::Uuid::new_v4().simple());

    let response = app.post_message(&token, &crate::helpers::sample_message(&email, &marker), None).await;
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    let accepted: Value = response.json().await.unwrap();
    app.wait_classified(&token, accepted["id"].as_str().unwrap()).await;

    let of_request = |message: &'static str| {
        let logs = logs.clone();
        let request_id = request_id.clone();
        move || {
            let lines = logs.lines();
            let found: Vec<Value> = lines
                .into_iter()
                .filter(|l| l["message"] == message && l["span"]["request_id"] == request_id.as_str())
                .collect();
            async move { (!found.is_empty()).then_some(found) }
        }
    };
    let requests = eventually("the request's log line", Duration::from_secs(10), of_request("request")).await;
    assert_eq!(requests.len(), 1, "one line per request");
    let line = &requests[0];
    assert_eq!(line["span"]["function"], "api");
    assert_eq!(line["span"]["org"], org.to_string());
    assert_eq!(line["route"], "/v1/messages");
    assert_eq!(line["status"], 202);

    // The worker's line for the record carries the same request id and organisation.
    let records = eventually("the record's log line", Duration::from_secs(10), of_request("classified")).await;
    assert_eq!(records[0]["span"]["function"], "ai-worker");
    assert_eq!(records[0]["span"]["org"], org.to_string());
    assert_eq!(records[0]["span"]["subject"], format!("message {}", accepted["id"].as_str().unwrap()));
    assert_eq!(records[0]["message_id"], accepted["id"]);

    // The runner logs each invocation, once it has returned: function, trigger, duration, outcome.
    for (function, trigger) in [("ApiFunction", "http"), ("AiWorkerFunction", "sqs"), ("MigrateFunction", "startup")] {
        let line =
            eventually(&format!("an invocation line for {function} ({trigger})"), Duration::from_secs(10), || {
                let found = logs
                    .lines()
                    .into_iter()
                    .find(|l| l["message"] == "invocation" && l["function"] == function && l["trigger"] == trigger);
                async move { found }
            })
            .await;
        assert!(line["duration_ms"].as_f64().is_some());
        assert_eq!(line["outcome"], "ok");
    }

    let text = logs.text();
    assert!(!text.contains(&marker), "a message body was logged");
    assert!(!text.contains(&email), "a customer address was logged");
}

#[tokio::test]
async fn no_password_token_or_invitee_address_reaches_the_logs() {
    let logs = logs();
    let app = spawn_app().await;
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let slug = format!("logs-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let body = serde_json::json!({
        "organization_name": "Logs", "organization_slug": slug, "email": format!("owner@{slug}.example"), "password": password,
    });
    let tokens: Value = app.post(None, "/v1/auth/signup", &body).await.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    let invitee = format!("{}@invitee.example", uuid::Uuid::new_v4().simple());
    let invited =
        app.post(Some(token), "/v1/invitations", &serde_json::json!({"email": invitee, "role": "agent"})).await;
    assert_eq!(invited.status(), 201);
    let key: Value = app
        .post(Some(token), "/v1/api-keys", &serde_json::json!({"name": "k", "permissions": ["messages:read"]}))
        .await
        .json()
        .await
        .unwrap();
    let login =
        serde_json::json!({"organization": slug, "email": format!("owner@{slug}.example"), "password": password});
    assert_eq!(app.post(None, "/v1/auth/login", &login).await.status(), 200);

    // The invitation was sent (the log names it, masked) and the authorizer ran.
    let masked = format!("{}***@invitee.example", &invitee[..1]);
    eventually("the email's log line", Duration::from_secs(10), || {
        let found =
            logs.lines().into_iter().any(|l| l["message"] == "email sent (captured)" && l["to"] == masked.as_str());
        async move { found.then_some(()) }
    })
    .await;
    assert!(logs.lines().iter().any(|l| l["function"] == "AuthorizerFunction" && l["trigger"] == "authorizer"));

    let text = logs.text();
    for secret in [
        password.as_str(),
        token,
        tokens["refresh_token"].as_str().unwrap(),
        key["key"].as_str().unwrap(),
        &app.invitation_token(&invitee),
        &invitee,
    ] {
        assert!(!text.contains(secret), "logged: {secret}");
    }
}
