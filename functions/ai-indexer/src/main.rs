//! Lambda entry point of the `ai-indexer` function (SQS `kb-indexing`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<ai_indexer::Indexer>().await
}
