//! Email in, from raw MIME to a stored message: the one step every source ends in (a raw
//! message posted to a forwarding mailbox, SES receiving, IMAP, Gmail, Microsoft Graph).
//!
//! The raw message is put in object storage first (content-addressed, so a retry writes the
//! same object), then parsed (`helpdesk-mail`), its attachments stored, its threading keys
//! checked, and the store's accept path runs in one transaction; the outbox record is relayed
//! at once (or by the sweeper). A message that cannot be read as mail is kept raw and marked
//! with a `mail.unreadable` event; it never blocks the mailbox.

use crate::outbox::relay_now;
use helpdesk_domain::email::{Bounce, EmailOutcome, InboundEmail, StoredAttachment, ThreadKeys};
use helpdesk_domain::message::MAX_BODY_BYTES;
use helpdesk_domain::{BlobStore, ConversationId, EmailAddress, MessageId, OrgId, Publisher, Sender};
use helpdesk_mail::loop_guard::AutoKind;
use helpdesk_mail::threading::{subject_number, ThreadingKeys};
use helpdesk_mail::ParsedEmail;
use helpdesk_store::{MailboxRecord, PgStore};
use std::sync::Arc;

/// The most header text kept with a message (bytes, values summed); the raw message keeps all.
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What email ingest needs, built once per container.
#[derive(Clone)]
pub struct EmailIngest<P> {
    pub store: PgStore,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: P,
    pub keys: ThreadingKeys,
    /// The domain of inbound and reply addresses (never a participant's).
    pub inbound_domain: String,
}

/// Why ingest failed: storage was unreachable. The caller answers 5xx (or the queue retries);
/// nothing was half-stored that a retry would duplicate.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("object storage: {0}")]
    Blob(String),
    #[error(transparent)]
    Store(#[from] helpdesk_store::StoreError),
}

impl<P: Publisher> EmailIngest<P> {
    /// Ingests one raw message that arrived for `mailbox` of `org`. `envelope` is whom the
    /// transport delivered it to (SES's recipients), when that is known: our reply address may
    /// be there and not in the headers (a Bcc, a forward).
    pub async fn ingest(
        &self,
        org: OrgId,
        mailbox: &MailboxRecord,
        raw: &[u8],
        request_id: Option<&str>,
        envelope: &[String],
    ) -> Result<EmailOutcome, IngestError> {
        let raw_key = crate::raw_mail::raw_mail_key(org, mailbox.id, raw);
        self.blobs.put(&raw_key, raw.to_vec()).await.map_err(IngestError::Blob)?;
        self.ingest_stored(org, mailbox, &raw_key, raw, request_id, envelope).await
    }

