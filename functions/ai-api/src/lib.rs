//! The `ai-api` function: reply drafts, summaries, translation, knowledge-base search and draft
//! feedback over API Gateway. It carries the sentence encoder (queries are embedded like the
//! passages), which is why these routes are not in the `api` function: that one stays small and
//! starts fast.

pub mod assistant;
pub mod openapi;
pub mod routes;

pub use assistant::{AssistError, Assistant};

use axum::Router;
use helpdesk_platform::ai::{EncoderConfig, LanguageConfig};
use helpdesk_platform::config::{
    ConfigError, DataBucketConfig, DataKeyConfig, DatabaseConfig, Environment, FromEnvironment, OutboundConfig,
    RedisConfig,
};
use helpdesk_platform::llm::LlmConfig;
use helpdesk_platform::{Deps, Function, Gateway, HttpFunction, RateLimits};
use std::sync::Arc;

/// The function's dependencies, built once per container.
#[derive(Clone)]
pub struct AiApiState {
    pub assistant: Arc<Assistant>,
    pub gateway: Gateway,
}

/// The `ai-api` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub limits: RateLimits,
    pub bucket: DataBucketConfig,
    pub encoder: EncoderConfig,
    pub languages: LanguageConfig,
    pub data_key: DataKeyConfig,
    pub llm: LlmConfig,
    pub outbound: OutboundConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            database: env.section()?,
            redis: env.section()?,
            limits: env.section()?,
            bucket: env.section()?,
            encoder: env.section()?,
            languages: env.section()?,
            data_key: env.section()?,
            llm: env.section()?,
            outbound: env.section()?,
        })
    }
}

impl Function for AiApiState {
    const NAME: &'static str = "ai-api";
    type Config = Config;

    /// Everything from the environment, Secrets Manager and S3 (the encoder's files).
    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let loaded = config.encoder.load(&config.languages, Some(&deps.blobs(&config.bucket))).await?;
        if loaded.encoder.is_none() {
            anyhow::bail!("ai-api needs the sentence encoder: set ENCODER_S3_PREFIX or ENCODER_DIR (locally: python local/models.py fetch)");
        }
        let store = deps.database(&config.database).await?;
        let redis = deps.redis(&config.redis)?;
        let llm = config.llm.gateway(store.clone(), deps, &config.data_key, &config.outbound).await?;
        Ok(Self {
            gateway: Gateway::new(store.clone(), redis, &config.redis, config.limits, &[]),
            assistant: Arc::new(Assistant { engine: loaded.engine, llm: Some(Arc::new(llm)), store }),
        })
    }
}

impl HttpFunction for AiApiState {
    fn router(&self) -> Router {
        router(self.clone())
    }
}

/// Every route of the function, with its OpenAPI description (the `api` function serves the
/// whole document; template.yaml routes these paths here).
pub fn router(state: AiApiState) -> Router {
    let (routes, document) = openapi::documented_routes().split_for_parts();
    let own =
        helpdesk_http::RouteTable::from_openapi(&serde_json::to_value(document).expect("the document serialises"));
    helpdesk_platform::gateway::http_function(routes, "ai-api", state.gateway.clone(), own, state)
}
