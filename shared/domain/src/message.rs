//! Inbound messages: the raw shape a channel hands us, and the parsed shape the platform trusts.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The largest message body we accept, in bytes. The HTTP layer caps whole requests at 256 KB.
pub const MAX_BODY_BYTES: usize = 200 * 1024;
const MAX_SUBJECT_CHARS: usize = 998; // RFC 5322's line limit, a sane bound for any channel
const MAX_NAME_CHARS: usize = 200;
const MAX_EXTERNAL_ID_CHARS: usize = 255;

/// One problem with one field of the input, reported to the client as-is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValidationError {
    /// JSON pointer-ish path of the field, e.g. `from.email`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// The channel a message came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Api,
    Email,
    Web,
    Chat,
    Sms,
    Social,
}

impl Channel {
    pub const ALL: [Channel; 6] = [Self::Api, Self::Email, Self::Web, Self::Chat, Self::Sms, Self::Social];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Email => "email",
            Self::Web => "web",
            Self::Chat => "chat",
            Self::Sms => "sms",
            Self::Social => "social",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// A syntactically valid email address in one canonical form, so that one person is one contact
/// or one member however the address is typed: the local part NFC-normalised and lower-cased
/// (RFC 5321 lets a local part be case-sensitive; no mail provider in use is, and every helpdesk
/// treats addresses this way; compatibility forms such as full-width letters folded by NFKC), the
/// domain as UTS #46 processing gives it back (IDNA: lower-cased,
/// NFC, full-width forms mapped; `BÜCHER.example` and `xn--bcher-kva.example` are both
/// `bücher.example`). An ASCII address keeps the form earlier versions stored (lower case).
///
/// Refused: invisible characters anywhere ([`crate::text::is_hidden_in_address`]: controls,
/// zero-width and bidirectional format characters, joiners, fillers); a local part that is not a
/// dot-atom (RFC 5322 §3.4.1: no specials or spaces, no leading, trailing or consecutive dots;
/// quoted local parts are not taken) or that has punctuation or symbols outside ASCII (a
/// full-width `＠` reads as `@`); a domain IDNA refuses or without a dot; more than 64 octets of
/// local part or 254 in all, counted on the canonical form (RFC 5321 §4.5.3.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, String> {
        use unicode_normalization::UnicodeNormalization;
        let raw = raw.trim();
        if raw.is_empty() {
            return Err("must not be empty".into());
        }
        if let Some(c) = raw.chars().find(|&c| crate::text::is_hidden_in_address(c)) {
            return Err(format!("must not contain invisible or control characters (U+{:04X})", c as u32));
        }
        if raw.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        let (local, domain) = raw.rsplit_once('@').ok_or("must contain '@'")?;
        let special = |c: char| {
            c.is_whitespace()
                || "<>(),;:\"[]\\@".contains(c)
                || (!c.is_ascii() && !c.is_alphanumeric() && !crate::text::is_mark(c))
        };
        if local.is_empty() || local.chars().any(special) || local.starts_with(crate::text::is_mark) {
            return Err("has an invalid local part".into());
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("has an invalid local part: a dot may not start or end it, or follow another dot".into());
        }
        let ascii = idna::domain_to_ascii_strict(domain).map_err(|_| "has an invalid domain")?;
        let labels_ok =
            ascii.split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && !l.ends_with('-'));
        if !ascii.contains('.') || !labels_ok {
            return Err("has an invalid domain".into());
        }
        let (domain, back) = idna::domain_to_unicode(&ascii);
        back.map_err(|_| "has an invalid domain")?;
        // Compatibility forms folded (full-width `ＦＵＬＬ` is `full`, as PRECIS's width mapping
        // does for user names, RFC 8265), then lower case; lower-casing can undo the
        // normalisation and lengthen the text, so normalise again, then measure.
        let local: String = local.nfkc().collect::<String>().to_lowercase().nfkc().collect();
        if local.len() > 64 {
            return Err("has an invalid local part: at most 64 octets".into());
        }
        let address = format!("{local}@{domain}");
        if address.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        Ok(Self(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who wrote an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sender {
    pub email: EmailAddress,
    pub name: Option<String>,
}

/// The wire shape of `POST /v1/messages`, before any rule is checked.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = NewMessage))]
#[serde(deny_unknown_fields)]
pub struct RawInboundMessage {
    /// The channel the message came through.
    #[cfg_attr(feature = "openapi", schema(value_type = Channel, example = "api"))]
    pub channel: String,
    pub from: RawSender,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 998))]
    pub subject: Option<String>,
    /// The text; at least one character that is not white space.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, pattern = r"\S"))]
    pub body: String,
    #[serde(default)]
    pub external_id: Option<String>,
    /// A JSON object of the channel's own fields, stored as-is.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Sender))]
