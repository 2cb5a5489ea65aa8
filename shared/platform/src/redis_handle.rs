//! A Redis connection made on first use and shared by every invocation of the container.

use std::time::Duration;
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct RedisHandle {
    client: redis::Client,
    manager: std::sync::Arc<OnceCell<redis::aio::ConnectionManager>>,
}

impl std::fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHandle").finish_non_exhaustive()
    }
}

impl RedisHandle {
    /// `redis://host:port` locally, `rediss://…` (TLS) for ElastiCache Serverless.
    pub fn new(url: &str) -> Result<Self, redis::RedisError> {
        Ok(Self { client: redis::Client::open(url)?, manager: Default::default() })
    }

    /// The shared connection, made on first use; it reconnects by itself after a failure.
    pub async fn connection(&self) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(2))
            .set_response_timeout(Duration::from_secs(2))
            .set_number_of_retries(1);
        self.manager
            .get_or_try_init(|| redis::aio::ConnectionManager::new_with_config(self.client.clone(), config))
            .await
            .cloned()
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.connection().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
