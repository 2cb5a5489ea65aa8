//! Lambda entry point of the `outbox-relay` function (EventBridge schedule).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    let boot = helpdesk_platform::Bootstrap::from_env().await;
    let (store, publisher) = (boot.database().await?, boot.publisher());
    let min_age_secs = std::env::var("OUTBOX_MIN_AGE_SECS").ok().and_then(|v| v.parse().ok());
    let min_age_secs = min_age_secs.unwrap_or(outbox_relay::MIN_AGE_SECS);
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| {
        let (store, publisher) = (store.clone(), publisher.clone());
        async move { outbox_relay::handle(&store, &publisher, min_age_secs).await.map_err(Error::from) }
    }))
    .await
}
