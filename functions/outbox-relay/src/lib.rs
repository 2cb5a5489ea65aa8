//! The `outbox-relay` function: on a schedule, relays outbox rows that the API or the AI worker
//! could not hand to SQS right after their commit (SQS unreachable, container frozen, crash).

use helpdesk_aws::SqsPublisher;
use helpdesk_platform::config::{ConfigError, DatabaseConfig, Environment, FromEnvironment, QueuesConfig};
use helpdesk_platform::outbox::{sweep, RelayReport};
use helpdesk_platform::{Deps, EventFunction, Function};
use helpdesk_store::PgStore;

/// Rows younger than this are still being relayed by the request that wrote them.
pub const MIN_AGE_SECS: i64 = 30;
/// Rows claimed per pass.
pub const BATCH: i64 = 100;

/// The relay: the owner of every queue's outbox rows.
#[derive(Clone)]
pub struct Relay {
    pub store: PgStore,
    pub publisher: SqsPublisher,
    pub min_age_secs: i64,
}

/// How old a row must be before the sweep takes it (`OUTBOX_MIN_AGE_SECS`, default
/// [`MIN_AGE_SECS`]).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SweepConfig {
    #[serde(default = "default_min_age")]
    pub outbox_min_age_secs: u32,
}

fn default_min_age() -> u32 {
    MIN_AGE_SECS as u32
}

/// The `outbox-relay` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub queues: QueuesConfig,
    pub sweep: SweepConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self { database: env.section()?, queues: env.section()?, sweep: env.section()? })
    }
}

impl Function for Relay {
    const NAME: &'static str = "outbox-relay";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        Ok(Self {
            store: deps.database(&config.database).await?,
            publisher: deps.publisher(&config.queues),
            min_age_secs: config.sweep.outbox_min_age_secs.into(),
        })
    }
}

impl EventFunction for Relay {
    /// Its schedule, or any event by hand (`{}`): the event says nothing the sweep needs.
    type Event = serde_json::Value;
    type Response = RelayReport;

    async fn handle(&self, _event: serde_json::Value) -> anyhow::Result<RelayReport> {
        handle(&self.store, &self.publisher, self.min_age_secs).await.map_err(anyhow::Error::msg)
    }
}

/// One sweep.
pub async fn handle(store: &PgStore, publisher: &SqsPublisher, min_age_secs: i64) -> Result<RelayReport, String> {
    let report = sweep(store, publisher, min_age_secs, BATCH).await.map_err(|e| e.to_string())?;
    if report.relayed + report.failed > 0 {
        tracing::info!(relayed = report.relayed, failed = report.failed, function = "outbox-relay", "outbox swept");
    }
    Ok(report)
}
