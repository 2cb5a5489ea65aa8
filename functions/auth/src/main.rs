//! Lambda entry point of the `auth` function: configuration, clients, then the router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    helpdesk_platform::telemetry::init("info");
    // Until the mail-sender pipeline exists, invitation emails are logged (recipient masked).
    let mailer = std::sync::Arc::new(helpdesk_platform::mail::CapturingMailer::logging_only());
    let state = auth::AuthState::from_env(mailer).await?;
    lambda_http::run(auth::router(state)).await
}