    /// Ingests a raw message a source has already kept at `raw_key` (the fetchers put it there
    /// before queueing it, [`crate::raw_mail::raw_mail_key`]).
    pub async fn ingest_stored(
        &self,
        org: OrgId,
        mailbox: &MailboxRecord,
        raw_key: &str,
        raw: &[u8],
        request_id: Option<&str>,
        envelope: &[String],
    ) -> Result<EmailOutcome, IngestError> {
        let hash = helpdesk_mail::parse::sha256_hex(raw);
        let parsed = match ParsedEmail::parse(raw) {
            Ok(p) => p,
            Err(e) => return self.unreadable(org, mailbox, raw_key, &e.to_string()).await,
        };
        let Some(from) = parsed.from.as_ref().and_then(|f| {
            let email = EmailAddress::parse(&f.address).ok()?;
            let name = f.name.as_deref().and_then(|n| helpdesk_domain::text::display_name(&clean(n), 200).ok());
            Some(Sender { email, name })
        }) else {
            let why = match &parsed.from {
                Some(f) => format!("the From address {:?} is not an email address", f.address),
                None => "no From address".to_string(),
            };
            return self.unreadable(org, mailbox, raw_key, &why).await;
        };

        let mut metadata = serde_json::Map::new();
        let mut attachments = Vec::new();
        let mut over_limit = Vec::new();
        for a in &parsed.attachments {
            let size = a.content.len() as u64;
            let storage_key = if size > mailbox.settings.max_attachment_bytes {
                over_limit.push(serde_json::json!({ "filename": a.filename, "size_bytes": size }));
                None
            } else {
                let key = format!("attachments/{org}/{}", a.sha256);
                self.blobs.put(&key, a.content.clone()).await.map_err(IngestError::Blob)?;
                Some(key)
            };
            attachments.push(StoredAttachment {
                filename: a.filename.as_deref().map(file_name),
                content_type: clean(&a.content_type),
                size_bytes: size,
                content_id: a.content_id.as_deref().map(clean),
                inline: a.inline,
                tnef: a.tnef,
                sha256: a.sha256.clone(),
                storage_key,
            });
        }
        if !over_limit.is_empty() {
            metadata.insert(
                "attachments_over_limit".into(),
                serde_json::json!({ "limit_bytes": mailbox.settings.max_attachment_bytes, "files": over_limit }),
            );
        }
        // A support address that is a mailing list (a Google Group) relays people's mail with
        // list headers: bulk signs that name the mailbox itself are not signs.
        let list_is_ours = {
            let (local, domain) = mailbox.address.split_once('@').unwrap_or((&mailbox.address, ""));
            let dotted = format!("{local}.{domain}");
            parsed.headers.iter().any(|(n, v)| {
                n.eq_ignore_ascii_case("list-id") && {
                    let v = v.to_ascii_lowercase();
                    v.contains(&dotted) || v.contains(&mailbox.address)
                }
            })
        };
        let automatic = parsed.automatic.kind.is_some_and(|k| k != AutoKind::Bulk || !list_is_ours);
        if automatic {
            metadata.insert("automatic".into(), serde_json::to_value(&parsed.automatic).unwrap_or_default());
        }
        if !parsed.problems.is_empty() {
            metadata.insert("problems".into(), serde_json::json!(parsed.problems));
        }
        let addresses = |list: &[helpdesk_mail::Mailbox]| list.iter().map(|m| clean(&m.address)).collect::<Vec<_>>();
        metadata.insert("to".into(), serde_json::json!(addresses(&parsed.to)));
        metadata.insert("cc".into(), serde_json::json!(addresses(&parsed.cc)));
        if let Some(date) = parsed.date {
            metadata.insert("date".into(), serde_json::json!(date));
        }
        if parsed.reply.forwarded {
            metadata.insert("forwarded".into(), serde_json::json!(true));
        }
        metadata.insert("quote_removed".into(), serde_json::json!(parsed.reply.quote_removed));
        let (body, truncated) = capped(&clean(&parsed.text), MAX_BODY_BYTES);
        if truncated {
            metadata.insert("body_truncated".into(), serde_json::json!(true));
        }

        let bounce = parsed.delivery_report.as_ref().map(|report| Bounce {
            original_message_id: report.original_message_id.clone(),
            about_our_message: report
                .original_message_id
                .as_deref()
                .is_some_and(|id| self.keys.read_message_id(id).is_some()),
            permanent_failures: report
                .recipients
                .iter()
                .filter(|r| r.is_permanent_failure())
                .filter_map(|r| {
                    let detail =
                        [r.status.as_deref(), r.diagnostic.as_deref()].into_iter().flatten().collect::<Vec<_>>();
                    Some((EmailAddress::parse(&r.address).ok()?, clean(&detail.join(" "))))
                })
                .collect(),
        });

        let mut answered: Vec<String> = Vec::new();
        if let Some(id) = bounce.as_ref().and_then(|b| b.original_message_id.clone()) {
            answered.push(id);
        }
        answered.extend(parsed.answered_ids().into_iter().map(str::to_string));
        answered.dedup();
        let thread = ThreadKeys {
            reply_tokens: parsed
                .recipients()
                .chain(envelope.iter().map(String::as_str))
                .filter_map(|a| self.keys.read_reply_address(a))
                .map(ConversationId)
                .collect(),
            our_messages: answered.iter().filter_map(|id| self.keys.read_message_id(id)).map(MessageId).collect(),
            answered_ids: answered.iter().map(|id| clean(id)).collect(),
            subject_number: parsed.subject.as_deref().and_then(subject_number),
        };

        // Our own inbound and reply addresses are not people.
        let inbound_domain = format!("@{}", self.inbound_domain);
        let cc = parsed
            .cc
            .iter()
            .filter(|m| !m.address.to_ascii_lowercase().ends_with(&inbound_domain))
            .filter_map(|m| {
                Some(Sender {
                    email: EmailAddress::parse(&m.address).ok()?,
                    name: m.name.as_deref().and_then(|n| helpdesk_domain::text::display_name(&clean(n), 200).ok()),
                })
            })
            .collect();
        let reply_to = parsed.reply_to.as_ref().and_then(|r| {
            Some(Sender {
                email: EmailAddress::parse(&r.address).ok()?,
                name: r.name.as_deref().and_then(|n| helpdesk_domain::text::display_name(&clean(n), 200).ok()),
            })
        });
        let email = InboundEmail {
            mailbox: mailbox.id,
            from,
            reply_to,
            cc,
            subject: parsed.subject.as_deref().map(subject_line).filter(|s| !s.is_empty()),
            body,
            stripped_text: capped(&clean(&parsed.reply.text), MAX_BODY_BYTES).0,
            // Bounded already: parsing sanitises at most 256 KB of markup.
            html: parsed.html.as_deref().map(clean),
            email_message_id: parsed.message_id.as_deref().map(clean),
            content_hash: hash,
            raw_key: raw_key.to_string(),
            headers: headers_object(&parsed.headers),
            metadata,
            thread,
            automatic,
            capped: matches!(parsed.automatic.kind, Some(AutoKind::AutoReplied | AutoKind::AutoGenerated)),
            attachments,
            bounce,
            reopen_days: mailbox.settings.reopen_days,
        };
        let accepted = self.store.accept_email(org, &email, request_id).await?;
        if let Some(record) = &accepted.announcement {
            relay_now(&self.store, &self.publisher, org, std::slice::from_ref(record)).await;
        }
        Ok(accepted.outcome)
    }

