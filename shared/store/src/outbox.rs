//! The transactional outbox: rows written with the change they announce, relayed to SQS after
//! commit, and swept up by the scheduled relay when the first attempt did not go through.

use crate::{PgStore, Result};
use helpdesk_domain::{OrgId, Queue, QueueBody, QueueRecord};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// Pending rows claimed by a sweep; they stay locked (so a concurrent sweep skips them) until
/// [`PendingOutbox::finish`] records the outcome.
pub struct PendingOutbox {
    tx: Transaction<'static, Postgres>,
    pub records: Vec<QueueRecord>,
}

/// Writes an outbox row in the caller's transaction and returns the record to relay once that
/// transaction has committed.
/// The body's type names its queue, so a record cannot be put on the wrong one.
/// The row belongs to the body's organisation.
pub(crate) async fn enqueue<B: QueueBody>(
    tx: &mut Transaction<'_, Postgres>,
    payload: &B,
) -> std::result::Result<QueueRecord, sqlx::Error> {
    let (id, queue, org) = (Uuid::now_v7(), B::QUEUE, payload.organization_id());
    let body = serde_json::to_string(payload).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO outbox (id, organization_id, queue, payload) VALUES ($1, $2, $3, $4::jsonb)")
        .bind(id)
        .bind(org.0)
        .bind(queue.name())
        .bind(&body)
        .execute(&mut **tx)
        .await?;
    Ok(QueueRecord { id, queue, body })
}

impl PgStore {
    /// Marks an organisation's rows as relayed (after SQS accepted them) and records failures
    /// for the others.
    pub async fn finish_relay(&self, org: OrgId, relayed: &[Uuid], failed: &[(Uuid, String)]) -> Result<()> {
        let mut tx = self.tenant(org).await?;
        mark(&mut tx, relayed, failed).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` rows that have waited at least `min_age_secs` (the API relays fresh
    /// rows itself; the sweeper leaves them alone to avoid doubling the work). Rows that failed
    /// before come after those that did not, so a row that cannot be sent never starves the rest;
    /// rows for queues this build does not know are left for a build that does.
    pub async fn claim_pending_outbox(&self, min_age_secs: i64, limit: i64) -> Result<PendingOutbox> {
        let queues: Vec<&str> = Queue::ALL.iter().map(|q| q.name()).collect();
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(Uuid, String, serde_json::Value)> = sqlx::query_as(
            "SELECT id, queue, payload FROM outbox WHERE relayed_at IS NULL AND queue = ANY($3) \
             AND created_at <= now() - make_interval(secs => $1) \
             ORDER BY attempts, created_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        )
        .bind(min_age_secs as f64)
        .bind(limit)
        .bind(&queues)
        .fetch_all(&mut *tx)
        .await?;
        Ok(PendingOutbox { tx, records: rows.into_iter().filter_map(to_record).collect() })
    }

    /// Rows not relayed yet, across all organisations (the owner and relay roles see them all).
    pub async fn pending_outbox_count(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM outbox WHERE relayed_at IS NULL").fetch_one(&self.pool).await?)
    }
}

impl PendingOutbox {
    pub async fn finish(mut self, relayed: &[Uuid], failed: &[(Uuid, String)]) -> Result<()> {
        mark(&mut self.tx, relayed, failed).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

async fn mark(conn: &mut sqlx::PgConnection, relayed: &[Uuid], failed: &[(Uuid, String)]) -> Result<()> {
    if !relayed.is_empty() {
        sqlx::query("UPDATE outbox SET relayed_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = ANY($1) AND relayed_at IS NULL")
            .bind(relayed)
            .execute(&mut *conn)
            .await?;
    }
    if !failed.is_empty() {
        let (ids, errors): (Vec<Uuid>, Vec<String>) = failed.iter().cloned().unzip();
        sqlx::query(
            "UPDATE outbox o SET attempts = attempts + 1, last_error = f.error \
             FROM unnest($1::uuid[], $2::text[]) AS f(id, error) WHERE o.id = f.id AND o.relayed_at IS NULL",
        )
        .bind(&ids)
        .bind(&errors)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn to_record((id, queue, payload): (Uuid, String, serde_json::Value)) -> Option<QueueRecord> {
    // A row for a queue this build does not know is left alone rather than dropped.
    let queue = Queue::parse(&queue)?;
    Some(QueueRecord { id, queue, body: payload.to_string() })
}
