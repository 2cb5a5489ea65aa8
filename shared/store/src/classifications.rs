use crate::{PgStore, Result};
use helpdesk_domain::{
    Classification, ConversationId, MessageClassified, MessageId, OrgId, Queue, QueueRecord, Urgency,
};
use uuid::Uuid;

/// What the AI worker needs to classify one message.
#[derive(Debug, Clone)]
pub struct MessageToClassify {
    pub conversation_id: ConversationId,
    pub subject: Option<String>,
    pub body: String,
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
        let row: Option<(Uuid, Option<String>, String)> = sqlx::query_as(
            "SELECT conversation_id, subject, body FROM messages WHERE organization_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|(conversation_id, subject, body)| MessageToClassify {
            conversation_id: ConversationId(conversation_id),
            subject,
            body,
        }))
    }

    /// Stores a classification once per message and model. With it, in the same transaction: the
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
        let mut tx = self.tenant(org).await?;
        let inserted = sqlx::query(
            "INSERT INTO classifications (id, organization_id, message_id, category, confidence, sentiment_label, \
             sentiment_score, language, urgency, model_id, latency_ms, details) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (organization_id, message_id, model_id) DO NOTHING",
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
        .bind(&classification.model_id)
        .bind(latency_ms)
        .bind(serde_json::json!({ "urgency_reasons": classification.urgency_reasons }))
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
        .bind(&classification.category)
        .bind(priority)
        .bind(message_id.0)
        .execute(&mut *tx)
        .await?;

        let event = MessageClassified {
            event_type: MessageClassified::TYPE.to_string(),
            organization_id: org,
            message_id,
            conversation_id,
            category: classification.category.clone(),
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
        let announcement = crate::outbox::enqueue(&mut tx, org, Queue::Events, &event).await?;
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
