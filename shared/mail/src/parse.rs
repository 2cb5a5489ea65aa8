//! A raw MIME message as the platform keeps it: who wrote to whom, the threading headers, the
//! whole text, the customer's new words, sanitised HTML, attachments, and the loop guard's and
//! delivery report's verdicts. Parsing never fails on a malformed message that has headers:
//! what could not be read is listed in [`ParsedEmail::problems`], and the raw MIME stays the
//! record.

use crate::dsn::{parse_status_fields, DeliveryReport};
use crate::loop_guard::{self, Automatic};
use crate::reply::{self, Reply};
use crate::{html, threading};
use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// A name and an address as a header gave them (the address as written; the caller
/// canonicalises it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mailbox {
    pub address: String,
    pub name: Option<String>,
}

/// A part that is a file rather than the message's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub filename: Option<String>,
    /// `type/subtype`, lower-case (`application/octet-stream` when the part named none).
    pub content_type: String,
    /// `Content-ID` without angle brackets.
    pub content_id: Option<String>,
    /// Shown inside the message: `Content-Disposition: inline`, or referenced by a `cid:` URL
    /// in the HTML even without a disposition.
    pub inline: bool,
    /// Outlook's `winmail.dat` (TNEF, `application/ms-tnef`): its files are inside it.
    pub tnef: bool,
    /// SHA-256 of the decoded content, lower-case hex (the storage key).
    pub sha256: String,
    pub content: Vec<u8>,
}

/// What [`ParsedEmail::parse`] refuses: input with no header block at all.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a MIME message: {0}")]
pub struct ParseError(pub String);

/// A parsed email.
#[derive(Debug, Clone)]
pub struct ParsedEmail {
    /// `Message-ID` without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub from: Option<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Where the mail was delivered (`Delivered-To`, `X-Original-To`, `Envelope-To`, `X-Forwarded-To`):
    /// a forwarding address or reply token the visible recipients may not show.
    pub delivered_to: Vec<String>,
    pub subject: Option<String>,
    pub date: Option<chrono::DateTime<chrono::Utc>>,
    /// The whole text: the text part, else the HTML rendered.
    pub text: String,
    /// The HTML part, sanitised for display.
    pub html: Option<String>,
    /// The customer's new words ([`reply::extract`]; from the HTML when there is one, where
    /// quote containers are marked).
    pub reply: Reply,
    pub attachments: Vec<Attachment>,
    /// Every header, name and value (unfolded, encoded words decoded where the parser could).
    pub headers: Vec<(String, String)>,
    pub automatic: Automatic,
    pub delivery_report: Option<DeliveryReport>,
    /// SHA-256 of the raw message, lower-case hex.
    pub content_hash: String,
    /// What could not be read (a part in an unknown charset, no `From`, …).
    pub problems: Vec<String>,
}

impl ParsedEmail {
    pub fn parse(raw: &[u8]) -> Result<Self, ParseError> {
        let message = MessageParser::default()
            .parse(raw)
            .filter(|m| !m.headers().is_empty())
            .ok_or_else(|| ParseError("no header block".into()))?;
        let mut problems = Vec::new();

        let headers: Vec<(String, String)> = message.headers_raw().map(|(n, v)| (n.to_string(), unfold(v))).collect();
        let header_text = |name: &str| {
            headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect::<Vec<_>>()
        };
        // Ids longer than a header line are nobody's (and would not fit an index).
        let ids = |name: &str| {
            header_text(name)
                .into_iter()
                .flat_map(threading::message_ids)
                .filter(|id| id.len() <= MAX_ID_BYTES)
                .collect::<Vec<_>>()
        };

        let from = message.from().and_then(|a| mailboxes(a).into_iter().next());
        if from.is_none() {
            problems.push("no From address".into());
        }
        let mut delivered_to: Vec<String> = ["delivered-to", "x-original-to", "envelope-to", "x-forwarded-to"]
            .iter()
            .flat_map(|n| header_text(n))
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().trim_start_matches('<').trim_end_matches('>').to_string())
            .filter(|v| v.contains('@'))
            .collect();
        delivered_to.dedup();

