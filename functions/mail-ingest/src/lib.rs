//! The `mail-ingest` function: raw mail from S3 into conversations. Its queue, `mail-ingest`,
//! carries two kinds of record:
//!
//! - `email.fetched` (the mail fetcher: IMAP, Gmail, Graph): the organisation, the mailbox and
//!   the raw message's key; the message is read and ingested.
//! - SES receiving's notification (a receipt rule's S3 action writes the raw message to the data
//!   bucket and notifies an SNS topic whose subscription delivers to this queue, raw or in SNS's
//!   envelope): the organisation is not known yet, so each envelope recipient in the inbound
//!   domain is routed — an inbound token (`<token>@domain`) to its mailbox, one of our signed
//!   reply addresses (`reply+c…@domain`) to the mailbox its conversation's mail came through —
//!   and the message is ingested once per mailbox it reached.
//!
//! Both end in `EmailIngest`, which de-duplicates, so redelivery changes nothing.

use aws_lambda_events::event::ses::SimpleEmailService;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use helpdesk_aws::SqsPublisher;
use helpdesk_domain::email::EmailOutcome;
use helpdesk_domain::{ConversationId, MailIngestBody, MailboxId, OrgId};
use helpdesk_mail::threading::ThreadingKeys;
use helpdesk_platform::config::{
    ConfigError, DataBucketConfig, DatabaseConfig, Environment, FromEnvironment, JwtConfig, MailConfig, QueuesConfig,
};
use helpdesk_platform::email_in::EmailIngest;
use helpdesk_platform::sqs::each_record;
use helpdesk_platform::{Deps, EventFunction, Function};
use serde::Deserialize;
use std::sync::Arc;
use tracing::Instrument;

/// Where SES receiving's receipt rule stores mail in the data bucket (template.yaml).
pub const SES_PREFIX: &str = "inbound/ses/";

/// The ingest's dependencies, built once per container.
#[derive(Clone)]
pub struct MailIngest {
    pub ingest: EmailIngest<SqsPublisher>,
    /// The data bucket's name: SES notifications must name it (nothing else is read).
    pub bucket: String,
}

/// The `mail-ingest` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub queues: QueuesConfig,
    pub bucket: DataBucketConfig,
    /// The master signing secret the threading keys are derived from.
    pub jwt: JwtConfig,
    pub mail: MailConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            database: env.section()?,
            queues: env.section()?,
            bucket: env.section()?,
            jwt: env.section()?,
            mail: env.section()?,
        })
    }
}

impl Function for MailIngest {
    const NAME: &'static str = "mail-ingest";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let master = deps.secrets.jwt_secret(&config.jwt).await?;
        Ok(Self {
            ingest: EmailIngest {
                store: deps.database(&config.database).await?,
                blobs: Arc::new(deps.blobs(&config.bucket)),
                publisher: deps.publisher(&config.queues),
                keys: ThreadingKeys::derived(&master),
                inbound_domain: config.mail.inbound_mail_domain.trim().to_ascii_lowercase(),
            },
            bucket: config.bucket.data_bucket,
        })
    }
}

impl EventFunction for MailIngest {
    type Event = SqsEvent;
    type Response = SqsBatchResponse;

    async fn handle(&self, event: SqsEvent) -> anyhow::Result<SqsBatchResponse> {
        Ok(self.handle_batch(event).await)
    }
}

/// SNS's envelope around a notification (a subscription without raw message delivery).
#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

/// What an SES record is: a received message's notification, or another notification SES
/// sends to the topic (the setup test when the rule is made) that asks for nothing.
enum SesRecord {
    Received(Box<SimpleEmailService>),
    Other(String),
}

/// The SES notification in a record's body, whether raw or in SNS's envelope; `None` when the
/// body is not SES's (then it is one of our tagged records).
fn ses_record(body: &str) -> Option<Result<SesRecord, String>> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let value = match serde_json::from_value::<SnsEnvelope>(value.clone()) {
        Ok(envelope) if envelope.kind == "Notification" => serde_json::from_str(&envelope.message).ok()?,
        _ => value,
    };
    let kind = value.get("notificationType")?.as_str()?.to_string();
    if kind != "Received" {
        return Some(Ok(SesRecord::Other(kind)));
    }
    Some(
        serde_json::from_value::<SimpleEmailService>(value)
            .map(|n| SesRecord::Received(Box::new(n)))
            .map_err(|e| format!("an SES notification that does not parse: {e}")),
    )
}

