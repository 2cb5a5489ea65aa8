//! The `mail-fetcher` function: takes mailboxes' new mail from their servers. Two triggers:
//! a schedule (every minute: one `mailbox-sync` record per mailbox that fetches, the least
//! recently synced first) and SQS `mailbox-sync` (one mailbox per record: fetch it now).
//!
//! IMAP is polled, not watched (a Lambda cannot hold `IDLE`): per folder, the cursor in
//! DynamoDB says which `UIDVALIDITY` and last UID were taken; the folder is opened read-only
//! (`EXAMINE`) and new messages fetched with `BODY.PEEK[]`, so flags stay as people left them.
//! Each message is put in the data bucket (content-addressed, `raw_mail_key`) and announced on
//! `mail-ingest`; the cursor moves only past what was stored and announced, batch by batch, so
//! a run that dies is resumed and a message fetched twice is one object and one message (the
//! ingest de-duplicates). A run stops at its time budget and queues the mailbox again, so a
//! long gap (a first import, a fetcher that was down) is backfilled run after run. A message
//! that keeps failing is found by going one message at a time through the batch it failed in,
//! tried [`MAX_FETCH_ATTEMPTS`] times, then quarantined once (`mail.quarantined`) and passed. A lease per mailbox keeps two runs off one mailbox.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use helpdesk_domain::email::{ImapSettings, MailboxKind, MailboxStatus, OAuthMailbox, SyncStart};
use helpdesk_domain::sync::{FolderCursor, MailboxCursors, MAX_FETCH_ATTEMPTS};
use helpdesk_domain::{
    BlobStore, EmailFetched, MailIngestBody, MailboxId, MailboxSyncBody, MailboxSyncRequested, OrgId, Publisher,
    QueueRecord, SealedSecret, SecretSealer, MAILBOX_SECRET_PURPOSE,
};
use helpdesk_platform::config::{
    ConfigError, DataBucketConfig, DataKeyConfig, DatabaseConfig, Environment, FromEnvironment, MailSyncConfig,
    OutboundConfig, QueuesConfig,
};
use helpdesk_platform::imap::{FolderState, ImapFailure, ImapSession, Limits};
use helpdesk_platform::oauth::{OAuthApps, OAuthConfig, Provider};
use helpdesk_platform::raw_mail::raw_mail_key;
use helpdesk_platform::sqs::each_record;
use helpdesk_platform::{Deps, EventFunction, Function};
use helpdesk_store::{MailboxRecord, PgStore};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

mod providers;

/// Mailboxes one scheduled run queues at most; the rest (least recently synced last) wait a
/// minute.
pub const MAX_MAILBOXES_PER_SCHEDULE: i32 = 1000;
/// How long one mailbox's sync runs before it stops at a batch boundary and queues the rest
/// (the function's timeout is 300 s).
pub const RUN_TIME: Duration = Duration::from_secs(240);
/// A lease outlives the longest run (the function's timeout), so it is never taken from a run
/// still going; one nobody released lapses after it.
pub const LEASE: Duration = Duration::from_secs(330);
/// Messages larger than this are not fetched (quarantined instead): the ingest reads a message
/// whole (bytes; Gmail takes up to 50 MB with encoding).
pub const MAX_MESSAGE_BYTES: u32 = 50 * 1024 * 1024;
/// A batch: at most this many messages, or this many bytes (one larger message goes alone).
pub const BATCH_MESSAGES: usize = 50;
pub const BATCH_BYTES: u64 = 32 * 1024 * 1024;
/// How long one command before the rounds may take (opening a folder, a search).
const COMMAND_TIME: Duration = Duration::from_secs(60);
/// How long one round may take (up to 32 MB fetched and stored).
const ROUND_TIME: Duration = Duration::from_secs(120);

/// `work`, or the server's failure to answer within `limit`.
async fn within<T, E: Into<SyncFailure>>(
    limit: Duration,
    work: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, SyncFailure> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(SyncFailure::Server(ImapFailure::Unreachable(format!("no answer within {} s", limit.as_secs())))),
    }
}

/// Messages of a batch being put in the bucket at once.
pub(crate) const PARALLEL_PUTS: usize = 8;

