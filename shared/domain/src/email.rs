//! Email in: mailboxes (where mail comes from and how it is read) and the shape of an inbound
//! email once parsed, as the store takes it. Parsing MIME and the mail rules are in
//! `helpdesk-mail`; this is the vocabulary the functions and the store share.

use crate::message::{EmailAddress, Sender, ValidationError};
use crate::{ConversationId, MailboxId, MessageId};
use serde::{Deserialize, Serialize};

/// Attachments larger than this are not kept unless a mailbox says otherwise (bytes).
pub const DEFAULT_MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;
/// The most a mailbox may allow per attachment (bytes): SES receiving takes 40 MB messages,
/// and base64 makes a 30 MB file 40 MB.
pub const MAX_ATTACHMENT_BYTES_LIMIT: u64 = 30 * 1024 * 1024;
/// A customer's answer to a conversation resolved longer ago than this starts a new one (days).
pub const DEFAULT_REOPEN_DAYS: u32 = 30;
/// At most this many automatic messages (auto-replies, notifications, bulk) from one sender
/// become messages per hour; more are ignored: two autoresponders answering each other
/// through the platform stop here.
pub const AUTOMATIC_PER_SENDER_PER_HOUR: i64 = 5;
/// At most this many automatic messages join one conversation per day.
pub const AUTOMATIC_PER_CONVERSATION_PER_DAY: i64 = 10;

/// How a mailbox's mail reaches the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailboxKind {
    /// Polled over IMAP.
    Imap,
    /// Gmail's API, after the OAuth 2.0 consent flow.
    Gmail,
    /// Microsoft 365 (Graph), after the OAuth 2.0 consent flow.
    Microsoft,
    /// Forwarded to the mailbox's inbound address, or posted as raw MIME.
    Forwarding,
}

impl MailboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Imap => "imap",
            Self::Gmail => "gmail",
            Self::Microsoft => "microsoft",
            Self::Forwarding => "forwarding",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Imap, Self::Gmail, Self::Microsoft, Self::Forwarding].into_iter().find(|k| k.as_str() == s)
    }
}

/// A mailbox's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MailboxStatus {
    Ok,
    /// The credentials were refused: someone must enter new ones.
    AuthFailed,
    /// The server could not be reached.
    Unreachable,
    /// Paused by an admin: nothing is fetched.
    Paused,
}

impl MailboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::AuthFailed => "auth_failed",
            Self::Unreachable => "unreachable",
            Self::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ok, Self::AuthFailed, Self::Unreachable, Self::Paused].into_iter().find(|k| k.as_str() == s)
    }
}

/// How the IMAP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImapSecurity {
    /// TLS from the first byte (port 993).
    Tls,
    /// `STARTTLS` after connecting (port 143).
    Starttls,
    /// None: only to a server on this machine (loopback), for local use.
    None,
}

/// How the platform signs in to the IMAP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ImapAuth {
    /// `LOGIN` with the password.
    #[default]
    Password,
    /// `AUTHENTICATE XOAUTH2` with an OAuth 2.0 access token (Gmail's and Microsoft's IMAP).
    Xoauth2,
}

/// Where fetching starts on a new mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SyncStart {
    /// Only mail that arrives from now on.
    Now,
    /// Also the mail of the last `import_days` days.
    Import,
}

/// An IMAP mailbox's connection (the secret is kept apart, sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    pub username: String,
    #[serde(default)]
    pub auth: ImapAuth,
    /// Folders to read (default `INBOX`).
    pub folders: Vec<String>,
    pub start: SyncStart,
    /// With `start: import`, how many days back (1–365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_days: Option<u16>,
}

/// A mailbox connected through its provider's OAuth 2.0 consent (Gmail's API, Microsoft
/// Graph): the account that consented and what to read. The refresh token is kept apart,
/// sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthMailbox {
    /// The signed-in account's address, as the provider reported it.
    pub account: String,
    /// Gmail label ids (default `INBOX`) or Microsoft mail folders (default `inbox`).
    pub folders: Vec<String>,
    pub start: SyncStart,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_days: Option<u16>,
}

