//! What the store reads back: plain serialisable records, shaped as the API shows them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};
use uuid::Uuid;

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassificationRecord {
    /// The model's category (`unknown` when a trained model found none it knows).
    pub category: String,
    /// Calibrated, in [0, 1].
    pub confidence: f32,
    pub sentiment: String,
    /// In [-1, 1].
    pub sentiment_score: f32,
    pub sentiment_confidence: Option<f32>,
    /// Among anger, frustration, confusion, gratitude.
    pub emotions: Vec<String>,
    /// ISO 639-3, or `und`.
    pub language: String,
    pub language_confidence: Option<f32>,
    pub urgency: String,
    pub urgency_reasons: Vec<String>,
    /// Auto-replies, bulk mail, spam score, and what was seen.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub signals: serde_json::Value,
    /// Kinds of personal data found (never the values).
    pub pii: Vec<String>,
    pub model_id: String,
    pub model_version: String,
    pub latency_ms: f32,
    pub classified_at: DateTime<Utc>,
    /// The category an agent confirmed or chose instead, once one has.
    pub reviewed_category: Option<String>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// An external LLM's category, when the model was unsure and the organisation allows LLMs
    /// (the conversation shows it).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub llm: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageRecord {
    pub id: Uuid,
    pub conversation_id: Uuid,
    pub direction: String,
    pub channel: String,
    pub from: Option<Party>,
    pub subject: Option<String>,
    pub body: String,
    pub external_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub classification: Option<ClassificationRecord>,
    /// Email: the customer's new words (quoted history, reply headers and signature removed):
    /// what the AI read.
    pub stripped_text: Option<String>,
    /// Email: the HTML part, sanitised for display.
    pub html: Option<String>,
    /// Email: the mailbox it came through, and its `Message-ID`.
    pub mailbox_id: Option<Uuid>,
    pub email_message_id: Option<String>,
    /// Email: its files (`GET /v1/messages/{id}` lists them; inline ones are referenced by
    /// `cid:` in the HTML).
    pub attachments: Vec<AttachmentRecord>,
}

/// A file that came with an email.
#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttachmentRecord {
    pub id: Uuid,
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: i64,
    pub content_id: Option<String>,
    pub inline: bool,
    /// Outlook's winmail.dat (TNEF): the files are inside it.
    pub tnef: bool,
    /// `false` when the file was over the mailbox's size limit and not kept.
    pub kept: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Party {
    pub email: String,
    pub name: Option<String>,
}

impl<'r> FromRow<'r, PgRow> for MessageRecord {
    fn from_row(row: &'r PgRow) -> Result<Self, sqlx::Error> {
        let classification = match row.try_get::<Option<String>, _>("cl_category")? {
            None => None,
            Some(category) => {
                let details: sqlx::types::Json<serde_json::Value> = row.try_get("cl_details")?;
                let details = details.0;
                let list = |key: &str| -> Vec<String> {
                    details.get(key).and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
                };
                let number = |key: &str| details.get(key).and_then(serde_json::Value::as_f64).map(|v| v as f32);
                Some(ClassificationRecord {
                    category,
                    confidence: row.try_get("cl_confidence")?,
                    sentiment: row.try_get("cl_sentiment_label")?,
                    sentiment_score: row.try_get("cl_sentiment_score")?,
                    sentiment_confidence: number("sentiment_confidence"),
                    emotions: list("emotions"),
                    language: row.try_get("cl_language")?,
                    language_confidence: number("language_confidence"),
                    urgency: row.try_get("cl_urgency")?,
                    urgency_reasons: list("urgency_reasons"),
                    signals: details.get("signals").cloned().unwrap_or_else(|| serde_json::json!({})),
                    pii: list("pii"),
                    model_id: row.try_get("cl_model_id")?,
                    model_version: row.try_get("cl_model_version")?,
                    latency_ms: row.try_get("cl_latency_ms")?,
                    classified_at: row.try_get("cl_created_at")?,
                    reviewed_category: row.try_get("cl_corrected_category")?,
                    reviewed_at: row.try_get("cl_corrected_at")?,
                    llm: details.get("llm").filter(|v| !v.is_null()).cloned(),
                })
            }
        };
        let from = row
            .try_get::<Option<String>, _>("from_email")?
            .map(|email| -> Result<Party, sqlx::Error> { Ok(Party { email, name: row.try_get("from_name")? }) })
            .transpose()?;
        Ok(Self {
            id: row.try_get("id")?,
            conversation_id: row.try_get("conversation_id")?,
            direction: row.try_get("direction")?,
            channel: row.try_get("channel")?,
            from,
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
            external_id: row.try_get("external_id")?,
            metadata: row.try_get::<sqlx::types::Json<serde_json::Value>, _>("metadata")?.0,
            status: row.try_get("status")?,
            created_at: row.try_get("created_at")?,
            classification,
            stripped_text: row.try_get("stripped_text")?,
            html: row.try_get("html")?,
            mailbox_id: row.try_get("mailbox_id")?,
            email_message_id: row.try_get("email_message_id")?,
            attachments: Vec::new(),
        })
    }
}

/// A row of the conversation list.
#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationSummary {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub contact_email: String,
    pub contact_name: Option<String>,
    pub channel: String,
    pub subject: Option<String>,
    pub status: String,
    pub priority: String,
    pub assignee_id: Option<Uuid>,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub last_message_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub message_count: i64,
}

/// One conversation in full.
#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationRecord {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub contact_email: String,
    pub contact_name: Option<String>,
    pub channel: String,
    pub subject: Option<String>,
    pub status: String,
    pub priority: String,
    pub assignee_id: Option<Uuid>,
    pub tags: Vec<String>,
    pub category: Option<String>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub last_message_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
