//! Gmail and Microsoft 365 mailboxes, read through their APIs (`helpdesk_platform::oauth`).
//!
//! Each run trades the sealed refresh token for an access token (keeping a rotated refresh
//! token), then per folder: Gmail's history since the stored `historyId` (404: too old — a full
//! sync of the days since the last one, then the profile's current `historyId`); Graph's delta
//! query from the stored delta link (410: a new round). The first sync takes nothing (`start:
//! now`) or the last `import_days`. Every message found is fetched raw (`format=raw`,
//! `$value`), put in the bucket and announced on `mail-ingest`, as IMAP's are; the position
//! moves only once they all are. A message whose fetch keeps failing is quarantined after
//! [`MAX_FETCH_ATTEMPTS`].

use crate::{infrastructure, Fetcher, SyncFailure, SyncReport};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use helpdesk_domain::email::{OAuthMailbox, SyncStart};
use helpdesk_domain::sync::{ProviderCursor, MAX_FETCH_ATTEMPTS};
use helpdesk_domain::{
    EmailFetched, MailIngestBody, MailboxId, OrgId, QueueRecord, SealedSecret, MAILBOX_SECRET_PURPOSE,
};
use helpdesk_platform::oauth::{Listed, MailApi, OAuthError, Provider};
use helpdesk_platform::raw_mail::raw_mail_key;
use helpdesk_store::MailboxRecord;

/// The most days a full sync reads back after a lost position.
const MAX_RESYNC_DAYS: i64 = 30;
/// Messages fetched from the API at once (each held whole until stored).
const PARALLEL_FETCHES: usize = 4;
/// The most ids a cursor remembers as taken in an unfinished pass.
const MAX_TAKEN: usize = 10_000;

impl From<OAuthError> for SyncFailure {
    fn from(e: OAuthError) -> Self {
        match e {
            OAuthError::Refused(why) => SyncFailure::Server(helpdesk_platform::imap::ImapFailure::AuthFailed(why)),
            other => SyncFailure::Server(helpdesk_platform::imap::ImapFailure::Unreachable(other.to_string())),
        }
    }
}

impl Fetcher {
    pub(crate) async fn sync_provider(
        &self,
        org: OrgId,
        mailbox: &MailboxRecord,
        provider: Provider,
        settings: &OAuthMailbox,
        sealed: &SealedSecret,
    ) -> Result<SyncReport, SyncFailure> {
        let refresh = self
            .sealer
            .open(org, MAILBOX_SECRET_PURPOSE, sealed)
            .await
            .map_err(infrastructure("opening the mailbox's token"))?;
        let refresh = String::from_utf8(refresh)
            .map_err(|_| SyncFailure::Infrastructure("the mailbox's token is not UTF-8".into()))?;
        let tokens = self.oauth.refresh(provider, &refresh).await?;
        if let Some(rotated) = tokens.refresh_token.as_deref().filter(|t| *t != refresh) {
            // Microsoft hands back a new refresh token; the old one stops working in time.
            let sealed = self
                .sealer
                .seal(org, MAILBOX_SECRET_PURPOSE, rotated.as_bytes())
                .await
                .map_err(infrastructure("sealing the rotated token"))?;
            self.store
                .replace_mailbox_secret(org, mailbox.id, &sealed)
                .await
                .map_err(|e| SyncFailure::Infrastructure(format!("keeping the rotated token: {e}")))?;
        }
        let api = self.oauth.mail(provider, &tokens.access_token)?;
        let deadline = tokio::time::Instant::now() + self.limits.run_time;
        let mut report = SyncReport::default();
        let mut rounds = 0;
        for folder in &settings.folders {
            let stored = self
                .cursors
                .provider_cursor(org, mailbox.id, folder)
                .await
                .map_err(infrastructure("reading the cursor"))?;
            // A first sync that has not reached its end has no position yet.
            let started = stored.as_ref().filter(|c| !c.position.is_empty());
            let (found, position) = match provider {
                Provider::Google => gmail_changes(&api, folder, settings, started).await?,
                Provider::Microsoft => graph_changes(&api, folder, settings, started).await?,
            };
            let mut cursor = stored.clone().unwrap_or(ProviderCursor {
                position: String::new(),
                synced_at: Utc::now(),
                failing_id: None,
                attempts: 0,
                taken: Vec::new(),
            });
            let todo: Vec<Listed> = found.into_iter().filter(|m| !cursor.taken.contains(&m.id)).collect();
            for chunk in todo.chunks(crate::BATCH_MESSAGES) {
                rounds += 1;
                if rounds > 1 && tokio::time::Instant::now() >= deadline {
                    // The position stays and what was taken is remembered: the next run (queued
                    // at once) goes on past it.
                    report.more = true;
                    self.save_provider(org, mailbox.id, folder, &cursor).await?;
                    return Ok(report);
                }
                let result = self.take(org, mailbox.id, provider, folder, &api, chunk, &mut cursor, &mut report).await;
                self.save_provider(org, mailbox.id, folder, &cursor).await?;
                result?;
            }
            let done =
                ProviderCursor { position, synced_at: Utc::now(), failing_id: None, attempts: 0, taken: Vec::new() };
            self.save_provider(org, mailbox.id, folder, &done).await?;
        }
        Ok(report)
    }