/// The wire shape of `POST /v1/mailboxes/oauth/{provider}/start`.
#[derive(Debug, Clone, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawOAuthStart {
    /// The mailbox's name (default: the account's address).
    pub name: Option<String>,
    /// Gmail label ids (default `INBOX`) or Microsoft mail folders (default `inbox`).
    pub folders: Option<Vec<String>>,
    /// `now` (default) or `import`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<SyncStart>))]
    pub start: Option<String>,
    pub import_days: Option<u16>,
    /// Where the browser goes after the consent: a path of the dashboard (`/settings/mailboxes`);
    /// without it the callback answers JSON.
    pub return_to: Option<String>,
}

/// A consent flow's request that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthStart {
    pub name: Option<String>,
    pub folders: Option<Vec<String>>,
    pub start: SyncStart,
    pub import_days: Option<u16>,
    pub return_to: Option<String>,
}

impl OAuthStart {
    /// Checks every rule and reports every broken one at once.
    pub fn parse(raw: RawOAuthStart) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let name = match raw.name.as_deref().map(|n| crate::text::display_name(n, 200)) {
            Some(Ok(n)) if n.is_empty() => {
                errors.push(ValidationError::new("name", "must not be empty"));
                None
            }
            Some(Ok(n)) => Some(n),
            Some(Err(e)) => {
                errors.push(ValidationError::new("name", e));
                None
            }
            None => None,
        };
        let folders = raw.folders.map(|folders| folders.iter().map(|f| f.trim().to_string()).collect::<Vec<_>>());
        if folders.as_ref().is_some_and(|f| {
            f.is_empty()
                || f.len() > 20
                || f.iter().any(|f| f.is_empty() || f.len() > 255 || f.chars().any(|c| c.is_control() || c == '/'))
        }) {
            errors.push(ValidationError::new("folders", "1 to 20 names, each 1 to 255 characters, without /"));
        }
        let (start, import_days) = parse_start(raw.start.as_deref(), raw.import_days, "", &mut errors);
        if let Some(path) = &raw.return_to {
            // A path of our own dashboard only: never an open redirect.
            if !path.starts_with('/')
                || path.starts_with("//")
                || path.len() > 512
                || path.chars().any(|c| c == '\\' || c == '#' || c.is_control() || crate::text::is_hidden(c))
            {
                errors.push(ValidationError::new(
                    "return_to",
                    "must be a path of the dashboard, e.g. /settings/mailboxes",
                ));
            }
        }
        if errors.is_empty() {
            Ok(Self { name, folders, start, import_days, return_to: raw.return_to })
        } else {
            Err(errors)
        }
    }
}

/// `start` and `import_days` as every kind of mailbox takes them (`prefix` names the fields).
fn parse_start(
    start: Option<&str>,
    import_days: Option<u16>,
    prefix: &str,
    errors: &mut Vec<ValidationError>,
) -> (SyncStart, Option<u16>) {
    let start = match start.map(str::trim) {
        None | Some("now") => SyncStart::Now,
        Some("import") => SyncStart::Import,
        Some(_) => {
            errors.push(ValidationError::new(format!("{prefix}start"), "must be one of now, import"));
            SyncStart::Now
        }
    };
    match (start, import_days) {
        (SyncStart::Import, Some(1..=365)) | (SyncStart::Now, None) => {}
        (SyncStart::Import, _) => errors
            .push(ValidationError::new(format!("{prefix}import_days"), "must be from 1 to 365 with start: import")),
        (SyncStart::Now, Some(_)) => {
            errors.push(ValidationError::new(format!("{prefix}import_days"), "only with start: import"))
        }
    }
    (start, import_days)
}

/// A mailbox's settings, stored as they are shown (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MailboxSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imap: Option<ImapSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthMailbox>,
    /// Attachments larger than this are not kept; the message says so (bytes).
    pub max_attachment_bytes: u64,
    /// A customer's answer to a conversation resolved longer ago than this starts a new one.
    pub reopen_days: u32,
}

