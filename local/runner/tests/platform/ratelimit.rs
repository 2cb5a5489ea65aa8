//! Rate limits: per IP, per user by plan, and still in force when Redis is gone.

use crate::helpers::{spawn_app_with, Options, TestApp};
use std::collections::BTreeMap;

fn limits(ip: &str, plans: &str) -> Options {
    Options {
        env_overrides: BTreeMap::from([
            ("RATE_LIMIT_IP".to_string(), ip.to_string()),
            ("RATE_LIMIT_PLANS".to_string(), plans.to_string()),
        ]),
        ..Options::default()
    }
}

async fn statuses(app: &TestApp, token: &str, n: usize) -> Vec<reqwest::Response> {
    let mut answers = Vec::new();
    for _ in 0..n {
        answers.push(app.get(token, "/v1/conversations").await);
    }
    answers
}

#[tokio::test]
async fn over_the_ip_limit_answers_429_with_retry_after() {
    // Four: the sign-up takes one from the same address.
    let app = spawn_app_with(limits("60/4", "free=6000/1000")).await;
    let (_, token) = app.org().await;
    let answers = statuses(&app, &token, 4).await;
    let remaining: Vec<&str> =
        answers[..3].iter().map(|a| a.headers()["ratelimit-remaining"].to_str().unwrap()).collect();
    assert_eq!(remaining, ["2", "1", "0"]);
    assert!(answers[..3].iter().all(|a| a.status() == 200));
    assert_eq!(answers[0].headers()["ratelimit-limit"], "4");

    let refused = &answers[3];
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let retry: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "one token a second: retry in about a second, got {retry}");
}

#[tokio::test]
async fn the_user_limit_follows_the_organisations_plan() {
    let app = spawn_app_with(limits("6000/1000", "free=60/2,pro=60/4")).await;
    let (_, free) = app.org().await;
    let (pro_org, pro) = app.org().await;
    sqlx::query("UPDATE organizations SET plan = 'pro' WHERE id = $1")
        .bind(pro_org.0)
        .execute(app.owner.pool())
        .await
        .unwrap();

    let free_answers: Vec<u16> = statuses(&app, &free, 3).await.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(free_answers, [200, 200, 429]);
    let pro_answers: Vec<u16> = statuses(&app, &pro, 5).await.iter().map(|a| a.status().as_u16()).collect();
    assert_eq!(pro_answers, [200, 200, 200, 200, 429], "another user, another bucket, a bigger plan");
}

#[tokio::test]
async fn without_redis_the_limit_holds_in_memory_and_nothing_fails() {
    let mut options = limits("60/2", "free=6000/1000");
    options.redis_url = Some("redis://127.0.0.1:1".into());
    let app = spawn_app_with(options).await;
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(app.http.get(format!("{}/health/live", app.base)).send().await.unwrap().status().as_u16());
    }
    assert_eq!(answers, [200, 200, 429]);
}

#[tokio::test]
async fn without_redis_sign_in_is_unavailable_not_broken() {
    let mut options = limits("6000/1000", "free=6000/1000");
    options.redis_url = Some("redis://127.0.0.1:1".into());
    let app = spawn_app_with(options).await;
    // Sessions live in Redis: with it gone, signing in answers 503 (a problem, never a 500).
    let body = serde_json::json!({"organization": "acme", "email": "a@acme.example", "password": "whatever password"});
    let response = app.post(None, "/v1/auth/login", &body).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_credential_routes_have_a_tighter_bucket_per_ip() {
    let mut options = limits("6000/1000", "free=6000/1000");
    options.env_overrides.insert("RATE_LIMIT_CREDENTIALS".into(), "60/3".into());
    let app = spawn_app_with(options).await;
    let body = serde_json::json!({"organization": "acme", "email": "a@acme.example", "password": "whatever password"});
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(app.post(None, "/v1/auth/login", &body).await.status().as_u16());
    }
    assert_eq!(answers, [401, 401, 401, 429]);
    // Other routes from the same address are not held back.
    assert_eq!(app.http.get(format!("{}/health/live", app.base)).send().await.unwrap().status(), 200);
}