        let text_parts: Vec<String> = message
            .text_bodies()
            .filter_map(|p| match &p.body {
                PartType::Text(t) => Some(t.to_string()),
                _ => None,
            })
            .collect();
        let html_parts: Vec<String> = message
            .html_bodies()
            .filter_map(|p| match &p.body {
                PartType::Html(h) => Some(h.to_string()),
                _ => None,
            })
            .collect();
        for (i, part) in message.parts.iter().enumerate() {
            if part.is_encoding_problem {
                problems.push(format!("part {i}: content could not be decoded as declared"));
            }
        }
        let html_source = (!html_parts.is_empty()).then(|| html_parts.join("\n"));
        let text = if text_parts.is_empty() {
            html_source.as_deref().map(html::to_text).unwrap_or_default()
        } else {
            text_parts.join("\n")
        };
        let mut reply = match &html_source {
            Some(h) => {
                // Gmail and Outlook wrap a forward's header in their quote containers: read the
                // HTML unmarked first, and keep a forward whole.
                let unmarked = reply::extract(&html::to_text(h));
                if unmarked.forwarded {
                    unmarked
                } else {
                    reply::extract(&html::to_text_marking_quotes(h))
                }
            }
            None => reply::extract(&text),
        };
        if reply.text.trim().is_empty() {
            // Nothing but a quote (a forward without a word): the whole text is the message.
            reply = Reply { text: text.trim().to_string(), quote_removed: false, forwarded: reply.forwarded };
        }
        if text_parts.is_empty() && html_source.as_ref().is_some_and(|h| h.chars().count() > html::HTML_CHARS) {
            problems
                .push(format!("the HTML is longer than {} characters: its text is its beginning", html::HTML_CHARS));
        }

        let attachment_count = message.attachments().count();
        if attachment_count > MAX_ATTACHMENTS {
            problems.push(format!("{attachment_count} attachments: only the first {MAX_ATTACHMENTS} are kept"));
        }
        let attachments = message
            .attachments()
            .take(MAX_ATTACHMENTS)
            .map(|part| {
                let content_type = part.content_type().map_or_else(
                    || "application/octet-stream".to_string(),
                    |c| match c.subtype() {
                        Some(sub) => format!("{}/{}", c.ctype(), sub).to_ascii_lowercase(),
                        None => c.ctype().to_ascii_lowercase(),
                    },
                );
                let content_id = part.content_id().map(|c| c.trim_start_matches('<').trim_end_matches('>').to_string());
                // A `cid:` URL in the HTML makes a part inline (one scan per part's id: linear).
                let referenced = content_id
                    .as_ref()
                    .is_some_and(|c| html_source.as_deref().is_some_and(|h| h.contains(&format!("cid:{c}"))));
                let disposition_inline = part.content_disposition().is_some_and(|d| d.is_inline());
                let filename = part.attachment_name().map(str::to_string);
                let tnef = content_type == "application/ms-tnef"
                    || filename.as_deref().is_some_and(|f| f.eq_ignore_ascii_case("winmail.dat"));
                let content = part.contents().to_vec();
                Attachment {
                    sha256: sha256_hex(&content),
                    filename,
                    content_type,
                    content_id,
                    inline: referenced || disposition_inline,
                    tnef,
                    content,
                }
            })
            .collect();

        let delivery_report = delivery_report(&message);
        let subject = message.subject().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let automatic = loop_guard::assess(&headers, subject.as_deref(), delivery_report.is_some());

        Ok(Self {
            message_id: message
                .message_id()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s.len() <= MAX_ID_BYTES),
            in_reply_to: ids("in-reply-to"),
            references: ids("references"),
            reply_to: message.reply_to().and_then(|a| mailboxes(a).into_iter().next()),
            to: message.to().map(mailboxes).unwrap_or_default(),
            cc: message.cc().map(mailboxes).unwrap_or_default().into_iter().take(MAX_CC).collect(),
            from,
            delivered_to,
            subject,
            date: message.date().and_then(|d| chrono::DateTime::from_timestamp(d.to_timestamp(), 0)),
            text: text.trim().to_string(),
            html: html_source.as_deref().and_then(|h| {
                let shown = html::sanitise_bounded(h);
                if shown.is_none() {
                    problems.push("the HTML is too large or too deeply nested to show; the raw message has it".into());
                }
                shown
            }),
            reply,
            attachments,
            headers,
            automatic,
            delivery_report,
            content_hash: content_hash(&message, raw),
            problems,
        })
    }

    /// Every Message-ID this message answers: `In-Reply-To` first, then the newest
    /// [`MAX_REFERENCES`] of `References`, without repeats.
    pub fn answered_ids(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        self.in_reply_to
            .iter()
            .chain(self.references.iter().rev().take(MAX_REFERENCES))
            .map(String::as_str)
            .filter(|id| seen.insert(*id))
            .collect()
    }

    /// Every address the message was sent or delivered to.
    pub fn recipients(&self) -> impl Iterator<Item = &str> {
        self.to.iter().chain(&self.cc).map(|m| m.address.as_str()).chain(self.delivered_to.iter().map(String::as_str))
    }
}

