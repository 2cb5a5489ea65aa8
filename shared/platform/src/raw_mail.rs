//! Where raw mail is kept: every source (a posted message, SES receiving, IMAP, Gmail, Graph)
//! puts a message at the same content-addressed key, so a message fetched twice, redelivered or
//! posted again names one object, and an organisation's mail lives under its own prefix (one
//! prefix to erase).

use helpdesk_domain::{MailboxId, OrgId};
use sha2::{Digest, Sha256};

/// `mail/{org}/{mailbox}/{sha256 of the bytes, hex}.eml` in the data bucket (SSE-KMS by the
/// bucket's default).
pub fn raw_mail_key(org: OrgId, mailbox: MailboxId, raw: &[u8]) -> String {
    format!("mail/{org}/{mailbox}/{:x}.eml", Sha256::digest(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_contents_hash_under_the_organisation_and_mailbox() {
        let (org, mailbox) = (OrgId(uuid::Uuid::nil()), MailboxId(uuid::Uuid::max()));
        assert_eq!(
            raw_mail_key(org, mailbox, b"abc"),
            format!("mail/{org}/{mailbox}/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.eml")
        );
    }
}
