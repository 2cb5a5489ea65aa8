//! Reply drafts (the `responses` table), agents' replies, and resolved conversations' replies as
//! retrieval passages.

use crate::{PgStore, Result};
use chrono::{DateTime, Utc};
use helpdesk_domain::{ConversationResolved, KbIndexingBody, OrgId, QueueRecord, UserId};
use serde::Serialize;
use sqlx::types::Json;
use uuid::Uuid;

/// A draft as stored: what wrote it, what it cites, the gates it failed, what the agent did.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DraftRecord {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// The customer message it answers.
    pub message_id: Option<Uuid>,
    pub body: String,
    /// ISO 639-3.
    pub language: Option<String>,
    /// The articles and past replies it is grounded in.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub sources: Json<serde_json::Value>,
    /// `openai`, `anthropic`, … or `local`.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub confidence: Option<f32>,
    /// `draft` (passed every gate), `blocked` (failed one: never sent as is), then `accepted`,
    /// `edited`, `rejected` or `sent`.
    pub status: String,
    /// The gates it failed (`[]` when none).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<Object>))]
    pub gates: Json<serde_json::Value>,
    pub latency_ms: Option<i32>,
    /// Why the local engine wrote it (`not_allowed`, `no_provider`, `over_budget`, `failed`).
    pub fallback_reason: Option<String>,
    /// What the agent sent, when they edited it.
    pub final_body: Option<String>,
    pub created_at: DateTime<Utc>,
    pub feedback_at: Option<DateTime<Utc>>,
}

const DRAFT_COLUMNS: &str = "id, conversation_id, message_id, body, language, sources, provider, model, confidence, \
    status, gates, latency_ms, fallback_reason, final_body, created_at, feedback_at";

#[derive(Debug, Clone)]
pub struct NewDraft {
    pub conversation_id: Uuid,
    pub message_id: Option<Uuid>,
    pub body: String,
    pub language: String,
    pub sources: serde_json::Value,
    pub provider: String,
    pub model: Option<String>,
    pub confidence: f32,
    pub gates: serde_json::Value,
    pub latency_ms: i32,
    pub fallback_reason: Option<String>,
    pub created_by: Option<UserId>,
}

/// What the agent did with a draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DraftOutcome {
    Accepted,
    Edited,
    Rejected,
}

impl DraftOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Edited => "edited",
            Self::Rejected => "rejected",
        }
    }
}

#[derive(Debug)]
pub enum FeedbackOutcome {
    Recorded(Box<DraftRecord>),
    NoSuchDraft,
    /// The draft already has feedback, or it was blocked and cannot be accepted as it is.
    Conflict {
        status: String,
    },
}

/// Draft figures since a date.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DraftMetrics {
    pub generated: i64,
    /// Failed a quality gate.
    pub blocked: i64,
    pub accepted: i64,
    pub edited: i64,
    pub rejected: i64,
    /// (accepted + edited) / drafts with feedback.
    pub acceptance_rate: Option<f64>,
    /// Drafts by who wrote them (`local` or a provider), with their own acceptance.
    pub by_provider: Vec<DraftProviderFigures>,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DraftProviderFigures {
    pub provider: String,
    pub generated: i64,
    pub accepted: i64,
    pub edited: i64,
    pub rejected: i64,
}

