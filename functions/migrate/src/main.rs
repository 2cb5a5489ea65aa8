//! Lambda entry point of the `migrate` function (CloudFormation custom resource, or by hand).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    // A database that cannot be reached is reported to CloudFormation by the handler, instead of
    // failing the cold start and leaving the stack waiting for an answer that never comes.
    let store = helpdesk_platform::Bootstrap::from_env().await.database().await.map_err(|e| format!("{e:#}"));
    let http = reqwest::Client::new();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (store, http) = (store.clone(), http.clone());
        async move {
            migrate::handle(store.as_ref().map_err(String::as_str), &http, event.payload).await.map_err(Error::from)
        }
    }))
    .await
}
