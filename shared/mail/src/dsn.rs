//! Delivery-status notifications (RFC 3464): which recipient failed, how, and which message of
//! ours it was, so the bounce is linked to its conversation and a permanent failure recorded
//! against the address.

use serde::Serialize;

/// One recipient's part of a report (RFC 3464 §2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientStatus {
    /// `Final-Recipient` (or `Original-Recipient`), the address without its type.
    pub address: String,
    /// `Action`: `failed`, `delayed`, `delivered`, `relayed` or `expanded`.
    pub action: String,
    /// `Status`: the enhanced status code (RFC 3463), e.g. `5.1.1`.
    pub status: Option<String>,
    /// `Diagnostic-Code`, e.g. `smtp; 550 5.1.1 user unknown`.
    pub diagnostic: Option<String>,
}

impl RecipientStatus {
    /// A permanent failure (`failed` with a 5.x.x status, or no status): do not send again.
    pub fn is_permanent_failure(&self) -> bool {
        self.action == "failed" && self.status.as_deref().is_none_or(|s| s.starts_with('5'))
    }
}

/// A delivery-status report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DeliveryReport {
    pub recipients: Vec<RecipientStatus>,
    /// The Message-ID of the message the report is about (from its returned `message/rfc822`
    /// or `text/rfc822-headers` part), without angle brackets.
    pub original_message_id: Option<String>,
}

/// The per-recipient fields of a `message/delivery-status` body: a block of per-message
/// fields, then one block per recipient, separated by blank lines; header-style fields,
/// continuation lines folded.
pub fn parse_status_fields(body: &str) -> Vec<RecipientStatus> {
    let unfolded = body.replace("\r\n", "\n").replace("\n ", " ").replace("\n\t", " ");
    let mut out = Vec::new();
    for block in unfolded.split("\n\n") {
        let field = |name: &str| {
            block.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let Some(recipient) = field("final-recipient").or_else(|| field("original-recipient")) else { continue };
        // `rfc822; ana@example.com`: the address type, then the address.
        let address = recipient.split_once(';').map_or(recipient.as_str(), |(_, a)| a).trim();
        let address = address.trim_start_matches('<').trim_end_matches('>').to_string();
        out.push(RecipientStatus {
            address,
            action: field("action").unwrap_or_default().to_ascii_lowercase(),
            status: field("status").map(|s| s.split_whitespace().next().unwrap_or_default().to_string()),
            diagnostic: field("diagnostic-code"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_recipients_fields() {
        let body = "Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 24 Nov 2025 10:02:00 +0000\r\n\r\n\
            Final-Recipient: rfc822; ana@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\
            Diagnostic-Code: smtp; 550 5.1.1 <ana@example.com>:\r\n Recipient address rejected\r\n\r\n\
            Final-Recipient: RFC822; <ben@example.com>\r\nAction: delayed\r\nStatus: 4.4.7 (timeout)\r\n";
        let r = parse_status_fields(body);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].address, "ana@example.com");
        assert!(r[0].is_permanent_failure());
        assert!(r[0].diagnostic.as_deref().unwrap().ends_with("Recipient address rejected"));
        assert_eq!((r[1].address.as_str(), r[1].status.as_deref()), ("ben@example.com", Some("4.4.7")));
        assert!(!r[1].is_permanent_failure());
    }
}
