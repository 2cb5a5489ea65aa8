//! Large language models behind one trait, so that drafting, summaries, translation and hybrid
//! classification never know which provider answers, and a provider's outage degrades instead
//! of breaking.
//!
//! - [`LlmProvider`]: one completion, plain text or structured (JSON that fits a schema).
//! - [`openai::OpenAiChat`]: OpenAI's Chat Completions (structured output by `json_schema`), and
//!   the same wire format at any compatible base URL (Ollama, vLLM) or on Azure OpenAI
//!   (deployments and `api-version`).
//! - [`anthropic::AnthropicMessages`]: Anthropic's Messages API (structured output by a forced
//!   tool call).
//! - [`resilience`]: retries with exponential backoff and full jitter on 429 / 5xx / timeouts,
//!   honouring `Retry-After`; a circuit breaker per provider endpoint; a fallback chain.
//! - [`pricing`]: what a call cost, from a configurable price table.
//!
//! Nothing here redacts personal data: the callers do, before a prompt is built (the crate has
//! no notion of a customer). Nothing here logs a prompt, an answer or a key.

pub mod anthropic;
mod http;
pub mod openai;
pub mod pricing;
pub mod resilience;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Which wire format (and whose prices) a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    /// OpenAI's wire format at another base URL: Ollama, vLLM, LiteLLM, …
    OpenAiCompatible,
    AzureOpenAi,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::OpenAiCompatible => "openai_compatible",
            Self::AzureOpenAi => "azure_openai",
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "openai" => Ok(Self::OpenAi),
            "anthropic" => Ok(Self::Anthropic),
            "openai_compatible" => Ok(Self::OpenAiCompatible),
            "azure_openai" => Ok(Self::AzureOpenAi),
            other => {
                Err(format!("unknown LLM provider {other:?} (openai, anthropic, openai_compatible, azure_openai)"))
            }
        }
    }
}

/// An API key. Never printed: `Debug` shows only that there is one.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(…)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub role: Role,
    pub content: String,
}

impl Turn {
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into() }
    }
}

/// The shape a structured answer must have: a JSON Schema object. OpenAI's strict mode needs
/// every property listed in `required` and `additionalProperties: false`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    /// `^[a-zA-Z0-9_-]{1,64}$`: it names the tool (Anthropic) or the schema (OpenAI).
    pub name: String,
    pub description: String,
    pub schema: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub system: String,
    pub turns: Vec<Turn>,
    pub max_output_tokens: u32,
    pub temperature: Option<f32>,
    /// When set, the answer is JSON fitting it ([`Completion::structured`]).
    pub schema: Option<OutputSchema>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The model finished its answer.
    Complete,
    /// The answer was cut at `max_output_tokens`.
    MaxTokens,
    Other(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The answer's text; for a structured answer, its JSON.
    pub text: String,
    pub structured: Option<serde_json::Value>,
    pub usage: Usage,
    /// The model as the provider reported it (e.g. a dated snapshot of the one asked for).
    pub model: String,
    pub stop: StopReason,
    /// Requests it took, retries included (set by [`resilience::Resilient`]; 1 otherwise).
    pub attempts: u32,
}

/// Why a completion failed. `is_retryable` says which ones a retry may cure.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    #[error("provider unavailable (HTTP {status})")]
    Unavailable { status: u16, retry_after: Option<Duration> },
    #[error("no answer within the time limit")]
    Timeout,
    #[error("could not reach the provider: {0}")]
    Transport(String),
    /// A 4xx other than 429: a bad key, an unknown model, a request the provider will never
    /// accept. Retrying cannot help.
    #[error("the provider rejected the request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("the provider's answer could not be read: {0}")]
    Malformed(String),
    /// The model declined to answer (a refusal or a content filter).
    #[error("the model refused: {0}")]
    Refused(String),
    /// The provider failed often enough that calls to it are paused ([`resilience::CircuitBreaker`]).
    #[error("provider paused after repeated failures")]
    CircuitOpen,
}

impl LlmError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Unavailable { .. } | Self::Timeout | Self::Transport(_))
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether it says something about the provider's health (what the circuit breaker counts):
    /// a refusal or a rejected key is about the request, not the provider.
    pub fn is_provider_failure(&self) -> bool {
        self.is_retryable()
    }

    /// A short stable name for the ledger and the logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport",
            Self::Rejected { .. } => "rejected",
            Self::Malformed(_) => "malformed",
            Self::Refused(_) => "refused",
            Self::CircuitOpen => "circuit_open",
        }
    }
}

/// What a provider call returns (boxed, so providers can sit behind `Arc<dyn LlmProvider>`).
pub type LlmFuture<'a> = Pin<Box<dyn Future<Output = Result<Completion, LlmError>> + Send + 'a>>;

pub trait LlmProvider: Send + Sync {
    fn kind(&self) -> ProviderKind;
    /// The model asked for.
    fn model(&self) -> &str;
    /// Where it is served (a URL without credentials): the circuit breaker's key and the logs'.
    fn endpoint(&self) -> &str;
    fn complete<'a>(&'a self, request: &'a ChatRequest) -> LlmFuture<'a>;
}
