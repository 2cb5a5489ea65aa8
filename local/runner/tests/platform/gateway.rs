//! What API Gateway and the function add to every answer: CORS from template.yaml, security headers.

use crate::helpers::spawn_app;

#[tokio::test]
async fn cors_follows_the_templates_configuration() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    let allowed = "http://localhost:5173";

    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/messages", app.base))
        .header("origin", allowed)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type,idempotency-key")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], allowed);
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    assert!(h["access-control-allow-headers"].to_str().unwrap().contains("idempotency-key"));
    assert_eq!(h["access-control-max-age"], "600");

    let elsewhere = app
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/v1/messages", app.base))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(elsewhere.headers().get("access-control-allow-origin").is_none(), "an unknown origin is not allowed");

    let get = app
        .http
        .get(format!("{}/v1/conversations", app.base))
        .bearer_auth(&token)
        .header("origin", allowed)
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["access-control-allow-origin"], allowed);
    assert!(get.headers()["access-control-expose-headers"].to_str().unwrap().contains("x-request-id"));
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;
    let answers = [
        app.http.get(format!("{}/health/live", app.base)).send().await.unwrap(),
        app.http.get(format!("{}/v1/conversations", app.base)).bearer_auth(&token).send().await.unwrap(),
        app.http.post(format!("{}/v1/auth/login", app.base)).body("{").send().await.unwrap(), // 415
        app.http.get(format!("{}/v1/nowhere", app.base)).bearer_auth(&token).send().await.unwrap(), // 404
    ];
    for answer in answers {
        let h = answer.headers();
        let url = answer.url().to_string();
        assert_eq!(h["x-content-type-options"], "nosniff", "{url}");
        assert!(h["strict-transport-security"].to_str().unwrap().starts_with("max-age="), "{url}");
        assert_eq!(h["x-frame-options"], "DENY", "{url}");
        assert!(h["content-security-policy"].to_str().unwrap().contains("default-src 'none'"), "{url}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{url}");
        assert_eq!(h["cache-control"], "no-store", "{url}");
    }
}
