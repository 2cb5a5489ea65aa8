//! Mailboxes: where an organisation's email comes in. Settings are shown; the sealed secret is
//! read only by the code that connects, never returned.

use crate::{PgStore, Result};
use chrono::{DateTime, Utc};
use helpdesk_domain::email::{MailboxKind, MailboxSettings, MailboxStatus, NewMailbox};
use helpdesk_domain::{MailboxId, OrgId, SealedSecret};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

/// How long a mailbox must have been failing before `mailbox.failed` is announced (minutes):
/// one refused poll is weather; a quarter of an hour is a problem someone must fix.
pub const FAILURE_LASTS_MINUTES: i32 = 15;

/// A mailbox as shown to admins (`GET /v1/mailboxes/{id}`): no secret, ever.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailboxRecord {
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub id: MailboxId,
    pub name: String,
    pub address: String,
    pub kind: MailboxKind,
    pub settings: MailboxSettings,
    /// Where mail for this mailbox may be forwarded (`<token>@<inbound domain>`); set by the
    /// function that knows the domain.
    pub inbound_address: Option<String>,
    /// The local part of the inbound address.
    pub inbound_token: String,
    pub status: MailboxStatus,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// The last failure, in words (no secrets).
    pub last_error: Option<String>,
    /// Messages that came in through it in the last 24 hours.
    pub messages_last_day: i64,
    /// Whether a secret (password or token) is stored.
    pub has_secret: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What changes on `PATCH /v1/mailboxes/{id}` (absent fields stay).
#[derive(Debug, Clone, Default)]
pub struct MailboxUpdate {
    pub name: Option<String>,
    pub settings: Option<MailboxSettings>,
    pub secret: Option<SealedSecret>,
    pub paused: Option<bool>,
}

/// A mailbox's secret and settings, for the code that connects.
#[derive(Debug, Clone)]
pub struct MailboxAccess {
    pub record: MailboxRecord,
    pub secret: Option<SealedSecret>,
}

/// Outcomes of creating a mailbox.
#[derive(Debug)]
pub enum CreateMailbox {
    Created(Box<MailboxRecord>),
    /// Another live mailbox of the organisation has this address.
    AddressTaken,
}

const SELECT: &str = "SELECT b.id, b.name, b.address, b.kind, b.settings, b.inbound_token, b.status, b.last_sync_at, \
     b.last_error, b.created_at, b.updated_at, b.secret_ciphertext IS NOT NULL AS has_secret, \
     (SELECT count(*) FROM messages m WHERE m.organization_id = b.organization_id AND m.mailbox_id = b.id \
        AND m.created_at > now() - interval '1 day') AS messages_last_day, \
     b.secret_encrypted_key, b.secret_nonce, b.secret_ciphertext \
     FROM mailboxes b";

type Row = (
    Uuid,
    String,
    String,
    String,
    Json<MailboxSettings>,
    String,
    String,
    Option<DateTime<Utc>>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    bool,
    i64,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
);

fn access(row: Row) -> MailboxAccess {
    let (
        id,
        name,
        address,
        kind,
        settings,
        token,
        status,
        last_sync_at,
        last_error,
        created,
        updated,
        has_secret,
        count,
        key,
        nonce,
        ct,
    ) = row;
    let secret = match (key, nonce, ct) {
        (Some(encrypted_key), Some(nonce), Some(ciphertext)) => Some(SealedSecret { encrypted_key, nonce, ciphertext }),
        _ => None,
    };
    MailboxAccess {
        record: MailboxRecord {
            id: MailboxId(id),
            name,
            address,
            // The table's CHECK constraints admit only these.
            kind: MailboxKind::parse(&kind).unwrap_or(MailboxKind::Forwarding),
            settings: settings.0,
            inbound_address: None,
            inbound_token: token,
            status: MailboxStatus::parse(&status).unwrap_or(MailboxStatus::Ok),
            last_sync_at,
            last_error,
            messages_last_day: count,
            has_secret,
            created_at: created,
            updated_at: updated,
        },
        secret,
    }
}

