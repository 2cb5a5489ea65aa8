//! Lambda entry point of the `ai-worker` function (SQS `inbound-messages`).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    let worker = ai_worker::Worker::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let worker = worker.clone();
        async move { Ok::<SqsBatchResponse, Error>(worker.handle(event.payload).await) }
    }))
    .await
}
