//! The `ai-api` function: reply drafts, summaries, translation, knowledge-base search and draft
//! feedback over API Gateway. It carries the sentence encoder (queries are embedded like the
//! passages), which is why these routes are not in the `api` function: that one stays small and
//! starts fast.

pub mod assistant;
pub mod openapi;
pub mod routes;

pub use assistant::{AssistError, Assistant};

use axum::Router;
use helpdesk_platform::ai::EncoderSource;
use helpdesk_platform::llm::{Destinations, LlmGateway, ProviderConfig};
use helpdesk_platform::{Bootstrap, Gateway};
use std::sync::Arc;

/// The function's dependencies, built once per container.
#[derive(Clone)]
pub struct AiApiState {
    pub assistant: Arc<Assistant>,
    pub gateway: Gateway,
}

impl AiApiState {
    /// Everything from the environment, Secrets Manager and S3 (the encoder's files).
    pub async fn from_env() -> anyhow::Result<Self> {
        let lookup = |n: &str| std::env::var(n).ok();
        let boot = Bootstrap::from_env().await;
        let blobs = boot.blobs().ok_or_else(|| anyhow::anyhow!("DATA_BUCKET is not set"))?;
        let encoder = EncoderSource::from_lookup(lookup).load(Some(&blobs)).await?.ok_or_else(|| {
            anyhow::anyhow!("ai-api needs the sentence encoder: set ENCODER_S3_PREFIX or ENCODER_DIR")
        })?;
        let language = helpdesk_platform::ai::language_detector(lookup)?;
        let store = boot.database().await?;
        let redis = boot.redis()?;
        let default = ProviderConfig::platform_default(lookup, boot.secrets.llm_api_key().await?)?;
        let prices = helpdesk_llm::pricing::PriceTable::from_lookup(lookup).map_err(anyhow::Error::msg)?;
        let llm = LlmGateway::new(store.clone(), boot.sealer()?, default, Destinations::from_lookup(lookup))
            .with_prices(prices);
        Ok(Self {
            gateway: Bootstrap::gateway(store.clone(), redis, lookup, &[]),
            assistant: Arc::new(Assistant {
                engine: helpdesk_platform::ai::engine(Some(encoder), language).await?,
                llm: Some(Arc::new(llm)),
                store,
            }),
        })
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
