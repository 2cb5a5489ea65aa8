//! The keys that put an email into its conversation: the platform's own Message-IDs and reply
//! addresses, signed so nobody can graft mail onto a thread by guessing an id, and the
//! `[#1234]` subject token.
//!
//! Our Message-ID: `m.<message id, 32 hex>.<tag>@<domain>`; our reply address:
//! `reply+c<conversation id, 32 hex><tag>@<domain>`; the tag is the first 8 bytes of
//! HMAC-SHA256 (RFC 2104) over a purpose label and the id, in lower-case hex (mail servers may
//! change the case of a local part; hex survives it). 64 bits of tag against online guessing,
//! with the id's own randomness besides.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// Signs and reads our Message-IDs and reply addresses.
#[derive(Clone)]
pub struct ThreadingKeys {
    key: Vec<u8>,
}

impl std::fmt::Debug for ThreadingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadingKeys(..)")
    }
}

const MESSAGE: &str = "helpdesk message-id v1";
const REPLY: &str = "helpdesk reply-address v1";

impl ThreadingKeys {
    /// From a secret of at least 32 bytes (the platform's signing secret).
    pub fn new(secret: &[u8]) -> Self {
        Self { key: secret.to_vec() }
    }

    /// Keys derived from the platform's master signing secret (HMAC-SHA256 under a label of
    /// their own, so they sign nothing the master key signs elsewhere). Rotating the master
    /// secret retires old reply addresses; answers that quote our Message-ID still thread by
    /// the stored id.
    pub fn derived(master: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(master).expect("HMAC takes a key of any length");
        mac.update(b"helpdesk mail threading keys v1");
        Self::new(&mac.finalize().into_bytes())
    }

    /// Our Message-ID for an outbound message, without angle brackets.
    pub fn message_id(&self, message: Uuid, domain: &str) -> String {
        format!("m.{}.{}@{domain}", message.simple(), self.tag(MESSAGE, message))
    }

    /// The message a Message-ID of ours names, when its tag is right (any domain: the domain
    /// may change between sending and the answer).
    pub fn read_message_id(&self, id: &str) -> Option<Uuid> {
        let id = id.trim().trim_start_matches('<').trim_end_matches('>');
        let local = id.rsplit_once('@')?.0.to_ascii_lowercase();
        let rest = local.strip_prefix("m.")?;
        let (hex, tag) = rest.split_once('.')?;
        let uuid = Uuid::try_parse(hex).ok()?;
        self.verify(MESSAGE, uuid, tag).then_some(uuid)
    }

    /// The address a customer's answers to a conversation go to.
    pub fn reply_address(&self, conversation: Uuid, domain: &str) -> String {
        format!("reply+c{}{}@{domain}", conversation.simple(), self.tag(REPLY, conversation))
    }

    /// The conversation a reply address of ours names (`reply+c…@`, any case, any domain),
    /// when its tag is right.
    pub fn read_reply_address(&self, address: &str) -> Option<Uuid> {
        let local = address.trim().rsplit_once('@')?.0.to_ascii_lowercase();
        let token = local.strip_prefix("reply+c")?;
        if token.len() != 48 || !token.is_char_boundary(32) {
            return None;
        }
        let (hex, tag) = token.split_at(32);
        let uuid = Uuid::try_parse(hex).ok()?;
        self.verify(REPLY, uuid, tag).then_some(uuid)
    }

    fn mac(&self, purpose: &str, id: Uuid) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(purpose.as_bytes());
        mac.update(id.as_bytes());
        mac
    }

    fn tag(&self, purpose: &str, id: Uuid) -> String {
        self.mac(purpose, id).finalize().into_bytes()[..8].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Constant-time comparison of the given tag (hex, any case) with ours.
    fn verify(&self, purpose: &str, id: Uuid, tag: &str) -> bool {
        let tag = tag.to_ascii_lowercase();
        if tag.len() != 16 || !tag.bytes().all(|b| b.is_ascii_hexdigit()) {
            return false;
        }
        let bytes: Vec<u8> = (0..8).filter_map(|i| u8::from_str_radix(&tag[2 * i..2 * i + 2], 16).ok()).collect();
        self.mac(purpose, id).verify_truncated_left(&bytes).is_ok()
    }
}

/// The conversation number in a subject's `[#1234]` token (the last one: forwarding may add
/// another's in front).
pub fn subject_number(subject: &str) -> Option<i64> {
    let mut found = None;
    let mut rest = subject;
    while let Some(at) = rest.find("[#") {
        let after = &rest[at + 2..];
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && after[digits.len()..].starts_with(']') {
            found = digits.parse().ok();
        }
        rest = after;
    }
    found
}

/// Message-IDs as they appear in `In-Reply-To` and `References`: the ids between angle
/// brackets, or the whitespace-separated words when a client left the brackets out.
pub fn message_ids(header: &str) -> Vec<String> {
    let bracketed: Vec<String> = header
        .split('<')
        .skip(1)
        .filter_map(|s| s.split_once('>').map(|(id, _)| id.trim().to_string()))
        .filter(|id| !id.is_empty())
        .collect();
    if !bracketed.is_empty() {
        return bracketed;
    }
    header.split_whitespace().filter(|w| w.contains('@')).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_ids_read_back_and_forged_ones_do_not() {
        let keys = ThreadingKeys::new(&[7; 32]);
        let id = Uuid::now_v7();
        let mid = keys.message_id(id, "mail.shop.example");
        assert_eq!(keys.read_message_id(&format!("<{mid}>")), Some(id));
        assert_eq!(keys.read_message_id(&mid.to_uppercase()), Some(id), "case changed in transit");
        let forged = format!("m.{}.0000000000000000@mail.shop.example", id.simple());
        assert_eq!(keys.read_message_id(&forged), None);
        assert_eq!(ThreadingKeys::new(&[8; 32]).read_message_id(&mid), None, "another platform's key");
        assert_eq!(keys.read_message_id("CAJx@mail.gmail.com"), None);

        let conversation = Uuid::now_v7();
        let address = keys.reply_address(conversation, "in.shop.example");
        assert!(address.split('@').next().unwrap().len() <= 64, "RFC 5321 local part");
        assert_eq!(keys.read_reply_address(&address.to_uppercase()), Some(conversation));
        assert_eq!(keys.read_reply_address(&address.replace("reply+c0", "reply+c1")), None);
        assert_eq!(keys.read_reply_address("reply+c@x.example"), None);
        assert_eq!(keys.read_reply_address("reply+cé€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€€@x.example"), None);
    }

    #[test]
    fn reads_subject_tokens_and_id_lists() {
        assert_eq!(subject_number("Re: [#1234] Broken blender"), Some(1234));
        assert_eq!(subject_number("Fwd: [#12] Re: [#99] x"), Some(99));
        assert_eq!(subject_number("[#] [#12a] nothing"), None);
        assert_eq!(message_ids(" <a@b> \r\n <c@d>"), ["a@b", "c@d"]);
        assert_eq!(message_ids("a@b c@d"), ["a@b", "c@d"]);
        assert!(message_ids("").is_empty());
    }
}