    async fn unreadable(
        &self,
        org: OrgId,
        mailbox: &MailboxRecord,
        raw_key: &str,
        why: &str,
    ) -> Result<EmailOutcome, IngestError> {
        tracing::warn!(mailbox = %mailbox.id, raw_key, why, "unreadable mail kept raw");
        self.store.record_unreadable_mail(org, mailbox.id, raw_key, why).await?;
        Ok(EmailOutcome::Ignored { reason: format!("unreadable: {why}; the raw message is kept") })
    }
}

/// Text Postgres can hold: NUL replaced (mail may carry it; a `text` column cannot).
fn clean(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// A file's name without any directory a sender put in front of it (`../../etc/x.pdf` is
/// `x.pdf`), on one line, without hidden characters (bidi overrides and kin); a name that is
/// nothing but a path becomes `attachment`.
fn file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    // Hidden characters go: a right-to-left override makes `evil\u{202E}fdp.exe` show as
    // "evilexe.pdf".
    let line: String = clean(last)
        .chars()
        .filter(|c| c.is_control() || !helpdesk_domain::text::is_hidden(*c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim().trim_start_matches('.').trim().to_string();
    if line.is_empty() {
        "attachment".into()
    } else {
        line
    }
}

/// A subject as one line of at most 998 characters (RFC 5322's line limit): control
/// characters become spaces.
fn subject_line(subject: &str) -> String {
    let line: String = subject.chars().map(|c| if c.is_control() { ' ' } else { c }).take(998).collect();
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The longest prefix of at most `max` bytes on a character boundary, and whether it was cut.
fn capped(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_string(), false);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

/// Headers as the store keeps them: `{"Name": "value"}`, or a list for a repeated name, up to
/// [`MAX_HEADER_BYTES`] of values.
fn headers_object(headers: &[(String, String)]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    let mut used = 0;
    for (name, value) in headers {
        used += name.len() + value.len();
        if used > MAX_HEADER_BYTES {
            break;
        }
        let value = serde_json::Value::String(clean(value));
        match object.get_mut(name) {
            None => {
                object.insert(clean(name), value);
            }
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), value]),
        }
    }
    serde_json::Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_a_character_boundary() {
        assert_eq!(capped("héllo", 2), ("h".to_string(), true));
        assert_eq!(capped("hi", 10), ("hi".to_string(), false));
        assert_eq!(subject_line("Re:\r\n\tbroken\u{0}  kettle"), "Re: broken kettle");
        assert_eq!(file_name("../../etc/Rechnung März.pdf"), "Rechnung März.pdf");
        assert_eq!(file_name("C:\\Users\\a\\scan.png"), "scan.png");
        assert_eq!(file_name("../.."), "attachment");
        assert_eq!(file_name(".htaccess"), "htaccess");
        assert_eq!(file_name("evil\u{202E}fdp.exe"), "evilfdp.exe");
    }

    #[test]
    fn repeated_headers_become_lists() {
        let h = |n: &str, v: &str| (n.to_string(), v.to_string());
        let object = headers_object(&[h("Received", "a"), h("Subject", "x"), h("Received", "b"), h("Received", "c")]);
        assert_eq!(object, serde_json::json!({"Received": ["a", "b", "c"], "Subject": "x"}));
    }
}