impl PgStore {
    /// Stores a new mailbox with its sealed secret and a fresh inbound token.
    pub async fn create_mailbox(
        &self,
        org: OrgId,
        mailbox: &NewMailbox,
        secret: Option<&SealedSecret>,
        inbound_token: &str,
    ) -> Result<CreateMailbox> {
        let mut tx = self.tenant(org).await?;
        let id = Uuid::now_v7();
        let inserted = sqlx::query(
            "INSERT INTO mailboxes (id, organization_id, name, address, kind, settings, inbound_token, \
             secret_encrypted_key, secret_nonce, secret_ciphertext) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(id)
        .bind(org.0)
        .bind(&mailbox.name)
        .bind(mailbox.address.as_str())
        .bind(mailbox.kind.as_str())
        .bind(Json(&mailbox.settings))
        .bind(inbound_token)
        .bind(secret.map(|s| s.encrypted_key.clone()))
        .bind(secret.map(|s| s.nonce.clone()))
        .bind(secret.map(|s| s.ciphertext.clone()))
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(sqlx::Error::Database(e)) if e.constraint() == Some("mailboxes_org_address") => {
                return Ok(CreateMailbox::AddressTaken)
            }
            other => other?,
        };
        record_event(&mut tx, org, "mailbox.created", id, serde_json::json!({ "kind": mailbox.kind.as_str() })).await?;
        let row: Row = sqlx::query_as(&format!("{SELECT} WHERE b.organization_id = $1 AND b.id = $2"))
            .bind(org.0)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(CreateMailbox::Created(Box::new(access(row).record)))
    }

