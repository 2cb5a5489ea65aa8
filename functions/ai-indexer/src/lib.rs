//! The `ai-indexer` function: consumes `kb-indexing` and makes a knowledge-base article's
//! passages match its current version — cut into passages the encoder reads whole, embedded,
//! and stored with their words for full-text search.
//!
//! Records are idempotent: a version already indexed, or older than the article's, is skipped
//! (the newer change has its own record); a deleted article has no passages left to index. A
//! record fails (and SQS redelivers it, then moves it to the DLQ) only when the database or the
//! encoder fails.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use helpdesk_ai::chunk::chunk_markdown;
use helpdesk_ai::encoder::SentenceEncoder;
use helpdesk_domain::KbArticleChanged;
use helpdesk_platform::ai::EncoderSource;
use helpdesk_platform::Bootstrap;
use helpdesk_store::{IndexOutcome, PassageInput, PgStore};
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

#[derive(Clone)]
pub struct Indexer {
    pub store: PgStore,
    pub encoder: Arc<SentenceEncoder>,
}

impl Indexer {
    pub async fn from_env() -> anyhow::Result<Self> {
        let boot = Bootstrap::from_env().await;
        let blobs = boot.blobs().ok_or_else(|| anyhow::anyhow!("DATA_BUCKET is not set"))?;
        let encoder =
            EncoderSource::from_lookup(|n| std::env::var(n).ok()).load(Some(&blobs)).await?.ok_or_else(|| {
                anyhow::anyhow!("the indexer needs the sentence encoder: set ENCODER_S3_PREFIX or ENCODER_DIR")
            })?;
        Ok(Self { store: boot.database().await?, encoder })
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            if self.process(record).await.is_err() {
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        response
    }

    async fn process(&self, record: &SqsMessage) -> Result<(), ()> {
        let sqs_message_id = record.message_id.as_deref().unwrap_or_default();
        let change = match serde_json::from_str::<KbArticleChanged>(record.body.as_deref().unwrap_or_default()) {
            Ok(change) => change,
            Err(e) => {
                tracing::warn!(function = "ai-indexer", sqs_message_id, error = %e, "record is not a KbArticleChanged");
                return Err(());
            }
        };
        let span = tracing::info_span!(
            "record",
            function = "ai-indexer",
            sqs_message_id,
            request_id = change.request_id.as_deref().unwrap_or(""),
            org = %change.organization_id,
            article_id = %change.article_id,
            version = change.version,
        );
        async move {
            self.index(&change).await.map_err(|e| tracing::warn!(error = %e, "record failed; SQS will redeliver it"))
        }
        .instrument(span)
        .await
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
