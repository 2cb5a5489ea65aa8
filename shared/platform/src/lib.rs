//! What every function needs at cold start: configuration and secrets, clients built once per
//! container, JSON logs, and the outbox relay shared by the API, the AI worker and the sweeper.

pub mod bootstrap;
pub mod config;
pub mod outbox;
pub mod ratelimit;
pub mod redis_handle;
pub mod telemetry;

pub use bootstrap::Bootstrap;
pub use config::{Secrets, Settings};
pub use ratelimit::{Limit, RateLimiter};
pub use redis_handle::RedisHandle;

/// The version every function reports in `/health/detailed` and its logs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
