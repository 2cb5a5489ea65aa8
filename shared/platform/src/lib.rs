//! What every function needs: one way to be put together (typed configuration, one
//! constructor, the Lambda entry points), secrets, clients built once per container, the SQS
//! batch loop, JSON logs, and the outbox relay shared by the API, the AI worker and the sweeper.

#[cfg(feature = "ai")]
pub mod ai;
pub mod config;
pub mod credentials;
#[cfg(feature = "email-in")]
pub mod email_in;
pub mod function;
pub mod gateway;
#[cfg(feature = "imap")]
pub mod imap;
#[cfg(feature = "ai")]
pub mod llm;
pub mod mail;
#[cfg(feature = "oauth")]
pub mod oauth;
pub mod outbox;
pub mod ratelimit;
pub mod raw_mail;
pub mod redis_handle;
pub mod sessions;
pub mod sqs;
pub mod telemetry;

pub use config::{ConfigError, Environment, FromEnvironment, Secrets};
pub use function::{Deps, EventFunction, Function, HttpFunction};
pub use gateway::{Gateway, PlanCache, RateLimits};
pub use ratelimit::{Limit, RateLimiter};
pub use redis_handle::RedisHandle;
pub use sessions::Sessions;

/// The version every function reports in `/health/detailed` and its logs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
