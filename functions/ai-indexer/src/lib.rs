//! The `ai-indexer` function: consumes `kb-indexing` and makes a knowledge-base article's
//! passages match its current version — cut into passages the encoder reads whole, embedded,
//! and stored with their words for full-text search.
//!
//! A resolved conversation's record makes its agents' replies passages too (source `reply`):
//! each reply as a template (the customer's personal data, name and order numbers replaced by
//! slots), embedded as the customer message it answered, so a new customer asking the same
//! finds it.
//!
//! Records are idempotent: a version already indexed, or older than the article's, is skipped
//! (the newer change has its own record); a deleted article has no passages left to index. A
//! record fails (and SQS redelivers it, then moves it to the DLQ) only when the database or the
//! encoder fails.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use helpdesk_ai::chunk::chunk_markdown;
use helpdesk_ai::encoder::SentenceEncoder;
use helpdesk_ai::reply::{templatise, MIN_CHARS};
use helpdesk_domain::{ConversationResolved, KbArticleChanged, KbIndexingBody};
use helpdesk_platform::ai::EncoderConfig;
use helpdesk_platform::config::{ConfigError, DataBucketConfig, DatabaseConfig, Environment, FromEnvironment};
use helpdesk_platform::sqs::each_record;
use helpdesk_platform::{Deps, EventFunction, Function};
use helpdesk_store::{IndexOutcome, PassageInput, PgStore, ReplyPassage};
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone)]
pub struct Indexer {
    pub store: PgStore,
    pub encoder: Arc<SentenceEncoder>,
}

/// The `ai-indexer` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub bucket: DataBucketConfig,
    pub encoder: EncoderConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self { database: env.section()?, bucket: env.section()?, encoder: env.section()? })
    }
}

impl Function for Indexer {
    const NAME: &'static str = "ai-indexer";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let encoder = config.encoder.encoder(Some(&deps.blobs(&config.bucket))).await?;
        let encoder = encoder.ok_or_else(|| {
            anyhow::anyhow!("the indexer needs the sentence encoder: set ENCODER_S3_PREFIX or ENCODER_DIR (locally: python local/models.py fetch)")
        })?;
        Ok(Self { store: deps.database(&config.database).await?, encoder })
    }
}

impl EventFunction for Indexer {
    type Event = SqsEvent;
    type Response = SqsBatchResponse;

    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        let batch = each_record(Self::NAME, event, |body: KbIndexingBody| async move {
            match body {
                KbIndexingBody::ArticleChanged(change) => self.index(&change).await,
                KbIndexingBody::ConversationResolved(resolved) => self.index_replies(&resolved).await,
            }
        })
        .await;
        Ok(batch.response)
    }
}

impl Indexer {
    /// Makes a resolved conversation's agent replies its passages (none when it was reopened
    /// since: the next resolution indexes it again).
    pub async fn index_replies(&self, resolved: &ConversationResolved) -> anyhow::Result<()> {
        let started = Instant::now();
        let org = resolved.organization_id;
        let Some(conversation) = self.store.resolved_replies(org, resolved.conversation_id).await? else {
            tracing::info!(outcome = "skipped", "the conversation is not resolved (or is gone)");
            return Ok(());
        };
        let name = conversation.contact_name.as_deref();
        let language = conversation.language.clone().filter(|l| l != "und").unwrap_or_else(|| "eng".into());
        let replies: Vec<(uuid::Uuid, String, String)> = conversation
            .replies
            .iter()
            .filter(|(_, body, _)| body.trim().chars().count() >= MIN_CHARS)
            .map(|(id, body, question)| {
                let question = question.as_deref().unwrap_or(body.as_str());
                (*id, templatise(body.trim(), name), templatise(question, name))
            })
            .collect();
        let encoder = self.encoder.clone();
        let questions: Vec<String> = replies.iter().map(|(_, _, q)| q.clone()).collect();
        let embeddings = tokio::task::spawn_blocking(move || encoder.encode(&questions)).await??;
        let heading = conversation.subject.clone().unwrap_or_default();
        let passages: Vec<ReplyPassage> = replies
            .into_iter()
            .zip(embeddings)
            .map(|((message_id, content, _), embedding)| ReplyPassage {
                message_id,
                ordinal: 0,
                heading: heading.clone(),
                content,
                language: language.clone(),
                embedding,
            })
            .collect();
        let indexed = self.store.index_replies(org, resolved.conversation_id, &passages).await?;
        tracing::info!(
            outcome = "indexed",
            passages = indexed,
            latency_ms = started.elapsed().as_millis() as u64,
            "replies indexed"
        );
        Ok(())
    }

    pub async fn index(&self, change: &KbArticleChanged) -> anyhow::Result<()> {
        let started = Instant::now();
        let org = change.organization_id;
        let Some(article) = self.store.article(org, change.article_id).await? else {
            tracing::info!(outcome = "gone", "article deleted; its passages went with it");
            return Ok(());
        };
        if article.version != change.version || article.indexed_version == Some(change.version) {
            tracing::info!(
                outcome = "skipped",
                current = article.version,
                indexed = article.indexed_version,
                "not this version's turn"
            );
            return Ok(());
        }
        let passages = chunk_markdown(&article.title, &article.body);
        let encoder = self.encoder.clone();
        let texts: Vec<String> = passages.iter().map(|p| p.text()).collect();
        // CPU work off the async threads.
        let embeddings = tokio::task::spawn_blocking(move || {
            let mut all = Vec::with_capacity(texts.len());
            for batch in texts.chunks(32) {
                all.extend(encoder.encode(batch)?);
            }
            Ok::<_, helpdesk_ai::AiError>(all)
        })
        .await??;
        let inputs: Vec<PassageInput> = passages
            .into_iter()
            .zip(embeddings)
            .map(|(p, embedding)| PassageInput { heading: p.heading, content: p.content, embedding })
            .collect();
        let outcome = self.store.index_article(org, article.id, change.version, &inputs).await?;
        let passages = match outcome {
            IndexOutcome::Indexed { passages } => passages,
            IndexOutcome::Stale | IndexOutcome::Gone => 0,
        };
        tracing::info!(
            outcome = ?outcome,
            passages,
            latency_ms = started.elapsed().as_millis() as u64,
            "indexed"
        );
        Ok(())
    }
}