/// The wire shape of `POST /v1/mailboxes` and `PATCH /v1/mailboxes/{id}` (on a patch, every
/// field is optional and `kind` cannot change).
#[derive(Debug, Clone, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawMailbox {
    pub name: Option<String>,
    /// The support address customers write to.
    pub address: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<MailboxKind>))]
    pub kind: Option<String>,
    pub imap: Option<RawImap>,
    /// The IMAP password or XOAUTH2 access token; write-only, stored sealed.
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub secret: Option<String>,
    pub max_attachment_bytes: Option<u64>,
    pub reopen_days: Option<u32>,
    /// `true` pauses fetching, `false` resumes it.
    pub paused: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RawImap {
    pub host: String,
    /// Default 993 with `tls`, 143 otherwise.
    pub port: Option<u16>,
    #[cfg_attr(feature = "openapi", schema(value_type = ImapSecurity))]
    pub security: String,
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<ImapAuth>))]
    pub auth: Option<String>,
    pub folders: Option<Vec<String>>,
    /// `now` (default) or `import`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<SyncStart>))]
    pub start: Option<String>,
    pub import_days: Option<u16>,
}

/// A mailbox that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMailbox {
    pub name: String,
    pub address: EmailAddress,
    pub kind: MailboxKind,
    pub settings: MailboxSettings,
    /// The IMAP secret to seal.
    pub secret: Option<String>,
}

impl NewMailbox {
    /// Checks every rule and reports every broken one at once.
    pub fn parse(raw: RawMailbox) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let name = match raw.name.as_deref().map(|n| crate::text::display_name(n, 200)) {
            Some(Ok(n)) if !n.is_empty() => Some(n),
            Some(Err(e)) => {
                errors.push(ValidationError::new("name", e));
                None
            }
            _ => {
                errors.push(ValidationError::new("name", "is required"));
                None
            }
        };
        let address = match raw.address.as_deref().map(EmailAddress::parse) {
            Some(Ok(a)) => Some(a),
            Some(Err(e)) => {
                errors.push(ValidationError::new("address", e));
                None
            }
            None => {
                errors.push(ValidationError::new("address", "is required"));
                None
            }
        };
        let kind = match raw.kind.as_deref().map(|k| (k, MailboxKind::parse(k.trim()))) {
            Some((_, Some(MailboxKind::Gmail | MailboxKind::Microsoft))) => {
                errors.push(ValidationError::new(
                    "kind",
                    "gmail and microsoft mailboxes connect through their provider's consent: \
                     POST /v1/mailboxes/oauth/google/start or /v1/mailboxes/oauth/microsoft/start",
                ));
                None
            }
            Some((_, Some(k))) => Some(k),
            _ => {
                errors.push(ValidationError::new("kind", "must be one of imap, forwarding"));
                None
            }
        };
        let imap = match (kind, raw.imap) {
            (Some(MailboxKind::Imap), Some(imap)) => parse_imap(imap, &mut errors),
            (Some(MailboxKind::Imap), None) => {
                errors.push(ValidationError::new("imap", "is required for an imap mailbox"));
                None
            }
            (Some(_), Some(_)) => {
                errors.push(ValidationError::new("imap", "is only for an imap mailbox"));
                None
            }
            _ => None,
        };
        let secret = raw.secret.filter(|s| !s.is_empty());
        match kind {
            Some(MailboxKind::Imap) if secret.is_none() => {
                errors.push(ValidationError::new("secret", "the IMAP password or access token is required"))
            }
            Some(MailboxKind::Forwarding) if secret.is_some() => {
                errors.push(ValidationError::new("secret", "a forwarding mailbox has no secret"))
            }
            _ => {}
        }
        if secret.as_deref().is_some_and(|s| s.len() > 4096 || s.chars().any(|c| matches!(c, '\0' | '\r' | '\n'))) {
            errors.push(ValidationError::new("secret", "must be at most 4096 bytes, without NUL or line breaks"));
        }
        let max_attachment_bytes = raw.max_attachment_bytes.unwrap_or(DEFAULT_MAX_ATTACHMENT_BYTES);
        if max_attachment_bytes == 0 || max_attachment_bytes > MAX_ATTACHMENT_BYTES_LIMIT {
            errors.push(ValidationError::new(
                "max_attachment_bytes",
                format!("must be from 1 to {MAX_ATTACHMENT_BYTES_LIMIT}"),
            ));
        }
        let reopen_days = raw.reopen_days.unwrap_or(DEFAULT_REOPEN_DAYS);
        if !(1..=3650).contains(&reopen_days) {
            errors.push(ValidationError::new("reopen_days", "must be from 1 to 3650"));
        }
        if raw.paused.is_some() {
            errors.push(ValidationError::new("paused", "a new mailbox starts unpaused; pause it with PATCH"));
        }
        match (name, address, kind) {
            (Some(name), Some(address), Some(kind)) if errors.is_empty() => Ok(Self {
                name,
                address,
                kind,
                settings: MailboxSettings { imap, oauth: None, max_attachment_bytes, reopen_days },
                secret,
            }),
            _ => Err(errors),
        }
    }
}

