//! What travels on the queues. Records carry ids, never message bodies: the body stays in
//! Postgres (encrypted at rest) and queue payloads stay small and free of customer text.

use crate::{ConversationId, MailboxId, MessageId, OrgId};
use serde::{Deserialize, Serialize};

/// The platform's SQS queues, by the logical name used in the outbox and configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Queue {
    /// New inbound messages waiting for the AI worker.
    InboundMessages,
    /// Domain events for the workflow engine.
    Events,
    /// Organisations whose category model should be trained now (the API's "train" button).
    TrainingRequests,
    /// Knowledge-base articles to (re)index: cut into passages and embedded.
    KbIndexing,
    /// Raw mail a source stored in S3 (IMAP, Gmail, Graph), waiting to be ingested; SES
    /// receiving's notifications arrive on it too.
    MailIngest,
    /// Mailboxes to fetch now (the fetcher's schedule fans out one record per mailbox).
    MailboxSync,
}

impl Queue {
    pub const ALL: [Queue; 6] = [
        Queue::InboundMessages,
        Queue::Events,
        Queue::TrainingRequests,
        Queue::KbIndexing,
        Queue::MailIngest,
        Queue::MailboxSync,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Queue::InboundMessages => "inbound-messages",
            Queue::Events => "events",
            Queue::TrainingRequests => "training-requests",
            Queue::KbIndexing => "kb-indexing",
            Queue::MailIngest => "mail-ingest",
            Queue::MailboxSync => "mailbox-sync",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|q| q.name() == s)
    }

    /// The environment variable holding this queue's URL (template.yaml sets it per function).
    pub fn url_env_var(self) -> &'static str {
        match self {
            Queue::InboundMessages => "INBOUND_MESSAGES_QUEUE_URL",
            Queue::Events => "EVENTS_QUEUE_URL",
            Queue::TrainingRequests => "TRAINING_REQUESTS_QUEUE_URL",
            Queue::KbIndexing => "KB_INDEXING_QUEUE_URL",
            Queue::MailIngest => "MAIL_INGEST_QUEUE_URL",
            Queue::MailboxSync => "MAILBOX_SYNC_QUEUE_URL",
        }
    }
}

/// On `inbound-messages`: a message was stored and waits for classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageReceived {
    pub organization_id: OrgId,
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    /// The request that accepted the message, carried for log correlation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// On `events`: `message.classified`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageClassified {
    #[serde(rename = "type")]
    pub event_type: String,
    pub organization_id: OrgId,
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    pub category: String,
    pub confidence: f32,
    pub sentiment: String,
    pub urgency: String,
    pub language: String,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl MessageClassified {
    pub const TYPE: &'static str = "message.classified";
}

/// On `training-requests`: someone asked for the organisation's category model to be trained.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingRequested {
    pub organization_id: OrgId,
    /// The training run the request created (its row says how it ended).
    pub run_id: uuid::Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// On `kb-indexing`: an article was created, edited or deleted; the indexer makes its passages
/// match its current version (none once it is deleted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KbArticleChanged {
    pub organization_id: OrgId,
    pub article_id: uuid::Uuid,
    /// The version the change produced; an older one arriving late is skipped.
    pub version: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// On `kb-indexing`: a conversation was resolved; the indexer makes its agents' replies
/// retrieval passages (as templates: the customer's personal data taken out), so drafts learn
/// from what the team actually wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationResolved {
    pub organization_id: OrgId,
    pub conversation_id: uuid::Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// A queue's body: the queue it travels on, whose it is and what it is about (the consumer's
/// per-record span and log line). Every body is tagged by `type`, so a queue can carry more
/// kinds later and a consumer never guesses which it got.
pub trait QueueBody: Serialize + serde::de::DeserializeOwned + Send {
    const QUEUE: Queue;
    fn organization_id(&self) -> OrgId;
    /// The request that caused the record, carried for log correlation.
    fn request_id(&self) -> Option<&str>;
    /// What the record is about, e.g. `message 0190…` (ids only: never customer text).
    fn subject(&self) -> String;
    /// The body as written before bodies were tagged (records still in the outbox, in flight or
    /// in a DLQ when the tagged version was deployed), or `None` when it is not one.
    fn from_untagged(_body: &serde_json::Value) -> Option<Self> {
        None
    }
}

/// On `inbound-messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum InboundMessagesBody {
    #[serde(rename = "message.received")]
    MessageReceived(MessageReceived),
}

