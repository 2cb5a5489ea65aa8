//! What a role may do. Routes declare the permission they need; roles grant sets of them.
//! Custom roles per organisation (issue 3's identity work) are named sets of the same permissions.

use crate::Role;
use serde::{Deserialize, Serialize};

macro_rules! permissions {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// One thing a caller may be allowed to do, named `area:action` on the wire.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Permission {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)*
                }
            }
        }
    };
}

permissions! {
    MessagesRead => "messages:read",
    MessagesWrite => "messages:write",
    MessagesDelete => "messages:delete",
    MessagesAssign => "messages:assign",
    UsersRead => "users:read",
    UsersWrite => "users:write",
    UsersDelete => "users:delete",
    UsersInvite => "users:invite",
    AnalyticsRead => "analytics:read",
    AnalyticsExport => "analytics:export",
    AnalyticsConfigure => "analytics:configure",
    IntegrationsRead => "integrations:read",
    IntegrationsWrite => "integrations:write",
    IntegrationsConfigure => "integrations:configure",
    AuditRead => "audit:read",
    ApiKeysWrite => "api_keys:write",
    AiConfigure => "ai:configure",
    KbRead => "kb:read",
    KbWrite => "kb:write",
}

impl Permission {
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }

    fn bit(self) -> u64 {
        1 << (self as u64)
    }
}

/// A set of permissions (a bit set: checking one is a mask, not a lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |bits, p| bits | p.bit()))
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }

    pub fn is_subset_of(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The permissions' wire names.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }

    /// Parses wire names; an unknown name is returned as the error.
    pub fn parse_names<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut set = Vec::with_capacity(names.len());
        for name in names {
            set.push(
                Permission::parse(name.as_ref()).ok_or_else(|| format!("unknown permission '{}'", name.as_ref()))?,
            );
        }
        Ok(Self::of(&set))
    }

    /// Parses wire names, skipping unknown ones (a token minted before a permission was
    /// renamed must not fail; it just carries less).
    pub fn from_known_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::of(&names.into_iter().filter_map(|n| Permission::parse(n.as_ref())).collect::<Vec<_>>())
    }
}

impl Role {
    /// The built-in matrix: owners and admins everything, agents work conversations, viewers read.
    pub fn permissions(self) -> PermissionSet {
        use Permission::*;
        match self {
            Role::Owner | Role::Admin => PermissionSet::of(Permission::ALL),
            Role::Agent => PermissionSet::of(&[
                MessagesRead,
                MessagesWrite,
                MessagesAssign,
                UsersRead,
                AnalyticsRead,
                IntegrationsRead,
                KbRead,
                KbWrite,
            ]),
            Role::Viewer => PermissionSet::of(&[MessagesRead, UsersRead, AnalyticsRead, IntegrationsRead, KbRead]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }

    #[test]
    fn the_matrix_narrows_from_owner_to_viewer() {
        let (owner, agent, viewer) = (Role::Owner.permissions(), Role::Agent.permissions(), Role::Viewer.permissions());
        assert!(Permission::ALL.iter().all(|p| owner.contains(*p)));
        assert!(agent.contains(Permission::MessagesWrite) && !agent.contains(Permission::UsersInvite));
        assert!(viewer.contains(Permission::MessagesRead) && !viewer.contains(Permission::MessagesWrite));
        assert!(viewer.iter().all(|p| agent.contains(p)), "a viewer can do nothing an agent cannot");
    }
}
