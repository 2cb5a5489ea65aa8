//! Password hashing with argon2id. Parameters: OWASP's first recommendation for argon2id
//! (19 MiB of memory, 2 passes, 1 lane). Memory is what makes guessing on GPUs expensive; 19 MiB
//! keeps a sign-in at a few tens of milliseconds on one Lambda vCPU and well inside a 512 MB
//! function, so the work cannot be turned into a denial of service by the sign-in rate limit
//! alone. `cargo bench -p auth --bench login` measures it (docs/figures.md).
//!
//! A hash carries its own parameters (PHC string), so raising them later re-hashes each
//! password at its next successful sign-in.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use helpdesk_domain::Password;

pub const MEMORY_KIB: u32 = 19 * 1024;
pub const PASSES: u32 = 2;
pub const LANES: u32 = 1;

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid { needs_rehash: bool },
    Invalid,
}

#[derive(Clone)]
pub struct Passwords {
    argon: Argon2<'static>,
    /// Checked when there is no account, so that answering takes the same work either way.
    decoy: std::sync::Arc<str>,
}

/// The decoy for the default parameters, hashed once and shipped, so a cold start does no
/// hashing and the first unknown account costs what every other sign-in costs (a test checks
/// it parses with exactly these parameters). Its password is no secret: a decoy never signs in.
const DEFAULT_DECOY: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$A6QKJ0xuysGnCeHr74HlKA$VgY9D7CfyAa60rrpOubOtEpiLb+RPtQTIbEBRvPjTYk";

impl Default for Passwords {
    fn default() -> Self {
        Self::with_params(MEMORY_KIB, PASSES, LANES)
    }
}

impl Passwords {
    pub fn with_params(memory_kib: u32, passes: u32, lanes: u32) -> Self {
        let params = Params::new(memory_kib, passes, lanes, None).expect("valid argon2 parameters");
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let default = (memory_kib, passes, lanes) == (MEMORY_KIB, PASSES, LANES);
        let mut passwords = Self { argon, decoy: DEFAULT_DECOY.into() };
        if !default {
            passwords.decoy = passwords.hash_str("a decoy password nobody has").into();
        }
        passwords
    }

    fn decoy(&self) -> &str {
        &self.decoy
    }

    fn hash_str(&self, password: &str) -> String {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the OS random generator is available");
        let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
        self.argon.hash_password(password.as_bytes(), &salt).expect("argon2 hashes any password").to_string()
    }

    pub fn hash(&self, password: &Password) -> String {
        self.hash_str(password.expose())
    }

    /// Checks `password` against the stored hash, or against the decoy when there is none.
    pub fn verify(&self, stored: Option<&str>, password: &str) -> Verdict {
        let (hash, real) = match stored.and_then(|s| PasswordHash::new(s).ok()) {
            Some(hash) => (hash, true),
            None => (PasswordHash::new(self.decoy()).expect("the decoy parses"), false),
        };
        let matches = self.argon.verify_password(password.as_bytes(), &hash).is_ok();
        if !(real && matches) {
            return Verdict::Invalid;
        }
        let current = Params::try_from(&hash).ok().is_some_and(|p| {
            p.m_cost() == self.argon.params().m_cost()
                && p.t_cost() == self.argon.params().t_cost()
                && p.p_cost() == self.argon.params().p_cost()
        });
        Verdict::Valid { needs_rehash: !current || hash.algorithm != argon2::ARGON2ID_IDENT }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_decoy_has_the_default_parameters() {
        let passwords = Passwords::default();
        let hash = PasswordHash::new(DEFAULT_DECOY)
            .unwrap_or_else(|e| panic!("{e}; a new decoy: {}", passwords.hash_str("a decoy password nobody has")));
        let params = Params::try_from(&hash).unwrap();
        assert_eq!((params.m_cost(), params.t_cost(), params.p_cost()), (MEMORY_KIB, PASSES, LANES));
        assert_eq!(hash.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(passwords.verify(None, "a decoy password nobody has"), Verdict::Invalid, "a decoy never signs in");
    }

    #[test]
    fn hashes_verify_and_rehash_when_parameters_change() {
        let cheap = Passwords::with_params(1024, 1, 1);
        let password = Password::parse("correct horse battery").unwrap();
        let hash = cheap.hash(&password);
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(cheap.verify(Some(&hash), "correct horse battery"), Verdict::Valid { needs_rehash: false });
        assert_eq!(cheap.verify(Some(&hash), "wrong horse battery"), Verdict::Invalid);
        assert_eq!(cheap.verify(None, "correct horse battery"), Verdict::Invalid);
        assert_eq!(cheap.verify(Some("not a hash"), "correct horse battery"), Verdict::Invalid);
        let stronger = Passwords::with_params(2048, 1, 1);
        assert_eq!(stronger.verify(Some(&hash), "correct horse battery"), Verdict::Valid { needs_rehash: true });
    }
}
