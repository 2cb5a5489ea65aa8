//! Lambda entry point of the `ai-api` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_platform::function::run_http::<ai_api::AiApiState>().await
}
