//! The `ai-trainer` function: trains organisations' own category models from their agents'
//! verdicts. Two triggers: SQS `training-requests` (someone pressed "train" in the API: one run
//! per record) and a schedule (every organisation with verdicts newer than its last run).
//!
//! A run trains a candidate (defaults' examples + the organisation's verdicts, held-out verdicts
//! aside), compares it with the current model on the held-out verdicts, stores the candidate's
//! files under its version in S3 whatever the result, and promotes it only if it won. The
//! worker picks the new version up on the organisation's next message.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use helpdesk_ai::tenant::{self, Example, Outcome};
use helpdesk_ai::triage::{model_text, TENANT_MODEL_ID};
use helpdesk_ai::Engine;
use helpdesk_domain::{BlobStore, OrgId, TrainingRequestsBody};
use helpdesk_platform::ai::{EncoderConfig, LanguageConfig, ModelCache};
use helpdesk_platform::config::{ConfigError, DataBucketConfig, DatabaseConfig, Environment, FromEnvironment};
use helpdesk_platform::sqs::each_record;
use helpdesk_platform::{Deps, EventFunction, Function};
use helpdesk_store::{PgStore, RunEnd};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::Instrument;
use uuid::Uuid;

/// Verdicts an organisation needs before its first model (`TRAINING_MIN_VERDICTS`).
pub const MIN_VERDICTS: usize = 20;
/// Organisations one scheduled invocation trains at most; the rest wait for the next one.
pub const MAX_ORGS_PER_SCHEDULE: i32 = 20;

/// The trainer's dependencies, built once per container.
#[derive(Clone)]
pub struct Trainer {
    pub store: PgStore,
    pub blobs: Arc<dyn BlobStore>,
    pub engine: Arc<Engine>,
    pub models: Arc<ModelCache>,
    pub min_verdicts: usize,
}

/// What one scheduled invocation did (the function's answer, and its log line).
#[derive(Debug, Default, Serialize)]
pub struct ScheduleReport {
    pub organizations: usize,
    pub runs: Vec<(Uuid, String)>,
}

/// What invokes the trainer: a batch from `training-requests`, or its schedule (an EventBridge
/// event). Each parses as its own shape only (an SQS event has `Records`; a scheduled one has
/// `detail-type`, `source` and `detail`), so anything else is refused, not guessed at.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum TrainerEvent {
    Requests(SqsEvent),
    Schedule(EventBridgeEvent),
}

/// The trainer's answer: the failed records of a batch, or what a scheduled run did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum TrainerResponse {
    Requests(SqsBatchResponse),
    Schedule(ScheduleReport),
}

/// The minimum number of agents' verdicts before an organisation's first model
/// (`TRAINING_MIN_VERDICTS`, default [`MIN_VERDICTS`], at least 1).
#[derive(Debug, Clone, Deserialize)]
pub struct TrainingConfig {
    #[serde(default = "default_min_verdicts")]
    pub training_min_verdicts: usize,
}

fn default_min_verdicts() -> usize {
    MIN_VERDICTS
}

/// The `ai-trainer` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub bucket: DataBucketConfig,
    pub encoder: EncoderConfig,
    pub languages: LanguageConfig,
    pub training: TrainingConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        let training: TrainingConfig = env.section()?;
        if training.training_min_verdicts == 0 {
            return Err(ConfigError::variable("TRAINING_MIN_VERDICTS", "expected at least 1, found 0"));
        }
        Ok(Self {
            database: env.section()?,
            bucket: env.section()?,
            encoder: env.section()?,
            languages: env.section()?,
            training,
        })
    }
}

impl Function for Trainer {
    const NAME: &'static str = "ai-trainer";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let blobs = deps.blobs(&config.bucket);
        let loaded = config.encoder.load(&config.languages, Some(&blobs)).await?;
        let blobs: Arc<dyn BlobStore> = Arc::new(blobs);
        Ok(Self {
            store: deps.database(&config.database).await?,
            models: Arc::new(ModelCache::new(blobs.clone(), loaded.encoder)),
            blobs,
            engine: loaded.engine,
            min_verdicts: config.training.training_min_verdicts,
        })
    }
}

impl EventFunction for Trainer {
    type Event = TrainerEvent;
    type Response = TrainerResponse;

    async fn handle(&self, event: TrainerEvent) -> anyhow::Result<TrainerResponse> {
        Ok(match event {
            TrainerEvent::Requests(batch) => TrainerResponse::Requests(self.handle_requests(batch).await),
            TrainerEvent::Schedule(_) => {
                TrainerResponse::Schedule(self.handle_schedule().await.map_err(anyhow::Error::msg)?)
            }
        })
    }
}

