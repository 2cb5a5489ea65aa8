use helpdesk_aws::SqsPublisher;
use helpdesk_domain::SecretSealer;
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
    /// `LLM_ALLOW_PRIVATE_BASE_URLS`: lets an organisation point its provider at a private or
    /// plain-HTTP address (local development; never in AWS).
    pub allow_private_llm_urls: bool,
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
            allow_private_llm_urls: allow_private_llm_urls(|n| std::env::var(n).ok()),
        })
    }
}

pub fn allow_private_llm_urls(lookup: impl Fn(&str) -> Option<String>) -> bool {
    lookup("LLM_ALLOW_PRIVATE_BASE_URLS").is_some_and(|v| v.trim() == "true")
}
