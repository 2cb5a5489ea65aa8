//! The `ai-worker` function: consumes `inbound-messages` in batches, triages each message with
//! the local AI engine (the organisation's own category model when it has one, loaded by version
//! and cached), stores the result and announces `message.classified` on the `events` queue.
//!
//! At-least-once delivery is expected: a redelivered record finds its classification already
//! stored and does nothing. A record that cannot be processed is reported as a batch item
//! failure, so SQS redelivers only it and, after `maxReceiveCount`, moves it to the DLQ.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use helpdesk_ai::{Engine, MessageInput};
use helpdesk_aws::SqsPublisher;
use helpdesk_domain::{Classification, InboundMessagesBody, LlmOpinion, MessageReceived, OrgId, QueueRecord};
use helpdesk_platform::ai::{EncoderConfig, LanguageConfig, ModelCache};
use helpdesk_platform::config::{
    ConfigError, DataBucketConfig, DataKeyConfig, DatabaseConfig, Environment, FromEnvironment, OutboundConfig,
    QueuesConfig,
};
use helpdesk_platform::llm::{Feature, LlmAnswer, LlmConfig, LlmGateway, Prompt};
use helpdesk_platform::sqs::each_record;
use helpdesk_platform::{Deps, EventFunction, Function};
use helpdesk_store::{PgStore, SaveClassificationOutcome};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// The worker's dependencies, built once per container.
#[derive(Clone)]
pub struct Worker {
    pub store: PgStore,
    pub publisher: SqsPublisher,
    pub engine: Arc<Engine>,
    pub models: Arc<ModelCache>,
    /// Hybrid classification: asked when the local model is unsure and the organisation allows
    /// external LLMs. `None`: the local engine alone.
    pub llm: Option<Arc<LlmGateway>>,
}

/// Why one record could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("message {0} does not exist in organisation {1}")]
    UnknownMessage(String, String),
    #[error(transparent)]
    Store(#[from] helpdesk_store::StoreError),
    #[error("the engine failed: {0}")]
    Engine(String),
}

/// The `ai-worker` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub queues: QueuesConfig,
    pub bucket: DataBucketConfig,
    pub encoder: EncoderConfig,
    pub languages: LanguageConfig,
    pub data_key: DataKeyConfig,
    pub llm: LlmConfig,
    pub outbound: OutboundConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            database: env.section()?,
            queues: env.section()?,
            bucket: env.section()?,
            encoder: env.section()?,
            languages: env.section()?,
            data_key: env.section()?,
            llm: env.section()?,
            outbound: env.section()?,
        })
    }
}

impl Function for Worker {
    const NAME: &'static str = "ai-worker";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let blobs = deps.blobs(&config.bucket);
        let loaded = config.encoder.load(&config.languages, Some(&blobs)).await?;
        let store = deps.database(&config.database).await?;
        let llm = config.llm.gateway(store.clone(), deps, &config.data_key, &config.outbound).await?;
        Ok(Self {
            llm: Some(Arc::new(llm)),
            store,
            publisher: deps.publisher(&config.queues),
            engine: loaded.engine,
            models: Arc::new(ModelCache::new(Arc::new(blobs), loaded.encoder)),
        })
    }
}

impl EventFunction for Worker {
    type Event = SqsEvent;
    type Response = SqsBatchResponse;

    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        Ok(self.handle_batch(event).await)
    }
}