/// A change to a mailbox that passed every rule (`PATCH /v1/mailboxes/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxChange {
    pub name: Option<String>,
    /// The whole new settings, when any setting changed.
    pub settings: Option<MailboxSettings>,
    pub secret: Option<String>,
    pub paused: Option<bool>,
}

impl MailboxChange {
    /// Checks a patch against the mailbox as it is: its address and kind stay (a new address
    /// is a new mailbox); `imap` replaces the connection of an imap mailbox; a secret only for
    /// an imap mailbox.
    pub fn parse(raw: RawMailbox, kind: MailboxKind, current: &MailboxSettings) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        if raw.address.is_some() {
            errors.push(ValidationError::new("address", "cannot change; create a new mailbox for another address"));
        }
        if raw.kind.is_some() {
            errors.push(ValidationError::new("kind", "cannot change"));
        }
        let name = raw.name.as_deref().and_then(|n| match crate::text::display_name(n, 200) {
            Ok(n) if !n.is_empty() => Some(n),
            Ok(_) => {
                errors.push(ValidationError::new("name", "must not be empty"));
                None
            }
            Err(e) => {
                errors.push(ValidationError::new("name", e));
                None
            }
        });
        let mut settings = current.clone();
        let mut changed = false;
        if let Some(imap) = raw.imap {
            if kind == MailboxKind::Imap {
                settings.imap = parse_imap(imap, &mut errors).or(settings.imap);
                changed = true;
            } else {
                errors.push(ValidationError::new("imap", "is only for an imap mailbox"));
            }
        }
        if let Some(bytes) = raw.max_attachment_bytes {
            if bytes == 0 || bytes > MAX_ATTACHMENT_BYTES_LIMIT {
                errors.push(ValidationError::new(
                    "max_attachment_bytes",
                    format!("must be from 1 to {MAX_ATTACHMENT_BYTES_LIMIT}"),
                ));
            }
            settings.max_attachment_bytes = bytes;
            changed = true;
        }
        if let Some(days) = raw.reopen_days {
            if !(1..=3650).contains(&days) {
                errors.push(ValidationError::new("reopen_days", "must be from 1 to 3650"));
            }
            settings.reopen_days = days;
            changed = true;
        }
        let secret = raw.secret.filter(|s| !s.is_empty());
        if secret.is_some() && kind != MailboxKind::Imap {
            errors.push(ValidationError::new("secret", "only an imap mailbox has a secret to set"));
        }
        if secret.as_deref().is_some_and(|s| s.len() > 4096 || s.chars().any(|c| matches!(c, '\0' | '\r' | '\n'))) {
            errors.push(ValidationError::new("secret", "must be at most 4096 bytes, without NUL or line breaks"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self { name, settings: changed.then_some(settings), secret, paused: raw.paused })
    }
}

/// Whether a host names this machine (`localhost`, 127.0.0.0/8, `::1`): the only place an
/// unencrypted IMAP connection may go.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn parse_imap(raw: RawImap, errors: &mut Vec<ValidationError>) -> Option<ImapSettings> {
    let before = errors.len();
    let host = raw.host.trim().to_ascii_lowercase();
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && (host.parse::<std::net::IpAddr>().is_ok()
            || host
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')));
    if !host_ok {
        errors.push(ValidationError::new("imap.host", "must be a host name or an IP address"));
    }
    let security = match raw.security.trim() {
        "tls" => Some(ImapSecurity::Tls),
        "starttls" => Some(ImapSecurity::Starttls),
        "none" if is_loopback_host(&host) => Some(ImapSecurity::None),
        "none" => {
            errors.push(ValidationError::new(
                "imap.security",
                "none is only allowed to a server on loopback (local use); use tls or starttls",
            ));
            None
        }
        _ => {
            errors.push(ValidationError::new("imap.security", "must be one of tls, starttls, none"));
            None
        }
    };
    let port = raw.port.unwrap_or(if security == Some(ImapSecurity::Tls) { 993 } else { 143 });
    if port == 0 {
        errors.push(ValidationError::new("imap.port", "must be from 1 to 65535"));
    }
    let username = raw.username.trim().to_string();
    if username.is_empty() || username.len() > 320 || username.chars().any(char::is_control) {
        errors.push(ValidationError::new("imap.username", "must be 1 to 320 characters, without control characters"));
    }
    let auth = match raw.auth.as_deref().map(str::trim) {
        None | Some("password") => ImapAuth::Password,
        Some("xoauth2") => ImapAuth::Xoauth2,
        Some(_) => {
            errors.push(ValidationError::new("imap.auth", "must be one of password, xoauth2"));
            ImapAuth::Password
        }
    };
    let folders = raw.folders.unwrap_or_else(|| vec!["INBOX".into()]);
    let folders: Vec<String> = folders.iter().map(|f| f.trim().to_string()).collect();
    if folders.is_empty()
        || folders.len() > 20
        || folders.iter().any(|f| f.is_empty() || f.len() > 255 || f.chars().any(char::is_control))
    {
        errors.push(ValidationError::new("imap.folders", "1 to 20 folder names, each 1 to 255 characters"));
    }
    let (start, _) = parse_start(raw.start.as_deref(), raw.import_days, "imap.", errors);
    (errors.len() == before).then(|| ImapSettings {
        host,
        port,
        security: security.expect("checked"),
        username,
        auth,
        folders,
        start,
        import_days: raw.import_days,
    })
}

/// What threads an inbound email, strongest first (the ingest path fills it from the parsed
/// message, having checked the signatures).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadKeys {
    /// Conversations named by our signed reply addresses among the recipients.
    pub reply_tokens: Vec<ConversationId>,
    /// Our messages named by signed Message-IDs in `In-Reply-To` / `References`.
    pub our_messages: Vec<MessageId>,
    /// Every Message-ID the email answers, newest first (matched against stored ones).
    pub answered_ids: Vec<String>,
    /// The `[#1234]` subject token (used only when the sender takes part in that conversation).
    pub subject_number: Option<i64>,
}