/// An agent's reply to a conversation.
#[derive(Debug, Clone)]
pub struct NewReply {
    pub conversation_id: Uuid,
    pub body: String,
    pub author: Option<UserId>,
    /// The draft it was written from: recorded as accepted (sent as drafted) or edited.
    pub draft_id: Option<Uuid>,
    /// Resolve the conversation with it (its replies then become retrieval passages).
    pub resolve: bool,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyRecord {
    pub id: Uuid,
    pub conversation_id: Uuid,
    /// `queued`: stored; sending comes with the outbound mail function.
    pub status: String,
    /// The conversation's status after the reply.
    pub conversation_status: String,
    /// What the draft it came from was recorded as (`accepted` or `edited`).
    pub draft_outcome: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum ReplyOutcome {
    Recorded(ReplyRecord, Vec<QueueRecord>),
    NoSuchConversation,
    NoSuchDraft,
    /// The draft was blocked by a gate and sent unchanged, or already had feedback.
    DraftConflict {
        status: String,
    },
}

/// A resolved conversation's agent replies, to index.
#[derive(Debug, Clone)]
pub struct ResolvedReplies {
    pub subject: Option<String>,
    pub contact_name: Option<String>,
    /// The customer's language (of the conversation's latest classified message), ISO 639-3.
    pub language: Option<String>,
    /// (message id, body, the customer message it answered), oldest first.
    pub replies: Vec<(Uuid, String, Option<String>)>,
}

/// One reply passage to store.
#[derive(Debug, Clone)]
pub struct ReplyPassage {
    pub message_id: Uuid,
    pub ordinal: i32,
    pub heading: String,
    pub content: String,
    pub language: String,
    pub embedding: Vec<f32>,
}

impl PgStore {
    pub async fn save_draft(&self, org: OrgId, draft: &NewDraft) -> Result<DraftRecord> {
        let mut tx = self.tenant(org).await?;
        let status = if draft.gates.as_array().is_some_and(|g| !g.is_empty()) { "blocked" } else { "draft" };
        let record = sqlx::query_as(&format!(
            "INSERT INTO responses (id, organization_id, conversation_id, message_id, body, language, sources, provider, \
                 model, confidence, status, gates, latency_ms, fallback_reason, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {DRAFT_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(draft.conversation_id)
        .bind(draft.message_id)
        .bind(&draft.body)
        .bind(&draft.language)
        .bind(Json(&draft.sources))
        .bind(&draft.provider)
        .bind(&draft.model)
        .bind(draft.confidence)
        .bind(status)
        .bind(Json(&draft.gates))
        .bind(draft.latency_ms)
        .bind(&draft.fallback_reason)
        .bind(draft.created_by.map(|u| u.0))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    pub async fn draft(&self, org: OrgId, id: Uuid) -> Result<Option<DraftRecord>> {
        let mut tx = self.tenant(org).await?;
        let record =
            sqlx::query_as(&format!("SELECT {DRAFT_COLUMNS} FROM responses WHERE organization_id = $1 AND id = $2"))
                .bind(org.0)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Records what the agent did with a draft (once). An accepted or edited draft confirms the
    /// category of the message it answered as a training example, unless an agent has given
    /// that message a verdict of their own.
    pub async fn record_draft_feedback(
        &self,
        org: OrgId,
        id: Uuid,
        outcome: DraftOutcome,
        final_body: Option<&str>,
        by: Option<UserId>,
    ) -> Result<FeedbackOutcome> {
        let mut tx = self.tenant(org).await?;
        let outcome = feedback_in(&mut tx, org, id, outcome, final_body, by).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Drafts made since `since`: volumes, what agents did with them, latency.
    pub async fn draft_metrics(&self, org: OrgId, since: DateTime<Utc>) -> Result<DraftMetrics> {
        let mut tx = self.tenant(org).await?;
        let totals: (i64, i64, Option<f64>, Option<f64>) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE gates <> '[]'::jsonb), \
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::float8, \
                 percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::float8 \
             FROM responses WHERE organization_id = $1 AND created_at >= $2",
        )
        .bind(org.0)
        .bind(since)
        .fetch_one(&mut *tx)
        .await?;
        let by_provider: Vec<DraftProviderFigures> = sqlx::query_as(
            "SELECT coalesce(provider, 'agent') AS provider, count(*) AS generated, \
                 count(*) FILTER (WHERE status = 'accepted') AS accepted, \
                 count(*) FILTER (WHERE status = 'edited') AS edited, \
                 count(*) FILTER (WHERE status = 'rejected') AS rejected \
             FROM responses WHERE organization_id = $1 AND created_at >= $2 \
             GROUP BY 1 ORDER BY 2 DESC, 1",
        )
        .bind(org.0)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let (accepted, edited, rejected) =
            by_provider.iter().fold((0, 0, 0), |(a, e, r), p| (a + p.accepted, e + p.edited, r + p.rejected));
        let judged = accepted + edited + rejected;
        Ok(DraftMetrics {
            generated: totals.0,
            blocked: totals.1,
            accepted,
            edited,
            rejected,
            acceptance_rate: (judged > 0).then(|| (accepted + edited) as f64 / judged as f64),
            by_provider,
            latency_ms_p50: totals.2,
            latency_ms_p95: totals.3,
        })
    }

    /// Stores an agent's reply (and the draft's feedback, and the resolution) in one
    /// transaction; resolving announces the conversation on `kb-indexing`.
    pub async fn record_reply(&self, org: OrgId, reply: &NewReply) -> Result<ReplyOutcome> {
        let mut tx = self.tenant(org).await?;
        let conversation: Option<(String, String)> = sqlx::query_as(
            "SELECT status, channel FROM conversations WHERE organization_id = $1 AND id = $2 FOR UPDATE",
        )
        .bind(org.0)
        .bind(reply.conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((status, channel)) = conversation else {
            return Ok(ReplyOutcome::NoSuchConversation);
        };
        let mut draft_outcome = None;
        if let Some(draft_id) = reply.draft_id {
            let drafted: Option<String> = sqlx::query_scalar(
                "SELECT body FROM responses WHERE organization_id = $1 AND id = $2 AND conversation_id = $3",
            )
            .bind(org.0)
            .bind(draft_id)
            .bind(reply.conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(body) = drafted else {
                return Ok(ReplyOutcome::NoSuchDraft);
            };
            let outcome = if body.trim() == reply.body.trim() { DraftOutcome::Accepted } else { DraftOutcome::Edited };
            let final_body = (outcome == DraftOutcome::Edited).then_some(reply.body.as_str());
            match feedback_in(&mut tx, org, draft_id, outcome, final_body, reply.author).await? {
                FeedbackOutcome::Recorded(_) => draft_outcome = Some(outcome.as_str().to_string()),
                FeedbackOutcome::NoSuchDraft => return Ok(ReplyOutcome::NoSuchDraft),
                FeedbackOutcome::Conflict { status } => return Ok(ReplyOutcome::DraftConflict { status }),
            }
        }
        let id = Uuid::now_v7();
        let created_at: DateTime<Utc> = sqlx::query_scalar(
            "INSERT INTO messages (id, organization_id, conversation_id, direction, channel, author_user_id, body, status, metadata) \
             VALUES ($1, $2, $3, 'outbound', $4, $5, $6, 'queued', $7) RETURNING created_at",
        )
        .bind(id)
        .bind(org.0)
        .bind(reply.conversation_id)
        .bind(&channel)
        .bind(reply.author.map(|u| u.0))
        .bind(&reply.body)
        .bind(Json(serde_json::json!({ "draft_id": reply.draft_id })))
        .fetch_one(&mut *tx)
        .await?;
        let new_status = if reply.resolve {
            "resolved"
        } else if status == "open" {
            "pending"
        } else {
            status.as_str()
        };
        sqlx::query(
            "UPDATE conversations SET status = $3, last_message_at = $4, updated_at = now() \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(reply.conversation_id)
        .bind(new_status)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        let mut records = Vec::new();
        if reply.resolve && status != "resolved" {
            let resolved = ConversationResolved {
                organization_id: org,
                conversation_id: reply.conversation_id,
                request_id: reply.request_id.clone(),
            };
            records.push(crate::outbox::enqueue(&mut tx, &KbIndexingBody::ConversationResolved(resolved)).await?);
        }
        tx.commit().await?;
        Ok(ReplyOutcome::Recorded(
            ReplyRecord {
                id,
                conversation_id: reply.conversation_id,
                status: "queued".into(),
                conversation_status: new_status.to_string(),
                draft_outcome,
                created_at,
            },
            records,
        ))
    }

    /// A resolved conversation's agent replies (`None` when it is not resolved, or gone).
    pub async fn resolved_replies(&self, org: OrgId, conversation_id: Uuid) -> Result<Option<ResolvedReplies>> {
        let mut tx = self.tenant(org).await?;
        let conversation: Option<(Option<String>, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT c.subject, ct.name, (SELECT cl.language FROM classifications cl JOIN messages m \
                 ON m.organization_id = cl.organization_id AND m.id = cl.message_id \
                 WHERE m.organization_id = c.organization_id AND m.conversation_id = c.id \
                 ORDER BY m.created_at DESC LIMIT 1) \
             FROM conversations c JOIN contacts ct ON ct.organization_id = c.organization_id AND ct.id = c.contact_id \
             WHERE c.organization_id = $1 AND c.id = $2 AND c.status = 'resolved'",
        )
        .bind(org.0)
        .bind(conversation_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((subject, contact_name, language)) = conversation else {
            return Ok(None);
        };
        let replies: Vec<(Uuid, String, Option<String>)> = sqlx::query_as(
            "SELECT m.id, m.body, (SELECT q.body FROM messages q WHERE q.organization_id = m.organization_id \
                     AND q.conversation_id = m.conversation_id AND q.direction = 'inbound' \
                     AND (q.created_at, q.id) < (m.created_at, m.id) ORDER BY q.created_at DESC, q.id DESC LIMIT 1) \
             FROM messages m WHERE m.organization_id = $1 AND m.conversation_id = $2 \
                 AND m.direction = 'outbound' ORDER BY m.created_at, m.id",
        )
        .bind(org.0)
        .bind(conversation_id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(ResolvedReplies { subject, contact_name, language, replies }))
    }

    /// Makes the conversation's reply passages these (re-indexing replaces them).
    pub async fn index_replies(&self, org: OrgId, conversation_id: Uuid, passages: &[ReplyPassage]) -> Result<usize> {
        let mut tx = self.tenant(org).await?;
        sqlx::query(
            "DELETE FROM kb_chunks k USING messages m WHERE k.organization_id = $1 AND k.source = 'reply' \
                 AND m.organization_id = k.organization_id AND m.id = k.message_id AND m.conversation_id = $2",
        )
        .bind(org.0)
        .bind(conversation_id)
        .execute(&mut *tx)
        .await?;
        for passage in passages {
            sqlx::query(
                "INSERT INTO kb_chunks (id, organization_id, source, message_id, ordinal, heading, content, language, \
                     published, embedding) \
                 VALUES ($1, $2, 'reply', $3, $4, $5, $6, $7, true, $8::vector)",
            )
            .bind(Uuid::now_v7())
            .bind(org.0)
            .bind(passage.message_id)
            .bind(passage.ordinal)
            .bind(&passage.heading)
            .bind(&passage.content)
            .bind(&passage.language)
            .bind(crate::kb::vector_literal(&passage.embedding))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(passages.len())
    }
}

async fn feedback_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    org: OrgId,
    id: Uuid,
    outcome: DraftOutcome,
    final_body: Option<&str>,
    by: Option<UserId>,
) -> Result<FeedbackOutcome> {
    let current: Option<(String, Option<Uuid>)> =
        sqlx::query_as("SELECT status, message_id FROM responses WHERE organization_id = $1 AND id = $2 FOR UPDATE")
            .bind(org.0)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
    let Some((status, message_id)) = current else {
        return Ok(FeedbackOutcome::NoSuchDraft);
    };
    let open = status == "draft" || (status == "blocked" && outcome != DraftOutcome::Accepted);
    if !open {
        return Ok(FeedbackOutcome::Conflict { status });
    }
    let record: DraftRecord = sqlx::query_as(&format!(
        "UPDATE responses SET status = $3, final_body = $4, feedback_by = $5, feedback_at = now(), updated_at = now() \
         WHERE organization_id = $1 AND id = $2 RETURNING {DRAFT_COLUMNS}"
    ))
    .bind(org.0)
    .bind(id)
    .bind(outcome.as_str())
    .bind(final_body)
    .bind(by.map(|u| u.0))
    .fetch_one(&mut **tx)
    .await?;
    if outcome != DraftOutcome::Rejected {
        if let Some(message_id) = message_id {
            sqlx::query(
                "INSERT INTO training_data (id, organization_id, message_id, subject, text, channel, label, source, created_by) \
                 SELECT $1, m.organization_id, m.id, m.subject, m.body, m.channel, \
                     coalesce(cl.corrected_category, cl.details->'llm'->>'category', cl.category), 'draft_feedback', $4 \
                 FROM messages m JOIN classifications cl ON cl.organization_id = m.organization_id AND cl.message_id = m.id \
                 WHERE m.organization_id = $2 AND m.id = $3 AND m.direction = 'inbound' \
                 ORDER BY cl.created_at DESC LIMIT 1 \
                 ON CONFLICT (organization_id, message_id) WHERE source IN ('confirmation', 'correction', 'draft_feedback') \
                 DO NOTHING",
            )
            .bind(Uuid::now_v7())
            .bind(org.0)
            .bind(message_id)
            .bind(by.map(|u| u.0))
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(FeedbackOutcome::Recorded(Box::new(record)))
}
