//! AWS adapters: thin implementations of the domain's ports over the AWS SDK. Clients are built
//! once per container from the standard configuration chain, so `AWS_ENDPOINT_URL` points every
//! one of them at moto's server or LocalStack locally, and at nothing in AWS.

mod sqs;

pub use sqs::{QueueUrls, SqsPublisher};

/// The SDK configuration, from the environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
