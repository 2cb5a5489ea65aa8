use crate::helpers::{spawn_app, spawn_app_with, Options};
use serde_json::Value;

#[tokio::test]
async fn health_reports_each_dependency() {
    let app = spawn_app().await;
    let (_, token) = app.org().await;

    let live = app.http.get(format!("{}/health/live", app.base)).send().await.unwrap();
    assert_eq!(live.status(), 200);

    // The API describes itself, to anyone.
    let spec: Value = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["paths"]["/v1/messages"]["post"].is_object());

    let ready: Value = app.http.get(format!("{}/health/ready", app.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ok");
    for dependency in ["postgres", "redis", "sqs"] {
        assert_eq!(ready["checks"][dependency], "ok", "{dependency}");
    }

    let detailed = app.get(&token, "/health/detailed").await;
    assert_eq!(detailed.status(), 200);
    let detailed: Value = detailed.json().await.unwrap();
    assert_eq!(detailed["version"], env!("CARGO_PKG_VERSION"));
    for dependency in ["postgres", "redis", "sqs"] {
        assert_eq!(detailed["dependencies"][dependency]["status"], "ok", "{dependency}");
        assert!(detailed["dependencies"][dependency]["latency_ms"].as_f64().unwrap() >= 0.0);
    }
}

#[tokio::test]
async fn readiness_names_the_dependency_that_is_down() {
    // Nothing listens on port 1.
    let app = spawn_app_with(Options { redis_url: Some("redis://127.0.0.1:1".into()), ..Options::default() }).await;

    let ready = app.http.get(format!("{}/health/ready", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.headers()["content-type"], "application/problem+json");
    let problem: Value = ready.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("redis"), "{detail}");
    assert!(!detail.contains("postgres"), "{detail}");
    assert!(!detail.to_lowercase().contains("refused"), "error text stays out of the public answer: {detail}");

    // With sessions in Redis nobody can sign in to read /health/detailed (the authorizer fails,
    // API Gateway answers 500 and caches nothing); the public answer above is what operators
    // and load balancers get.
}
