//! Lambda entry point of the `ai-trainer` function (SQS `training-requests` and a schedule).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    let trainer = ai_trainer::Trainer::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let trainer = trainer.clone();
        async move { trainer.handle(event.payload).await.map_err(Error::from) }
    }))
    .await
}