    async fn save_provider(
        &self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &str,
        cursor: &ProviderCursor,
    ) -> Result<(), SyncFailure> {
        self.cursors
            .save_provider_cursor(org, mailbox, folder, cursor)
            .await
            .map_err(infrastructure("saving the cursor"))
    }

    /// Fetches, stores and announces one chunk of found messages, and notes them on the
    /// cursor as taken. A message the provider will not give (`Unreadable`) counts an attempt
    /// against it, and the one that has failed [`MAX_FETCH_ATTEMPTS`] times — or is larger than
    /// a fetch takes — is quarantined and passed; a throttled or failing service counts nothing.
    #[allow(clippy::too_many_arguments)]
    async fn take(
        &self,
        org: OrgId,
        mailbox: MailboxId,
        provider: Provider,
        folder: &str,
        api: &MailApi<'_>,
        chunk: &[Listed],
        cursor: &mut ProviderCursor,
        report: &mut SyncReport,
    ) -> Result<(), SyncFailure> {
        let ids: Vec<String> = chunk.iter().map(|m| m.id.clone()).collect();
        let max = u64::from(self.limits.max_message_bytes);
        // A few at a time: each is held whole until it is stored.
        let fetched: Vec<(String, Result<Vec<u8>, OAuthError>)> = futures::stream::iter(ids)
            .map(move |id| async move {
                let raw = api.raw(&id, max).await;
                (id, raw)
            })
            .buffered(PARALLEL_FETCHES)
            .collect()
            .await;
        let mut whole = Vec::new();
        let mut given_up = Vec::new();
        let mut failure = None;
        for (id, raw) in fetched {
            if failure.is_some() {
                break;
            }
            match raw {
                Ok(raw) => whole.push((id, raw)),
                // Deleted since it was listed.
                Err(OAuthError::NotFound) => given_up.push(id),
                Err(OAuthError::TooLarge(size)) => {
                    let why = format!("{size} bytes, more than the {max} a fetch takes");
                    self.quarantine_provider(org, mailbox, folder, &id, &why).await?;
                    report.quarantined += 1;
                    given_up.push(id);
                }
                Err(OAuthError::Unreadable(why)) => {
                    let attempts =
                        if cursor.failing_id.as_deref() == Some(id.as_str()) { cursor.attempts + 1 } else { 1 };
                    if attempts >= MAX_FETCH_ATTEMPTS {
                        let why = format!("fetching it failed {attempts} times: {why}");
                        self.quarantine_provider(org, mailbox, folder, &id, &why).await?;
                        report.quarantined += 1;
                        given_up.push(id);
                        cursor.failing_id = None;
                        cursor.attempts = 0;
                    } else {
                        cursor.failing_id = Some(id);
                        cursor.attempts = attempts;
                        failure = Some(SyncFailure::from(OAuthError::Unreadable(why)));
                    }
                }
                Err(other) => failure = Some(other.into()),
            }
        }
        let stored: Vec<(String, String)> = futures::stream::iter(whole.into_iter().map(|(id, raw)| async move {
            let raw_key = raw_mail_key(org, mailbox, &raw);
            self.blobs.put(&raw_key, raw).await.map(|()| (id, raw_key))
        }))
        .buffered(crate::PARALLEL_PUTS)
        .try_collect()
        .await
        .map_err(infrastructure("storing a message"))?;
        let records: Vec<QueueRecord> = stored
            .iter()
            .map(|(id, raw_key)| {
                QueueRecord::direct(&MailIngestBody::EmailFetched(EmailFetched {
                    organization_id: org,
                    mailbox_id: mailbox,
                    raw_key: raw_key.clone(),
                    source: format!("{} {folder} {id}", provider.as_str()),
                    request_id: None,
                }))
            })
            .collect();
        if let Some((_, why)) = self.publisher.publish(&records).await.first() {
            return Err(SyncFailure::Infrastructure(format!("queueing fetched mail: {why}")));
        }
        report.fetched += records.len();
        for id in stored.into_iter().map(|(id, _)| id).chain(given_up) {
            if !cursor.taken.contains(&id) {
                cursor.taken.push(id);
            }
        }
        // Bounded (an item holds 400 KB): the oldest forgotten are at worst fetched again, and
        // the ingest knows them.
        if cursor.taken.len() > MAX_TAKEN {
            let extra = cursor.taken.len() - MAX_TAKEN;
            cursor.taken.drain(..extra);
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn quarantine_provider(
        &self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &str,
        id: &str,
        why: &str,
    ) -> Result<(), SyncFailure> {
        tracing::warn!(folder, id, why, "message quarantined");
        self.store
            .record_quarantined_mail(org, mailbox, folder, serde_json::json!({ "id": id }), why)
            .await
            .map_err(|e| SyncFailure::Infrastructure(format!("recording a quarantined message: {e}")))
    }
}

/// How many days back a first import or a lost position reads.
fn days_back(settings: &OAuthMailbox, stored: Option<&ProviderCursor>) -> Option<u32> {
    match stored {
        Some(cursor) => Some(((Utc::now() - cursor.synced_at).num_days() + 1).clamp(1, MAX_RESYNC_DAYS) as u32),
        None => match settings.start {
            SyncStart::Now => None,
            SyncStart::Import => Some(u32::from(settings.import_days.unwrap_or(1))),
        },
    }
}

/// Gmail: the messages added to `label` since the stored `historyId` (oldest first), and the
/// position to store once they are taken.
async fn gmail_changes(
    api: &MailApi<'_>,
    label: &str,
    settings: &OAuthMailbox,
    stored: Option<&ProviderCursor>,
) -> Result<(Vec<Listed>, String), SyncFailure> {
    if let Some(cursor) = stored {
        let mut found = Vec::new();
        let mut page: Option<String> = None;
        let mut position = cursor.position.clone();
        loop {
            match api.gmail_history(&cursor.position, label, page.as_deref()).await {
                Ok(changes) => {
                    found.extend(changes.added);
                    if let Some(p) = changes.position {
                        position = p;
                    }
                    match changes.next {
                        Some(next) => page = Some(next),
                        None => return Ok((found, position)),
                    }
                }
                // The history does not reach back that far: a full sync below.
                Err(OAuthError::Expired) => break,
                Err(e) => return Err(e.into()),
            }
        }
        tracing::warn!(label, "Gmail's history no longer reaches the stored position: a full sync");
    }
    // The current position first: what arrives while listing is found next time.
    let (_, history_id) = api.profile().await?;
    let position = history_id.ok_or_else(|| SyncFailure::Infrastructure("Gmail's profile had no historyId".into()))?;
    let mut found = Vec::new();
    if let Some(days) = days_back(settings, stored) {
        let mut page: Option<String> = None;
        loop {
            let changes = api.gmail_list(label, days, page.as_deref()).await?;
            found.extend(changes.added);
            match changes.next {
                Some(next) => page = Some(next),
                None => break,
            }
        }
        // Listed newest first.
        found.reverse();
    }
    Ok((found, position))
}

/// Graph: the messages of `folder` the delta query reports since the stored delta link (on a
/// first or renewed round: those received within the window), and the new delta link.
async fn graph_changes(
    api: &MailApi<'_>,
    folder: &str,
    settings: &OAuthMailbox,
    stored: Option<&ProviderCursor>,
) -> Result<(Vec<Listed>, String), SyncFailure> {
    if let Some(cursor) = stored {
        match walk_delta(api, folder, Some(&cursor.position)).await {
            // Changes also report messages that were only read or flagged: only those received
            // since the last sync (a day's margin) are fetched.
            Ok((found, position)) => {
                let since = cursor.synced_at - chrono::Duration::days(1);
                return Ok((received_since(found, Some(since)), position));
            }
            Err(OAuthError::Expired) => tracing::warn!(folder, "Graph's delta link expired (410): a new round"),
            Err(e) => return Err(e.into()),
        }
    }
    let (found, position) = walk_delta(api, folder, None).await?;
    let since = days_back(settings, stored).map(|days| Utc::now() - chrono::Duration::days(i64::from(days)));
    let found = match since {
        None => Vec::new(),
        Some(since) => received_since(found, Some(since)),
    };
    Ok((found, position))
}

fn received_since(found: Vec<Listed>, since: Option<DateTime<Utc>>) -> Vec<Listed> {
    let mut found: Vec<Listed> =
        found.into_iter().filter(|m| since.is_none_or(|s| m.received.is_none_or(|r| r >= s))).collect();
    found.sort_by_key(|m| m.received);
    found
}

/// Every page of a delta round, to its delta link.
async fn walk_delta(api: &MailApi<'_>, folder: &str, from: Option<&str>) -> Result<(Vec<Listed>, String), OAuthError> {
    let mut found: Vec<Listed> = Vec::new();
    let mut link = from.map(str::to_string);
    loop {
        let changes = api.graph_delta(folder, link.as_deref()).await?;
        for m in changes.added {
            if !found.iter().any(|f| f.id == m.id) {
                found.push(m);
            }
        }
        match (changes.next, changes.position) {
            (Some(next), _) => link = Some(next),
            (None, Some(delta)) => return Ok((found, delta)),
            (None, None) => {
                return Err(OAuthError::Unreachable("a delta page with neither a next nor a delta link".into()))
            }
        }
    }
}
