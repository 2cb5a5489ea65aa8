//! The AI engine's records: agents' verdicts on categories (training data), the live accuracy
//! they give, training runs, and the organisation's model versions.

use crate::{PgStore, Result};
use chrono::{DateTime, Utc};
use helpdesk_domain::{
    CategoryName, MessageId, OrgId, QueueRecord, TrainingRequested, TrainingRequestsBody, UserId, Verdict,
};
use serde::Serialize;
use uuid::Uuid;

/// An agent's verdict as stored.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerdictRecord {
    pub message_id: Uuid,
    /// What the agent says the category is.
    pub category: String,
    /// What the model had said (`null`: the message was not classified yet).
    pub predicted_category: Option<String>,
    /// `confirmation` when the agent kept the model's category, else `correction`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "correction"))]
    pub verdict: Verdict,
    pub model_id: Option<String>,
    pub model_version: Option<String>,
    pub reviewed_at: DateTime<Utc>,
}

#[derive(Debug)]
pub enum VerdictOutcome {
    Recorded(VerdictRecord),
    NoSuchMessage,
    /// Only what customers send is categorised: replies and notes are not.
    NotInbound,
}

/// One verdict as the trainer reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TrainingExample {
    pub id: Uuid,
    pub subject: Option<String>,
    pub text: String,
    pub channel: Option<String>,
    pub label: String,
}

/// Live figures of one model (id and version) over a period.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelFigures {
    pub model_id: String,
    pub model_version: String,
    pub classified: i64,
    /// Classifications an agent confirmed or corrected.
    pub reviewed: i64,
    pub confirmed: i64,
    /// confirmed / reviewed (`null` before any review).
    pub accuracy: Option<f64>,
    pub mean_confidence: Option<f64>,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
}