/// What a sync may take and how it is cut (tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    pub run_time: Duration,
    pub batch_messages: usize,
    pub batch_bytes: u64,
    pub max_message_bytes: u32,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            run_time: RUN_TIME,
            batch_messages: BATCH_MESSAGES,
            batch_bytes: BATCH_BYTES,
            max_message_bytes: MAX_MESSAGE_BYTES,
        }
    }
}

/// The fetcher's dependencies, built once per container.
#[derive(Clone)]
pub struct Fetcher {
    pub store: PgStore,
    pub sealer: Arc<dyn SecretSealer>,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: Arc<dyn Publisher>,
    pub cursors: Arc<dyn MailboxCursors>,
    /// Where mailboxes' servers may be: public addresses in AWS; anywhere locally.
    pub destinations: helpdesk_outbound::Destinations,
    pub limits: FetchLimits,
    /// The Google and Microsoft apps mailboxes consented to.
    pub oauth: OAuthApps,
}

/// How long one mailbox's sync runs before it yields (`MAIL_SYNC_RUN_SECONDS`, default
/// [`RUN_TIME`], at most 240: the function's timeout is 300 s, and a run is cut off 30 s after
/// its budget). Every run takes at least one
/// batch, so even 0 makes progress (the tests use it to see a backfill go run by run).
#[derive(Debug, Clone, Deserialize)]
pub struct RunConfig {
    #[serde(default = "default_run_seconds")]
    pub mail_sync_run_seconds: u64,
}

fn default_run_seconds() -> u64 {
    RUN_TIME.as_secs()
}

/// The `mail-fetcher` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub data_key: DataKeyConfig,
    pub bucket: DataBucketConfig,
    pub queues: QueuesConfig,
    pub sync: MailSyncConfig,
    pub outbound: OutboundConfig,
    pub run: RunConfig,
    pub oauth: OAuthConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        let run: RunConfig = env.section()?;
        if run.mail_sync_run_seconds > 240 {
            return Err(ConfigError::variable(
                "MAIL_SYNC_RUN_SECONDS",
                format!("expected at most 240 (the function's timeout is 300 s), found {}", run.mail_sync_run_seconds),
            ));
        }
        Ok(Self {
            database: env.section()?,
            data_key: env.section()?,
            bucket: env.section()?,
            queues: env.section()?,
            sync: env.section()?,
            outbound: env.section()?,
            run,
            oauth: env.section()?,
        })
    }
}

impl Function for Fetcher {
    const NAME: &'static str = "mail-fetcher";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let destinations =
            helpdesk_outbound::Destinations::allowing_private(config.outbound.llm_allow_private_base_urls);
        Ok(Self {
            oauth: OAuthApps::from_config(&config.oauth, &deps.secrets, destinations).await?,
            store: deps.database(&config.database).await?,
            sealer: deps.sealer(&config.data_key),
            blobs: Arc::new(deps.blobs(&config.bucket)),
            publisher: Arc::new(deps.publisher(&config.queues)),
            cursors: Arc::new(helpdesk_aws::DynamoCursors::new(
                aws_sdk_dynamodb::Client::new(&deps.sdk),
                config.sync.mail_sync_table,
            )),
            destinations,
            limits: FetchLimits {
                run_time: Duration::from_secs(config.run.mail_sync_run_seconds),
                ..FetchLimits::default()
            },
        })
    }
}

/// What invokes the fetcher: a batch from `mailbox-sync`, or its schedule. Each parses as its
/// own shape only (an SQS event has `Records`; a scheduled one `detail-type` and `detail`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FetcherEvent {
    Requests(SqsEvent),
    Schedule(EventBridgeEvent),
}

/// The fetcher's answer: the failed records of a batch, or what a scheduled run queued.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum FetcherResponse {
    Requests(SqsBatchResponse),
    Schedule(ScheduleReport),
}

/// What one scheduled run did.
#[derive(Debug, Default, Serialize)]
pub struct ScheduleReport {
    /// Mailboxes queued on `mailbox-sync`.
    pub queued: usize,
    /// Mailboxes SQS did not take (the next minute's run queues them again).
    pub not_queued: usize,
}

/// What one mailbox's sync did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Messages stored and queued for ingest.
    pub fetched: usize,
    /// Messages given up on (`mail.quarantined`).
    pub quarantined: usize,
    /// The run stopped at its time budget with mail left: the mailbox was queued again.
    pub more: bool,
    /// Why nothing was fetched, when nothing was tried (paused, leased, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The server's failure, recorded on the mailbox's health.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

