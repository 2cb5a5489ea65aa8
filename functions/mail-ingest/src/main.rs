//! Lambda entry point of the `mail-ingest` function (SQS `mail-ingest`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<mail_ingest::MailIngest>().await
}
