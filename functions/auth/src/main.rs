//! Lambda entry point of the `auth` function.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_platform::function::run_http::<auth::AuthState>().await
}
