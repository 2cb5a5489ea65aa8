//! Email as the platform reads it, with no AWS, SQL or HTTP types: MIME parsing
//! ([`parse::ParsedEmail`], with `mail-parser`), HTML to text and sanitised HTML ([`html`]),
//! the customer's new words ([`reply`]), mail no person wrote ([`loop_guard`]), delivery
//! reports ([`dsn`]), and the keys that thread a message into its conversation
//! ([`threading`]). The ingest path (email in) and the AI's text preparation both use it.

pub mod dsn;
pub mod html;
pub mod loop_guard;
pub mod parse;
pub mod reply;
pub mod threading;

pub use parse::{Attachment, Mailbox, ParseError, ParsedEmail};
