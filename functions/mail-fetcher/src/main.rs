//! Lambda entry point of the `mail-fetcher` function (EventBridge schedule + SQS `mailbox-sync`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<mail_fetcher::Fetcher>().await
}
