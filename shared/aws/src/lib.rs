//! AWS adapters: thin implementations of the domain's ports over the AWS SDK. Clients are built
//! once per container from the standard configuration chain, so `AWS_ENDPOINT_URL` points every
//! one of them at moto's server or LocalStack locally, and at nothing in AWS.

#[cfg(feature = "dynamodb")]
mod dynamodb;
mod kms;
mod s3;
mod sqs;

#[cfg(feature = "dynamodb")]
pub use dynamodb::DynamoCursors;
pub use kms::KmsEnvelope;
pub use s3::S3Blobs;
pub use sqs::{QueueUrls, SqsPublisher};

use std::time::Duration;

/// The SDK configuration, from the environment (region, credentials, `AWS_ENDPOINT_URL`), with
/// timeouts well inside a function's own: a hanging AWS endpoint costs a request a few seconds
/// and an outbox retry, never the whole invocation.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build();
    aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(timeouts).load().await
}