#[serde(deny_unknown_fields)]
pub struct RawSender {
    #[cfg_attr(feature = "openapi", schema(format = Email, example = "ana@example.com"))]
    pub email: String,
    #[serde(default)]
    pub name: Option<String>,
}

/// Whether `code` has the shape of an ISO 639-3 language code (`eng`, `spa`): what articles,
/// searches and translations name languages with.
pub fn is_language_code(code: &str) -> bool {
    code.len() == 3 && code.chars().all(|c| c.is_ascii_lowercase())
}

/// An inbound message that passed every rule: only this type can be stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundMessage {
    pub channel: Channel,
    pub from: Sender,
    pub subject: Option<String>,
    pub body: String,
    pub external_id: Option<String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl InboundMessage {
    /// Checks every rule and reports every broken one at once, so a client fixes its request in
    /// one round trip.
    pub fn parse(raw: RawInboundMessage) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        // Text is stored in Postgres, which cannot hold NUL; refuse it here, by field.
        let texts = [
            ("channel", Some(&raw.channel)),
            ("from.email", Some(&raw.from.email)),
            ("from.name", raw.from.name.as_ref()),
            ("subject", raw.subject.as_ref()),
            ("body", Some(&raw.body)),
            ("external_id", raw.external_id.as_ref()),
        ];
        for (field, text) in texts {
            if text.is_some_and(|t| t.contains('\0')) {
                errors.push(ValidationError::new(field, "must not contain NUL characters"));
            }
        }
        if raw.metadata.as_ref().is_some_and(has_nul) {
            errors.push(ValidationError::new("metadata", "must not contain NUL characters"));
        }
        if raw.metadata.as_ref().is_some_and(|m| !numbers_fit(m)) {
            // Postgres stores such numbers exactly, then writes them back in a form a float
            // cannot read: the message could never be shown again.
            errors.push(ValidationError::new("metadata", "numbers must be integers or within ±1e300"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let channel = Channel::parse(raw.channel.trim());
        if channel.is_none() {
            let allowed: Vec<_> = Channel::ALL.iter().map(|c| c.as_str()).collect();
            errors.push(ValidationError::new("channel", format!("must be one of {}", allowed.join(", "))));
        }
        let email =
            EmailAddress::parse(&raw.from.email).map_err(|e| errors.push(ValidationError::new("from.email", e))).ok();
        // The customer's name is shown to agents: the same rules as a member's name.
        let name = non_blank(raw.from.name).and_then(|n| {
            crate::text::display_name(&n, MAX_NAME_CHARS)
                .map_err(|e| errors.push(ValidationError::new("from.name", e)))
                .ok()
        });
        // The subject is the conversation's title in every list: one line, nothing hidden.
        let subject = non_blank(raw.subject).and_then(|s| {
            crate::text::display_name(&s, MAX_SUBJECT_CHARS)
                .map_err(|e| errors.push(ValidationError::new("subject", e)))
                .ok()
        });
        if crate::text::shows_nothing(&raw.body) {
            errors.push(ValidationError::new("body", "must not be empty (or only invisible characters)"));
        } else if raw.body.len() > MAX_BODY_BYTES {
            errors.push(ValidationError::new("body", format!("must be at most {MAX_BODY_BYTES} bytes")));
        }
        let external_id = non_blank(raw.external_id);
        if external_id.as_ref().is_some_and(|s| s.chars().count() > MAX_EXTERNAL_ID_CHARS) {
            errors.push(ValidationError::new(
                "external_id",
                format!("must be at most {MAX_EXTERNAL_ID_CHARS} characters"),
            ));
        }
        let metadata = match raw.metadata {
            None | Some(serde_json::Value::Null) => serde_json::Map::new(),
            Some(serde_json::Value::Object(map)) => map,
            Some(_) => {
                errors.push(ValidationError::new("metadata", "must be a JSON object"));
                serde_json::Map::new()
            }
        };

        match (channel, email) {
            (Some(channel), Some(email)) if errors.is_empty() => {
                Ok(Self { channel, from: Sender { email, name }, subject, body: raw.body, external_id, metadata })
            }
            _ => Err(errors),
        }
    }
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

fn numbers_fit(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.is_finite() && f.abs() < 1e300)
        }
        serde_json::Value::Array(items) => items.iter().all(numbers_fit),
        serde_json::Value::Object(map) => map.values().all(numbers_fit),
        _ => true,
    }
}

