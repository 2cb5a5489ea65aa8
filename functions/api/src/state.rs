use helpdesk_aws::SqsPublisher;
use helpdesk_http::JwtKeys;
use helpdesk_platform::{Bootstrap, RedisHandle};
use helpdesk_store::PgStore;

/// The function's dependencies, built once per container and shared by every request.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: PgStore,
    pub publisher: SqsPublisher,
    pub redis: RedisHandle,
    pub jwt: JwtKeys,
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
        Ok(Self {
            store: boot.database().await?,
            publisher: boot.publisher(),
            redis: RedisHandle::new(&boot.settings.redis_url)?,
            jwt: JwtKeys::hs256(&boot.secrets.jwt_secret().await?),
        })
    }
}
