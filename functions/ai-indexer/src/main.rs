//! Lambda entry point of the `ai-indexer` function (SQS `kb-indexing`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    helpdesk_platform::telemetry::init("info");
    let indexer = ai_indexer::Indexer::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let indexer = indexer.clone();
        async move { Ok::<_, Error>(indexer.handle(event.payload).await) }
    }))
    .await
}
