//! Lambda entry point of the `authorizer` function.

use lambda_runtime::{service_fn, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::telemetry::init("info");
    let authorizer = authorizer::Authorizer::from_env().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<_>| {
        let authorizer = authorizer.clone();
        async move { authorizer.handle(event.payload).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
