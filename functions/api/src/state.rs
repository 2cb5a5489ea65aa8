use helpdesk_aws::SqsPublisher;
use helpdesk_domain::SecretSealer;
use helpdesk_outbound::Destinations;
use helpdesk_platform::{Bootstrap, Gateway, RedisHandle};
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

impl AppState {
    /// Everything from the environment and Secrets Manager (what `main.rs` uses in Lambda).
    pub async fn from_env() -> anyhow::Result<Self> {
        let boot = Bootstrap::from_env().await;
        let redis = boot.redis()?;
        let store = boot.database().await?;
        Ok(Self {
            gateway: Bootstrap::gateway(store.clone(), redis.clone(), |n| std::env::var(n).ok(), &[]),
            store,
            publisher: boot.publisher(),
            redis,
            sealer: boot.sealer()?,
            llm_destinations: Destinations::from_lookup(|n| std::env::var(n).ok()),
        })
    }
}
