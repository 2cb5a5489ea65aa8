//! Lambda entry point of the `integrations` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_platform::function::run_http::<integrations::IntegrationsState>().await
}
