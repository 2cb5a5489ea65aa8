//! The `outbox-relay` function: on a schedule, relays outbox rows that the API or the AI worker
//! could not hand to SQS right after their commit (SQS unreachable, container frozen, crash).

use helpdesk_aws::SqsPublisher;
use helpdesk_platform::outbox::{sweep, RelayReport};
use helpdesk_store::PgStore;

/// Rows younger than this are still being relayed by the request that wrote them.
pub const MIN_AGE_SECS: i64 = 30;
/// Rows claimed per pass.
pub const BATCH: i64 = 100;

pub async fn handle(store: &PgStore, publisher: &SqsPublisher, min_age_secs: i64) -> Result<RelayReport, String> {
    let report = sweep(store, publisher, min_age_secs, BATCH).await.map_err(|e| e.to_string())?;
    if report.relayed + report.failed > 0 {
        tracing::info!(relayed = report.relayed, failed = report.failed, function = "outbox-relay", "outbox swept");
    }
    Ok(report)
}
