//! The platform's integration tests: real Postgres, Redis and the AWS emulator, driven over
//! HTTP through the local runner. Run them with `local/dev test`.

mod ai;
mod attacks;
mod bad_input;
mod cli;
mod configuration;
mod conversations;
mod deploy;
mod drafts;
mod email;
mod events;
mod fetch;
mod gateway;
mod health;
mod helpers;
mod identity;
mod imap;
mod isolation;
mod kb;
mod llm;
mod logs;
mod messages;
mod permissions;
mod pipeline;
mod providers;
mod ratelimit;
mod secrets;
mod tenancy;
