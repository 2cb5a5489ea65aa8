use helpdesk_aws::{QueueUrls, SqsPublisher};
use helpdesk_http::JwtKeys;
use helpdesk_platform::{RedisHandle, Secrets, Settings};
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
        let sdk = helpdesk_aws::sdk_config().await;
        let settings = Settings::from_env();
        let secrets = Secrets::new(&sdk);
        Ok(Self {
            store: secrets.database(&settings).await?,
            publisher: SqsPublisher::new(aws_sdk_sqs::Client::new(&sdk), QueueUrls::from_env()),
            redis: RedisHandle::new(&settings.redis_url)?,
            jwt: JwtKeys::hs256(&secrets.jwt_secret().await?),
        })
    }
}
