//! The mail adapter used until the mail-sender pipeline exists, and locally: it logs that a
//! message was sent (recipient masked, never the body) and keeps it in memory, where the local
//! runner's tests and tools read it.

use helpdesk_domain::mail::SendFuture;
use helpdesk_domain::{Mailer, OutgoingEmail};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct CapturingMailer {
    /// `None`: log only (a Lambda container must not keep every email it ever sent).
    sent: Option<Arc<Mutex<Vec<OutgoingEmail>>>>,
}

impl CapturingMailer {
    /// Logs and keeps each email (the local runner and its tests).
    pub fn capturing() -> Self {
        Self { sent: Some(Default::default()) }
    }

    /// Logs each email and forgets it.
    pub fn logging_only() -> Self {
        Self { sent: None }
    }

    /// Everything sent so far, oldest first.
    pub fn sent(&self) -> Vec<OutgoingEmail> {
        self.sent.as_ref().map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).clone()).unwrap_or_default()
    }
}

impl Mailer for CapturingMailer {
    fn send(&self, email: OutgoingEmail) -> SendFuture<'_> {
        Box::pin(async move {
            tracing::info!(to = %mask(email.to.as_str()), subject = %email.subject, "email sent (captured)");
            if let Some(sent) = &self.sent {
                sent.lock().unwrap_or_else(|p| p.into_inner()).push(email);
            }
            Ok(())
        })
    }
}

/// `ana@example.com` → `a***@example.com`: enough to tell messages apart in logs, not to
/// identify anyone.
pub fn mask(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}