/// Live figures of one predicted category.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CategoryFigures {
    pub category: String,
    pub predicted: i64,
    pub reviewed: i64,
    pub confirmed: i64,
    /// Of the reviewed messages the model put here, the share agents kept here.
    pub precision: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiMetrics {
    pub since: DateTime<Utc>,
    pub classified: i64,
    pub reviewed: i64,
    pub confirmed: i64,
    pub corrected: i64,
    /// The model's live accuracy: confirmed / reviewed (`null` before any review).
    pub accuracy: Option<f64>,
    pub by_model: Vec<ModelFigures>,
    pub by_category: Vec<CategoryFigures>,
    /// The organisation's own model, when one is active (else the defaults answer).
    pub active_model: Option<ModelRecord>,
    pub last_training_run: Option<TrainingRunRecord>,
    /// Reply drafts made since then and what agents did with them.
    pub drafts: crate::DraftMetrics,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelRecord {
    pub id: Uuid,
    pub version: i32,
    /// `active`, `retired` (replaced by a better one) or `rejected` (did not beat the model of
    /// its day).
    pub status: String,
    pub labels: Vec<String>,
    pub encoder: Option<String>,
    /// Held-out figures of this model and of the one it was compared with.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metrics: serde_json::Value,
    pub training_run_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub promoted_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TrainingRunRecord {
    pub id: Uuid,
    /// `api` or `schedule`.
    pub trigger: String,
    pub requested_by: Option<Uuid>,
    /// `queued`, `running`, `promoted`, `rejected`, `skipped` or `failed`.
    pub status: String,
    pub detail: Option<String>,
    pub model_version: Option<i32>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metrics: sqlx::types::Json<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// How a training run ended.
#[derive(Debug, Clone)]
pub enum RunEnd {
    Skipped(String),
    Failed(String),
    /// A model was trained; `promote` says whether it beat the model it was compared with, which
    /// was `compared_with` (the active version then, `None` for the defaults).
    Trained {
        version: i32,
        artifact_prefix: String,
        encoder: Option<String>,
        labels: Vec<String>,
        metrics: serde_json::Value,
        promote: bool,
        compared_with: Option<i32>,
    },
}

const RUN_COLUMNS: &str =
    "id, trigger, requested_by, status, detail, model_version, metrics, created_at, started_at, finished_at";

type ModelRow = (
    Uuid,
    i32,
    String,
    Vec<String>,
    Option<String>,
    serde_json::Value,
    Option<Uuid>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
);
const MODEL_COLUMNS: &str = "id, version, status, labels, encoder, metrics, training_run_id, created_at, promoted_at";

fn model_record(row: ModelRow) -> ModelRecord {
    let (id, version, status, labels, encoder, metrics, training_run_id, created_at, promoted_at) = row;
    ModelRecord { id, version, status, labels, encoder, metrics, training_run_id, created_at, promoted_at }
}

/// A message with its automatic classification, as a verdict needs it: conversation,
/// direction, channel, subject, body, predicted category, model id and version.
type MessageToJudge = (Uuid, String, String, Option<String>, String, Option<String>, Option<String>, Option<String>);

/// One lock per organisation for model versions: runs that finish together take turns.
const VERSION_LOCK: &str = "SELECT pg_advisory_xact_lock(hashtextextended('ai_models:' || $1::text, 0))";

impl PgStore {
    /// Records an agent's verdict on a message's category: the classification is marked
    /// reviewed (live accuracy), the message becomes a training example (one per message: a new
    /// verdict replaces the old), and the conversation takes the category when this is its
    /// latest inbound message.
    pub async fn record_verdict(
        &self,
        org: OrgId,
        message_id: MessageId,
        reviewer: Option<UserId>,
        category: &CategoryName,
    ) -> Result<VerdictOutcome> {
        let mut tx = self.tenant(org).await?;
        let row: Option<MessageToJudge> = sqlx::query_as(
            "SELECT m.conversation_id, m.direction, m.channel, m.subject, m.body, \
                    c.category, c.model_id, c.model_version \
                 FROM messages m LEFT JOIN classifications c \
                    ON c.organization_id = m.organization_id AND c.message_id = m.id \
                 WHERE m.organization_id = $1 AND m.id = $2 FOR UPDATE OF m",
        )
        .bind(org.0)
        .bind(message_id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((conversation_id, direction, channel, subject, body, predicted, model_id, model_version)) = row else {
            return Ok(VerdictOutcome::NoSuchMessage);
        };
        if direction != "inbound" {
            return Ok(VerdictOutcome::NotInbound);
        }
        let verdict = Verdict::of(predicted.as_deref(), category);
        let reviewed_at: DateTime<Utc> = sqlx::query_scalar(
            "UPDATE classifications SET corrected_category = $3, corrected_by = $4, corrected_at = now() \
             WHERE organization_id = $1 AND message_id = $2 RETURNING corrected_at",
        )
        .bind(org.0)
        .bind(message_id.0)
        .bind(category.as_str())
        .bind(reviewer.map(|u| u.0))
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or_else(Utc::now);
        sqlx::query(
            "INSERT INTO training_data (id, organization_id, message_id, subject, text, channel, label, source, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (organization_id, message_id) WHERE source IN ('confirmation', 'correction', 'draft_feedback') \
             DO UPDATE SET label = EXCLUDED.label, source = EXCLUDED.source, created_by = EXCLUDED.created_by, \
                subject = EXCLUDED.subject, text = EXCLUDED.text, channel = EXCLUDED.channel, updated_at = now()",
        )
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(message_id.0)
        .bind(&subject)
        .bind(&body)
        .bind(&channel)
        .bind(category.as_str())
        .bind(verdict.as_str())
        .bind(reviewer.map(|u| u.0))
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE conversations c SET category = $3, updated_at = now() \
             WHERE c.organization_id = $1 AND c.id = $2 AND NOT EXISTS (SELECT 1 FROM messages m \
                WHERE m.organization_id = c.organization_id AND m.conversation_id = c.id \
                AND m.direction = 'inbound' AND m.id > $4)",
        )
        .bind(org.0)
        .bind(conversation_id)
        .bind(category.as_str())
        .bind(message_id.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(VerdictOutcome::Recorded(VerdictRecord {
            message_id: message_id.0,
            category: category.to_string(),
            predicted_category: predicted,
            verdict,
            model_id,
            model_version,
            reviewed_at,
        }))
    }

    /// Live accuracy and volumes since `since`: classifications made since then, and the
    /// reviews among them.
    pub async fn ai_metrics(&self, org: OrgId, since: DateTime<Utc>) -> Result<AiMetrics> {
        let mut tx = self.tenant(org).await?;
        type FiguresRow = (String, String, i64, i64, i64, Option<f64>, Option<f64>, Option<f64>);
        let models: Vec<FiguresRow> = sqlx::query_as(
            "SELECT model_id, model_version, count(*), count(corrected_category), \
                count(*) FILTER (WHERE corrected_category = category), avg(confidence)::float8, \
                percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)::float8, \
                percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)::float8 \
             FROM classifications WHERE organization_id = $1 AND created_at >= $2 \
             GROUP BY model_id, model_version ORDER BY count(*) DESC, model_id, model_version",
        )
        .bind(org.0)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let categories: Vec<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT category, count(*), count(corrected_category), count(*) FILTER (WHERE corrected_category = category) \
             FROM classifications WHERE organization_id = $1 AND created_at >= $2 \
             GROUP BY category ORDER BY count(*) DESC, category",
        )
        .bind(org.0)
        .bind(since)
        .fetch_all(&mut *tx)
        .await?;
        let active_model: Option<ModelRow> = sqlx::query_as(&format!(
            "SELECT {MODEL_COLUMNS} FROM ai_models WHERE organization_id = $1 AND kind = 'category' AND status = 'active'"
        ))
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await?;
        let last_training_run: Option<TrainingRunRecord> = sqlx::query_as(&format!(
            "SELECT {RUN_COLUMNS} FROM ai_training_runs WHERE organization_id = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let drafts = self.draft_metrics(org, since).await?;

        let share = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
        let by_model: Vec<ModelFigures> = models
            .into_iter()
            .map(|(model_id, model_version, classified, reviewed, confirmed, confidence, p50, p95)| ModelFigures {
                model_id,
                model_version,
                classified,
                reviewed,
                confirmed,
                accuracy: share(confirmed, reviewed),
                mean_confidence: confidence,
                latency_ms_p50: p50,
                latency_ms_p95: p95,
            })
            .collect();
        let (classified, reviewed, confirmed) =
            by_model.iter().fold((0, 0, 0), |(a, b, c), m| (a + m.classified, b + m.reviewed, c + m.confirmed));
        Ok(AiMetrics {
            since,
            classified,
            reviewed,
            confirmed,
            corrected: reviewed - confirmed,
            accuracy: share(confirmed, reviewed),
            by_model,
            by_category: categories
                .into_iter()
                .map(|(category, predicted, reviewed, confirmed)| CategoryFigures {
                    category,
                    predicted,
                    reviewed,
                    confirmed,
                    precision: share(confirmed, reviewed),
                })
                .collect(),
            active_model: active_model.map(model_record),
            last_training_run,
            drafts,
        })
    }

    /// A training run asked for through the API, with the outbox record that hands it to the
    /// trainer (relayed after commit, or by the sweeper).
    pub async fn request_training(
        &self,
        org: OrgId,
        requested_by: Option<UserId>,
        request_id: Option<&str>,
    ) -> Result<(TrainingRunRecord, QueueRecord)> {
        let mut tx = self.tenant(org).await?;
        let run: TrainingRunRecord = sqlx::query_as(&format!(
            "INSERT INTO ai_training_runs (id, organization_id, trigger, requested_by) VALUES ($1, $2, 'api', $3) \
             RETURNING {RUN_COLUMNS}"
        ))
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(requested_by.map(|u| u.0))
        .fetch_one(&mut *tx)
        .await?;
        let request =
            TrainingRequested { organization_id: org, run_id: run.id, request_id: request_id.map(str::to_string) };
        let record = crate::outbox::enqueue(&mut tx, &TrainingRequestsBody::TrainingRequested(request)).await?;
        tx.commit().await?;
        Ok((run, record))
    }

    /// A run the schedule starts (no queue in between).
    pub async fn scheduled_training_run(&self, org: OrgId) -> Result<Uuid> {
        let mut tx = self.tenant(org).await?;
        let id = Uuid::now_v7();
        sqlx::query("INSERT INTO ai_training_runs (id, organization_id, trigger) VALUES ($1, $2, 'schedule')")
            .bind(id)
            .bind(org.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Marks a queued run as running; `false` when it is not queued (a redelivered request for a
    /// run that already ran, or one that does not exist).
    pub async fn start_training_run(&self, org: OrgId, run: Uuid) -> Result<bool> {
        let mut tx = self.tenant(org).await?;
        let started = sqlx::query(
            "UPDATE ai_training_runs SET status = 'running', started_at = now() \
             WHERE organization_id = $1 AND id = $2 AND status = 'queued'",
        )
        .bind(org.0)
        .bind(run)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(started == 1)
    }

    pub async fn training_run(&self, org: OrgId, run: Uuid) -> Result<Option<TrainingRunRecord>> {
        let mut tx = self.tenant(org).await?;
        let record = sqlx::query_as(&format!(
            "SELECT {RUN_COLUMNS} FROM ai_training_runs WHERE organization_id = $1 AND id = $2"
        ))
        .bind(org.0)
        .bind(run)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Organisations with verdicts newer than their last run (the schedule's work list).
    pub async fn organizations_due_for_training(&self, min_examples: i32, max_count: i32) -> Result<Vec<OrgId>> {
        let ids: Vec<Uuid> = sqlx::query_scalar("SELECT organizations_due_for_training($1, $2)")
            .bind(min_examples)
            .bind(max_count)
            .fetch_all(self.pool())
            .await?;
        Ok(ids.into_iter().map(OrgId).collect())
    }

    /// Every verdict of the organisation, oldest first.
    pub async fn training_examples(&self, org: OrgId) -> Result<Vec<TrainingExample>> {
        let mut tx = self.tenant(org).await?;
        let rows: Vec<TrainingExample> = sqlx::query_as(
            "SELECT id, subject, text, channel, label FROM training_data WHERE organization_id = $1 ORDER BY id",
        )
        .bind(org.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// The active model's version and files, if the organisation has one.
    pub async fn active_model(&self, org: OrgId) -> Result<Option<crate::ActiveModelRef>> {
        let mut tx = self.tenant(org).await?;
        let row: Option<(i32, String)> = sqlx::query_as(
            "SELECT version, artifact_prefix FROM ai_models \
             WHERE organization_id = $1 AND kind = 'category' AND status = 'active'",
        )
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|(version, artifact_prefix)| crate::ActiveModelRef { version, artifact_prefix }))
    }

    /// The next model version of the organisation, reserved for this run (its files go under
    /// that version before the model row exists).
    pub async fn reserve_model_version(&self, org: OrgId, run: Uuid) -> Result<i32> {
        let mut tx = self.tenant(org).await?;
        sqlx::query(VERSION_LOCK).bind(org.0).execute(&mut *tx).await?;
        let version: i32 = sqlx::query_scalar(
            "UPDATE ai_training_runs SET model_version = (SELECT coalesce(max(model_version), 0) + 1 \
                FROM ai_training_runs WHERE organization_id = $1) \
             WHERE organization_id = $1 AND id = $2 RETURNING model_version",
        )
        .bind(org.0)
        .bind(run)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    /// Ends a run. A trained model is recorded; it becomes the active one if it beat the model it
    /// was compared with and that model is still the active one (otherwise another run promoted
    /// a version meanwhile and the comparison no longer holds: the model is kept as rejected).
    /// Returns the run's final status.
    pub async fn finish_training_run(&self, org: OrgId, run: Uuid, end: RunEnd) -> Result<String> {
        let mut tx = self.tenant(org).await?;
        sqlx::query(VERSION_LOCK).bind(org.0).execute(&mut *tx).await?;
        let (status, detail, version, metrics) = match end {
            RunEnd::Skipped(why) => ("skipped", Some(why), None, serde_json::json!({})),
            RunEnd::Failed(why) => ("failed", Some(why), None, serde_json::json!({})),
            RunEnd::Trained { version, artifact_prefix, encoder, labels, metrics, promote, compared_with } => {
                let active: Option<i32> = sqlx::query_scalar(
                    "SELECT version FROM ai_models WHERE organization_id = $1 AND kind = 'category' AND status = 'active'",
                )
                .bind(org.0)
                .fetch_optional(&mut *tx)
                .await?;
                let (promote, detail) = match (promote, active == compared_with) {
                    (true, true) => (true, format!("version {version} beat the model it was compared with")),
                    (true, false) => (false, "another version was promoted while this one trained".to_string()),
                    (false, _) => (false, format!("version {version} did not beat the current model")),
                };
                if promote {
                    sqlx::query(
                        "UPDATE ai_models SET status = 'retired' \
                         WHERE organization_id = $1 AND kind = 'category' AND status = 'active'",
                    )
                    .bind(org.0)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO ai_models (id, organization_id, version, status, artifact_prefix, encoder, labels, \
                        metrics, training_run_id, promoted_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $10 THEN now() END)",
                )
                .bind(Uuid::now_v7())
                .bind(org.0)
                .bind(version)
                .bind(if promote { "active" } else { "rejected" })
                .bind(&artifact_prefix)
                .bind(&encoder)
                .bind(&labels)
                .bind(&metrics)
                .bind(run)
                .bind(promote)
                .execute(&mut *tx)
                .await?;
                (if promote { "promoted" } else { "rejected" }, Some(detail), Some(version), metrics)
            }
        };
        sqlx::query(
            "UPDATE ai_training_runs SET status = $3, detail = $4, model_version = coalesce($5, model_version), \
                metrics = $6, started_at = coalesce(started_at, now()), finished_at = now() \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(run)
        .bind(status)
        .bind(&detail)
        .bind(version)
        .bind(&metrics)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(status.to_string())
    }

    /// The organisation's model versions, newest first.
    pub async fn list_models(&self, org: OrgId) -> Result<Vec<ModelRecord>> {
        let mut tx = self.tenant(org).await?;
        let rows: Vec<ModelRow> = sqlx::query_as(&format!(
            "SELECT {MODEL_COLUMNS} FROM ai_models WHERE organization_id = $1 ORDER BY version DESC LIMIT 100"
        ))
        .bind(org.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(model_record).collect())
    }
}
