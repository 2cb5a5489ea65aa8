use crate::records::{ConversationRecord, ConversationSummary, MessageRecord};
use crate::{PgStore, Result};
use chrono::{DateTime, Utc};
use helpdesk_domain::{
    ConversationId, ConversationStatus, InboundMessage, InboundMessagesBody, MessageId, MessageReceived, OrgId,
    QueueRecord, UserId,
};
use sqlx::{Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

/// A client's `Idempotency-Key` and a fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// Whose key it is (`Principal::key`: `user:<id>` or `key:<id>`): keys are scoped to the
    /// caller within the organisation.
    pub principal: String,
    pub key: String,
    pub request_hash: String,
}

/// What `accept_inbound` stored (or had stored before).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AcceptedMessage {
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub id: MessageId,
    #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
    pub conversation_id: ConversationId,
    pub status: String,
    /// The outbox record announcing the message, to relay after commit; `None` when nothing new
    /// was stored.
    #[serde(skip)]
    #[cfg_attr(feature = "openapi", schema(ignore))]
    pub announcement: Option<QueueRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcceptOutcome {
    /// Stored now.
    Created(AcceptedMessage),
    /// The same idempotency key (or channel `external_id`) was seen before with the same request.
    Replayed(AcceptedMessage),
    /// The idempotency key was used before for a different request.
    KeyReused,
}

/// Filters of the conversation list; all optional.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub category: Option<String>,
    pub assignee: Option<UserId>,
    /// Keyset cursor: rows strictly older than this (last_message_at, id).
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