impl SyncReport {
    fn skipped(why: &str) -> Self {
        Self { skipped: Some(why.into()), ..Self::default() }
    }
}

/// Where a mailbox's mail is read from.
enum Source<'a> {
    Imap(&'a ImapSettings),
    Provider(Provider, &'a OAuthMailbox),
}

/// Why a sync stopped: the mail server (recorded on the mailbox; the record is done), or our
/// own infrastructure (the record fails and SQS redelivers it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncFailure {
    #[error(transparent)]
    Server(#[from] ImapFailure),
    #[error("{0}")]
    Infrastructure(String),
}

pub(crate) fn infrastructure(what: &str) -> impl Fn(String) -> SyncFailure + '_ {
    move |e| SyncFailure::Infrastructure(format!("{what}: {e}"))
}

impl EventFunction for Fetcher {
    type Event = FetcherEvent;
    type Response = FetcherResponse;

    async fn handle(&self, event: FetcherEvent) -> anyhow::Result<FetcherResponse> {
        Ok(match event {
            FetcherEvent::Requests(batch) => FetcherResponse::Requests(self.handle_requests(batch).await),
            FetcherEvent::Schedule(_) => FetcherResponse::Schedule(self.handle_schedule().await?),
        })
    }
}

impl Fetcher {
    /// The schedule: one `mailbox-sync` record per mailbox that fetches.
    pub async fn handle_schedule(&self) -> anyhow::Result<ScheduleReport> {
        let due = self.store.mailboxes_due_for_sync(MAX_MAILBOXES_PER_SCHEDULE).await?;
        let records: Vec<QueueRecord> = due
            .into_iter()
            .map(|(org, mailbox)| {
                QueueRecord::direct(&MailboxSyncBody::SyncRequested(MailboxSyncRequested {
                    organization_id: org,
                    mailbox_id: mailbox,
                    request_id: None,
                }))
            })
            .collect();
        let rejected = self.publisher.publish(&records).await;
        for (_, why) in &rejected {
            tracing::warn!(why, "a mailbox was not queued for sync; the next run queues it");
        }
        let report = ScheduleReport { queued: records.len() - rejected.len(), not_queued: rejected.len() };
        tracing::info!(queued = report.queued, not_queued = report.not_queued, "mailboxes queued for sync");
        Ok(report)
    }

    /// `mailbox-sync` records: each mailbox synced; a record fails (and is redelivered) only
    /// when our own infrastructure failed — a mail server's failure is the mailbox's health.
    pub async fn handle_requests(&self, event: SqsEvent) -> SqsBatchResponse {
        each_record(Self::NAME, event, |body: MailboxSyncBody| async move {
            let MailboxSyncBody::SyncRequested(request) = body;
            let report = self.sync(request.organization_id, request.mailbox_id).await?;
            tracing::info!(
                fetched = report.fetched,
                quarantined = report.quarantined,
                more = report.more,
                skipped = report.skipped.as_deref().unwrap_or(""),
                failure = report.failure.as_deref().unwrap_or(""),
                "mailbox synced"
            );
            Ok::<_, anyhow::Error>(report)
        })
        .await
        .response
    }

