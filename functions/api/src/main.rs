//! Lambda entry point of the `api` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_platform::function::run_http::<api::AppState>().await
}
