//! Lambda entry point of the `migrate` function (CloudFormation custom resource, or by hand).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    helpdesk_platform::function::run_events::<migrate::Migrator>().await
}
