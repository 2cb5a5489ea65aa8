//! Email's accept path: one transaction from a parsed email to a stored message in its
//! conversation, announced through the outbox — or the reason it is not one (a duplicate, mail
//! from our own mailbox, automatic mail over its cap).

use crate::{PgStore, Result};
use chrono::{DateTime, Utc};
use helpdesk_domain::email::{
    EmailOutcome, InboundEmail, AUTOMATIC_PER_CONVERSATION_PER_DAY, AUTOMATIC_PER_SENDER_PER_HOUR,
};
use helpdesk_domain::{ConversationId, InboundMessagesBody, MessageId, MessageReceived, OrgId, QueueRecord};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// What [`PgStore::accept_email`] did, and the outbox record to relay after commit (when a
/// message was stored).
#[derive(Debug, Clone)]
pub struct EmailAccepted {
    pub outcome: EmailOutcome,
    pub announcement: Option<QueueRecord>,
}

impl EmailAccepted {
    fn only(outcome: EmailOutcome) -> Self {
        Self { outcome, announcement: None }
    }
}

impl PgStore {
    /// Stores an inbound email: de-duplicated on (mailbox, Message-ID, content hash); threaded
    /// by, in order, our signed reply address, our signed Message-IDs, any stored Message-ID it
    /// answers, its `[#n]` subject token when the sender takes part in conversation n, else a
    /// new conversation; a customer's answer reopens a resolved conversation unless it was
    /// resolved more than the mailbox's `reopen_days` ago (then a new one starts). Automatic mail
    /// is stored and flagged but reopens nothing, and is ignored over its caps; mail from the
    /// organisation's own mailboxes is ignored. Participants, attachments, a bounce's
    /// suppression, the `message.received` event and the outbox row are written in the same
    /// transaction, so a redelivered email changes nothing.
    pub async fn accept_email(
        &self,
        org: OrgId,
        email: &InboundEmail,
        request_id: Option<&str>,
    ) -> Result<EmailAccepted> {
        loop {
            let mut tx = self.tenant(org).await?;
            match accept(&mut tx, org, email, request_id).await {
                Ok(accepted) => {
                    tx.commit().await?;
                    return Ok(accepted);
                }
                // The same email stored by a concurrent delivery: answer from what it stored.
                Err(sqlx::Error::Database(e))
                    if e.is_unique_violation() && e.constraint() == Some("messages_email_dedupe") =>
                {
                    drop(tx);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

async fn accept(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    email: &InboundEmail,
    request_id: Option<&str>,
) -> std::result::Result<EmailAccepted, sqlx::Error> {
    let stored: Option<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT id, conversation_id FROM messages WHERE organization_id = $1 AND mailbox_id = $2 \
         AND coalesce(email_message_id, '') = $3 AND content_hash = $4",
    )
    .bind(org.0)
    .bind(email.mailbox.0)
    .bind(email.email_message_id.as_deref().unwrap_or(""))
    .bind(&email.content_hash)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((id, conversation)) = stored {
        return Ok(EmailAccepted::only(EmailOutcome::Duplicate {
            message_id: MessageId(id),
            conversation_id: ConversationId(conversation),
        }));
    }

    // Mail from one of our own addresses is a loop — unless a person's message was sent in our
    // name with their address to answer (a website's contact form): then they are the sender.
    let mut sender = &email.from;
    if is_own_address(tx, org, email.from.email.as_str()).await? {
        let on_behalf = match &email.reply_to {
            Some(r) if !email.automatic && !is_own_address(tx, org, r.email.as_str()).await? => Some(r),
            _ => None,
        };
        match on_behalf {
            Some(person) => sender = person,
            None => {
                return Ok(EmailAccepted::only(EmailOutcome::Ignored {
                    reason: format!("mail from the organisation's own mailbox {} (a loop)", email.from.email),
                }))
            }
        }
    }

    let contact = upsert_contact(tx, org, sender.email.as_str(), sender.name.as_deref()).await?;
    if email.capped {
        let recent: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages WHERE organization_id = $1 AND contact_id = $2 \
             AND created_at > now() - interval '1 hour' AND metadata->'automatic'->>'kind' IN ('auto_replied', 'auto_generated')",
        )
        .bind(org.0)
        .bind(contact)
        .fetch_one(&mut **tx)
        .await?;
        if recent >= AUTOMATIC_PER_SENDER_PER_HOUR {
            return Ok(EmailAccepted::only(EmailOutcome::Ignored {
                reason: format!(
                    "automatic mail from this sender is over its cap ({AUTOMATIC_PER_SENDER_PER_HOUR} an hour)"
                ),
            }));
        }
    }

    let thread = find_thread(tx, org, email, contact).await?;
    let reopen_cutoff = Utc::now() - chrono::Duration::days(i64::from(email.reopen_days));
    let thread = thread.filter(|t| !(t.status == "resolved" && t.resolved_at.is_some_and(|at| at < reopen_cutoff)));
    if let (true, Some(t)) = (email.capped, &thread) {
        let today: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM messages WHERE organization_id = $1 AND conversation_id = $2 \
             AND created_at > now() - interval '1 day' AND metadata->'automatic'->>'kind' IN ('auto_replied', 'auto_generated')",
        )
        .bind(org.0)
        .bind(t.id)
        .fetch_one(&mut **tx)
        .await?;
        if today >= AUTOMATIC_PER_CONVERSATION_PER_DAY {
            return Ok(EmailAccepted::only(EmailOutcome::Ignored {
                reason: format!(
                    "automatic mail in this conversation is over its cap ({AUTOMATIC_PER_CONVERSATION_PER_DAY} a day)"
                ),
            }));
        }
    }

    let conversation = match &thread {
        // Automatic mail joins its thread without reopening it: an out-of-office answer to our
        // last reply must not put a resolved conversation back in the queue.
        Some(t) if email.automatic => {
            sqlx::query("UPDATE conversations SET updated_at = now() WHERE organization_id = $1 AND id = $2")
                .bind(org.0)
                .bind(t.id)
                .execute(&mut **tx)
                .await?;
            t.id
        }
        Some(t) => {
            sqlx::query(
                "UPDATE conversations SET last_message_at = now(), updated_at = now(), status = 'open', \
                 snoozed_until = NULL WHERE organization_id = $1 AND id = $2",
            )
            .bind(org.0)
            .bind(t.id)
            .execute(&mut **tx)
            .await?;
            t.id
        }
        None => {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO conversations (id, organization_id, contact_id, channel, subject) \
                 VALUES ($1, $2, $3, 'email', $4)",
            )
            .bind(id)
            .bind(org.0)
            .bind(contact)
            .bind(email.subject.as_deref())
            .execute(&mut **tx)
            .await?;
            id
        }
    };

    let message = Uuid::now_v7();
    let mut metadata = email.metadata.clone();
    metadata.insert("mailbox_id".into(), serde_json::json!(email.mailbox.0));
    sqlx::query(
        "INSERT INTO messages (id, organization_id, conversation_id, direction, channel, contact_id, subject, body, \
         headers, metadata, mailbox_id, email_message_id, content_hash, raw_key, stripped_text, html) \
         VALUES ($1, $2, $3, 'inbound', 'email', $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(message)
    .bind(org.0)
    .bind(conversation)
    .bind(contact)
    .bind(email.subject.as_deref())
    .bind(&email.body)
    .bind(&email.headers)
    .bind(sqlx::types::Json(&metadata))
    .bind(email.mailbox.0)
    .bind(email.email_message_id.as_deref())
    .bind(&email.content_hash)
    .bind(&email.raw_key)
    .bind(&email.stripped_text)
    .bind(email.html.as_deref())
    .execute(&mut **tx)
    .await?;

    add_participant(tx, org, conversation, contact, "from").await?;
    for cc in &email.cc {
        if cc.email == sender.email || cc.email == email.from.email {
            continue;
        }
        if !is_own_address(tx, org, cc.email.as_str()).await? {
            let id = upsert_contact(tx, org, cc.email.as_str(), cc.name.as_deref()).await?;
            add_participant(tx, org, conversation, id, "cc").await?;
        }
    }

    for a in &email.attachments {
        sqlx::query(
            "INSERT INTO message_attachments (id, organization_id, message_id, filename, content_type, size_bytes, \
             content_id, inline, tnef, sha256, storage_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(message)
        .bind(a.filename.as_deref())
        .bind(&a.content_type)
        .bind(i64::try_from(a.size_bytes).unwrap_or(i64::MAX))
        .bind(a.content_id.as_deref())
        .bind(a.inline)
        .bind(a.tnef)
        .bind(&a.sha256)
        .bind(a.storage_key.as_deref())
        .execute(&mut **tx)
        .await?;
    }

    if let Some(bounce) = &email.bounce {
        // Only a report about a message of ours, and only for the people of that conversation:
        // a forged report must not put a stranger's address on the list.
        let failures: Vec<_> = if bounce.about_our_message {
            let people: Vec<String> = sqlx::query_scalar(
                "SELECT ct.email FROM contacts ct WHERE ct.organization_id = $1 AND (ct.id = (SELECT contact_id FROM \
                 conversations WHERE organization_id = $1 AND id = $2) OR ct.id IN (SELECT contact_id FROM \
                 conversation_participants WHERE organization_id = $1 AND conversation_id = $2))",
            )
            .bind(org.0)
            .bind(conversation)
            .fetch_all(&mut **tx)
            .await?;
            bounce.permanent_failures.iter().filter(|(a, _)| people.iter().any(|p| p == a.as_str())).collect()
        } else {
            Vec::new()
        };
        for (address, detail) in &failures {
            sqlx::query(
                "INSERT INTO email_suppressions (organization_id, address, reason, detail) VALUES ($1, $2, 'bounce', $3) \
                 ON CONFLICT (organization_id, address) DO UPDATE SET detail = EXCLUDED.detail",
            )
            .bind(org.0)
            .bind(address.as_str())
            .bind(detail)
            .execute(&mut **tx)
            .await?;
        }
        let failed: Vec<&str> = failures.iter().map(|(a, _)| a.as_str()).collect();
        event(
            tx,
            org,
            "message.bounced",
            conversation,
            message,
            serde_json::json!({ "original_message_id": bounce.original_message_id, "permanent_failures": failed }),
        )
        .await?;
    }

    event(
        tx,
        org,
        "message.received",
        conversation,
        message,
        serde_json::json!({ "channel": "email", "mailbox_id": email.mailbox.0, "automatic": email.automatic }),
    )
    .await?;
    let announcement = MessageReceived {
        organization_id: org,
        message_id: MessageId(message),
        conversation_id: ConversationId(conversation),
        request_id: request_id.map(str::to_string),
    };
    let record = crate::outbox::enqueue(tx, &InboundMessagesBody::MessageReceived(announcement)).await?;
    Ok(EmailAccepted {
        outcome: EmailOutcome::Accepted {
            message_id: MessageId(message),
            conversation_id: ConversationId(conversation),
        },
        announcement: Some(record),
    })
}

struct Thread {
    id: Uuid,
    status: String,
    resolved_at: Option<DateTime<Utc>>,
}

type ThreadRow = (Uuid, String, Option<DateTime<Utc>>);

async fn find_thread(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    email: &InboundEmail,
    contact: Uuid,
) -> std::result::Result<Option<Thread>, sqlx::Error> {
    let keys = &email.thread;
    let tokens: Vec<Uuid> = keys.reply_tokens.iter().map(|c| c.0).collect();
    let ours: Vec<Uuid> = keys.our_messages.iter().map(|m| m.0).collect();
    let candidates = [
        (
            "SELECT id, status, resolved_at FROM conversations WHERE organization_id = $1 AND id = ANY($2) \
             ORDER BY last_message_at DESC LIMIT 1 FOR UPDATE",
            tokens,
        ),
        (
            "SELECT c.id, c.status, c.resolved_at FROM messages m JOIN conversations c \
             ON c.organization_id = m.organization_id AND c.id = m.conversation_id \
             WHERE m.organization_id = $1 AND m.id = ANY($2) ORDER BY m.created_at DESC LIMIT 1 FOR UPDATE OF c",
            ours,
        ),
    ];
    for (sql, ids) in candidates {
        if ids.is_empty() {
            continue;
        }
        let row: Option<ThreadRow> = sqlx::query_as(sql).bind(org.0).bind(&ids).fetch_optional(&mut **tx).await?;
        if let Some((id, status, resolved_at)) = row {
            return Ok(Some(Thread { id, status, resolved_at }));
        }
    }
    if !keys.answered_ids.is_empty() {
        // The newest stored message among those answered, in a conversation the sender takes
        // part in (senders reuse Message-IDs; a stranger's must not graft onto a thread). A bounce
        // comes from a daemon, not a participant: it threads by our own signed ids above.
        let row: Option<ThreadRow> = sqlx::query_as(
            "SELECT c.id, c.status, c.resolved_at FROM messages m JOIN conversations c \
             ON c.organization_id = m.organization_id AND c.id = m.conversation_id \
             WHERE m.organization_id = $1 AND m.email_message_id = ANY($2) \
             AND (c.contact_id = $3 OR EXISTS (SELECT 1 FROM conversation_participants p \
                  WHERE p.organization_id = c.organization_id AND p.conversation_id = c.id AND p.contact_id = $3)) \
             ORDER BY m.created_at DESC LIMIT 1 FOR UPDATE OF c",
        )
        .bind(org.0)
        .bind(&keys.answered_ids)
        .bind(contact)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((id, status, resolved_at)) = row {
            return Ok(Some(Thread { id, status, resolved_at }));
        }
    }
    if let Some(number) = keys.subject_number {
        // Only for a sender who takes part: anyone can type "[#12]" into a subject.
        let row: Option<ThreadRow> = sqlx::query_as(
            "SELECT c.id, c.status, c.resolved_at FROM conversations c WHERE c.organization_id = $1 AND c.number = $2 \
             AND (c.contact_id = $3 OR EXISTS (SELECT 1 FROM conversation_participants p \
                  WHERE p.organization_id = c.organization_id AND p.conversation_id = c.id AND p.contact_id = $3)) \
             FOR UPDATE",
        )
        .bind(org.0)
        .bind(number)
        .bind(contact)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((id, status, resolved_at)) = row {
            return Ok(Some(Thread { id, status, resolved_at }));
        }
    }
    Ok(None)
}

async fn is_own_address(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    address: &str,
) -> std::result::Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE organization_id = $1 AND address = $2 AND deleted_at IS NULL)",
    )
    .bind(org.0)
    .bind(address)
    .fetch_one(&mut **tx)
    .await
}