impl PgStore {
    /// Stores an inbound message durably: the contact, its conversation, the message, a
    /// `message.received` event and the outbox row that will put it on `inbound-messages`, in
    /// one transaction. Nothing is stored when the request repeats an earlier one.
    pub async fn accept_inbound(
        &self,
        org: OrgId,
        msg: &InboundMessage,
        idempotency: Option<&IdempotencyKey>,
        request_id: Option<&str>,
    ) -> Result<AcceptOutcome> {
        loop {
            let mut tx = self.tenant(org).await?;
            if let Some(found) = find_repeat(&mut tx, org, msg, idempotency).await? {
                return Ok(found);
            }
            match insert_inbound(&mut tx, org, msg, idempotency, request_id).await {
                Ok(accepted) => {
                    tx.commit().await?;
                    return Ok(AcceptOutcome::Created(accepted));
                }
                // A concurrent request with the same key or external id won the race: roll back
                // and answer from what it stored.
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && is_repeat_index(e.constraint()) => {
                    drop(tx);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// One message of the organisation, with its classification when there is one.
    pub async fn get_message(&self, org: OrgId, id: MessageId) -> Result<Option<MessageRecord>> {
        let mut tx = self.tenant(org).await?;
        let message =
            sqlx::query_as::<_, MessageRecord>(&format!("{MESSAGE_SELECT} WHERE m.organization_id = $1 AND m.id = $2"))
                .bind(org.0)
                .bind(id.0)
                .fetch_optional(&mut *tx)
                .await?;
        let mut messages: Vec<MessageRecord> = message.into_iter().collect();
        with_attachments(&mut tx, org, &mut messages).await?;
        tx.commit().await?;
        Ok(messages.pop())
    }

    /// Conversations of the organisation, newest activity first, keyset-paginated.
    pub async fn list_conversations(
        &self,
        org: OrgId,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationSummary>> {
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT c.id, c.contact_id, ct.email AS contact_email, ct.name AS contact_name, c.channel, c.subject, \
             c.status, c.priority, c.assignee_id, c.tags, c.category, c.last_message_at, c.created_at, \
             (SELECT count(*) FROM messages m WHERE m.organization_id = c.organization_id AND m.conversation_id = c.id) AS message_count \
             FROM conversations c JOIN contacts ct ON ct.organization_id = c.organization_id AND ct.id = c.contact_id \
             WHERE c.organization_id = ",
        );
        q.push_bind(org.0);
        if let Some(status) = filter.status {
            q.push(" AND c.status = ").push_bind(status.as_str());
        }
        if let Some(category) = &filter.category {
            q.push(" AND c.category = ").push_bind(category.clone());
        }
        if let Some(assignee) = filter.assignee {
            q.push(" AND c.assignee_id = ").push_bind(assignee.0);
        }
        if let Some((at, id)) = filter.before {
            q.push(" AND (c.last_message_at, c.id) < (").push_bind(at).push(", ").push_bind(id).push(")");
        }
        q.push(" ORDER BY c.last_message_at DESC, c.id DESC LIMIT ").push_bind(filter.limit);
        let mut tx = self.tenant(org).await?;
        let page = q.build_query_as::<ConversationSummary>().fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(page)
    }

    /// One conversation with its messages, oldest first.
    pub async fn get_conversation(
        &self,
        org: OrgId,
        id: ConversationId,
    ) -> Result<Option<(ConversationRecord, Vec<MessageRecord>)>> {
        let mut tx = self.tenant(org).await?;
        let conversation = sqlx::query_as::<_, ConversationRecord>(
            "SELECT c.id, c.contact_id, ct.email AS contact_email, ct.name AS contact_name, c.channel, c.subject, \
             c.status, c.priority, c.assignee_id, c.tags, c.category, c.snoozed_until, c.last_message_at, c.created_at, c.updated_at \
             FROM conversations c JOIN contacts ct ON ct.organization_id = c.organization_id AND ct.id = c.contact_id \
             WHERE c.organization_id = $1 AND c.id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(conversation) = conversation else {
            return Ok(None);
        };
        let messages = sqlx::query_as::<_, MessageRecord>(&format!(
            "{MESSAGE_SELECT} WHERE m.organization_id = $1 AND m.conversation_id = $2 ORDER BY m.created_at, m.id"
        ))
        .bind(org.0)
        .bind(id.0)
        .fetch_all(&mut *tx)
        .await?;
        let mut messages = messages;
        with_attachments(&mut tx, org, &mut messages).await?;
        tx.commit().await?;
        Ok(Some((conversation, messages)))
    }

    /// How many messages the organisation has (tests use it to prove nothing was stored).
    pub async fn message_count(&self, org: OrgId) -> Result<i64> {
        let mut tx = self.tenant(org).await?;
        let count = sqlx::query_scalar("SELECT count(*) FROM messages WHERE organization_id = $1")
            .bind(org.0)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(count)
    }
}

/// The message columns plus its automatic classification.
const MESSAGE_SELECT: &str =
    "SELECT m.id, m.conversation_id, m.direction, m.channel, m.subject, m.body, m.external_id, \
     m.metadata, m.status, m.created_at, m.stripped_text, m.html, m.mailbox_id, m.email_message_id, \
     ct.email AS from_email, ct.name AS from_name, \
     cl.category AS cl_category, cl.confidence AS cl_confidence, cl.sentiment_label AS cl_sentiment_label, \
     cl.sentiment_score AS cl_sentiment_score, cl.language AS cl_language, cl.urgency AS cl_urgency, \
     cl.model_id AS cl_model_id, cl.model_version AS cl_model_version, cl.latency_ms AS cl_latency_ms, \
     cl.details AS cl_details, cl.created_at AS cl_created_at, cl.corrected_category AS cl_corrected_category, \
     cl.corrected_at AS cl_corrected_at \
     FROM messages m \
     LEFT JOIN contacts ct ON ct.organization_id = m.organization_id AND ct.id = m.contact_id \
     LEFT JOIN classifications cl ON cl.organization_id = m.organization_id AND cl.message_id = m.id";

/// Fills in each message's attachments (one query for all of them).
async fn with_attachments(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    messages: &mut [MessageRecord],
) -> std::result::Result<(), sqlx::Error> {
    let ids: Vec<Uuid> = messages.iter().filter(|m| m.channel == "email").map(|m| m.id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let rows: Vec<(Uuid, crate::records::AttachmentRecord)> = sqlx::query_as::<_, AttachmentRow>(
        "SELECT message_id, id, filename, content_type, size_bytes, content_id, inline, tnef, \
         storage_key IS NOT NULL AS kept FROM message_attachments \
         WHERE organization_id = $1 AND message_id = ANY($2) ORDER BY created_at, id",
    )
    .bind(org.0)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|r| {
        let (message, id, filename, content_type, size_bytes, content_id, inline, tnef, kept) = r;
        (
            message,
            crate::records::AttachmentRecord { id, filename, content_type, size_bytes, content_id, inline, tnef, kept },
        )
    })
    .collect();
    for (message, attachment) in rows {
        if let Some(m) = messages.iter_mut().find(|m| m.id == message) {
            m.attachments.push(attachment);
        }
    }
    Ok(())
}

type AttachmentRow = (Uuid, Uuid, Option<String>, String, i64, Option<String>, bool, bool, bool);

fn is_repeat_index(constraint: Option<&str>) -> bool {
    matches!(constraint, Some("messages_idempotency" | "messages_external_id"))
}

async fn find_repeat(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    msg: &InboundMessage,
    idempotency: Option<&IdempotencyKey>,
) -> Result<Option<AcceptOutcome>> {
    if let Some(key) = idempotency {
        let row: Option<(Uuid, Uuid, Option<String>)> = sqlx::query_as(
            "SELECT id, conversation_id, request_hash FROM messages \
             WHERE organization_id = $1 AND idempotency_principal = $2 AND idempotency_key = $3",
        )
        .bind(org.0)
        .bind(&key.principal)
        .bind(&key.key)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((id, conversation_id, hash)) = row {
            if hash.as_deref() != Some(key.request_hash.as_str()) {
                return Ok(Some(AcceptOutcome::KeyReused));
            }
            return Ok(Some(replayed(id, conversation_id)));
        }
    }
    if let Some(external_id) = &msg.external_id {
        let row: Option<(Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, conversation_id FROM messages WHERE organization_id = $1 AND channel = $2 AND external_id = $3",
        )
        .bind(org.0)
        .bind(msg.channel.as_str())
        .bind(external_id)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((id, conversation_id)) = row {
            return Ok(Some(replayed(id, conversation_id)));
        }
    }
    Ok(None)
}

/// The first answer again, to the letter: a retry learns what the original request was told
/// (the message's progress since then is what `GET /v1/messages/{id}` is for).
fn replayed(id: Uuid, conversation_id: Uuid) -> AcceptOutcome {
    AcceptOutcome::Replayed(accepted(id, conversation_id, None))
}

fn accepted(id: Uuid, conversation_id: Uuid, announcement: Option<QueueRecord>) -> AcceptedMessage {
    AcceptedMessage {
        id: MessageId(id),
        conversation_id: ConversationId(conversation_id),
        status: RECEIVED.to_string(),
        announcement,
    }
}

/// The status of a message that was just stored.
const RECEIVED: &str = "received";

async fn insert_inbound(
    tx: &mut Transaction<'_, Postgres>,
    org: OrgId,
    msg: &InboundMessage,
    idempotency: Option<&IdempotencyKey>,
    request_id: Option<&str>,
) -> std::result::Result<AcceptedMessage, sqlx::Error> {
    let contact_id = crate::email::upsert_contact(tx, org, msg.from.email.as_str(), msg.from.name.as_deref()).await?;

    // The contact's latest unresolved thread on this channel takes the message; a customer who
    // writes back reopens a pending or snoozed thread.
    let open: Option<Uuid> = sqlx::query_scalar(
        "SELECT id FROM conversations WHERE organization_id = $1 AND contact_id = $2 AND channel = $3 \
         AND status <> 'resolved' ORDER BY last_message_at DESC LIMIT 1 FOR UPDATE",
    )
    .bind(org.0)
    .bind(contact_id)
    .bind(msg.channel.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let conversation_id = match open {
        Some(id) => {
            sqlx::query(
                "UPDATE conversations SET last_message_at = now(), updated_at = now(), status = 'open', snoozed_until = NULL \
                 WHERE organization_id = $1 AND id = $2",
            )
            .bind(org.0)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            id
        }
        None => {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO conversations (id, organization_id, contact_id, channel, subject) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(org.0)
            .bind(contact_id)
            .bind(msg.channel.as_str())
            .bind(msg.subject.as_deref())
            .execute(&mut **tx)
            .await?;
            id
        }
    };

    let message_id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO messages (id, organization_id, conversation_id, direction, channel, contact_id, subject, body, \
         external_id, idempotency_key, request_hash, metadata, idempotency_principal) \
         VALUES ($1, $2, $3, 'inbound', $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(message_id)
    .bind(org.0)
    .bind(conversation_id)
    .bind(msg.channel.as_str())
    .bind(contact_id)
    .bind(msg.subject.as_deref())
    .bind(&msg.body)
    .bind(msg.external_id.as_deref())
    .bind(idempotency.map(|k| k.key.as_str()))
    .bind(idempotency.map(|k| k.request_hash.as_str()))
    .bind(sqlx::types::Json(&msg.metadata))
    .bind(idempotency.map_or("", |k| k.principal.as_str()))
    .execute(&mut **tx)
    .await?;

    let payload = serde_json::json!({ "channel": msg.channel.as_str() });
    crate::email::event(tx, org, "message.received", conversation_id, message_id, payload).await?;

    let announcement = MessageReceived {
        organization_id: org,
        message_id: MessageId(message_id),
        conversation_id: ConversationId(conversation_id),
        request_id: request_id.map(str::to_string),
    };
    let record = crate::outbox::enqueue(tx, &InboundMessagesBody::MessageReceived(announcement)).await?;

    Ok(accepted(message_id, conversation_id, Some(record)))
}
