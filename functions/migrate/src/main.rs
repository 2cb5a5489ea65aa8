//! Lambda entry point of the `migrate` function (CloudFormation custom resource, or by hand).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    let store = helpdesk_platform::Bootstrap::from_env().await.database().await?;
    let http = reqwest::Client::new();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (store, http) = (store.clone(), http.clone());
        async move { migrate::handle(&store, &http, event.payload).await.map_err(Error::from) }
    }))
    .await
}