impl Trainer {
    /// Requests from the API. A run that is not queued any more (a redelivery) is skipped; a
    /// record fails (and is redelivered) only when the database cannot be reached.
    pub async fn handle_requests(&self, event: SqsEvent) -> SqsBatchResponse {
        let batch = each_record(Self::NAME, event, |body: TrainingRequestsBody| async move {
            let TrainingRequestsBody::TrainingRequested(request) = body;
            match self.store.start_training_run(request.organization_id, request.run_id).await {
                Ok(true) => self.run(request.organization_id, request.run_id).await.map(|_| ()),
                Ok(false) => {
                    tracing::info!("run already started or unknown; nothing to do");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .await;
        batch.response
    }

    /// The schedule: every organisation with new verdicts, up to [`MAX_ORGS_PER_SCHEDULE`].
    pub async fn handle_schedule(&self) -> Result<ScheduleReport, String> {
        let due = self
            .store
            .organizations_due_for_training(self.min_verdicts as i32, MAX_ORGS_PER_SCHEDULE)
            .await
            .map_err(|e| e.to_string())?;
        let mut report = ScheduleReport { organizations: due.len(), runs: Vec::new() };
        for org in due {
            let run = self.store.scheduled_training_run(org).await.map_err(|e| e.to_string())?;
            let span = tracing::info_span!("training", function = "ai-trainer", org = %org, run = %run);
            let status = self.run(org, run).instrument(span).await?;
            report.runs.push((run, status));
        }
        tracing::info!(organizations = report.organizations, "scheduled training done");
        Ok(report)
    }

    /// One run, to its end: promoted, rejected, skipped or failed (recorded on the run). Errs
    /// only when even the failure cannot be recorded.
    pub async fn run(&self, org: OrgId, run: Uuid) -> Result<String, String> {
        let end = match self.train(org, run).await {
            Ok(end) => end,
            Err(e) => {
                tracing::error!(error = %e, "training failed");
                RunEnd::Failed(e)
            }
        };
        let status = self.store.finish_training_run(org, run, end).await.map_err(|e| e.to_string())?;
        tracing::info!(status, "training run finished");
        Ok(status)
    }

    async fn train(&self, org: OrgId, run: Uuid) -> Result<RunEnd, String> {
        let verdicts: Vec<Example> = self
            .store
            .training_examples(org)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|e| Example {
                id: e.id.to_string(),
                text: model_text(e.subject.as_deref(), &e.text, e.channel.as_deref() == Some("email")),
                label: e.label,
            })
            .collect();
        let active = self.store.active_model(org).await.map_err(|e| e.to_string())?;
        let current = match &active {
            Some(active) => Some(self.models.get(org, active).await.map_err(|e| e.to_string())?),
            None => None,
        };
        let current_name = match &current {
            Some(model) => format!("{TENANT_MODEL_ID} v{}", model.version),
            None => self.engine.defaults().default_model_id().to_string(),
        };
        let (engine, min_verdicts) = (self.engine.clone(), self.min_verdicts);
        let outcome = tokio::task::spawn_blocking(move || {
            let categorizer = match &current {
                Some(model) => &model.categorizer,
                None => engine.defaults(),
            };
            tenant::train_and_compare(&verdicts, categorizer, &current_name, engine.encoder().cloned(), min_verdicts)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;

        let (model, report) = match outcome {
            Outcome::Skipped(why) => return Ok(RunEnd::Skipped(why)),
            Outcome::Trained { model, report } => (model, report),
        };
        let version = self.store.reserve_model_version(org, run).await.map_err(|e| e.to_string())?;
        let prefix = tenant::artifact_prefix(&org.to_string(), version);
        for (name, bytes) in tenant::artifact_files(&model, &report).map_err(|e| e.to_string())? {
            self.blobs.put(&format!("{prefix}{name}"), bytes).await?;
        }
        tracing::info!(
            version,
            accuracy = report.accuracy,
            current_accuracy = report.current_accuracy,
            verdicts = report.verdicts,
            seconds = report.seconds,
            "candidate trained"
        );
        Ok(RunEnd::Trained {
            version,
            artifact_prefix: prefix,
            encoder: report.encoder.clone(),
            labels: report.labels.clone(),
            metrics: serde_json::to_value(&report).map_err(|e| e.to_string())?,
            promote: report.promoted,
            compared_with: active.map(|a| a.version),
        })
    }
}