impl MailIngest {
    /// A batch: SES notifications and our records, each processed on its own; the records that
    /// failed are reported for SQS to redeliver (and, after `maxReceiveCount`, to dead-letter).
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut ours: Vec<SqsMessage> = Vec::new();
        let mut response = SqsBatchResponse::default();
        for record in event.records {
            let body = record.body.as_deref().unwrap_or_default();
            let Some(ses) = ses_record(body) else {
                ours.push(record);
                continue;
            };
            let sqs_message_id = record.message_id.clone().unwrap_or_default();
            let span =
                tracing::info_span!("record", function = Self::NAME, sqs_message_id = %sqs_message_id, source = "ses");
            let result = async {
                match ses? {
                    SesRecord::Received(notification) => self.receive(&notification).await,
                    SesRecord::Other(kind) => {
                        tracing::info!(kind, "an SES notification that carries no mail");
                        Ok(Vec::new())
                    }
                }
            }
            .instrument(span.clone())
            .await;
            match result {
                Ok(outcomes) => span.in_scope(|| tracing::info!(mailboxes = outcomes.len(), "SES mail ingested")),
                Err(e) => {
                    span.in_scope(|| tracing::warn!(error = %e, "record failed; SQS will redeliver it"));
                    response.add_failure(sqs_message_id);
                }
            }
        }
        let mut rest = SqsEvent::default();
        rest.records = ours;
        let batch = each_record(Self::NAME, rest, |body: MailIngestBody| async move {
            let MailIngestBody::EmailFetched(fetched) = body;
            self.fetched(fetched).await
        })
        .await;
        response.batch_item_failures.extend(batch.response.batch_item_failures);
        response
    }

    /// A fetched message: read from the bucket and ingested. A mailbox deleted meanwhile takes
    /// no mail (the record is done).
    async fn fetched(&self, fetched: helpdesk_domain::EmailFetched) -> Result<Option<EmailOutcome>, String> {
        let org = fetched.organization_id;
        let Some(mailbox) = self.ingest.store.mailbox(org, fetched.mailbox_id).await.map_err(|e| e.to_string())? else {
            tracing::info!("the mailbox is gone; its fetched mail is dropped");
            return Ok(None);
        };
        // Only a key under the record's own organisation and mailbox is read.
        let prefix = format!("mail/{org}/{}/", fetched.mailbox_id);
        if !fetched.raw_key.starts_with(&prefix) || fetched.raw_key.contains("..") {
            return Err(format!("a raw key outside {prefix}"));
        }
        let raw = self
            .ingest
            .blobs
            .get(&fetched.raw_key)
            .await?
            .ok_or_else(|| format!("no object at {}", fetched.raw_key))?;
        let outcome = self
            .ingest
            .ingest_stored(org, &mailbox.record, &fetched.raw_key, &raw, fetched.request_id.as_deref(), &[])
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(outcome = outcome_name(&outcome), "fetched mail ingested");
        Ok(Some(outcome))
    }

    /// A message SES received: routed by its envelope recipients, read from the bucket, and
    /// ingested for each mailbox it reached.
    async fn receive(&self, notification: &SimpleEmailService) -> Result<Vec<EmailOutcome>, String> {
        let action = &notification.receipt.action;
        if action.type_.as_deref() != Some("S3") {
            return Err(format!(
                "an SES notification for a {:?} action; the receipt rule must store to S3",
                action.type_
            ));
        }
        if action.bucket_name.as_deref() != Some(self.bucket.as_str()) {
            return Err(format!("an SES notification for bucket {:?}, not the data bucket", action.bucket_name));
        }
        let key = action.object_key.as_deref().ok_or("an SES notification without an object key")?;
        // Only where the receipt rule stores: never another organisation's kept mail.
        if !key.starts_with(SES_PREFIX) || key.contains("..") {
            return Err(format!("an SES notification for an object outside {SES_PREFIX}"));
        }
        let mut mailboxes: Vec<(OrgId, MailboxId)> = Vec::new();
        for recipient in &notification.receipt.recipients {
            match self.route(recipient).await? {
                Some(found) if !mailboxes.contains(&found) => mailboxes.push(found),
                Some(_) => {}
                None => tracing::info!("a recipient that names no mailbox"),
            }
        }
        if mailboxes.is_empty() {
            tracing::warn!(recipients = notification.receipt.recipients.len(), "SES mail for no mailbox; dropped");
            return Ok(Vec::new());
        }
        let raw = self.ingest.blobs.get(key).await?.ok_or_else(|| format!("no object at {key}"))?;
        let virus = notification.receipt.virus_verdict.status.as_deref() == Some("FAIL");
        let mut outcomes = Vec::new();
        for (org, id) in mailboxes {
            let Some(mailbox) = self.ingest.store.mailbox(org, id).await.map_err(|e| e.to_string())? else {
                continue;
            };
            if virus {
                // Kept raw (the admin can look), never opened as a conversation.
                let raw_key = helpdesk_platform::raw_mail::raw_mail_key(org, id, &raw);
                self.ingest.blobs.put(&raw_key, raw.clone()).await?;
                self.ingest
                    .store
                    .record_unreadable_mail(org, id, &raw_key, "SES's virus scan failed it")
                    .await
                    .map_err(|e| e.to_string())?;
                continue;
            }
            let outcome = self
                .ingest
                .ingest(
                    org,
                    &mailbox.record,
                    &raw,
                    notification.mail.message_id.as_deref(),
                    &notification.receipt.recipients,
                )
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(org = %org, mailbox = %id, outcome = outcome_name(&outcome), "SES mail ingested");
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    /// The mailbox an envelope recipient names: an inbound token, or one of our signed reply
    /// addresses (a forged one names nothing). Addresses outside the inbound domain name none.
    async fn route(&self, recipient: &str) -> Result<Option<(OrgId, MailboxId)>, String> {
        let address = recipient.trim().trim_start_matches('<').trim_end_matches('>').to_ascii_lowercase();
        let Some((local, domain)) = address.rsplit_once('@') else { return Ok(None) };
        if domain != self.ingest.inbound_domain {
            return Ok(None);
        }
        let found = match self.ingest.keys.read_reply_address(&address) {
            Some(conversation) => self.ingest.store.mailbox_for_conversation(ConversationId(conversation)).await,
            None => self.ingest.store.mailbox_for_inbound_token(local).await,
        };
        found.map_err(|e| e.to_string())
    }
}

fn outcome_name(outcome: &EmailOutcome) -> &'static str {
    match outcome {
        EmailOutcome::Accepted { .. } => "accepted",
        EmailOutcome::Duplicate { .. } => "duplicate",
        EmailOutcome::Ignored { .. } => "ignored",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample batch's bodies: SES's notification raw, then in SNS's envelope, then ours.
    fn sample_bodies() -> Vec<String> {
        let batch: SqsEvent =
            serde_json::from_str(include_str!("../../../events/mail-ingest/sqs-batch.json")).expect("an SQS event");
        batch.records.into_iter().map(|r| r.body.unwrap_or_default()).collect()
    }

    #[test]
    fn ses_notifications_are_read_raw_or_in_snss_envelope_and_ours_are_left_alone() {
        let bodies = sample_bodies();
        let Some(Ok(SesRecord::Received(raw))) = ses_record(&bodies[0]) else { panic!("a raw notification") };
        assert_eq!(raw.receipt.action.type_.as_deref(), Some("S3"));
        assert_eq!(
            raw.receipt.action.object_key.as_deref(),
            Some("inbound/ses/o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1")
        );
        let Some(Ok(SesRecord::Received(wrapped))) = ses_record(&bodies[1]) else { panic!("an enveloped one") };
        assert_eq!(wrapped.receipt.recipients, raw.receipt.recipients);
        assert!(ses_record(&bodies[2]).is_none(), "ours");
        let setup = r#"{"notificationType": "AMAZON_SES_SETUP_NOTIFICATION"}"#;
        assert!(matches!(ses_record(setup), Some(Ok(SesRecord::Other(_)))));
        assert!(ses_record("not json").is_none());
    }
}
