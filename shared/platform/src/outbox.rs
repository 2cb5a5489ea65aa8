//! Relaying the transactional outbox to SQS: right after a commit for the rows it wrote, and by
//! the scheduled sweep for anything a crash or an SQS outage left behind. SQS is at-least-once
//! and every consumer is idempotent, so a row relayed twice is harmless; a row never relayed is
//! what this prevents.

use helpdesk_domain::{OrgId, Publisher, QueueRecord};
use helpdesk_store::{PgStore, StoreError};
use uuid::Uuid;

/// What one relay pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RelayReport {
    pub relayed: usize,
    pub failed: usize,
}

/// Relays records an organisation's transaction just committed. A failure is logged and left
/// for the sweeper; it never fails the caller, whose change is already durable.
pub async fn relay_now<P: Publisher>(
    store: &PgStore,
    publisher: &P,
    org: OrgId,
    records: &[QueueRecord],
) -> RelayReport {
    if records.is_empty() {
        return RelayReport::default();
    }
    let failed = publisher.publish(records).await;
    for (id, reason) in &failed {
        tracing::warn!(outbox_id = %id, reason = %reason, "outbox record not accepted by the queue; the sweeper will retry");
    }
    let relayed: Vec<Uuid> = records.iter().map(|r| r.id).filter(|id| !failed.iter().any(|(f, _)| f == id)).collect();
    if let Err(e) = store.finish_relay(org, &relayed, &failed).await {
        // Not marked: the sweeper will send these again, and consumers are idempotent.
        tracing::warn!(error = %e, "could not mark outbox records as relayed");
    }
    RelayReport { relayed: relayed.len(), failed: failed.len() }
}

/// Relays rows older than `min_age_secs`, `batch` at a time, until none is left or a pass
/// relays nothing (the queue is down: the next scheduled sweep tries again).
pub async fn sweep<P: Publisher>(
    store: &PgStore,
    publisher: &P,
    min_age_secs: i64,
    batch: i64,
) -> Result<RelayReport, StoreError> {
    let mut total = RelayReport::default();
    loop {
        let pending = store.claim_pending_outbox(min_age_secs, batch).await?;
        if pending.records.is_empty() {
            pending.finish(&[], &[]).await?;
            return Ok(total);
        }
        let claimed = pending.records.len();
        let failed = publisher.publish(&pending.records).await;
        let relayed: Vec<Uuid> =
            pending.records.iter().map(|r| r.id).filter(|id| !failed.iter().any(|(f, _)| f == id)).collect();
        pending.finish(&relayed, &failed).await?;
        total.relayed += relayed.len();
        total.failed += failed.len();
        if relayed.is_empty() || (claimed as i64) < batch {
            return Ok(total);
        }
    }
}
