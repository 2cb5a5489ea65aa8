//! What a deploy relies on: migrations that can run again, failures reported to CloudFormation,
//! the local Postgres's pgvector, and the command that makes an organisation.

use crate::helpers::{cloudformation_response_sink, spawn_app, test_env};
use serde_json::{json, Value};

fn create_request(response_url: &str, request_type: &str) -> Value {
    json!({
        "RequestType": request_type,
        "ResponseURL": response_url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/helpdesk/1",
        "RequestId": "request-1",
        "LogicalResourceId": "DatabaseMigrations",
        "ResourceType": "Custom::DatabaseMigrations",
        "ResourceProperties": {}
    })
}

#[tokio::test]
async fn every_failure_of_the_custom_resource_is_reported_to_cloudformation() {
    let http = reqwest::Client::new();
    for (request_type, store_error, expected) in
        [("Create", Some("database unreachable"), "database unreachable"), ("Replace", None, "unknown RequestType")]
    {
        let (url, received) = cloudformation_response_sink().await;
        let store = match store_error {
            Some(e) => Err(e.to_string()),
            None => Ok(spawn_app().await.owner),
        };
        let schema = migrate::Schema { store, role_passwords: vec![] };
        let outcome = migrate::handle(&schema, &http, create_request(&url, request_type)).await;
        assert!(outcome.is_err());
        let reported = received.lock().unwrap().clone().expect("CloudFormation was told");
        assert_eq!(reported["Status"], "FAILED");
        assert!(reported["Reason"].as_str().unwrap().contains(expected), "{reported}");
        assert_eq!(reported["RequestId"], "request-1");
    }
}

#[tokio::test]
async fn migrations_can_run_again() {
    let app = spawn_app().await; // the runner applied them at start
    assert_eq!(app.owner.migrate().await.unwrap(), Vec::<i64>::new(), "nothing left to apply");
    // Each file is idempotent on its own too, should it ever be applied by hand.
    for entry in std::fs::read_dir(test_env().root.join("migrations")).unwrap() {
        let path = entry.unwrap().path();
        let sql = std::fs::read_to_string(&path).unwrap();
        sqlx::raw_sql(&sql).execute(app.owner.pool()).await.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
}

#[tokio::test]
async fn the_local_postgres_has_pgvector() {
    let app = spawn_app().await;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(app.owner.pool())
        .await
        .expect("pgvector is installed");
    let distance: f64 =
        sqlx::query_scalar("SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector").fetch_one(app.owner.pool()).await.unwrap();
    assert_eq!(distance, 2.0);
}

#[tokio::test]
async fn create_org_signs_up_and_prints_the_owners_token() {
    let app = spawn_app().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_helpdesk-local"))
        .args(["create-org", "--name", "Acme", "--email", "owner@acme.example", "--base", &app.base])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    let me = app.get_json(token.trim(), "/v1/me").await;
    assert_eq!(me["user"]["role"], "owner");
    assert_eq!(me["user"]["email"], "owner@acme.example");
    assert_eq!(me["organization"]["slug"], "acme");

    // The token works against the API.
    let page: Value = app.get_json(token.trim(), "/v1/conversations").await;
    assert_eq!(page["data"], json!([]));
}
