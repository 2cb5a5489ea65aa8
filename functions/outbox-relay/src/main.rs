//! Lambda entry point of the `outbox-relay` function (EventBridge schedule).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<outbox_relay::Relay>().await
}