fn non_blank(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: serde_json::Value) -> RawInboundMessage {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn parses_a_valid_message_and_normalises_the_address() {
        let msg = InboundMessage::parse(raw(serde_json::json!({
            "channel": "api",
            "from": {"email": "Ana@Example.COM", "name": "  Ana  "},
            "subject": "Hi",
            "body": "Where is my order?",
            "metadata": {"plan": "pro"}
        })))
        .unwrap();
        assert_eq!(msg.channel, Channel::Api);
        assert_eq!(msg.from.email.as_str(), "ana@example.com");
        assert_eq!(msg.from.name.as_deref(), Some("Ana"));
        assert_eq!(msg.metadata["plan"], "pro");
    }

    #[test]
    fn reports_every_broken_rule_at_once() {
        let errors = InboundMessage::parse(raw(serde_json::json!({
            "channel": "pigeon",
            "from": {"email": "not-an-email"},
            "body": "   ",
            "metadata": [1, 2]
        })))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["channel", "from.email", "body", "metadata"]);
    }

    #[test]
    fn refuses_nul_characters_anywhere() {
        let errors = InboundMessage::parse(raw(serde_json::json!({
            "channel": "api",
            "from": {"email": "a@b.example"},
            "body": "a\u{0}b",
            "metadata": {"deep": ["x\u{0}"]}
        })))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["body", "metadata"]);
    }

    #[test]
    fn refuses_metadata_numbers_that_could_not_be_read_back() {
        let with = |n: serde_json::Value| {
            InboundMessage::parse(raw(serde_json::json!({
                "channel": "api", "from": {"email": "a@b.example"}, "body": "x", "metadata": {"n": [n]}
            })))
        };
        assert!(with(serde_json::json!(1.7976931348623157e308)).is_err());
        assert!(with(serde_json::json!(-1e301)).is_err());
        assert!(with(serde_json::json!(u64::MAX)).is_ok());
        assert!(with(serde_json::json!(12.5)).is_ok());
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "a@",
            "@b.com",
            "a b@c.com",
            "a@b",
            "a@-b.com",
            "a@b..com",
            "a@@b.com",
            "john..doe@example.com",
            ".john@example.com",
            "john.@example.com",
            "ag\u{200B}ent@example.com",
            "agent@exa\u{200B}mple.com",
            "\u{202E}moc.elpmaxe@tnega",
            "agent\u{2066}@example.com",
            "agent@example.com\u{00AD}",
            "\u{FEFF}agent@example.com",
            "age\u{0007}nt@example.com",
            "agent@exam_ple.com",
            "ag\u{200D}ent@example.com",
            "\u{3164}@example.com",
            "victim\u{FF20}example.com@attacker.example",
            "victim\u{FF0E}x@example.com",
            "\u{0301}\u{0301}@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(EmailAddress::parse("first.last+tag@sub.example.co.uk").is_ok());
    }

    #[test]
    fn a_senders_name_that_hides_or_reorders_text_is_refused() {
        let errors = InboundMessage::parse(raw(serde_json::json!({
            "channel": "api", "from": {"email": "a@b.example", "name": "Ana\u{202E}nimda"}, "body": "x"
        })))
        .unwrap_err();
        assert_eq!(errors[0].field, "from.name");
        assert!(errors[0].message.contains("U+202E"), "{}", errors[0].message);
    }

    #[test]
    fn a_body_that_shows_nothing_is_empty() {
        for body in ["\u{200C}\u{200D}", "\u{200B} \u{200C} \n\u{200D}\t", "\u{0301}\u{0301}", "\u{FE0F}"] {
            let errors = InboundMessage::parse(raw(serde_json::json!({
                "channel": "api", "from": {"email": "a@b.example"}, "body": body
            })))
            .unwrap_err();
            assert_eq!(errors[0].field, "body", "{body:?}");
        }
    }

    #[test]
    fn addresses_compare_in_one_canonical_form() {
        let canonical = |raw: &str| EmailAddress::parse(raw).unwrap().as_str().to_string();
        assert_eq!(canonical(" AGENT@Example.COM "), "agent@example.com");
        assert_eq!(canonical("ana@Bücher.example"), "ana@bücher.example");
        assert_eq!(canonical("ana@xn--bcher-kva.example"), "ana@bücher.example");
        assert_eq!(canonical("ana@BÜCHER.EXAMPLE"), "ana@bücher.example");
        assert_eq!(canonical("ana@ｅｘａｍｐｌｅ.com"), "ana@example.com", "full-width forms map");
        // The same local part composed (U+00E9) or decomposed (e + U+0301) is one address.
        assert_eq!(canonical("jos\u{e9}@example.com"), canonical("jose\u{301}@example.com"));
        assert_eq!(canonical("JOSÉ@example.com"), "josé@example.com");
        assert_eq!(canonical("\u{FF26}\u{FF35}\u{FF2C}\u{FF2C}@example.com"), "full@example.com");
    }
}
