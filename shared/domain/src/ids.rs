//! Typed identifiers, so an organisation id can never be passed where a message id is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered id (UUIDv7): index-friendly and sortable by creation.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// An organisation (tenant). Every query is scoped by one.
    OrgId
);
id_type!(
    /// A member of an organisation's team.
    UserId
);
id_type!(
    /// A single message (inbound, outbound or internal note).
    MessageId
);
id_type!(
    /// A conversation: the thread a contact's messages belong to.
    ConversationId
);
id_type!(
    /// An API key (its secret is never stored, only a hash).
    ApiKeyId
);
id_type!(
    /// A custom role of an organisation.
    RoleId
);
id_type!(
    /// An invitation to join an organisation's team.
    InvitationId
);
id_type!(
    /// A signed-in session: one refresh-token family, from login to logout or revocation.
    SessionId
);
id_type!(
    /// A mailbox: an address email comes in through.
    MailboxId
);
