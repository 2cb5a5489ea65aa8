//! The `ai-trainer` function: trains organisations' own category models from their agents'
//! verdicts. Two triggers: SQS `training-requests` (someone pressed "train" in the API: one run
//! per record) and a schedule (every organisation with verdicts newer than its last run).
//!
//! A run trains a candidate (defaults' examples + the organisation's verdicts, held-out verdicts
//! aside), compares it with the current model on the held-out verdicts, stores the candidate's
//! files under its version in S3 whatever the result, and promotes it only if it won. The
//! worker picks the new version up on the organisation's next message.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use helpdesk_ai::tenant::{self, Example, Outcome};
use helpdesk_ai::triage::{model_text, TENANT_MODEL_ID};
use helpdesk_ai::Engine;
use helpdesk_domain::{BlobStore, OrgId, TrainingRequested};
use helpdesk_platform::ai::{EncoderSource, ModelCache};
use helpdesk_platform::Bootstrap;
use helpdesk_store::{PgStore, RunEnd};
use serde::Serialize;
use serde_json::Value;
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

impl Trainer {
    pub async fn from_env() -> anyhow::Result<Self> {
        let boot = Bootstrap::from_env().await;
        let blobs = boot.blobs().ok_or_else(|| anyhow::anyhow!("DATA_BUCKET is not set"))?;
        let encoder = EncoderSource::from_lookup(|n| std::env::var(n).ok()).load(Some(&blobs)).await?;
        let language = helpdesk_platform::ai::language_detector(|n| std::env::var(n).ok())?;
        let blobs: Arc<dyn BlobStore> = Arc::new(blobs);
        Ok(Self {
            store: boot.database().await?,
            models: Arc::new(ModelCache::new(blobs.clone(), encoder.clone())),
            blobs,
            engine: helpdesk_platform::ai::engine(encoder, language).await?,
            min_verdicts: min_verdicts(|n| std::env::var(n).ok()),
        })
    }

    /// An SQS batch (`Records` from `aws:sqs`) or a scheduled event.
    pub async fn handle(&self, event: Value) -> Result<Value, String> {
        let from_sqs = event["Records"].as_array().is_some_and(|r| r.iter().any(|r| r["eventSource"] == "aws:sqs"));
        if from_sqs {
            let event: SqsEvent = serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
            serde_json::to_value(self.handle_requests(event).await).map_err(|e| e.to_string())
        } else {
            serde_json::to_value(self.handle_schedule().await?).map_err(|e| e.to_string())
        }
    }

    /// Requests from the API. A run that is not queued any more (a redelivery) is skipped; a
    /// record fails (and is redelivered) only when the database cannot be reached.
    pub async fn handle_requests(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            let request = serde_json::from_str::<TrainingRequested>(record.body.as_deref().unwrap_or_default());
            let outcome = match request {
                Ok(request) => {
                    let span = tracing::info_span!(
                        "training",
                        function = "ai-trainer",
                        org = %request.organization_id,
                        run = %request.run_id,
                        request_id = request.request_id.as_deref().unwrap_or(""),
                    );
                    async {
                        match self.store.start_training_run(request.organization_id, request.run_id).await {
                            Ok(true) => self.run(request.organization_id, request.run_id).await.map(|_| ()),
                            Ok(false) => {
                                tracing::info!("run already started or unknown; nothing to do");
                                Ok(())
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    .instrument(span)
                    .await
                }
                Err(e) => Err(format!("record body is not a TrainingRequested: {e}")),
            };
            if let Err(e) = outcome {
                tracing::warn!(error = %e, "training request failed; SQS will redeliver it");
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        response
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

/// `TRAINING_MIN_VERDICTS`, else [`MIN_VERDICTS`].
pub fn min_verdicts(lookup: impl Fn(&str) -> Option<String>) -> usize {
    lookup("TRAINING_MIN_VERDICTS").and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(MIN_VERDICTS)
}