fn mailboxes(address: &Address<'_>) -> Vec<Mailbox> {
    address
        .iter()
        .filter_map(|a| {
            let address = a.address()?.trim().to_string();
            let name =
                a.name.as_deref().map(|n| n.trim().trim_matches('"').trim().to_string()).filter(|n| !n.is_empty());
            Some(Mailbox { address, name })
        })
        .collect()
}

/// The most attachments kept from one message (more are listed in `problems`).
pub const MAX_ATTACHMENTS: usize = 100;
/// The most Cc addresses read from one message.
pub const MAX_CC: usize = 50;
/// The most `References` ids threading looks at (the newest).
pub const MAX_REFERENCES: usize = 50;
/// Message-IDs longer than this are ignored (RFC 5322's line limit).
pub const MAX_ID_BYTES: usize = 998;

/// What makes two deliveries the same mail: the body and the headers its author wrote (From,
/// To, Cc, Date, Subject, Message-ID), not the trace headers each hop adds (`Received`,
/// `Delivered-To`, `DKIM-Signature`, …), so the same message that reached a mailbox twice —
/// by an alias, by To and Cc, by IMAP and by forwarding — is one message.
fn content_hash(message: &mail_parser::Message<'_>, raw: &[u8]) -> String {
    let mut digest = Sha256::new();
    for name in ["from", "to", "cc", "date", "subject", "message-id"] {
        let values: Vec<&str> =
            message.headers_raw().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v).collect();
        digest.update(name.as_bytes());
        digest.update(b":");
        digest.update(unfold(&values.join(",")).as_bytes());
        digest.update(b"\n");
    }
    let body = raw.get(message.root_part().offset_body as usize..).unwrap_or_default();
    digest.update(body);
    hex(&digest.finalize())
}

