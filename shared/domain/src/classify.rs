//! Message triage: what the AI worker stores about each message, the category names agents
//! give, and the model that produced an answer. The engine itself lives in `helpdesk-ai`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Negative / neutral / positive, with a score in [-1, 1].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

impl Sentiment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Negative => "negative",
            Self::Neutral => "neutral",
            Self::Positive => "positive",
        }
    }
}

/// How urgent a message looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    Low,
    Normal,
    High,
    Urgent,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }
}

/// Which model answered: the default one every organisation starts with, or a version the
/// trainer built for this organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRef {
    /// e.g. `default-zero-shot-minilm`, `default-ngram`, `tenant-category`.
    pub id: String,
    /// The default model's engine version, or the tenant model's version number.
    pub version: String,
}

/// Whether a person wrote the message, or a machine (auto-replies, bulk mail), and how spammy
/// it looks.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MessageSignals {
    pub auto_generated: bool,
    pub bulk: bool,
    /// 0 (a person's message) to 1 (spam).
    pub spam_score: f32,
    pub reasons: Vec<String>,
}

/// What the engine says about one message: each output with its confidence, the model that
/// gave the category, and how long each stage took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub category: String,
    /// In [0, 1], calibrated.
    pub confidence: f32,
    pub sentiment: Sentiment,
    /// In [-1, 1].
    pub sentiment_score: f32,
    /// Probability of the sentiment label, in [0, 1].
    pub sentiment_confidence: f32,
    /// Emotions useful to support: anger, frustration, confusion, gratitude.
    pub emotions: Vec<String>,
    /// ISO 639-3 code, or `und` when the text is too short to tell.
    pub language: String,
    pub language_confidence: f32,
    pub urgency: Urgency,
    /// Why the urgency is what it is, for the agent.
    pub urgency_reasons: Vec<String>,
    pub signals: MessageSignals,
    /// Kinds of personal data found (email, phone, card, …), never the values.
    pub pii: Vec<String>,
    pub model: ModelRef,
    /// Milliseconds per stage (prepare, category, sentiment, language, …).
    pub stage_ms: BTreeMap<String, f32>,
    /// An external LLM's category, asked when the local model was unsure and the organisation
    /// allows it. The conversation takes it; `category` stays the local model's (its live
    /// accuracy is measured on it).
    pub llm: Option<LlmOpinion>,
}

impl Classification {
    /// The category the conversation shows: the LLM's when one was asked, else the model's.
    pub fn effective_category(&self) -> &str {
        self.llm.as_ref().map_or(&self.category, |o| &o.category)
    }
}

/// What an external LLM said about a message's category.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LlmOpinion {
    pub category: String,
    pub provider: String,
    pub model: String,
    pub latency_ms: u32,
}

/// A category name as agents and models use it: 1 to 40 characters, lower-case ASCII letters,
/// digits and `_`, starting with a letter (`refund`, `technical`, `vip_escalation`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct CategoryName(String);

impl CategoryName {
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        if !first_ok
            || name.len() > Self::MAX_LEN
            || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!(
                "a category is 1 to {} characters: lower-case letters, digits and '_', starting with a letter",
                Self::MAX_LEN
            ));
        }
        Ok(Self(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CategoryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an agent's verdict relates to the model's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The agent kept the model's category.
    Confirmation,
    /// The agent chose another one.
    Correction,
}

impl Verdict {
    pub fn of(predicted: Option<&str>, chosen: &CategoryName) -> Self {
        if predicted == Some(chosen.as_str()) {
            Self::Confirmation
        } else {
            Self::Correction
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::Correction => "correction",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_parse() {
        assert_eq!(CategoryName::parse(" refund ").unwrap().as_str(), "refund");
        assert!(CategoryName::parse("vip_escalation2").is_ok());
        for bad in ["", "Refund", "2fa", "_x", "billing-issue", "café", &"a".repeat(41)] {
            assert!(CategoryName::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn a_verdict_compares_with_the_prediction() {
        let refund = CategoryName::parse("refund").unwrap();
        assert_eq!(Verdict::of(Some("refund"), &refund), Verdict::Confirmation);
        assert_eq!(Verdict::of(Some("billing"), &refund), Verdict::Correction);
        assert_eq!(Verdict::of(None, &refund), Verdict::Correction);
    }
}
