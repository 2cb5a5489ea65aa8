//! Who may sign in and as what: organisation sign-in names, passwords, role names (built-in or
//! custom), principals, and the rule that nobody hands out more than they hold.

use crate::{ApiKeyId, PermissionSet, Role, UserId, ValidationError};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An organisation's sign-in name: lower-case letters, digits and dashes, 2 to 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim().to_ascii_lowercase();
        let ok_chars = s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !(2..=63).contains(&s.len()) || !ok_chars || s.starts_with('-') {
            return Err("must be 2 to 63 lower-case letters, digits or dashes, not starting with a dash".into());
        }
        Ok(Self(s))
    }

    /// A sign-in name made from an organisation's display name ("Acme Corp." → "acme-corp").
    pub fn from_name(name: &str) -> Option<Self> {
        let mut s = String::new();
        for c in name.trim().to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                s.push(c);
            } else if !s.ends_with('-') && !s.is_empty() {
                s.push('-');
            }
        }
        Self::parse(s.trim_end_matches('-').get(..63).unwrap_or(s.trim_end_matches('-'))).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password a user chose. Length is the rule that matters (NIST SP 800-63B): at least 10
/// characters, at most 256, no composition rules.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("must be at least {} characters", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("must be at most {} characters", Self::MAX_CHARS));
        }
        if raw.trim().is_empty() || raw.contains('\0') {
            return Err("must not be blank".into());
        }
        Ok(Self(raw.to_string()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A role by name: one of the four built-ins, or a custom role the organisation defined.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum RoleName {
    Builtin(Role),
    Custom(String),
}

impl RoleName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let s = raw.trim();
        if let Some(role) = Role::parse(s) {
            return Ok(Self::Builtin(role));
        }
        let mut chars = s.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !first_ok || !rest_ok || s.len() > 40 {
            return Err("must be 1 to 40 lower-case letters, digits, '_' or '-', starting with a letter".into());
        }
        Ok(Self::Custom(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Builtin(role) => role.as_str(),
            Self::Custom(name) => name,
        }
    }

    pub fn builtin(&self) -> Option<Role> {
        match self {
            Self::Builtin(role) => Some(*role),
            Self::Custom(_) => None,
        }
    }
}

impl TryFrom<String> for RoleName {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<RoleName> for String {
    fn from(r: RoleName) -> String {
        r.as_str().to_string()
    }
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        Self::Builtin(role)
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is calling: a signed-in team member or an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    User(UserId),
    ApiKey(ApiKeyId),
}

impl Principal {
    /// The user, when a person (not a key) is calling.
    pub fn user(self) -> Option<UserId> {
        match self {
            Self::User(id) => Some(id),
            Self::ApiKey(_) => None,
        }
    }

    /// A stable key for per-principal state (rate-limit buckets).
    pub fn key(self) -> String {
        match self {
            Self::User(id) => format!("user:{id}"),
            Self::ApiKey(id) => format!("key:{id}"),
        }
    }
}

/// What a member of `org` may hand out: a role, an invitation or an API key can only carry
/// permissions the granter holds itself, and only an owner makes owners.
pub fn may_grant(granter_role: &RoleName, granter: PermissionSet, role: &RoleName, grants: PermissionSet) -> bool {
    let owner_only = role.builtin() == Some(Role::Owner);
    grants.is_subset_of(granter) && (!owner_only || granter_role.builtin() == Some(Role::Owner))
}

/// Rules for the fields of identity requests, reported together like a message's.
pub fn field<T>(name: &str, parsed: Result<T, String>, errors: &mut Vec<ValidationError>) -> Option<T> {
    parsed.map_err(|message| errors.push(ValidationError::new(name, message))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Permission;

    #[test]
    fn slugs_are_made_from_names_and_checked() {
        assert_eq!(Slug::from_name("Acme Corp.").unwrap().as_str(), "acme-corp");
        assert_eq!(Slug::from_name("  Ünïcode & Co ").unwrap().as_str(), "n-code-co");
        assert!(Slug::from_name("!").is_none());
        assert!(Slug::parse("-bad").is_err());
        assert!(Slug::parse("a").is_err());
        assert_eq!(Slug::parse("Good-1").unwrap().as_str(), "good-1");
    }

    #[test]
    fn passwords_need_length_not_composition() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("          ").is_err());
        assert!(Password::parse("correct horse battery").is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        assert_eq!(format!("{:?}", Password::parse("a long secret").unwrap()), "Password(..)");
    }

    #[test]
    fn role_names_are_builtin_or_custom() {
        assert_eq!(RoleName::parse("admin").unwrap(), RoleName::Builtin(Role::Admin));
        assert_eq!(RoleName::parse("billing-agent").unwrap(), RoleName::Custom("billing-agent".into()));
        assert!(RoleName::parse("Billing Agent").is_err());
        assert!(RoleName::parse("").is_err());
    }

    #[test]
    fn nobody_grants_more_than_they_hold() {
        let admin = RoleName::Builtin(Role::Admin);
        let agent = RoleName::Builtin(Role::Agent);
        let owner = RoleName::Builtin(Role::Owner);
        assert!(may_grant(&admin, Role::Admin.permissions(), &agent, Role::Agent.permissions()));
        assert!(!may_grant(&agent, Role::Agent.permissions(), &admin, Role::Admin.permissions()));
        assert!(!may_grant(&admin, Role::Admin.permissions(), &owner, Role::Owner.permissions()));
        assert!(may_grant(&owner, Role::Owner.permissions(), &owner, Role::Owner.permissions()));
        let custom = RoleName::Custom("exporter".into());
        let export = PermissionSet::of(&[Permission::AnalyticsExport]);
        assert!(!may_grant(&agent, Role::Agent.permissions(), &custom, export));
    }
}