    /// The organisation's live mailboxes, oldest first.
    pub async fn list_mailboxes(&self, org: OrgId) -> Result<Vec<MailboxRecord>> {
        let mut tx = self.tenant(org).await?;
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "{SELECT} WHERE b.organization_id = $1 AND b.deleted_at IS NULL ORDER BY b.created_at, b.id"
        ))
        .bind(org.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|r| access(r).record).collect())
    }

    /// One live mailbox with its sealed secret.
    pub async fn mailbox(&self, org: OrgId, id: MailboxId) -> Result<Option<MailboxAccess>> {
        let mut tx = self.tenant(org).await?;
        let row: Option<Row> =
            sqlx::query_as(&format!("{SELECT} WHERE b.organization_id = $1 AND b.id = $2 AND b.deleted_at IS NULL"))
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(access))
    }

    /// Applies a change; `None` when there is no such live mailbox.
    pub async fn update_mailbox(
        &self,
        org: OrgId,
        id: MailboxId,
        update: &MailboxUpdate,
    ) -> Result<Option<MailboxRecord>> {
        let mut tx = self.tenant(org).await?;
        let status = update.paused.map(|p| if p { "paused" } else { "ok" });
        let changed = sqlx::query(
            "UPDATE mailboxes SET name = coalesce($3, name), settings = coalesce($4, settings), \
             secret_encrypted_key = CASE WHEN $5 THEN $6 ELSE secret_encrypted_key END, \
             secret_nonce = CASE WHEN $5 THEN $7 ELSE secret_nonce END, \
             secret_ciphertext = CASE WHEN $5 THEN $8 ELSE secret_ciphertext END, \
             status = coalesce($9, CASE WHEN $5 AND status = 'auth_failed' THEN 'ok' ELSE status END), \
             last_error = CASE WHEN $9 = 'ok' OR $5 THEN NULL ELSE last_error END, \
             failing_since = CASE WHEN $9 = 'ok' OR $5 THEN NULL ELSE failing_since END, \
             failure_announced_at = CASE WHEN $9 = 'ok' OR $5 THEN NULL ELSE failure_announced_at END, \
             updated_at = now() \
             WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(update.name.as_deref())
        .bind(update.settings.as_ref().map(Json))
        .bind(update.secret.is_some())
        .bind(update.secret.as_ref().map(|s| s.encrypted_key.clone()))
        .bind(update.secret.as_ref().map(|s| s.nonce.clone()))
        .bind(update.secret.as_ref().map(|s| s.ciphertext.clone()))
        .bind(status)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            return Ok(None);
        }
        record_event(&mut tx, org, "mailbox.updated", id.0, serde_json::json!({ "paused": update.paused })).await?;
        let row: Row = sqlx::query_as(&format!("{SELECT} WHERE b.organization_id = $1 AND b.id = $2"))
            .bind(org.0)
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(access(row).record))
    }

    /// Records how connecting to a mailbox went: healthy (`Ok`), or failing with a status
    /// (`auth_failed`, `unreachable`) and the error in words. A paused mailbox stays paused.
    /// A failure that has lasted [`FAILURE_LASTS_MINUTES`] is announced once as a
    /// `mailbox.failed` event (others act on it: a notification, a webhook); success clears it.
    /// `checked` is the `updated_at` the check started from: if the mailbox changed meanwhile
    /// (a new secret), the result is about settings that are gone and is not recorded. Returns
    /// the record as it is now, `None` for no such live mailbox. `synced` (a fetch that read
    /// every folder to its end) also sets `last_sync_at`.
    pub async fn record_mailbox_health(
        &self,
        org: OrgId,
        id: MailboxId,
        checked: DateTime<Utc>,
        failure: Option<(MailboxStatus, &str)>,
        synced: bool,
    ) -> Result<Option<MailboxRecord>> {
        let mut tx = self.tenant(org).await?;
        let (status, error) = match failure {
            Some((status, error)) => (status.as_str(), Some(error)),
            None => ("ok", None),
        };
        // A paused mailbox keeps its status and raises nothing.
        let announce: Option<(bool,)> = sqlx::query_as(
            "UPDATE mailboxes SET \
               status = $3, \
               last_error = $4, \
               failing_since = CASE WHEN $4 IS NULL THEN NULL ELSE coalesce(failing_since, now()) END, \
               failure_announced_at = CASE WHEN $4 IS NULL THEN NULL \
                 WHEN failure_announced_at IS NULL AND coalesce(failing_since, now()) <= now() - make_interval(mins => $5) \
                 THEN now() ELSE failure_announced_at END, \
               last_sync_at = CASE WHEN $7 THEN now() ELSE last_sync_at END, \
               updated_at = now() \
             WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL AND status <> 'paused' AND updated_at = $6 \
             RETURNING failure_announced_at IS NOT DISTINCT FROM now()",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(status)
        .bind(error)
        .bind(FAILURE_LASTS_MINUTES)
        .bind(checked)
        .bind(synced)
        .fetch_optional(&mut *tx)
        .await?;
        if announce.is_some_and(|(a,)| a) && error.is_some() {
            record_event(&mut tx, org, "mailbox.failed", id.0, serde_json::json!({ "status": status, "error": error }))
                .await?;
        }
        let row: Option<Row> =
            sqlx::query_as(&format!("{SELECT} WHERE b.organization_id = $1 AND b.id = $2 AND b.deleted_at IS NULL"))
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(|r| access(r).record))
    }

    /// The organisation and mailbox of an inbound address's local part (`<token>@<inbound
    /// domain>`), for mail that arrives before its organisation is known (SES receiving).
    /// Deleted mailboxes take no mail.
    pub async fn mailbox_for_inbound_token(&self, token: &str) -> Result<Option<(OrgId, MailboxId)>> {
        let row: Option<(Uuid, Uuid)> =
            sqlx::query_as("SELECT organization_id, mailbox_id FROM mailbox_for_inbound_token($1)")
                .bind(token)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(org, mailbox)| (OrgId(org), MailboxId(mailbox))))
    }

    /// The organisation and the mailbox a conversation's newest email came through: where an
    /// answer to one of our reply addresses belongs. The caller has checked the address's
    /// signature; this only finds the conversation's tenant.
    pub async fn mailbox_for_conversation(
        &self,
        conversation: helpdesk_domain::ConversationId,
    ) -> Result<Option<(OrgId, MailboxId)>> {
        let row: Option<(Uuid, Uuid)> =
            sqlx::query_as("SELECT organization_id, mailbox_id FROM mailbox_for_conversation($1)")
                .bind(conversation.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(org, mailbox)| (OrgId(org), MailboxId(mailbox))))
    }

    /// Marks mail that could not be read as mail (no header block, no usable From): a
    /// `mail.unreadable` event naming the mailbox and where the raw message is kept, so it is
    /// never lost and an admin can find it.
    pub async fn record_unreadable_mail(
        &self,
        org: OrgId,
        mailbox: MailboxId,
        raw_key: &str,
        reason: &str,
    ) -> Result<()> {
        let mut tx = self.tenant(org).await?;
        record_event(
            &mut tx,
            org,
            "mail.unreadable",
            mailbox.0,
            serde_json::json!({ "raw_key": raw_key, "reason": reason }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a mailbox's sealed secret and nothing else (a provider rotated the refresh
    /// token during a sync: the mailbox did not change for anyone looking at it). `false` when
    /// there is no such live mailbox.
    pub async fn replace_mailbox_secret(&self, org: OrgId, id: MailboxId, secret: &SealedSecret) -> Result<bool> {
        let mut tx = self.tenant(org).await?;
        let replaced = sqlx::query(
            "UPDATE mailboxes SET secret_encrypted_key = $3, secret_nonce = $4, secret_ciphertext = $5 \
             WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .bind(&secret.encrypted_key)
        .bind(&secret.nonce)
        .bind(&secret.ciphertext)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(replaced.rows_affected() == 1)
    }

    /// Marks a message the fetcher gave up on (it failed [`helpdesk_domain::sync::MAX_FETCH_ATTEMPTS`]
    /// times, or is larger than a fetch may take): a `mail.quarantined` event naming the
    /// mailbox, the folder, the message (`{"uid": 42}` on IMAP, `{"id": "…"}` through a
    /// provider's API) and why, so an admin can find it on the server; the fetcher goes on past
    /// it.
    pub async fn record_quarantined_mail(
        &self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &str,
        message: serde_json::Value,
        reason: &str,
    ) -> Result<()> {
        let mut tx = self.tenant(org).await?;
        let mut payload = serde_json::json!({ "folder": folder, "reason": reason });
        if let (Some(payload), serde_json::Value::Object(message)) = (payload.as_object_mut(), message) {
            payload.extend(message);
        }
        record_event(&mut tx, org, "mail.quarantined", mailbox.0, payload).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Mailboxes of every organisation that fetch mail (IMAP, Gmail, Microsoft 365), neither
    /// paused nor refused by their server (they wait for new credentials), those whose last
    /// run ended longest ago first, at most `max`: the fetcher's schedule.
    pub async fn mailboxes_due_for_sync(&self, max: i32) -> Result<Vec<(OrgId, MailboxId)>> {
        let rows: Vec<(Uuid, Uuid)> =
            sqlx::query_as("SELECT organization_id, mailbox_id FROM mailboxes_due_for_sync($1)")
                .bind(max)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(org, mailbox)| (OrgId(org), MailboxId(mailbox))).collect())
    }

    /// Deletes a mailbox: it stops fetching and frees its address; its messages keep pointing
    /// at it, and its secret is erased. `false` when there is no such live mailbox.
    pub async fn delete_mailbox(&self, org: OrgId, id: MailboxId) -> Result<bool> {
        let mut tx = self.tenant(org).await?;
        let deleted = sqlx::query(
            "UPDATE mailboxes SET deleted_at = now(), updated_at = now(), secret_encrypted_key = NULL, \
             secret_nonce = NULL, secret_ciphertext = NULL WHERE organization_id = $1 AND id = $2 AND deleted_at IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if deleted.rows_affected() == 1 {
            record_event(&mut tx, org, "mailbox.deleted", id.0, serde_json::json!({})).await?;
        }
        tx.commit().await?;
        Ok(deleted.rows_affected() == 1)
    }
}

async fn record_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    org: OrgId,
    event: &str,
    mailbox: Uuid,
    mut payload: serde_json::Value,
) -> Result<()> {
    payload["mailbox_id"] = serde_json::json!(mailbox);
    sqlx::query("INSERT INTO events (id, organization_id, event_type, payload) VALUES ($1, $2, $3, $4)")
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(event)
        .bind(payload)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
