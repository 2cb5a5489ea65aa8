//! The `ai-worker` function: consumes `inbound-messages` in batches, triages each message with
//! the local AI engine (the organisation's own category model when it has one, loaded by version
//! and cached), stores the result and announces `message.classified` on the `events` queue.
//!
//! At-least-once delivery is expected: a redelivered record finds its classification already
//! stored and does nothing. A record that cannot be processed is reported as a batch item
//! failure, so SQS redelivers only it and, after `maxReceiveCount`, moves it to the DLQ.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use helpdesk_ai::{Engine, MessageInput};
use helpdesk_aws::SqsPublisher;
use helpdesk_domain::{MessageReceived, OrgId, QueueRecord};
use helpdesk_platform::ai::{EncoderSource, ModelCache};
use helpdesk_platform::Bootstrap;
use helpdesk_store::{PgStore, SaveClassificationOutcome};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument;

/// The worker's dependencies, built once per container.
#[derive(Clone)]
pub struct Worker {
    pub store: PgStore,
    pub publisher: SqsPublisher,
    pub engine: Arc<Engine>,
    pub models: Arc<ModelCache>,
}

/// Why one record could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("record body is not a MessageReceived: {0}")]
    Malformed(String),
    #[error("message {0} does not exist in organisation {1}")]
    UnknownMessage(String, String),
    #[error(transparent)]
    Store(#[from] helpdesk_store::StoreError),
    #[error("the engine failed: {0}")]
    Engine(String),
}

impl Worker {
    pub async fn from_env() -> anyhow::Result<Self> {
        let boot = Bootstrap::from_env().await;
        let blobs = boot.blobs().ok_or_else(|| anyhow::anyhow!("DATA_BUCKET is not set"))?;
        let encoder = EncoderSource::from_lookup(|n| std::env::var(n).ok()).load(Some(&blobs)).await?;
        let language = helpdesk_platform::ai::language_detector(|n| std::env::var(n).ok())?;
        Ok(Self {
            store: boot.database().await?,
            publisher: boot.publisher(),
            engine: helpdesk_platform::ai::engine(encoder.clone(), language).await?,
            models: Arc::new(ModelCache::new(Arc::new(blobs), encoder)),
        })
    }

    /// Handles one SQS batch and reports the records that failed.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        let mut to_relay: BTreeMap<OrgId, Vec<QueueRecord>> = BTreeMap::new();
        for record in &event.records {
            match self.process(record).await {
                Ok(Some((org, announcement))) => to_relay.entry(org).or_default().push(announcement),
                Ok(None) => {}
                Err(()) => response.add_failure(record.message_id.clone().unwrap_or_default()),
            }
        }
        // Classifications are durable; announcing them can be retried by the sweeper.
        for (org, records) in &to_relay {
            helpdesk_platform::outbox::relay_now(&self.store, &self.publisher, *org, records).await;
        }
        response
    }

    /// Processes one record and logs its one line, inside a span that names the record, the
    /// organisation and the request that accepted the message. Returns the announcement to relay
    /// when a classification was stored now.
    async fn process(&self, record: &SqsMessage) -> Result<Option<(OrgId, QueueRecord)>, ()> {
        let sqs_message_id = record.message_id.as_deref().unwrap_or_default();
        let received = serde_json::from_str::<MessageReceived>(record.body.as_deref().unwrap_or_default());
        let span = match &received {
            Ok(r) => tracing::info_span!(
                "record",
                function = "ai-worker",
                sqs_message_id,
                request_id = r.request_id.as_deref().unwrap_or(""),
                org = %r.organization_id,
                message_id = %r.message_id,
            ),
            Err(_) => tracing::info_span!("record", function = "ai-worker", sqs_message_id),
        };
        async move {
            let result = match received {
                Ok(received) => self.classify(&received).await,
                Err(e) => Err(RecordError::Malformed(e.to_string())),
            };
            result.map_err(|e| tracing::warn!(error = %e, "record failed; SQS will redeliver it"))
        }
        .instrument(span)
        .await
    }

    async fn classify(&self, received: &MessageReceived) -> Result<Option<(OrgId, QueueRecord)>, RecordError> {
        let org = received.organization_id;
        let message = self
            .store
            .message_to_classify(org, received.message_id)
            .await?
            .ok_or_else(|| RecordError::UnknownMessage(received.message_id.to_string(), org.to_string()))?;

        let started = Instant::now();
        // The organisation's own model when it has one; if its files cannot be had, the defaults
        // answer (a message is never held up by a model) and the log says so.
        let tenant = match &message.active_model {
            Some(active) => match self.models.get(org, active).await {
                Ok(model) => Some(model),
                Err(e) => {
                    tracing::error!(error = %e, version = active.version, "tenant model unavailable; defaults answer");
                    None
                }
            },
            None => None,
        };
        let conversation_id = message.conversation_id;
        let engine = self.engine.clone();
        // CPU work off the async threads (the encoder takes milliseconds).
        let classification = tokio::task::spawn_blocking(move || {
            let input = MessageInput {
                subject: message.subject.as_deref(),
                body: &message.body,
                is_email: message.channel == "email",
                headers: &message.headers,
                previous_contacts: message.previous_contacts,
            };
            engine.triage(&input, tenant.as_deref())
        })
        .await
        .map_err(|e| RecordError::Engine(e.to_string()))?
        .map_err(|e| RecordError::Engine(e.to_string()))?;
        let latency_ms = started.elapsed().as_secs_f32() * 1000.0;

        let outcome = self
            .store
            .save_classification(
                org,
                received.message_id,
                conversation_id,
                &classification,
                latency_ms,
                received.request_id.as_deref(),
            )
            .await?;
        let announcement = match outcome {
            SaveClassificationOutcome::Stored { announcement } => Some((org, announcement)),
            SaveClassificationOutcome::AlreadyClassified => None,
        };
        tracing::info!(
            category = %classification.category,
            confidence = classification.confidence,
            urgency = classification.urgency.as_str(),
            language = %classification.language,
            model = %classification.model.id,
            model_version = %classification.model.version,
            latency_ms,
            duplicate = announcement.is_none(),
            "classified"
        );
        Ok(announcement)
    }
}
