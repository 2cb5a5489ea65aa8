//! Lambda entry point of the `migrate` function (CloudFormation custom resource, or by hand).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    // A database or secret that cannot be reached is reported to CloudFormation by the handler,
    // instead of failing the cold start and leaving the stack waiting for an answer.
    let boot = helpdesk_platform::Bootstrap::from_env().await;
    let (store, role_passwords) = match (boot.database().await, boot.secrets.role_credentials("ROLE_SECRET_ARNS").await)
    {
        (Ok(store), Ok(roles)) => (Ok(store), roles),
        (Err(e), _) | (_, Err(e)) => (Err(format!("{e:#}")), vec![]),
    };
    let schema = Arc::new(migrate::Schema { store, role_passwords });
    // The response URL is CloudFormation's pre-signed S3 URL: reached as given, no redirects.
    let http = helpdesk_outbound::client(helpdesk_outbound::Destinations::Any);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let (schema, http) = (schema.clone(), http.clone());
        async move { migrate::handle(&schema, &http, event.payload).await.map_err(Error::from) }
    }))
    .await
}
