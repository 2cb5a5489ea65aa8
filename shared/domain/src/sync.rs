//! Where a mailbox's fetching stands: one cursor per folder (IMAP's `UIDVALIDITY` and the last
//! UID taken, RFC 9051 §2.3.1.1) and a lease so two fetchers never read one mailbox at once.
//! DynamoDB keeps them in AWS (`helpdesk-aws`); [`MemoryCursors`] serves unit tests.

use crate::{MailboxId, OrgId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// How many times the fetcher tries a message before it quarantines it (skips it for good and
/// says so with a `mail.quarantined` event): a message that breaks every run must not stop the
/// folder behind it.
pub const MAX_FETCH_ATTEMPTS: u32 = 3;

/// One folder's place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderCursor {
    /// The folder's `UIDVALIDITY` when the UIDs below were read; when the server reports
    /// another, every UID of the folder is new.
    pub uid_validity: u32,
    /// Every message up to this UID has been taken (or was quarantined).
    pub last_uid: u32,
    /// The first UID of a round that was begun and not finished, and how many times it was
    /// begun: a run that dies inside a round (a server error, a timeout, a crash) leaves it
    /// behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_uid: Option<u32>,
    #[serde(default)]
    pub attempts: u32,
    /// The last UID of the rounds begun: up to it, after a failure, messages are taken one at
    /// a time, so the one that keeps failing is found and quarantined, not its whole batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub careful_until: Option<u32>,
    /// When the folder was last read to the end (the window a `UIDVALIDITY` change re-reads
    /// from).
    pub synced_at: DateTime<Utc>,
}

/// Where a mailbox read through its provider's API stands in one folder: Gmail's `historyId`
/// or Graph's delta link, and a message that keeps failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderCursor {
    /// Empty until the folder's first sync is through.
    pub position: String,
    /// When the folder was last read to the end (the window a lost position re-reads from).
    pub synced_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_id: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    /// Messages already taken (or given up on) by a pass that has not reached its end: a run
    /// that stops at its budget is resumed past them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taken: Vec<String>,
}

/// What a [`MailboxCursors`] call returns (boxed, so generic callers stay `Send`).
pub type CursorFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// The port to where cursors and leases live.
pub trait MailboxCursors: Send + Sync {
    /// The folder's cursor, `None` before its first sync.
    fn cursor<'a>(&'a self, org: OrgId, mailbox: MailboxId, folder: &'a str) -> CursorFuture<'a, Option<FolderCursor>>;
    fn save<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
        cursor: &'a FolderCursor,
    ) -> CursorFuture<'a, ()>;
    /// Takes the mailbox's lease until `until` if nobody holds one that has not expired;
    /// `false` when someone does. `holder` names this run (released only by it).
    fn lease<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        holder: &'a str,
        until: DateTime<Utc>,
    ) -> CursorFuture<'a, bool>;
    /// Gives the lease back (nothing happens when `holder` does not hold it any more).
    fn release<'a>(&'a self, org: OrgId, mailbox: MailboxId, holder: &'a str) -> CursorFuture<'a, ()>;
    /// A provider-read folder's cursor, `None` before its first sync.
    fn provider_cursor<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
    ) -> CursorFuture<'a, Option<ProviderCursor>>;
    fn save_provider_cursor<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
        cursor: &'a ProviderCursor,
    ) -> CursorFuture<'a, ()>;
}

/// A lease: who holds it, until when.
type Lease = (String, DateTime<Utc>);

/// Cursors and leases in memory, for unit tests of code written against the port.
#[derive(Debug, Default)]
pub struct MemoryCursors {
    cursors: Mutex<HashMap<(OrgId, MailboxId, String), FolderCursor>>,
    provider_cursors: Mutex<HashMap<(OrgId, MailboxId, String), ProviderCursor>>,
    leases: Mutex<HashMap<(OrgId, MailboxId), Lease>>,
}

impl MailboxCursors for MemoryCursors {
    fn cursor<'a>(&'a self, org: OrgId, mailbox: MailboxId, folder: &'a str) -> CursorFuture<'a, Option<FolderCursor>> {
        let found = self.cursors.lock().expect("not poisoned").get(&(org, mailbox, folder.to_string())).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn save<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
        cursor: &'a FolderCursor,
    ) -> CursorFuture<'a, ()> {
        self.cursors.lock().expect("not poisoned").insert((org, mailbox, folder.to_string()), cursor.clone());
        Box::pin(async { Ok(()) })
    }

    fn lease<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        holder: &'a str,
        until: DateTime<Utc>,
    ) -> CursorFuture<'a, bool> {
        let mut leases = self.leases.lock().expect("not poisoned");
        let free = leases.get(&(org, mailbox)).is_none_or(|(_, expires)| *expires <= Utc::now());
        if free {
            leases.insert((org, mailbox), (holder.to_string(), until));
        }
        Box::pin(async move { Ok(free) })
    }

    fn release<'a>(&'a self, org: OrgId, mailbox: MailboxId, holder: &'a str) -> CursorFuture<'a, ()> {
        let mut leases = self.leases.lock().expect("not poisoned");
        if leases.get(&(org, mailbox)).is_some_and(|(h, _)| h == holder) {
            leases.remove(&(org, mailbox));
        }
        Box::pin(async { Ok(()) })
    }

    fn provider_cursor<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
    ) -> CursorFuture<'a, Option<ProviderCursor>> {
        let found =
            self.provider_cursors.lock().expect("not poisoned").get(&(org, mailbox, folder.to_string())).cloned();
        Box::pin(async move { Ok(found) })
    }

    fn save_provider_cursor<'a>(
        &'a self,
        org: OrgId,
        mailbox: MailboxId,
        folder: &'a str,
        cursor: &'a ProviderCursor,
    ) -> CursorFuture<'a, ()> {
        self.provider_cursors.lock().expect("not poisoned").insert((org, mailbox, folder.to_string()), cursor.clone());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_is_held_until_it_is_released_or_expires() {
        let cursors = MemoryCursors::default();
        let (org, mailbox) = (OrgId(uuid::Uuid::nil()), MailboxId(uuid::Uuid::nil()));
        let later = Utc::now() + chrono::Duration::minutes(5);
        assert!(cursors.lease(org, mailbox, "a", later).await.unwrap());
        assert!(!cursors.lease(org, mailbox, "b", later).await.unwrap());
        cursors.release(org, mailbox, "b").await.unwrap();
        assert!(!cursors.lease(org, mailbox, "b", later).await.unwrap(), "only the holder releases");
        cursors.release(org, mailbox, "a").await.unwrap();
        assert!(cursors.lease(org, mailbox, "b", Utc::now()).await.unwrap());
        assert!(cursors.lease(org, mailbox, "c", later).await.unwrap(), "an expired lease is free");
    }
}
