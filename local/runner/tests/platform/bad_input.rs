use crate::helpers::spawn_app;
use serde_json::Value;

struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    detail: &'static str,
}

fn case(name: &'static str, body: &str, status: u16, detail: &'static str) -> Case {
    Case { name, content_type: Some("application/json"), body: body.as_bytes().to_vec(), status, detail }
}

#[tokio::test]
async fn bad_input_gets_a_problem_naming_it_and_stores_nothing() {
    let app = spawn_app().await;
    let (org, token) = app.org().await;
    let valid = r#"{"channel":"api","from":{"email":"a@b.example"},"body":"hi"}"#;

    let mut oversized = serde_json::json!({"channel": "api", "from": {"email": "a@b.example"}, "body": ""});
    oversized["body"] = "x".repeat(300 * 1024).into();

    let cases = vec![
        case("malformed JSON", r#"{"channel": "api", "#, 400, "malformed JSON"),
        case("missing field", r#"{"channel":"api","from":{"email":"a@b.example"}}"#, 422, "missing field `body`"),
        case("wrong type", r#"{"channel":"api","from":{"email":"a@b.example"},"body":42}"#, 422, "invalid type"),
        case(
            "unknown field",
            r#"{"channel":"api","from":{"email":"a@b.example"},"body":"x","bodyy":"y"}"#,
            422,
            "unknown field",
        ),
        case("invalid email", r#"{"channel":"api","from":{"email":"nope"},"body":"x"}"#, 422, "from.email"),
        case("unknown channel", r#"{"channel":"fax","from":{"email":"a@b.example"},"body":"x"}"#, 422, "channel"),
        case(
            "empty body",
            r#"{"channel":"api","from":{"email":"a@b.example"},"body":"  "}"#,
            422,
            "body: must not be empty",
        ),
        case(
            "metadata number too large to read back",
            r#"{"channel":"api","from":{"email":"a@b.example"},"body":"x","metadata":{"n":1.7976931348623157e308}}"#,
            422,
            "numbers",
        ),
        case("NUL in the body", r#"{"channel":"api","from":{"email":"a@b.example"},"body":"a\u0000b"}"#, 422, "NUL"),
        case(
            "metadata not an object",
            r#"{"channel":"api","from":{"email":"a@b.example"},"body":"x","metadata":[1]}"#,
            422,
            "metadata",
        ),
        Case {
            name: "wrong content type",
            content_type: Some("text/plain"),
            body: valid.as_bytes().to_vec(),
            status: 415,
            detail: "application/json",
        },
        Case {
            name: "no content type",
            content_type: None,
            body: valid.as_bytes().to_vec(),
            status: 415,
            detail: "application/json",
        },
        Case {
            name: "body over 256 KB",
            content_type: Some("application/json"),
            body: oversized.to_string().into_bytes(),
            status: 413,
            detail: "larger than",
        },
    ];

    for c in cases {
        let mut request = app.http.post(format!("{}/v1/messages", app.base)).bearer_auth(&token).body(c.body);
        if let Some(ct) = c.content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), c.status, "{}", c.name);
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{}", c.name);
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], c.status, "{}", c.name);
        assert!(problem["type"].as_str().unwrap().starts_with("https://"), "{}", c.name);
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(c.detail), "{}: detail {detail:?} should mention {:?}", c.name, c.detail);
    }
    assert_eq!(app.store.message_count(org).await.unwrap(), 0, "no bad request stored anything");
    assert_eq!(app.store.contact_count(org).await.unwrap(), 0);
}

#[tokio::test]
async fn field_errors_are_listed_one_by_one() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    let response = app
        .post_message(&token, &serde_json::json!({"channel": "fax", "from": {"email": "x"}, "body": ""}), None)
        .await;
    let problem: Value = response.json().await.unwrap();
    let fields: Vec<&str> =
        problem["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["channel", "from.email", "body"]);
}

#[tokio::test]
async fn unknown_routes_methods_ids_and_tokens_get_problems() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;

    let checks: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (app.http.get(format!("{}/v1/nothing-here", app.base)).bearer_auth(&token), 404),
        (app.http.delete(format!("{}/v1/messages", app.base)).bearer_auth(&token), 405),
        (app.http.get(format!("{}/v1/messages/not-a-uuid", app.base)).bearer_auth(&token), 400),
        (app.http.get(format!("{}/v1/messages/{}", app.base, uuid::Uuid::new_v4())).bearer_auth(&token), 404),
        (app.http.get(format!("{}/v1/conversations?status=closed", app.base)).bearer_auth(&token), 400),
        (app.http.get(format!("{}/v1/conversations?cursor=garbage", app.base)).bearer_auth(&token), 400),
        (app.http.get(format!("{}/v1/conversations?limit=1000", app.base)).bearer_auth(&token), 400),
        (app.http.get(format!("{}/v1/conversations?colour=red", app.base)).bearer_auth(&token), 400),
        (app.http.post(format!("{}/v1/auth/login", app.base)).body("{}"), 415),
        (app.http.post(format!("{}/v1/auth/refresh", app.base)).json(&serde_json::json!({"refresh_token": "x"})), 401),
    ];
    for (request, status) in checks {
        let response = request.send().await.unwrap();
        let url = response.url().to_string();
        assert_eq!(response.status().as_u16(), status, "{url}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{url}");
    }
    // Before any function runs, API Gateway's own answers: no credential, a refused one.
    let bare = app.http.get(format!("{}/health/detailed", app.base)).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    let refused =
        app.http.get(format!("{}/v1/conversations", app.base)).bearer_auth("not.a.token").send().await.unwrap();
    assert_eq!(refused.status(), 403);
}
