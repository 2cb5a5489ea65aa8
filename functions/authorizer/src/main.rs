//! Lambda entry point of the `authorizer` function.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<authorizer::Authorizer>().await
}
