//! Cold start: what every function builds once per container from its environment.

use crate::config::{Secrets, Settings};
use helpdesk_aws::{QueueUrls, SqsPublisher};
use helpdesk_store::PgStore;

pub struct Bootstrap {
    pub sdk: aws_config::SdkConfig,
    pub settings: Settings,
    pub secrets: Secrets,
}

impl Bootstrap {
    pub async fn from_env() -> Self {
        let sdk = helpdesk_aws::sdk_config().await;
        let secrets = Secrets::new(&sdk);
        Self { sdk, settings: Settings::from_env(), secrets }
    }

    pub async fn database(&self) -> anyhow::Result<PgStore> {
        self.secrets.database(&self.settings).await
    }

    /// Redis, from `REDIS_URL`.
    pub fn redis(&self) -> anyhow::Result<crate::RedisHandle> {
        Ok(crate::RedisHandle::new(&self.settings.redis_url)?)
    }

    /// The gateway layer (rate limits, caller checks) from the function's environment.
    pub fn gateway(
        store: PgStore,
        redis: crate::RedisHandle,
        lookup: impl Fn(&str) -> Option<String>,
        credential_routes: &'static [&'static str],
    ) -> crate::Gateway {
        let prefix = lookup("REDIS_KEY_PREFIX").unwrap_or_else(|| "helpdesk".into());
        crate::Gateway {
            limiter: crate::RateLimiter::new(redis.clone(), prefix.clone()),
            limits: crate::RateLimits::from_lookup(&lookup),
            plans: Default::default(),
            sessions: crate::Sessions::new(redis, prefix),
            store,
            credential_routes,
        }
    }

    /// The data bucket (`DATA_BUCKET`), with a client for large objects, or `None` when the
    /// function has no bucket.
    pub fn blobs(&self) -> Option<helpdesk_aws::S3Blobs> {
        let bucket = std::env::var("DATA_BUCKET").ok().filter(|b| !b.is_empty())?;
        Some(helpdesk_aws::S3Blobs::new(helpdesk_aws::S3Blobs::client_for_large_objects(&self.sdk), bucket))
    }

    /// Envelope encryption of tenants' secrets under the stack's data key (`DATA_KEY_ID`).
    pub fn sealer(&self) -> anyhow::Result<std::sync::Arc<dyn helpdesk_domain::SecretSealer>> {
        let key = std::env::var("DATA_KEY_ID").ok().filter(|k| !k.is_empty());
        let key =
            key.ok_or_else(|| anyhow::anyhow!("DATA_KEY_ID is not set: tenants' secrets need the KMS data key"))?;
        Ok(std::sync::Arc::new(helpdesk_aws::KmsEnvelope::new(&self.sdk, key)))
    }

    /// A publisher to the queues whose URLs the function's environment names.
    pub fn publisher(&self) -> SqsPublisher {
        SqsPublisher::new(aws_sdk_sqs::Client::new(&self.sdk), QueueUrls::from_env())
    }
}
