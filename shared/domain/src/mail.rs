//! The outbound mail port: what the platform sends to people (invitations now; replies and
//! reports later). Adapters deliver it (the mail-sender pipeline) or, locally, log and keep it.

use crate::EmailAddress;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: EmailAddress,
    pub subject: String,
    pub text: String,
}

pub type SendFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

pub trait Mailer: Send + Sync {
    fn send(&self, email: OutgoingEmail) -> SendFuture<'_>;
}
