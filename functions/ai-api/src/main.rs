//! Lambda entry point of the `ai-api` function: configuration, the engine, then the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_platform::telemetry::init("info");
    let state = ai_api::AiApiState::from_env().await?;
    lambda_http::run(ai_api::router(state)).await
}
