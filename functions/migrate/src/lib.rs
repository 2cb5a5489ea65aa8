//! The `migrate` function: applies the sqlx migrations. CloudFormation calls it as a custom
//! resource on every deploy (Create and Update migrate; Delete never drops data), and an
//! operator can invoke it by hand with any other event (`{}`).

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest, CloudFormationCustomResourceResponse,
    CloudFormationCustomResourceResponseStatus,
};
use helpdesk_store::PgStore;
use serde_json::{json, Value};

const PHYSICAL_ID: &str = "helpdesk-database-schema";

/// Runs the migrations and, for a CloudFormation request, reports the outcome to its response
/// URL (CloudFormation waits for that, not for the return value).
pub async fn handle(store: &PgStore, http: &reqwest::Client, event: Value) -> Result<Value, String> {
    if event.get("RequestType").is_none() {
        let applied = store.migrate().await.map_err(|e| e.to_string())?;
        tracing::info!(applied = ?applied, "migrations applied by hand");
        return Ok(json!({ "applied": applied }));
    }

    let request: CloudFormationCustomResourceRequest =
        serde_json::from_value(event).map_err(|e| format!("not a CloudFormation custom resource request: {e}"))?;
    let (request_id, response_url, stack_id, logical_id, outcome) = match &request {
        CloudFormationCustomResourceRequest::Create(r) => {
            (&r.request_id, &r.response_url, &r.stack_id, &r.logical_resource_id, migrate(store).await)
        }
        CloudFormationCustomResourceRequest::Update(r) => {
            (&r.request_id, &r.response_url, &r.stack_id, &r.logical_resource_id, migrate(store).await)
        }
        // Deleting the stack must not drop a tenant's data; Aurora's own deletion policy decides.
        CloudFormationCustomResourceRequest::Delete(r) => {
            (&r.request_id, &r.response_url, &r.stack_id, &r.logical_resource_id, Ok(vec![]))
        }
        _ => return Err("unknown CloudFormation RequestType".into()),
    };

    let mut response = CloudFormationCustomResourceResponse::default();
    response.physical_resource_id = PHYSICAL_ID.to_string();
    response.stack_id = stack_id.clone();
    response.request_id = request_id.clone();
    response.logical_resource_id = logical_id.clone();
    match &outcome {
        Ok(applied) => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.data.insert("Applied".into(), applied.len().to_string());
        }
        Err(e) => {
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            response.reason = Some(format!("migration failed: {e}"));
        }
    }
    let sent = http
        .put(response_url)
        // The pre-signed S3 URL is signed without a content type.
        .header(reqwest::header::CONTENT_TYPE, "")
        .body(serde_json::to_vec(&response).map_err(|e| e.to_string())?)
        .send()
        .await
        .and_then(|r| r.error_for_status());
    if let Err(e) = sent {
        return Err(format!("could not report to CloudFormation: {e}"));
    }
    tracing::info!(status = ?response.status, "reported to CloudFormation");
    outcome.map(|applied| json!({ "applied": applied }))
}

async fn migrate(store: &PgStore) -> Result<Vec<i64>, String> {
    store.migrate().await.map_err(|e| e.to_string())
}
