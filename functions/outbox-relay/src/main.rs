//! Lambda entry point of the `outbox-relay` function (EventBridge schedule).

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
    let publisher = helpdesk_aws::SqsPublisher::new(
        aws_sdk_sqs::Client::new(&sdk),
        helpdesk_aws::QueueUrls::from_env(),
    );
    lambda_runtime::run(service_fn(|_event: LambdaEvent<Value>| {
        let (store, publisher) = (store.clone(), publisher.clone());
        async move {
            outbox_relay::handle(&store, &publisher, outbox_relay::MIN_AGE_SECS)
                .await
                .map_err(Error::from)
        }
    }))
    .await
}
