//! Lambda entry point of the `migrate` function (CloudFormation custom resource, or by hand).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    let sdk = helpdesk_aws::sdk_config().await;
    let settings = helpdesk_platform::Settings::from_env();
    let store = helpdesk_platform::Secrets::new(&sdk)
        .database(&settings)
        .await?;
    let http = reqwest::Client::new();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (store, http) = (store.clone(), http.clone());
        async move {
            migrate::handle(&store, &http, event.payload)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
