//! Lambda entry point of the `ai-trainer` function (SQS `training-requests` and a schedule).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<ai_trainer::Trainer>().await
}
