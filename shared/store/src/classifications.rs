use crate::{PgStore, Result};
use helpdesk_domain::{Classification, ConversationId, MessageClassified, MessageId, OrgId, QueueRecord, Urgency};
use uuid::Uuid;

/// What the AI worker needs to classify one message.
#[derive(Debug, Clone)]
pub struct MessageToClassify {
    pub conversation_id: ConversationId,
    pub channel: String,
    pub subject: Option<String>,
    pub body: String,
    /// `body` is an email's stripped text already (quotes and signature cut at ingest): the
    /// engine must not cut again.
    pub stripped: bool,
    /// The message's headers (email), names as sent.
    pub headers: Vec<(String, String)>,
    /// Earlier inbound messages from the same contact in this conversation.
    pub previous_contacts: u32,
    /// The organisation's own category model, when one is active.
    pub active_model: Option<ActiveModelRef>,
    /// A classification is stored already (a redelivered record): nothing to do.
    pub already_classified: bool,
}

/// The active version of an organisation's category model and where its files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveModelRef {
    pub version: i32,
    pub artifact_prefix: String,
}

/// Conversation, channel, subject, body, headers, earlier contacts, active model version and
/// its files.
type MessageRow =
    (Uuid, String, Option<String>, String, bool, serde_json::Value, i64, Option<i32>, Option<String>, bool);

