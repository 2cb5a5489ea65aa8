//! One way to put a function together. A function crate implements [`Function`] (its typed
//! configuration and one constructor, `build`) and [`HttpFunction`] or [`EventFunction`]; its
//! Lambda `main.rs` is one call to [`run_http`] or [`run_events`], and the local runner builds it
//! with the same [`build`] from the template's variables. Nothing else wires a function.

use crate::config::{
    ConfigError, DataBucketConfig, DataKeyConfig, DatabaseConfig, Environment, FromEnvironment, QueuesConfig,
    RedisConfig, Secrets,
};
use crate::mail::CapturingMailer;
use crate::RedisHandle;
use helpdesk_aws::SqsPublisher;
use helpdesk_domain::{Mailer, SecretSealer};
use helpdesk_store::PgStore;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;

/// What a container builds once and hands every function's constructor: the AWS SDK's
/// configuration (region, credentials, endpoint), Secrets Manager, and where email goes. The
/// local runner builds one for all its functions; clients made from it are cheap.
#[derive(Clone)]
pub struct Deps {
    pub sdk: aws_config::SdkConfig,
    pub secrets: Secrets,
    /// Until the mail-sender pipeline exists, email is logged (recipient masked); the runner
    /// passes one that also keeps it, for its tests and tools.
    pub mailer: Arc<dyn Mailer>,
}

impl Deps {
    /// The container's: the SDK from its environment and execution role.
    pub async fn from_env() -> Self {
        Self::new(helpdesk_aws::sdk_config().await, Arc::new(CapturingMailer::logging_only()))
    }

    pub fn new(sdk: aws_config::SdkConfig, mailer: Arc<dyn Mailer>) -> Self {
        Self { secrets: Secrets::new(&sdk), sdk, mailer }
    }

    /// A lazily connecting pool (nothing is dialled before the first query).
    pub async fn database(&self, config: &DatabaseConfig) -> anyhow::Result<PgStore> {
        self.secrets.database(config).await
    }

    /// Redis, connected on first use.
    pub fn redis(&self, config: &RedisConfig) -> anyhow::Result<RedisHandle> {
        RedisHandle::new(config.redis_url.expose()).map_err(|e| anyhow::anyhow!("REDIS_URL: {e}"))
    }

    pub fn publisher(&self, config: &QueuesConfig) -> SqsPublisher {
        SqsPublisher::new(aws_sdk_sqs::Client::new(&self.sdk), config.urls())
    }

    /// Envelope encryption of organisations' secrets under the stack's data key.
    pub fn sealer(&self, config: &DataKeyConfig) -> Arc<dyn SecretSealer> {
        Arc::new(helpdesk_aws::KmsEnvelope::new(&self.sdk, config.data_key_id.clone()))
    }

    /// The data bucket, with a client for large objects (the encoder's files).
    pub fn blobs(&self, config: &DataBucketConfig) -> helpdesk_aws::S3Blobs {
        helpdesk_aws::S3Blobs::new(
            helpdesk_aws::S3Blobs::client_for_large_objects(&self.sdk),
            config.data_bucket.clone(),
        )
    }
}

/// A deployable function: its name, its settings and its one constructor.
pub trait Function: Sized + Send + Sync + 'static {
    /// The binary's name: template.yaml's `BuildProperties.Binary`.
    const NAME: &'static str;
    /// Its settings, parsed from its environment at cold start.
    type Config: FromEnvironment + Send;
    /// Builds the function from its settings and the container's clients (once per container).
    fn build(config: Self::Config, deps: &Deps) -> impl Future<Output = anyhow::Result<Self>> + Send;
}

/// A function behind API Gateway (HTTP API, payload 2.0).
pub trait HttpFunction: Function {
    fn router(&self) -> axum::Router;
}

/// A function invoked with events (SQS batches, schedules, CloudFormation).
pub trait EventFunction: Function {
    type Event: DeserializeOwned + Send;
    type Response: Serialize + Send;
    /// One invocation. An error fails the whole invocation (Lambda retries or reports it); SQS
    /// functions report failed records in their response instead ([`crate::sqs`]).
    fn handle(&self, event: Self::Event) -> impl Future<Output = anyhow::Result<Self::Response>> + Send;
}

/// Parses the function's settings and builds it: what Lambda's cold start and the local runner
/// both do. A malformed setting fails here, naming the variable.
pub async fn build<F: Function>(env: &Environment, deps: &Deps) -> anyhow::Result<F> {
    let config = F::Config::from_environment(env).map_err(|e: ConfigError| anyhow::anyhow!("{}: {e}", F::NAME))?;
    F::build(config, deps).await
}

async fn cold_start<F: Function>() -> anyhow::Result<F> {
    crate::telemetry::init("info");
    let started = std::time::Instant::now();
    let built = build::<F>(&Environment::from_process(), &Deps::from_env().await).await;
    match &built {
        Ok(_) => tracing::info!(function = F::NAME, init_ms = started.elapsed().as_secs_f64() * 1000.0, "cold start"),
        Err(e) => {
            tracing::error!(function = F::NAME, error = %helpdesk_domain::error::describe(e.as_ref()), "cold start failed")
        }
    }
    built
}

/// Lambda's entry point of an HTTP function (its whole `main`).
pub async fn run_http<F: HttpFunction>() -> Result<(), lambda_http::Error> {
    let function = cold_start::<F>().await?;
    lambda_http::run(function.router()).await
}

/// Lambda's entry point of an event function (its whole `main`).
pub async fn run_events<F: EventFunction>() -> Result<(), lambda_runtime::Error> {
    let function = Arc::new(cold_start::<F>().await?);
    // Boxed: the runtime's future around the handler's would otherwise nest past the compiler's
    // layout depth limit.
    let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<F::Event>| {
        let function = function.clone();
        let answer: std::pin::Pin<Box<dyn Future<Output = Result<F::Response, lambda_runtime::Error>> + Send>> =
            Box::pin(async move { function.handle(event.payload).await.map_err(lambda_runtime::Error::from) });
        answer
    });
    Box::pin(lambda_runtime::run(service)).await
}