/// The contact with this (canonical) address, made or updated (a name given replaces none).
pub(crate) async fn upsert_contact(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    email: &str,
    name: Option<&str>,
) -> std::result::Result<Uuid, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO contacts (id, organization_id, email, name) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (organization_id, email) DO UPDATE \
           SET name = COALESCE(EXCLUDED.name, contacts.name), updated_at = now() \
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(org.0)
    .bind(email)
    .bind(name)
    .fetch_one(&mut **tx)
    .await
}

async fn add_participant(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    conversation: Uuid,
    contact: Uuid,
    role: &str,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO conversation_participants (organization_id, conversation_id, contact_id, role) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(org.0)
    .bind(conversation)
    .bind(contact)
    .bind(role)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// An append-only `events` row about a message of a conversation.
pub(crate) async fn event(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    event_type: &str,
    conversation: Uuid,
    message: Uuid,
    payload: serde_json::Value,
) -> std::result::Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (id, organization_id, event_type, conversation_id, message_id, payload) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(org.0)
    .bind(event_type)
    .bind(conversation)
    .bind(message)
    .bind(payload)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Where an email's file is kept, and what it is.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    /// `None` when the file was over its mailbox's size limit and not kept.
    pub storage_key: Option<String>,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: i64,
}

impl PgStore {
    /// One attachment of one of the organisation's messages.
    pub async fn attachment_file(
        &self,
        org: OrgId,
        message: MessageId,
        attachment: Uuid,
    ) -> Result<Option<AttachmentFile>> {
        let mut tx = self.tenant(org).await?;
        let row: Option<(Option<String>, Option<String>, String, i64)> = sqlx::query_as(
            "SELECT storage_key, filename, content_type, size_bytes FROM message_attachments \
             WHERE organization_id = $1 AND message_id = $2 AND id = $3",
        )
        .bind(org.0)
        .bind(message.0)
        .bind(attachment)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|(storage_key, filename, content_type, size_bytes)| AttachmentFile {
            storage_key,
            filename,
            content_type,
            size_bytes,
        }))
    }

    /// Where a message's raw MIME is kept: `None` for no such message, `Some(None)` for a
    /// message that did not come as email.
    pub async fn raw_message_key(&self, org: OrgId, message: MessageId) -> Result<Option<Option<String>>> {
        let mut tx = self.tenant(org).await?;
        let key: Option<Option<String>> =
            sqlx::query_scalar("SELECT raw_key FROM messages WHERE organization_id = $1 AND id = $2")
                .bind(org.0)
                .bind(message.0)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(key)
    }
}