impl QueueBody for InboundMessagesBody {
    const QUEUE: Queue = Queue::InboundMessages;
    fn organization_id(&self) -> OrgId {
        match self {
            Self::MessageReceived(m) => m.organization_id,
        }
    }
    fn request_id(&self) -> Option<&str> {
        match self {
            Self::MessageReceived(m) => m.request_id.as_deref(),
        }
    }
    fn subject(&self) -> String {
        match self {
            Self::MessageReceived(m) => format!("message {}", m.message_id),
        }
    }
    fn from_untagged(body: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(body.clone()).ok().map(Self::MessageReceived)
    }
}

/// On `training-requests`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TrainingRequestsBody {
    #[serde(rename = "training.requested")]
    TrainingRequested(TrainingRequested),
}

impl QueueBody for TrainingRequestsBody {
    const QUEUE: Queue = Queue::TrainingRequests;
    fn organization_id(&self) -> OrgId {
        match self {
            Self::TrainingRequested(t) => t.organization_id,
        }
    }
    fn request_id(&self) -> Option<&str> {
        match self {
            Self::TrainingRequested(t) => t.request_id.as_deref(),
        }
    }
    fn subject(&self) -> String {
        match self {
            Self::TrainingRequested(t) => format!("training run {}", t.run_id),
        }
    }
    fn from_untagged(body: &serde_json::Value) -> Option<Self> {
        serde_json::from_value(body.clone()).ok().map(Self::TrainingRequested)
    }
}

/// On `kb-indexing`: an article changed, or a conversation was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum KbIndexingBody {
    #[serde(rename = "kb_article.changed")]
    ArticleChanged(KbArticleChanged),
    #[serde(rename = "conversation.resolved")]
    ConversationResolved(ConversationResolved),
}

impl QueueBody for KbIndexingBody {
    const QUEUE: Queue = Queue::KbIndexing;
    fn organization_id(&self) -> OrgId {
        match self {
            Self::ArticleChanged(c) => c.organization_id,
            Self::ConversationResolved(r) => r.organization_id,
        }
    }
    fn request_id(&self) -> Option<&str> {
        match self {
            Self::ArticleChanged(c) => c.request_id.as_deref(),
            Self::ConversationResolved(r) => r.request_id.as_deref(),
        }
    }
    fn subject(&self) -> String {
        match self {
            Self::ArticleChanged(c) => format!("article {} version {}", c.article_id, c.version),
            Self::ConversationResolved(r) => format!("conversation {}", r.conversation_id),
        }
    }
    /// An article's change has an `article_id`; a resolved conversation has none.
    fn from_untagged(body: &serde_json::Value) -> Option<Self> {
        match body.get("article_id") {
            Some(_) => serde_json::from_value(body.clone()).ok().map(Self::ArticleChanged),
            None => serde_json::from_value(body.clone()).ok().map(Self::ConversationResolved),
        }
    }
}

/// On `mail-ingest`: a raw message a fetcher put in the data bucket (content-addressed, so a
/// redelivered or refetched message names the same object), waiting to be ingested.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailFetched {
    pub organization_id: OrgId,
    pub mailbox_id: MailboxId,
    /// The object's key in the data bucket (`mail/{org}/{mailbox}/{sha256}.eml`).
    pub raw_key: String,
    /// Where it came from, for the logs: `imap INBOX uid 42`, `gmail 18c…`.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// On `mail-ingest` (SES receiving's notifications come untagged and are read apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MailIngestBody {
    #[serde(rename = "email.fetched")]
    EmailFetched(EmailFetched),
}

impl QueueBody for MailIngestBody {
    const QUEUE: Queue = Queue::MailIngest;
    fn organization_id(&self) -> OrgId {
        match self {
            Self::EmailFetched(e) => e.organization_id,
        }
    }
    fn request_id(&self) -> Option<&str> {
        match self {
            Self::EmailFetched(e) => e.request_id.as_deref(),
        }
    }
    fn subject(&self) -> String {
        match self {
            Self::EmailFetched(e) => format!("mailbox {} {}", e.mailbox_id, e.source),
        }
    }
}

/// On `mailbox-sync`: fetch this mailbox's new mail now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxSyncRequested {
    pub organization_id: OrgId,
    pub mailbox_id: MailboxId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// On `mailbox-sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum MailboxSyncBody {
    #[serde(rename = "mailbox.sync_requested")]
    SyncRequested(MailboxSyncRequested),
}

