//! Opaque credentials: refresh tokens, API keys and invitation tokens. Each is a kind prefix and
//! the base64url of the ids it needs to be found (so no look-up crosses organisations) followed
//! by a 256-bit random secret. Only the SHA-256 of the secret is ever stored; a random secret that
//! long needs no slow hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// What a credential is for; its prefix makes one kind unusable as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `hdr_`: organisation, user, session.
    Refresh,
    /// `hdk_`: organisation, key.
    ApiKey,
    /// `hdi_`: organisation, invitation.
    Invitation,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Refresh => "hdr_",
            Kind::ApiKey => "hdk_",
            Kind::Invitation => "hdi_",
        }
    }

    fn ids(self) -> usize {
        match self {
            Kind::Refresh => 3,
            Kind::ApiKey | Kind::Invitation => 2,
        }
    }
}

/// A credential's parts.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub kind: Kind,
    pub ids: Vec<Uuid>,
    secret: [u8; 32],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential").field("kind", &self.kind).field("ids", &self.ids).finish_non_exhaustive()
    }
}

impl Credential {
    /// A new credential with a fresh secret from the operating system's generator.
    pub fn generate(kind: Kind, ids: &[Uuid]) -> Self {
        assert_eq!(ids.len(), kind.ids(), "{kind:?} carries {} ids", kind.ids());
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).expect("the OS random generator is available");
        Self { kind, ids: ids.to_vec(), secret }
    }

    /// The string handed to the client (once).
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(16 * self.ids.len() + 32);
        for id in &self.ids {
            bytes.extend_from_slice(id.as_bytes());
        }
        bytes.extend_from_slice(&self.secret);
        format!("{}{}", self.kind.prefix(), B64.encode(bytes))
    }

    /// Reads a credential of the given kind; anything else is `None`.
    pub fn decode(kind: Kind, text: &str) -> Option<Self> {
        let bytes = B64.decode(text.trim().strip_prefix(kind.prefix())?).ok()?;
        if bytes.len() != 16 * kind.ids() + 32 {
            return None;
        }
        let ids = bytes.chunks(16).take(kind.ids()).map(|c| Uuid::from_slice(c).ok()).collect::<Option<Vec<_>>>()?;
        let secret = bytes[16 * kind.ids()..].try_into().ok()?;
        Some(Self { kind, ids, secret })
    }

    /// What is stored in place of the secret.
    pub fn secret_hash(&self) -> Vec<u8> {
        Sha256::digest(self.secret).to_vec()
    }

    /// Whether this credential's secret is the one a stored hash was made from (in constant time).
    pub fn matches(&self, stored_hash: &[u8]) -> bool {
        self.secret_hash().ct_eq(stored_hash).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_keeps_kinds_apart() {
        let ids = [Uuid::now_v7(), Uuid::now_v7()];
        let key = Credential::generate(Kind::ApiKey, &ids);
        let text = key.encode();
        assert!(text.starts_with("hdk_"));
        let back = Credential::decode(Kind::ApiKey, &text).unwrap();
        assert_eq!(back, key);
        assert!(back.matches(&key.secret_hash()));
        assert!(Credential::decode(Kind::Invitation, &text).is_none(), "an API key is not an invitation");
        assert!(Credential::decode(Kind::Refresh, &text).is_none());
        assert!(Credential::decode(Kind::ApiKey, "hdk_short").is_none());
        assert!(!Credential::generate(Kind::ApiKey, &ids).matches(&key.secret_hash()), "secrets differ");
        assert!(!format!("{key:?}").contains(&text[4..]), "Debug never shows the secret");
    }
}