/// An attachment as stored: its object key is set when the file was kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAttachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub size_bytes: u64,
    pub content_id: Option<String>,
    pub inline: bool,
    pub tnef: bool,
    pub sha256: String,
    pub storage_key: Option<String>,
}

/// A delivery failure reported about one of our messages (RFC 3464).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The Message-ID of the message that bounced.
    pub original_message_id: Option<String>,
    /// That Message-ID is one of ours (its signature checked): only then may the failures put
    /// addresses on the suppression list — anyone can send a report naming anyone.
    pub about_our_message: bool,
    /// Addresses that failed permanently, with the status code and diagnostic.
    pub permanent_failures: Vec<(EmailAddress, String)>,
}

/// An inbound email ready for the store: parsed, its raw MIME and attachments already kept.
#[derive(Debug, Clone)]
pub struct InboundEmail {
    pub mailbox: MailboxId,
    pub from: Sender,
    /// `Reply-To`: whom to answer when `From` is one of our own addresses (a website's contact
    /// form sends as the shop, on the customer's behalf).
    pub reply_to: Option<Sender>,
    /// People in Cc (they become participants).
    pub cc: Vec<Sender>,
    pub subject: Option<String>,
    /// The whole text (capped at [`crate::message::MAX_BODY_BYTES`]).
    pub body: String,
    /// The customer's new words: what the AI reads.
    pub stripped_text: String,
    /// Sanitised HTML for display.
    pub html: Option<String>,
    pub email_message_id: Option<String>,
    /// SHA-256 of the raw message (hex).
    pub content_hash: String,
    /// Where the raw MIME is kept.
    pub raw_key: String,
    /// Headers as a JSON array of `[name, value]`.
    pub headers: serde_json::Value,
    /// What else the message says: automatic-mail verdict, parse problems, recipients, …
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub thread: ThreadKeys,
    /// Sent by a machine (auto-reply, notification, bulk, report): flagged, never answered,
    /// reopens nothing.
    pub automatic: bool,
    /// An auto-reply or notification, which the caps count (`automatic.kind` in the metadata is
    /// `auto_replied` or `auto_generated`): what two machines answering each other send. Bulk
    /// mail and delivery reports are not capped (they do not answer us, and every bounce counts).
    pub capped: bool,
    pub attachments: Vec<StoredAttachment>,
    pub bounce: Option<Bounce>,
    pub reopen_days: u32,
}