    /// Fetches one mailbox's new mail, records its health, and queues it again when mail is
    /// left (a run stopped at its time budget).
    pub async fn sync(&self, org: OrgId, id: MailboxId) -> anyhow::Result<SyncReport> {
        let Some(mailbox) = self.store.mailbox(org, id).await? else {
            return Ok(SyncReport::skipped("no such mailbox (deleted)"));
        };
        if mailbox.record.status == MailboxStatus::Paused {
            return Ok(SyncReport::skipped("paused"));
        }
        let Some(sealed) = &mailbox.secret else {
            return Ok(SyncReport::skipped("nothing to fetch from"));
        };
        let source = match (mailbox.record.kind, &mailbox.record.settings.imap, &mailbox.record.settings.oauth) {
            (MailboxKind::Imap, Some(imap), _) => Source::Imap(imap),
            (MailboxKind::Gmail, _, Some(oauth)) => Source::Provider(Provider::Google, oauth),
            (MailboxKind::Microsoft, _, Some(oauth)) => Source::Provider(Provider::Microsoft, oauth),
            _ => return Ok(SyncReport::skipped("nothing to fetch from")),
        };
        let holder = uuid::Uuid::now_v7().to_string();
        let until = Utc::now() + chrono::Duration::from_std(LEASE).expect("a short duration");
        if !self.cursors.lease(org, id, &holder, until).await.map_err(anyhow::Error::msg)? {
            return Ok(SyncReport::skipped("another run is fetching it"));
        }
        let result = match source {
            Source::Imap(imap) => self.sync_imap(org, &mailbox.record, imap, sealed).await,
            Source::Provider(provider, oauth) => {
                let work = self.sync_provider(org, &mailbox.record, provider, oauth, sealed);
                let limit = self.limits.run_time + Duration::from_secs(30);
                tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
                    Err(SyncFailure::Server(ImapFailure::Unreachable(format!(
                        "no answer within {} s",
                        limit.as_secs()
                    ))))
                })
            }
        };
        if let Err(e) = self.cursors.release(org, id, &holder).await {
            tracing::warn!(error = %e, "the lease was not released; it lapses on its own");
        }
        let (report, status) = match result {
            Ok(report) => (report, None),
            Err(SyncFailure::Server(failure)) => {
                let status = match failure {
                    ImapFailure::AuthFailed(_) => MailboxStatus::AuthFailed,
                    ImapFailure::Unreachable(_) => MailboxStatus::Unreachable,
                };
                (SyncReport { failure: Some(failure.to_string()), ..SyncReport::default() }, Some(status))
            }
            Err(SyncFailure::Infrastructure(e)) => anyhow::bail!(e),
        };
        let failure = status.zip(report.failure.as_deref());
        let synced = failure.is_none() && !report.more;
        self.store.record_mailbox_health(org, id, mailbox.record.updated_at, failure, synced).await?;
        if report.more {
            let again = QueueRecord::direct(&MailboxSyncBody::SyncRequested(MailboxSyncRequested {
                organization_id: org,
                mailbox_id: id,
                request_id: None,
            }));
            if let Some((_, why)) = self.publisher.publish(std::slice::from_ref(&again)).await.first() {
                tracing::warn!(why, "the rest of the mailbox was not queued; the schedule picks it up");
            }
        }
        Ok(report)
    }

    async fn sync_imap(
        &self,
        org: OrgId,
        mailbox: &MailboxRecord,
        imap: &ImapSettings,
        sealed: &SealedSecret,
    ) -> Result<SyncReport, SyncFailure> {
        let secret = self
            .sealer
            .open(org, MAILBOX_SECRET_PURPOSE, sealed)
            .await
            .map_err(infrastructure("opening the mailbox's secret"))?;
        let secret = String::from_utf8(secret)
            .map_err(|_| SyncFailure::Infrastructure("the mailbox's secret is not UTF-8".into()))?;
        let deadline = Instant::now() + self.limits.run_time;
        let limits = Limits::fetch(u64::from(self.limits.max_message_bytes) + 1024);
        let work = async {
            // As long as a check may take: a server that does not answer is not waited for.
            let mut session =
                within(helpdesk_platform::imap::DEADLINE, ImapSession::open(imap, &secret, self.destinations, limits))
                    .await?;
            let mut report = SyncReport::default();
            let mut pass = Pass { org, mailbox, imap, secret: &secret, deadline, rounds: 0 };
            for folder in &imap.folders {
                self.sync_folder(&mut session, &mut pass, folder, &mut report).await?;
                if report.more {
                    break;
                }
            }
            session.logout().await;
            Ok(report)
        };
        // A server that stops answering mid-command is cut off a little after the budget (the
        // cursor holds what was taken so far).
        tokio::time::timeout(self.limits.run_time + Duration::from_secs(30), work).await.unwrap_or_else(|_| {
            Err(SyncFailure::Server(ImapFailure::Unreachable(format!(
                "no answer within {} s",
                (self.limits.run_time + Duration::from_secs(30)).as_secs()
            ))))
        })
    }

    /// One folder: from its cursor (or the mailbox's start setting on the first sync, or the
    /// last sync's day after a `UIDVALIDITY` change) to its end or the deadline.
    async fn sync_folder(
        &self,
        session: &mut ImapSession,
        pass: &mut Pass<'_>,
        folder: &str,
        report: &mut SyncReport,
    ) -> Result<(), SyncFailure> {
        let (org, mailbox, imap) = (pass.org, pass.mailbox, pass.imap);
        let state = within(COMMAND_TIME, session.examine(folder)).await?;
        let uid_validity = state.uid_validity.unwrap_or(0);
        let stored =
            self.cursors.cursor(org, mailbox.id, folder).await.map_err(infrastructure("reading the cursor"))?;
        let fresh = || FolderCursor {
            uid_validity,
            last_uid: 0,
            attempt_uid: None,
            attempts: 0,
            careful_until: None,
            synced_at: Utc::now(),
        };
        let (mut cursor, pending) = match stored {
            Some(cursor) if cursor.uid_validity == uid_validity => {
                let pending = within(COMMAND_TIME, session.uids_after(cursor.last_uid)).await?;
                (cursor, pending)
            }
            Some(old) => {
                // Every UID is new (RFC 9051 §2.3.1.1): read again what arrived since the day
                // before the last complete sync; what was taken already is a duplicate to the
                // ingest and stored once.
                tracing::warn!(
                    folder,
                    old = old.uid_validity,
                    new = uid_validity,
                    "UIDVALIDITY changed: reading the folder again from its last sync"
                );
                let since = (old.synced_at - chrono::Duration::days(1)).date_naive();
                (fresh(), within(COMMAND_TIME, session.uids_since(since)).await?)
            }
            None => match imap.start {
                SyncStart::Now => {
                    // Only what arrives from now on: the cursor starts at the newest message.
                    let newest = match state.uid_next {
                        Some(_) => newest_uid(&state),
                        None => within(COMMAND_TIME, session.uids_after(0)).await?.last().copied().unwrap_or(0),
                    };
                    (FolderCursor { last_uid: newest, ..fresh() }, Vec::new())
                }
                SyncStart::Import => {
                    let days = i64::from(imap.import_days.unwrap_or(1));
                    let since = (Utc::now() - chrono::Duration::days(days)).date_naive();
                    (fresh(), within(COMMAND_TIME, session.uids_since(since)).await?)
                }
            },
        };
        // Read from a window (an import, a renumbered folder): the cursor starts just below its
        // first message, so a run that fails now resumes there, not at the folder's beginning.
        if cursor.last_uid == 0 {
            if let Some(first) = pending.first() {
                cursor.last_uid = first.saturating_sub(1);
            }
        }
        let mut queue: VecDeque<u32> = pending.into();
        while let Some(&next) = queue.front() {
            // Every run takes at least one batch, whatever its budget.
            pass.rounds += 1;
            if pass.rounds > 1 && Instant::now() >= pass.deadline {
                report.more = true;
                break;
            }
            let retrying = cursor.attempt_uid == Some(next);
            if retrying && cursor.attempts >= MAX_FETCH_ATTEMPTS {
                let why = format!("fetching it failed {} times", cursor.attempts);
                self.quarantine(org, mailbox.id, folder, next, &why).await?;
                report.quarantined += 1;
                queue.pop_front();
                cursor = FolderCursor { last_uid: next.max(cursor.last_uid), attempt_uid: None, attempts: 0, ..cursor };
                self.save(org, mailbox.id, folder, &cursor).await?;
                continue;
            }
            let before = cursor.clone();
            let round = Round { org, mailbox: mailbox.id, folder, next, retrying };
            let taken = within(ROUND_TIME, self.round(session, &round, &mut cursor, &mut queue, report)).await;
            match taken {
                Ok(()) => {}
                // Our own failure (storage, the queue) is not the message's: its attempt is
                // undone.
                Err(SyncFailure::Infrastructure(e)) => {
                    let _ = self.cursors.save(org, mailbox.id, folder, &before).await;
                    return Err(SyncFailure::Infrastructure(e));
                }
                // A message taken alone failed. It is the message's only if the server answers
                // a fresh connection meanwhile; a server that is down or throttling is not the
                // message's fault, and its attempt is undone.
                Err(SyncFailure::Server(failure)) => {
                    if cursor.attempt_uid.is_some() && !self.server_answers(pass, folder).await {
                        let _ = self.cursors.save(org, mailbox.id, folder, &before).await;
                    }
                    return Err(SyncFailure::Server(failure));
                }
            }
        }
        if queue.is_empty() {
            cursor.last_uid = cursor.last_uid.max(newest_uid(&state));
            cursor.synced_at = Utc::now();
            self.save(org, mailbox.id, folder, &cursor).await?;
        }
        Ok(())
    }

    /// One round: the next batch (or, inside a batch that failed before, the next message)
    /// sized, fetched, stored and announced, and the cursor moved past it.
    async fn round(
        &self,
        session: &mut ImapSession,
        round: &Round<'_>,
        cursor: &mut FolderCursor,
        queue: &mut VecDeque<u32>,
        report: &mut SyncReport,
    ) -> Result<(), SyncFailure> {
        // Inside a batch that failed before, one message at a time: a failure then names
        // its message.
        let careful = cursor.careful_until.is_some_and(|until| round.next <= until);
        let take = if careful { 1 } else { self.limits.batch_messages };
        let candidates: Vec<u32> = queue.iter().take(take).copied().collect();
        let last = *candidates.last().expect("not empty");
        // Recorded before the server is asked anything about the round, so a run that dies
        // from here on leaves its trace: a batch is gone through one message at a time next
        // time, and a message taken alone counts an attempt.
        let careful_before = cursor.careful_until;
        if careful {
            cursor.attempts = if round.retrying { cursor.attempts + 1 } else { 1 };
            cursor.attempt_uid = Some(round.next);
        } else {
            cursor.attempts = 0;
            cursor.attempt_uid = None;
        }
        cursor.careful_until = Some(careful_before.map_or(last, |until| until.max(last)));
        self.save(round.org, round.mailbox, round.folder, cursor).await?;

        let sizes: HashMap<u32, u32> = session.sizes(&candidates).await?.into_iter().collect();
        self.unanswered(session, round.folder, &candidates, |uid| sizes.contains_key(&uid)).await?;
        let mut batch = Vec::new();
        let mut bytes = 0u64;
        let mut oversized = Vec::new();
        for &uid in &candidates {
            match sizes.get(&uid) {
                // Expunged since the search: nothing to take.
                None => {}
                Some(&size) if size > self.limits.max_message_bytes => oversized.push((uid, size)),
                Some(&size) => {
                    if !batch.is_empty() && bytes + u64::from(size) > self.limits.batch_bytes {
                        break;
                    }
                    bytes += u64::from(size);
                    batch.push(uid);
                }
            }
        }
        // What this round covers: the candidates up to the last one batched, or all of
        // them when none is left to fetch.
        let covered = batch.last().copied().unwrap_or(last);

        let messages = session.fetch(&batch).await?;
        self.unanswered(session, round.folder, &batch, |uid| messages.iter().any(|m| m.uid == uid)).await?;
        let mut whole = Vec::new();
        let mut stopped_at = None;
        for message in messages {
            match message.raw {
                Some(raw) => whole.push((message.uid, raw)),
                None => {
                    stopped_at = Some(message.uid);
                    break;
                }
            }
        }
        // Stored a few at a time: a put is a round trip, and a batch is up to 50 of them.
        let stored: Vec<(u32, String)> = futures::stream::iter(whole.into_iter().map(|(uid, raw)| async move {
            let raw_key = raw_mail_key(round.org, round.mailbox, &raw);
            self.blobs.put(&raw_key, raw).await.map(|()| (uid, raw_key))
        }))
        .buffered(PARALLEL_PUTS)
        .try_collect()
        .await
        .map_err(infrastructure("storing a message"))?;
        let records: Vec<QueueRecord> = stored
            .into_iter()
            .map(|(uid, raw_key)| {
                QueueRecord::direct(&MailIngestBody::EmailFetched(EmailFetched {
                    organization_id: round.org,
                    mailbox_id: round.mailbox,
                    raw_key,
                    source: format!("imap {} uid {uid}", round.folder),
                    request_id: None,
                }))
            })
            .collect();
        let rejected = self.publisher.publish(&records).await;
        if let Some((_, why)) = rejected.first() {
            return Err(SyncFailure::Infrastructure(format!("queueing fetched mail: {why}")));
        }
        report.fetched += records.len();
        if let Some(uid) = stopped_at {
            // The server sent no body for it: what came before it is taken, and it is tried
            // again (alone) next run.
            tracing::warn!(folder = round.folder, uid, "the server sent no body for a message");
            let before = queue.iter().take_while(|u| **u < uid).last().copied().unwrap_or(cursor.last_uid);
            let attempts = if uid == round.next && careful { cursor.attempts } else { 1 };
            *cursor = FolderCursor {
                last_uid: before.max(cursor.last_uid),
                attempt_uid: Some(uid),
                attempts,
                careful_until: Some(covered.max(uid)),
                ..cursor.clone()
            };
            self.save(round.org, round.mailbox, round.folder, cursor).await?;
            return Err(SyncFailure::Server(ImapFailure::Unreachable(format!(
                "{}: the server sent no body for message {uid}",
                round.folder
            ))));
        }
        // Too large to fetch: given up on once the round around them is through.
        for (uid, size) in oversized.into_iter().filter(|(uid, _)| *uid <= covered) {
            let why = format!("{size} bytes, more than the {} a fetch takes", self.limits.max_message_bytes);
            self.quarantine(round.org, round.mailbox, round.folder, uid, &why).await?;
            report.quarantined += 1;
        }
        while queue.front().is_some_and(|u| *u <= covered) {
            queue.pop_front();
        }
        // One at a time still only where an earlier round failed.
        let careful_until = careful_before.filter(|until| *until > covered);
        *cursor = FolderCursor {
            last_uid: covered.max(cursor.last_uid),
            attempt_uid: None,
            attempts: 0,
            careful_until,
            ..cursor.clone()
        };
        self.save(round.org, round.mailbox, round.folder, cursor).await?;
        Ok(())
    }

    /// Whether the server answers a fresh connection (sign-in and the folder) within a short
    /// while: after a message taken alone failed, it tells the message's fault from the
    /// server's.
    async fn server_answers(&self, pass: &Pass<'_>, folder: &str) -> bool {
        let probe = async {
            let mut session = ImapSession::open(pass.imap, pass.secret, self.destinations, Limits::CHECK).await?;
            session.examine(folder).await?;
            session.logout().await;
            Ok::<_, ImapFailure>(())
        };
        matches!(tokio::time::timeout(Duration::from_secs(20), probe).await, Ok(Ok(())))
    }

    /// A failure when a message the server left out of an answer is still in the folder (it
    /// could not read it); messages expunged meanwhile are simply gone.
    async fn unanswered(
        &self,
        session: &mut ImapSession,
        folder: &str,
        asked: &[u32],
        answered: impl Fn(u32) -> bool,
    ) -> Result<(), SyncFailure> {
        let missing: Vec<u32> = asked.iter().copied().filter(|uid| !answered(*uid)).collect();
        match session.existing(&missing).await?.first() {
            Some(uid) => Err(SyncFailure::Server(ImapFailure::Unreachable(format!(
                "{folder}: the server did not answer for message {uid}"
            )))),
            None => Ok(()),
        }
    }

    async fn save(
        &self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &str,
        cursor: &FolderCursor,
    ) -> Result<(), SyncFailure> {
        self.cursors.save(org, mailbox, folder, cursor).await.map_err(infrastructure("saving the cursor"))
    }

    async fn quarantine(
        &self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &str,
        uid: u32,
        why: &str,
    ) -> Result<(), SyncFailure> {
        tracing::warn!(folder, uid, why, "message quarantined");
        self.store
            .record_quarantined_mail(org, mailbox, folder, serde_json::json!({ "uid": uid }), why)
            .await
            .map_err(|e| SyncFailure::Infrastructure(format!("recording a quarantined message: {e}")))
    }
}

/// One run over an IMAP mailbox: whose, how to reach it again, and its budget (rounds are
/// counted over every folder: each run takes at least one, not one per folder).
struct Pass<'a> {
    org: OrgId,
    mailbox: &'a MailboxRecord,
    imap: &'a ImapSettings,
    secret: &'a str,
    deadline: Instant,
    rounds: usize,
}

/// Where a round is: whose folder, and the first UID it takes.
struct Round<'a> {
    org: OrgId,
    mailbox: MailboxId,
    folder: &'a str,
    next: u32,
    /// The same UID began the last round that did not finish.
    retrying: bool,
}

/// The highest UID the folder had when it was opened (`UIDNEXT` − 1; 0 when the server did not
/// say, and then only what was fetched moves the cursor).
fn newest_uid(state: &FolderState) -> u32 {
    state.uid_next.map_or(0, |next| next.saturating_sub(1))
}
