//! The helpdesk's domain: identifiers, the shapes of what flows through the platform, and the
//! rules about them. No AWS, SQL or HTTP types live here, so every adapter and every function
//! speaks the same language and the rules are testable without infrastructure.

pub mod blob;
pub mod classify;
pub mod conversation;
pub mod email;
pub mod error;
pub mod identity;
pub mod ids;
pub mod mail;
pub mod message;
pub mod permissions;
pub mod queue;
pub mod secret;
pub mod sync;
pub mod text;

pub use blob::{BlobStore, MemoryBlobs};
pub use classify::{CategoryName, Classification, LlmOpinion, MessageSignals, ModelRef, Sentiment, Urgency, Verdict};
pub use conversation::ConversationStatus;
pub use identity::{may_grant, Password, Principal, RoleName, Slug};
pub use ids::{ApiKeyId, ConversationId, InvitationId, MailboxId, MessageId, OrgId, RoleId, SessionId, UserId};
pub use mail::{Mailer, OutgoingEmail};
pub use message::{is_language_code, Channel, EmailAddress, InboundMessage, Sender, ValidationError};
pub use permissions::{Permission, PermissionSet};
pub use queue::{
    ConversationResolved, EmailFetched, InboundMessagesBody, KbArticleChanged, KbIndexingBody, MailIngestBody,
    MailboxSyncBody, MailboxSyncRequested, MessageClassified, MessageReceived, Publisher, Queue, QueueBody,
    QueueRecord, TrainingRequested, TrainingRequestsBody,
};
pub use secret::{MemorySealer, SealFuture, SealedSecret, SecretSealer, LLM_API_KEY_PURPOSE, MAILBOX_SECRET_PURPOSE};
pub use sync::{FolderCursor, MailboxCursors, MemoryCursors, ProviderCursor};

/// A user's role in an organisation. Identity (issue 3) refines this into permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Agent,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Agent, Role::Viewer];

    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Viewer => "viewer",
        }
    }
}
