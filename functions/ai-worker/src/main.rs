//! Lambda entry point of the `ai-worker` function (SQS `inbound-messages`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<ai_worker::Worker>().await
}