/// Header values as stored: `{"Name": "value"}` or `{"Name": ["v1", "v2"]}`.
fn header_pairs(headers: &serde_json::Value) -> Vec<(String, String)> {
    let Some(object) = headers.as_object() else { return Vec::new() };
    object
        .iter()
        .flat_map(|(name, value)| match value {
            serde_json::Value::String(v) => vec![(name.clone(), v.clone())],
            serde_json::Value::Array(values) => {
                values.iter().filter_map(|v| v.as_str()).map(|v| (name.clone(), v.to_string())).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveClassificationOutcome {
    /// Stored now, with the outbox record of its `message.classified` event.
    Stored { announcement: QueueRecord },
    /// This model had already classified the message (a redelivered queue record).
    AlreadyClassified,
}

impl PgStore {
    pub async fn message_to_classify(&self, org: OrgId, id: MessageId) -> Result<Option<MessageToClassify>> {
        let mut tx = self.tenant(org).await?;
        let row: Option<MessageRow> = sqlx::query_as(
            "SELECT m.conversation_id, m.channel, m.subject, coalesce(m.stripped_text, m.body), m.stripped_text IS NOT NULL, m.headers, \
                    (SELECT count(*) FROM messages e WHERE e.organization_id = m.organization_id \
                        AND e.conversation_id = m.conversation_id AND e.direction = 'inbound' \
                        AND e.contact_id IS NOT DISTINCT FROM m.contact_id AND e.id < m.id), \
                    a.version, a.artifact_prefix, \
                    EXISTS (SELECT 1 FROM classifications c WHERE c.organization_id = m.organization_id \
                        AND c.message_id = m.id) \
                 FROM messages m \
                 LEFT JOIN ai_models a ON a.organization_id = m.organization_id AND a.kind = 'category' \
                    AND a.status = 'active' \
                 WHERE m.organization_id = $1 AND m.id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(
            |(conversation_id, channel, subject, body, stripped, headers, previous, version, prefix, classified)| {
                MessageToClassify {
                    conversation_id: ConversationId(conversation_id),
                    channel,
                    subject,
                    body,
                    stripped,
                    headers: header_pairs(&headers),
                    previous_contacts: previous.clamp(0, u32::MAX as i64) as u32,
                    active_model: version
                        .zip(prefix)
                        .map(|(version, artifact_prefix)| ActiveModelRef { version, artifact_prefix }),
                    already_classified: classified,
                }
            },
        ))
    }

    /// Stores a message's classification once (a redelivery finds it there). With it, in the same transaction: the
    /// message's status, the conversation's category and priority (raised, never lowered, by
    /// urgency), the append-only event, and the outbox row that announces `message.classified`.
    pub async fn save_classification(
        &self,
        org: OrgId,
        message_id: MessageId,
        conversation_id: ConversationId,
        classification: &Classification,
        latency_ms: f32,
        request_id: Option<&str>,
    ) -> Result<SaveClassificationOutcome> {
        // Everything but the columns: per-output confidences, emotions, reasons, signals, the
        // kinds of personal data found, the stage timings.
        let details = serde_json::json!({
            "sentiment_confidence": classification.sentiment_confidence,
            "emotions": classification.emotions,
            "language_confidence": classification.language_confidence,
            "urgency_reasons": classification.urgency_reasons,
            "signals": classification.signals,
            "pii": classification.pii,
            "stage_ms": classification.stage_ms,
            "llm": classification.llm,
        });
        let mut tx = self.tenant(org).await?;
        let inserted = sqlx::query(
            "INSERT INTO classifications (id, organization_id, message_id, category, confidence, sentiment_label, \
             sentiment_score, language, urgency, model_id, model_version, latency_ms, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (organization_id, message_id) DO NOTHING",
        )
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(message_id.0)
        .bind(&classification.category)
        .bind(classification.confidence)
        .bind(classification.sentiment.as_str())
        .bind(classification.sentiment_score)
        .bind(&classification.language)
        .bind(classification.urgency.as_str())
        .bind(&classification.model.id)
        .bind(&classification.model.version)
        .bind(latency_ms)
        .bind(details)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            return Ok(SaveClassificationOutcome::AlreadyClassified);
        }

        sqlx::query(
            "UPDATE messages SET status = 'classified' WHERE organization_id = $1 AND id = $2 AND status = 'received'",
        )
        .bind(org.0)
        .bind(message_id.0)
        .execute(&mut *tx)
        .await?;
        let priority = match classification.urgency {
            Urgency::Low | Urgency::Normal => None,
            Urgency::High => Some("high"),
            Urgency::Urgent => Some("urgent"),
        };
        // The conversation shows the category of its latest inbound message: a message classified
        // late (a redelivery, a retry) does not overwrite a newer one's.
        sqlx::query(
            "UPDATE conversations c SET updated_at = now(), \
             category = CASE WHEN EXISTS (SELECT 1 FROM messages m WHERE m.organization_id = c.organization_id \
                 AND m.conversation_id = c.id AND m.direction = 'inbound' AND m.id > $5) \
                 THEN c.category ELSE $3 END, \
             priority = CASE \
                WHEN $4::text = 'urgent' THEN 'urgent' \
                WHEN $4::text = 'high' AND c.priority IN ('low', 'normal') THEN 'high' \
                ELSE c.priority END \
             WHERE c.organization_id = $1 AND c.id = $2",
        )
        .bind(org.0)
        .bind(conversation_id.0)
        .bind(classification.effective_category())
        .bind(priority)
        .bind(message_id.0)
        .execute(&mut *tx)
        .await?;

        let event = MessageClassified {
            event_type: MessageClassified::TYPE.to_string(),
            organization_id: org,
            message_id,
            conversation_id,
            // What workflows act on: the LLM's category when one was asked.
            category: classification.effective_category().to_string(),
            confidence: classification.confidence,
            sentiment: classification.sentiment.as_str().to_string(),
            urgency: classification.urgency.as_str().to_string(),
            language: classification.language.clone(),
            occurred_at: chrono::Utc::now(),
            request_id: request_id.map(str::to_string),
        };
        sqlx::query(
            "INSERT INTO events (id, organization_id, event_type, conversation_id, message_id, payload) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(MessageClassified::TYPE)
        .bind(conversation_id.0)
        .bind(message_id.0)
        .bind(sqlx::types::Json(&event))
        .execute(&mut *tx)
        .await?;
        let announcement = crate::outbox::enqueue(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(SaveClassificationOutcome::Stored { announcement })
    }

    /// Number of automatic classifications stored for a message (tests prove there is one).
    pub async fn classification_count(&self, org: OrgId, message_id: MessageId) -> Result<i64> {
        let mut tx = self.tenant(org).await?;
        let count =
            sqlx::query_scalar("SELECT count(*) FROM classifications WHERE organization_id = $1 AND message_id = $2")
                .bind(org.0)
                .bind(message_id.0)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(count)
    }
}