/// What became of an inbound email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum EmailOutcome {
    /// Stored now.
    Accepted {
        #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
        message_id: MessageId,
        #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
        conversation_id: ConversationId,
    },
    /// The same mail (mailbox, Message-ID and content) was stored before.
    Duplicate {
        #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
        message_id: MessageId,
        #[cfg_attr(feature = "openapi", schema(value_type = uuid::Uuid))]
        conversation_id: ConversationId,
    },
    /// Not made a message: mail from the platform's own addresses, or over an automatic-mail cap.
    Ignored { reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: serde_json::Value) -> RawMailbox {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_imap_mailbox_with_defaults() {
        let m = NewMailbox::parse(raw(serde_json::json!({
            "name": "Support", "address": "Support@Shop.example", "kind": "imap", "secret": "pw",
            "imap": {"host": "IMAP.shop.example", "security": "tls", "username": "support"}
        })))
        .unwrap();
        let imap = m.settings.imap.unwrap();
        assert_eq!(
            (imap.host.as_str(), imap.port, imap.folders.clone()),
            ("imap.shop.example", 993, vec!["INBOX".to_string()])
        );
        assert_eq!(m.address.as_str(), "support@shop.example");
        assert_eq!((m.settings.max_attachment_bytes, m.settings.reopen_days), (DEFAULT_MAX_ATTACHMENT_BYTES, 30));
    }

    #[test]
    fn plain_imap_only_on_loopback() {
        let with = |host: &str| {
            NewMailbox::parse(raw(serde_json::json!({
                "name": "x", "address": "a@b.example", "kind": "imap", "secret": "pw",
                "imap": {"host": host, "security": "none", "username": "u"}
            })))
        };
        assert!(with("127.0.0.1").is_ok() && with("localhost").is_ok() && with("::1").is_ok());
        let errors = with("imap.shop.example").unwrap_err();
        assert_eq!(errors[0].field, "imap.security");
    }

    #[test]
    fn reports_every_broken_rule() {
        let errors = NewMailbox::parse(raw(serde_json::json!({
            "address": "nope", "kind": "gmail", "max_attachment_bytes": 0, "reopen_days": 0
        })))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "address", "kind", "max_attachment_bytes", "reopen_days"]);
        let errors = NewMailbox::parse(raw(serde_json::json!({
            "name": "x", "address": "a@b.example", "kind": "forwarding", "secret": "pw",
            "imap": {"host": "h", "security": "tls", "username": "u"}
        })))
        .unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["imap", "secret"]);
    }

    #[test]
    fn a_patch_keeps_address_and_kind() {
        let current = MailboxSettings { imap: None, oauth: None, max_attachment_bytes: 10, reopen_days: 30 };
        let patch = |json: serde_json::Value| MailboxChange::parse(raw(json), MailboxKind::Forwarding, &current);
        let change = patch(serde_json::json!({"reopen_days": 7, "paused": true})).unwrap();
        assert_eq!(change.settings.unwrap().reopen_days, 7);
        assert_eq!(change.paused, Some(true));
        let errors = patch(serde_json::json!({"address": "x@y.example", "kind": "imap", "secret": "s"})).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["address", "kind", "secret"]);
        assert_eq!(patch(serde_json::json!({})).unwrap(), MailboxChange::default());
    }

    #[test]
    fn an_import_needs_its_days() {
        let with = |imap: serde_json::Value| {
            NewMailbox::parse(raw(serde_json::json!({
                "name": "x", "address": "a@b.example", "kind": "imap", "secret": "pw", "imap": imap
            })))
        };
        let base = |extra: serde_json::Value| {
            let mut v = serde_json::json!({"host": "h.example", "security": "tls", "username": "u"});
            v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            v
        };
        assert!(with(base(serde_json::json!({"start": "import", "import_days": 7}))).is_ok());
        assert!(with(base(serde_json::json!({"start": "import"}))).is_err());
        assert!(with(base(serde_json::json!({"import_days": 7}))).is_err());
    }
}
