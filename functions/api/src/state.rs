use helpdesk_aws::SqsPublisher;
use helpdesk_domain::SecretSealer;
use helpdesk_outbound::Destinations;
use helpdesk_platform::config::{
    ConfigError, DataKeyConfig, DatabaseConfig, Environment, FromEnvironment, OutboundConfig, QueuesConfig, RedisConfig,
};
use helpdesk_platform::{Deps, Function, Gateway, HttpFunction, RateLimits, RedisHandle};
use helpdesk_store::PgStore;
use std::sync::Arc;

/// The function's dependencies, built once per container and shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub store: PgStore,
    pub publisher: SqsPublisher,
    pub redis: RedisHandle,
    pub gateway: Gateway,
    /// Seals organisations' secrets (their LLM keys) with KMS.
    pub sealer: Arc<dyn SecretSealer>,
    /// Where an organisation's LLM provider may be: public HTTPS in AWS; anywhere locally
    /// (`LLM_ALLOW_PRIVATE_BASE_URLS`).
    pub llm_destinations: Destinations,
}

/// The `api` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub limits: RateLimits,
    pub queues: QueuesConfig,
    pub data_key: DataKeyConfig,
    pub outbound: OutboundConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            database: env.section()?,
            redis: env.section()?,
            limits: env.section()?,
            queues: env.section()?,
            data_key: env.section()?,
            outbound: env.section()?,
        })
    }
}

impl Function for AppState {
    const NAME: &'static str = "api";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let store = deps.database(&config.database).await?;
        let redis = deps.redis(&config.redis)?;
        Ok(Self {
            gateway: Gateway::new(store.clone(), redis.clone(), &config.redis, config.limits, &[]),
            store,
            publisher: deps.publisher(&config.queues),
            redis,
            sealer: deps.sealer(&config.data_key),
            llm_destinations: Destinations::allowing_private(config.outbound.llm_allow_private_base_urls),
        })
    }
}

impl HttpFunction for AppState {
    fn router(&self) -> axum::Router {
        crate::router(self.clone())
    }
}