/// A header value on one line: folding (RFC 5322 §2.2.3) undone.
fn unfold(value: &str) -> String {
    value.replace("\r\n", "").replace('\n', "").trim().to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of some bytes, lower-case hex: the content hash of a raw message and the storage
/// key of an attachment.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The report when the message is `multipart/report; report-type=delivery-status` (or has a
/// `message/delivery-status` part: some servers mislabel the whole).
fn delivery_report(message: &mail_parser::Message<'_>) -> Option<DeliveryReport> {
    let root_is_report = message.root_part().content_type().is_some_and(|c| {
        c.ctype().eq_ignore_ascii_case("multipart")
            && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case("report"))
            && c.attribute("report-type").is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"))
    });
    let is = |p: &mail_parser::MessagePart<'_>, ty: &str, sub: &str| {
        p.content_type().is_some_and(|c| {
            c.ctype().eq_ignore_ascii_case(ty) && c.subtype().is_some_and(|s| s.eq_ignore_ascii_case(sub))
        })
    };
    let status = message
        .parts
        .iter()
        .find(|p| is(p, "message", "delivery-status") || is(p, "message", "global-delivery-status"));
    if !root_is_report && status.is_none() {
        return None;
    }
    let recipients = status.map(|p| parse_status_fields(&String::from_utf8_lossy(p.contents()))).unwrap_or_default();
    let original_message_id = message.parts.iter().find_map(|p| match &p.body {
        PartType::Message(m) => m.message_id().map(str::to_string),
        _ if is(p, "text", "rfc822-headers") => {
            MessageParser::default().parse(p.contents()).and_then(|m| m.message_id().map(str::to_string))
        }
        _ => None,
    });
    Some(DeliveryReport { recipients, original_message_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_reply_with_charset_threading_headers_and_an_inline_image() {
        let raw = concat!(
            "From: =?ISO-8859-1?Q?Ana_L=F3pez?= <Ana@Example.com>\r\n",
            "To: Shop <help@shop.example>\r\n",
            "Delivered-To: reply+cabc@in.shop.example\r\n",
            "Subject: =?UTF-8?B?UmU6IMK/RMOzbmRlIGVzdMOhIG1pIHBlZGlkbz8=?=\r\n",
            "Message-ID: <CAx1@mail.example.com>\r\n",
            "In-Reply-To: <m.1.2@shop.example>\r\n",
            "References: <first@shop.example>\r\n <m.1.2@shop.example>\r\n",
            "Date: Mon, 24 Nov 2025 10:02:00 +0100\r\n",
            "X-Auto-Response-Suppress: All\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/related; boundary=\"b1\"\r\n\r\n",
            "--b1\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
            "<p>Todav=EDa no lleg=F3.</p><img src=3D\"cid:logo@x\"><div class=3D\"gmail_quote\">El lun escribi=F3: old</div>\r\n",
            "--b1\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n",
            "--b1--\r\n"
        );
        let m = ParsedEmail::parse(raw.as_bytes()).unwrap();
        let from = m.from.as_ref().unwrap();
        assert_eq!((from.address.as_str(), from.name.as_deref()), ("Ana@Example.com", Some("Ana López")));
        assert_eq!(m.subject.as_deref(), Some("Re: ¿Dónde está mi pedido?"));
        assert_eq!(m.message_id.as_deref(), Some("CAx1@mail.example.com"));
        assert_eq!(m.answered_ids(), ["m.1.2@shop.example", "first@shop.example"]);
        assert_eq!(m.delivered_to, ["reply+cabc@in.shop.example"]);
        assert_eq!(m.reply.text, "Todavía no llegó.");
        assert!(m.text.contains("old"), "the whole text keeps the quote: {}", m.text);
        assert_eq!(m.attachments.len(), 1);
        let image = &m.attachments[0];
        assert!(image.inline && image.content_type == "image/png" && image.content_id.as_deref() == Some("logo@x"));
        assert_eq!(m.automatic.kind, None, "X-Auto-Response-Suppress is a person's mail");
        assert_eq!(m.date.unwrap().to_rfc3339(), "2025-11-24T09:02:00+00:00");
        assert!(m.problems.is_empty(), "{:?}", m.problems);
    }

    #[test]
    fn a_bounce_names_the_recipient_and_our_message() {
        let raw = concat!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n",
            "To: help@shop.example\r\nSubject: Undelivered Mail Returned to Sender\r\n",
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n",
            "--r\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n",
            "--r\r\nContent-Type: message/delivery-status\r\n\r\n",
            "Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n",
            "--r\r\nContent-Type: text/rfc822-headers\r\n\r\n",
            "Message-ID: <m.abc.def@shop.example>\r\nSubject: Re: order\r\n",
            "--r--\r\n"
        );
        let m = ParsedEmail::parse(raw.as_bytes()).unwrap();
        let report = m.delivery_report.as_ref().unwrap();
        assert_eq!(report.original_message_id.as_deref(), Some("m.abc.def@shop.example"));
        assert_eq!(report.recipients[0].address, "gone@example.com");
        assert!(report.recipients[0].is_permanent_failure());
        assert_eq!(m.automatic.kind, Some(crate::loop_guard::AutoKind::DeliveryReport));
    }

    #[test]
    fn no_headers_is_not_a_message_but_a_missing_from_is_only_a_problem() {
        assert!(ParsedEmail::parse(b"").is_err());
        let m = ParsedEmail::parse(b"Subject: hi\r\n\r\nbody").unwrap();
        assert_eq!(m.problems, ["no From address"]);
        assert_eq!(m.text, "body");
    }

    #[test]
    fn winmail_dat_is_recognised() {
        let raw = concat!(
            "From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n",
            "--x\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n",
            "--x\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\n\r\nTNEF\r\n",
            "--x--\r\n"
        );
        let m = ParsedEmail::parse(raw.as_bytes()).unwrap();
        assert!(m.attachments[0].tnef && !m.attachments[0].inline);
    }
}
