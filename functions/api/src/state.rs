use crate::ratelimit::{PlanCache, RateLimits};
use helpdesk_aws::SqsPublisher;
use helpdesk_http::JwtKeys;
use helpdesk_platform::{Bootstrap, RateLimiter, RedisHandle};
use helpdesk_store::PgStore;

/// The function's dependencies, built once per container and shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub store: PgStore,
    pub publisher: SqsPublisher,
    pub redis: RedisHandle,
    pub jwt: JwtKeys,
    pub limiter: RateLimiter,
    pub limits: RateLimits,
    pub plans: PlanCache,
}

impl AsRef<JwtKeys> for AppState {
    fn as_ref(&self) -> &JwtKeys {
        &self.jwt
    }
}

impl AppState {
    /// Everything from the environment and Secrets Manager (what `main.rs` uses in Lambda).
    pub async fn from_env() -> anyhow::Result<Self> {
        let boot = Bootstrap::from_env().await;
        let redis = RedisHandle::new(&boot.settings.redis_url)?;
        let prefix = std::env::var("RATE_LIMIT_KEY_PREFIX").unwrap_or_else(|_| "helpdesk".into());
        Ok(Self {
            store: boot.database().await?,
            publisher: boot.publisher(),
            limiter: RateLimiter::new(redis.clone(), prefix),
            limits: RateLimits::from_lookup(|name| std::env::var(name).ok()),
            plans: PlanCache::default(),
            redis,
            jwt: JwtKeys::hs256(&boot.secrets.jwt_secret().await?),
        })
    }
}
