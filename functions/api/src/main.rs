//! Lambda entry point of the `api` function: configuration, clients, then the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_platform::telemetry::init("info");
    let state = api::AppState::from_env().await?;
    lambda_http::run(api::router(state)).await
}