impl QueueBody for MailboxSyncBody {
    const QUEUE: Queue = Queue::MailboxSync;
    fn organization_id(&self) -> OrgId {
        match self {
            Self::SyncRequested(s) => s.organization_id,
        }
    }
    fn request_id(&self) -> Option<&str> {
        match self {
            Self::SyncRequested(s) => s.request_id.as_deref(),
        }
    }
    fn subject(&self) -> String {
        match self {
            Self::SyncRequested(s) => format!("mailbox {}", s.mailbox_id),
        }
    }
}

impl QueueRecord {
    /// A record for `B`'s queue that is sent straight away, not through the outbox (its id is
    /// new; what it announces is already durable elsewhere, e.g. an object in S3).
    pub fn direct<B: QueueBody>(body: &B) -> Self {
        Self {
            id: uuid::Uuid::now_v7(),
            queue: B::QUEUE,
            body: serde_json::to_string(body).expect("queue bodies serialise"),
        }
    }
}

/// On `events`: tagged by its own `type` field (`message.classified`).
impl QueueBody for MessageClassified {
    const QUEUE: Queue = Queue::Events;
    fn organization_id(&self) -> OrgId {
        self.organization_id
    }
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
    fn subject(&self) -> String {
        format!("message {}", self.message_id)
    }
}

/// One record to put on a queue; `id` is the outbox row's, so a record can be traced end to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    pub id: uuid::Uuid,
    pub queue: Queue,
    pub body: String,
}

/// Records a publisher did not get accepted, each with the reason.
pub type Rejected = Vec<(uuid::Uuid, String)>;

/// What [`Publisher::publish`] returns.
pub type PublishFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Rejected> + Send + 'a>>;

/// The port to the message bus: SQS (moto or LocalStack locally) behind `helpdesk-aws`.
pub trait Publisher: Send + Sync {
    /// Sends the records and returns those that were not accepted, each with the reason.
    /// Never fails as a whole: a record not accepted stays in the outbox and is retried.
    /// (A boxed future: generic callers then stay `Send`, which `impl Future` in traits
    /// cannot yet promise across lifetimes.)
    fn publish<'a>(&'a self, records: &'a [QueueRecord]) -> PublishFuture<'a>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_tagged_and_a_queues_kinds_parse_as_their_own() {
        let org = OrgId(uuid::Uuid::nil());
        let resolved = KbIndexingBody::ConversationResolved(ConversationResolved {
            organization_id: org,
            conversation_id: uuid::Uuid::nil(),
            request_id: None,
        });
        let json = serde_json::to_value(&resolved).unwrap();
        assert_eq!(json["type"], "conversation.resolved");
        assert_eq!(serde_json::from_value::<KbIndexingBody>(json).unwrap(), resolved);
        // Untagged, or another queue's kind: refused, not guessed.
        let bare = serde_json::json!({"organization_id": org, "conversation_id": uuid::Uuid::nil()});
        assert!(serde_json::from_value::<KbIndexingBody>(bare).is_err());
        let other =
            serde_json::json!({"type": "training.requested", "organization_id": org, "run_id": uuid::Uuid::nil()});
        assert!(serde_json::from_value::<KbIndexingBody>(other.clone()).is_err());
        assert!(serde_json::from_value::<TrainingRequestsBody>(other).is_ok());
    }

    #[test]
    fn bodies_written_before_tags_are_still_read_for_what_they_are() {
        let org = OrgId(uuid::Uuid::nil());
        let (id, version) = (uuid::Uuid::now_v7(), 3);
        let change = serde_json::json!({"organization_id": org, "article_id": id, "version": version});
        assert!(
            matches!(KbIndexingBody::from_untagged(&change), Some(KbIndexingBody::ArticleChanged(c)) if c.version == 3)
        );
        let resolved = serde_json::json!({"organization_id": org, "conversation_id": id});
        assert!(matches!(
            KbIndexingBody::from_untagged(&resolved),
            Some(KbIndexingBody::ConversationResolved(r)) if r.conversation_id == id
        ));
        let run = serde_json::json!({"organization_id": org, "run_id": id});
        assert!(TrainingRequestsBody::from_untagged(&run).is_some());
        assert!(InboundMessagesBody::from_untagged(&run).is_none(), "not a message");
        assert!(KbIndexingBody::from_untagged(&serde_json::json!({"nothing": 1})).is_none());
    }
}
