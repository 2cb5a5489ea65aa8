pub mod ai;
pub mod conversations;
pub mod health;
pub mod kb;
pub mod llm;
pub mod messages;

pub(crate) use helpdesk_http::parse_id;
