//! The port to envelope encryption (KMS behind `helpdesk-aws`): an organisation's secrets — its
//! own LLM API key now, mailbox passwords and OAuth tokens later — are stored only sealed. Each
//! secret gets a fresh data key; the data key is stored encrypted by the master key, which never
//! leaves KMS. The organisation and the secret's purpose are bound to the ciphertext (KMS
//! encryption context and AEAD associated data), so a sealed value copied to another
//! organisation's row, or to another field, does not open.

use crate::OrgId;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

/// The purpose an organisation's LLM API key is sealed for (sealing and opening must agree).
pub const LLM_API_KEY_PURPOSE: &str = "llm_api_key";
/// What a mailbox's password or token is sealed for (bound into the envelope: it opens for
/// nothing else).
pub const MAILBOX_SECRET_PURPOSE: &str = "mailbox-secret";

#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// The data key, encrypted by the master key.
    pub encrypted_key: Vec<u8>,
    pub nonce: Vec<u8>,
    /// The secret under the data key, with its authentication tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealedSecret(…)")
    }
}

/// What a [`SecretSealer`] call returns (boxed, so generic callers stay `Send`).
pub type SealFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

pub trait SecretSealer: Send + Sync {
    fn seal<'a>(&'a self, org: OrgId, purpose: &'a str, plaintext: &'a [u8]) -> SealFuture<'a, SealedSecret>;
    /// Fails for a secret sealed for another organisation or purpose, or tampered with.
    fn open<'a>(&'a self, org: OrgId, purpose: &'a str, sealed: &'a SealedSecret) -> SealFuture<'a, Vec<u8>>;
}

/// Secrets kept in memory under random handles, for unit tests of code written against the
/// port: the "ciphertext" is the handle, and opening checks the organisation and purpose.
#[derive(Debug, Default)]
pub struct MemorySealer(Mutex<HashMap<Vec<u8>, Held>>);

/// A secret in memory: its organisation, purpose and plaintext.
type Held = (OrgId, String, Vec<u8>);

impl SecretSealer for MemorySealer {
    fn seal<'a>(&'a self, org: OrgId, purpose: &'a str, plaintext: &'a [u8]) -> SealFuture<'a, SealedSecret> {
        let handle = uuid::Uuid::new_v4().as_bytes().to_vec();
        self.0.lock().expect("not poisoned").insert(handle.clone(), (org, purpose.to_string(), plaintext.to_vec()));
        Box::pin(
            async move { Ok(SealedSecret { encrypted_key: handle.clone(), nonce: Vec::new(), ciphertext: handle }) },
        )
    }

    fn open<'a>(&'a self, org: OrgId, purpose: &'a str, sealed: &'a SealedSecret) -> SealFuture<'a, Vec<u8>> {
        let found = self.0.lock().expect("not poisoned").get(&sealed.ciphertext).cloned();
        Box::pin(async move {
            match found {
                Some((o, p, plaintext)) if o == org && p == purpose => Ok(plaintext),
                _ => Err("the secret does not open for this organisation and purpose".to_string()),
            }
        })
    }
}