impl Worker {
    /// Handles one SQS batch and reports the records that failed.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let batch = each_record(Self::NAME, event, |body: InboundMessagesBody| async move {
            match body {
                InboundMessagesBody::MessageReceived(received) => self.classify(&received).await,
            }
        })
        .await;
        let mut to_relay: BTreeMap<OrgId, Vec<QueueRecord>> = BTreeMap::new();
        for (org, announcement) in batch.outputs.into_iter().flatten() {
            to_relay.entry(org).or_default().push(announcement);
        }
        // Classifications are durable; announcing them can be retried by the sweeper.
        for (org, records) in &to_relay {
            helpdesk_platform::outbox::relay_now(&self.store, &self.publisher, *org, records).await;
        }
        batch.response
    }

    async fn classify(&self, received: &MessageReceived) -> Result<Option<(OrgId, QueueRecord)>, RecordError> {
        let org = received.organization_id;
        let message = self
            .store
            .message_to_classify(org, received.message_id)
            .await?
            .ok_or_else(|| RecordError::UnknownMessage(received.message_id.to_string(), org.to_string()))?;

        if message.already_classified {
            tracing::info!(duplicate = true, "already classified");
            return Ok(None);
        }
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
        let categories =
            tenant.as_ref().map_or_else(|| self.engine.defaults().categories(), |t| t.categorizer.categories());
        let (subject, body) = (message.subject.clone(), message.body.clone());
        let engine = self.engine.clone();
        // CPU work off the async threads (the encoder takes milliseconds).
        let mut classification = tokio::task::spawn_blocking(move || {
            let input = MessageInput {
                subject: message.subject.as_deref(),
                body: &message.body,
                // Ingest cut an email's quotes already: cutting again would cut the reply.
                is_email: message.channel == "email" && !message.stripped,
                headers: &message.headers,
                previous_contacts: message.previous_contacts,
            };
            engine.triage(&input, tenant.as_deref())
        })
        .await
        .map_err(|e| RecordError::Engine(e.to_string()))?
        .map_err(|e| RecordError::Engine(e.to_string()))?;
        if let Some(gateway) = &self.llm {
            let text = [subject.as_deref().unwrap_or_default(), body.as_str()].join("\n\n");
            classification.llm =
                ask_llm(&self.store, gateway, org, &classification, &categories, &text, received.request_id.as_deref())
                    .await;
        }
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
            message_id = %received.message_id,
            category = %classification.category,
            confidence = classification.confidence,
            urgency = classification.urgency.as_str(),
            language = %classification.language,
            model = %classification.model.id,
            model_version = %classification.model.version,
            llm_category = classification.llm.as_ref().map(|o| o.category.as_str()),
            latency_ms,
            duplicate = announcement.is_none(),
            "classified"
        );
        Ok(announcement)
    }
}

/// Hybrid classification: when the local model's confidence is under the organisation's
/// threshold and it allows external LLMs, the LLM chooses among the same categories (structured
/// output, the message redacted by the gateway). Any failure leaves the local answer alone: a
/// message is never held up by a provider.
async fn ask_llm(
    store: &PgStore,
    gateway: &LlmGateway,
    org: OrgId,
    local: &Classification,
    categories: &[(String, Option<&'static str>)],
    text: &str,
    request_id: Option<&str>,
) -> Option<LlmOpinion> {
    let settings = match store.ai_settings(org).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "AI settings unavailable; local answer kept");
            return None;
        }
    };
    let own = &settings.record;
    if !own.external_llm_allowed || local.confidence >= own.hybrid_threshold || categories.is_empty() {
        return None;
    }
    let names: Vec<&str> = categories.iter().map(|(n, _)| n.as_str()).collect();
    let listed: Vec<String> = categories
        .iter()
        .map(|(name, description)| match description {
            Some(d) => format!("- {name}: {d}"),
            None => format!("- {name}"),
        })
        .collect();
    let prompt = Prompt {
        system: format!(
            "You triage customer-support messages. Choose the one category that best fits the customer's \
             message. Personal data in it is replaced by placeholders such as [EMAIL_1].\nCategories:\n{}",
            listed.join("\n")
        ),
        // The start of a long message is what says what it is about.
        parts: vec![text.chars().take(4_000).collect()],
        max_output_tokens: 50,
        temperature: Some(0.0),
        schema: Some(helpdesk_llm::OutputSchema {
            name: "category".into(),
            description: "The message's category".into(),
            schema: serde_json::json!({
                "type": "object",
                "properties": {"category": {"type": "string", "enum": names}},
                "required": ["category"],
                "additionalProperties": false
            }),
        }),
    };
    match gateway.ask_with(org, &settings, Feature::Classification, request_id, prompt).await {
        Ok(LlmAnswer::Answered { structured, provider, model, latency_ms, .. }) => {
            let category = structured.as_ref().and_then(|v| v.get("category")).and_then(|c| c.as_str());
            match category.filter(|c| names.contains(c)) {
                Some(category) => Some(LlmOpinion {
                    category: category.to_string(),
                    provider: provider.as_str().to_string(),
                    model,
                    latency_ms,
                }),
                None => {
                    tracing::warn!("the LLM answered a category that is not the organisation's; local answer kept");
                    None
                }
            }
        }
        Ok(LlmAnswer::Local(reason)) => {
            tracing::info!(reason = ?reason, "no LLM answer; local answer kept");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "LLM gateway failed; local answer kept");
            None
        }
    }
}
