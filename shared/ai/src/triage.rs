//! The whole triage of one message, as the AI worker runs it: text preparation, category (the
//! organisation's own model when it has one, else the default categories), sentiment and
//! emotions, language, urgency with reasons, auto-generated and spam signals, and the kinds of
//! personal data present — each with its confidence, and the time each stage took.

use crate::category::{CategoryModel, UNKNOWN};
use crate::defaults::{ZeroShot, DEFAULT_CATEGORIES};
use crate::encoder::SentenceEncoder;
use crate::language::Detector;
use crate::sentiment::{Polarity, SentimentModel};
use crate::{pii, prepare, signals, urgency, Result, TrainConfig};
use helpdesk_domain::{Classification, MessageSignals, ModelRef, Sentiment, Urgency};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// Bumped whenever the default categories, their examples or the engine's defaults change, so
/// stored classifications say which defaults produced them.
pub const DEFAULTS_VERSION: &str = "2026.11.1";
/// The model id of an organisation's own category model.
pub const TENANT_MODEL_ID: &str = "tenant-category";

/// One message as the worker hands it over.
#[derive(Debug, Clone, Default)]
pub struct MessageInput<'a> {
    pub subject: Option<&'a str>,
    pub body: &'a str,
    /// Email: quoted replies and signatures are removed, headers are read.
    pub is_email: bool,
    pub headers: &'a [(String, String)],
    /// Earlier messages from the same contact in this conversation.
    pub previous_contacts: u32,
}

impl MessageInput<'_> {
    /// The text every model reads: the subject, then the body rendered and stripped.
    pub fn prepared_text(&self) -> String {
        model_text(self.subject, self.body, self.is_email)
    }
}

/// The text the models read for a subject and body (the trainer prepares training examples the
/// same way, so training and serving see the same text).
///
/// Bounded, so every model's work is: the raw body is read up to [`RAW_BODY_CHARS`] (HTML
/// included), and the text the models get is at most [`MODEL_CHARS`] characters. Every model
/// reads far less (the encoder 128 tokens); what a message says past that does not change its
/// category, sentiment or urgency.
pub fn model_text(subject: Option<&str>, body: &str, is_email: bool) -> String {
    let body = crate::text::prefix(body, RAW_BODY_CHARS);
    let body = prepare::prepare(body, prepare::looks_like_html(body), is_email);
    let text = match subject.map(str::trim).filter(|s| !s.is_empty()) {
        Some(subject) => format!("{subject}\n{body}"),
        None => body,
    };
    crate::text::prefix(&text, MODEL_CHARS).to_string()
}

/// How much of a raw body (HTML or text) is prepared, in characters: more than the API takes
/// (200 KB), so HTML whose head is most of it still shows its text.
pub const RAW_BODY_CHARS: usize = 256 * 1024;
/// How much prepared text the models read, in characters.
pub const MODEL_CHARS: usize = 8_000;

/// What assigns a category: the zero-shot default, the n-gram default (no encoder files), or a
/// trained model.
pub enum Categorizer {
    ZeroShot(ZeroShot),
    Model(Box<CategoryModel>),
}

impl Categorizer {
    /// The categories it can answer, with a description where there is one (the defaults').
    pub fn categories(&self) -> Vec<(String, Option<&'static str>)> {
        match self {
            Self::ZeroShot(_) => {
                crate::defaults::DEFAULT_CATEGORIES.iter().map(|c| (c.name.to_string(), Some(c.description))).collect()
            }
            Self::Model(model) => model
                .labels
                .iter()
                .filter(|l| Some(*l) != model.oos_label.as_ref())
                .map(|l| {
                    let description =
                        crate::defaults::DEFAULT_CATEGORIES.iter().find(|c| c.name == l).map(|c| c.description);
                    (l.clone(), description)
                })
                .collect(),
        }
    }
}

impl std::fmt::Debug for Categorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ZeroShot(_) => f.write_str("Categorizer::ZeroShot"),
            Self::Model(m) => write!(f, "Categorizer::Model({} labels)", m.labels.len()),
        }
    }
}

impl Categorizer {
    /// The default categories: zero-shot over the sentence encoder when it is there, else an
    /// n-gram model trained on the same descriptions and example phrases.
    pub fn default_categories(encoder: Option<Arc<SentenceEncoder>>) -> Result<Self> {
        match encoder {
            Some(encoder) => Ok(Self::ZeroShot(ZeroShot::new(encoder)?)),
            None => {
                let (texts, labels) = default_examples();
                let config = TrainConfig { validation_fraction: 0.0, ..TrainConfig::default() };
                Ok(Self::Model(Box::new(CategoryModel::train(&texts, &labels, &config)?)))
            }
        }
    }

    /// The model id stored with each answer.
    pub fn default_model_id(&self) -> &'static str {
        match self {
            Self::ZeroShot(_) => "default-zero-shot-minilm",
            Self::Model(_) => "default-ngram",
        }
    }

    /// The category and its confidence for each text (`unknown` when a trained model rejects it).
    pub fn categorize<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<(String, f32)>> {
        match self {
            Self::ZeroShot(z) => Ok(z.classify(texts)?.into_iter().map(|(c, p)| (c.to_string(), p)).collect()),
            Self::Model(m) => Ok(m
                .predict_batch(texts)?
                .into_iter()
                .map(|p| {
                    (p.label.unwrap_or_else(|| m.oos_label.clone().unwrap_or_else(|| UNKNOWN.into())), p.confidence)
                })
                .collect()),
        }
    }
}

/// The default categories' descriptions and example phrases as labelled texts: the n-gram
/// default learns from them, and every tenant model starts from them so it still knows the
/// categories its organisation has not corrected yet.
pub fn default_examples() -> (Vec<String>, Vec<String>) {
    let mut texts = Vec::new();
    let mut labels = Vec::new();
    for c in DEFAULT_CATEGORIES {
        for t in std::iter::once(&c.description).chain(c.examples.iter()) {
            texts.push(t.to_string());
            labels.push(c.name.to_string());
        }
    }
    (texts, labels)
}

/// An organisation's own category model, as loaded for one version.
#[derive(Debug)]
pub struct TenantModel {
    pub version: i32,
    pub categorizer: Categorizer,
}

/// The engine a worker container keeps: the models every organisation shares.
#[derive(Debug)]
pub struct Engine {
    encoder: Option<Arc<SentenceEncoder>>,
    defaults: Categorizer,
    sentiment: SentimentModel,
    language: Detector,
}

impl Engine {
    pub fn new(encoder: Option<Arc<SentenceEncoder>>, language: Detector) -> Result<Self> {
        Ok(Self {
            defaults: Categorizer::default_categories(encoder.clone())?,
            encoder,
            sentiment: SentimentModel::shipped(),
            language,
        })
    }

    pub fn encoder(&self) -> Option<&Arc<SentenceEncoder>> {
        self.encoder.as_ref()
    }

    pub fn defaults(&self) -> &Categorizer {
        &self.defaults
    }

    /// The language detector the engine triages with (drafts are checked with it too).
    pub fn languages(&self) -> &Detector {
        &self.language
    }

    /// Triage of one message with the organisation's model, or the defaults when it has none.
    pub fn triage(&self, input: &MessageInput<'_>, tenant: Option<&TenantModel>) -> Result<Classification> {
        let mut stage_ms = BTreeMap::new();
        let mut timed = |stage: &str, started: Instant| {
            stage_ms.insert(stage.to_string(), started.elapsed().as_secs_f32() * 1000.0);
        };

        let started = Instant::now();
        let text = input.prepared_text();
        timed("prepare", started);

        let started = Instant::now();
        let (categorizer, model) = match tenant {
            Some(t) => (&t.categorizer, ModelRef { id: TENANT_MODEL_ID.into(), version: t.version.to_string() }),
            None => (
                &self.defaults,
                ModelRef { id: self.defaults.default_model_id().into(), version: DEFAULTS_VERSION.into() },
            ),
        };
        let (category, confidence) =
            categorizer.categorize(&[&text])?.pop().ok_or_else(|| crate::AiError::Model("no answer".into()))?;
        timed("category", started);

        let started = Instant::now();
        let sentiment = self.sentiment.analyse(&text);
        timed("sentiment", started);

        let started = Instant::now();
        let (language, language_confidence) = self.language.detect(&text);
        timed("language", started);

        let started = Instant::now();
        let context = urgency::Context { sentiment_score: sentiment.score, previous_contacts: input.previous_contacts };
        let (level, reasons) = urgency::assess(&text, context);
        let signals = signals::assess(input.headers, input.subject, input.body);
        let mut pii_kinds: Vec<&str> = pii::detect(&text).iter().map(|m| m.kind.name()).collect();
        pii_kinds.sort_unstable();
        pii_kinds.dedup();
        timed("rules", started);

        Ok(Classification {
            category,
            confidence: confidence.clamp(0.0, 1.0),
            sentiment: match sentiment.label {
                Polarity::Negative => Sentiment::Negative,
                Polarity::Neutral => Sentiment::Neutral,
                Polarity::Positive => Sentiment::Positive,
            },
            sentiment_score: sentiment.score.clamp(-1.0, 1.0),
            sentiment_confidence: sentiment.confidence.clamp(0.0, 1.0),
            emotions: sentiment.emotions.iter().map(|e| e.as_str().to_string()).collect(),
            language,
            language_confidence: language_confidence as f32,
            urgency: match level {
                urgency::Urgency::Low => Urgency::Low,
                urgency::Urgency::Normal => Urgency::Normal,
                urgency::Urgency::High => Urgency::High,
                urgency::Urgency::Urgent => Urgency::Urgent,
            },
            urgency_reasons: reasons.iter().map(|r| r.as_str().to_string()).collect(),
            signals: MessageSignals {
                auto_generated: signals.auto_generated,
                bulk: signals.bulk,
                spam_score: signals.spam_score,
                reasons: signals.reasons,
            },
            pii: pii_kinds.into_iter().map(str::to_string).collect(),
            model,
            stage_ms,
            llm: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(None, Detector::all_supported()).unwrap()
    }

    #[test]
    fn triages_a_message_with_every_output_and_its_confidence() {
        let headers = vec![];
        let input = MessageInput {
            subject: Some("Refund"),
            body: "<p>I want my money back for order 1234, it is <b>unacceptable</b>. Call me on +44 20 7946 0958 today!</p>",
            is_email: true,
            headers: &headers,
            previous_contacts: 2,
        };
        let c = engine().triage(&input, None).unwrap();
        assert_eq!(c.category, "refund");
        assert!(c.confidence > 0.0 && c.confidence <= 1.0);
        assert_eq!(c.sentiment, Sentiment::Negative);
        assert!(c.emotions.contains(&"anger".to_string()));
        assert_eq!(c.language, "eng");
        assert!(c.language_confidence > 0.5);
        assert!(c.urgency >= Urgency::High, "{:?}", c.urgency);
        assert!(c.urgency_reasons.contains(&"repeated_contact".to_string()));
        assert_eq!(c.pii, vec!["phone"]);
        assert_eq!(c.model, ModelRef { id: "default-ngram".into(), version: DEFAULTS_VERSION.into() });
        for stage in ["prepare", "category", "sentiment", "language", "rules"] {
            assert!(c.stage_ms.contains_key(stage), "{stage}");
        }
    }

    #[test]
    fn an_auto_reply_is_flagged() {
        let headers = vec![("Auto-Submitted".to_string(), "auto-replied".to_string())];
        let input = MessageInput {
            subject: Some("Automatic reply: your ticket"),
            body: "I am out of the office until Monday.",
            is_email: true,
            headers: &headers,
            previous_contacts: 0,
        };
        let c = engine().triage(&input, None).unwrap();
        assert!(c.signals.auto_generated);
    }

    #[test]
    fn a_tenant_model_answers_with_its_version() {
        let texts = ["where is my parcel", "parcel not delivered", "vip upgrade please", "make me a vip member"];
        let labels = ["delivery", "delivery", "vip", "vip"];
        let config = TrainConfig { validation_fraction: 0.0, ..TrainConfig::default() };
        let tenant = TenantModel {
            version: 3,
            categorizer: Categorizer::Model(Box::new(CategoryModel::train(&texts, &labels, &config).unwrap())),
        };
        let input = MessageInput { body: "I would like a vip upgrade", ..MessageInput::default() };
        let c = engine().triage(&input, Some(&tenant)).unwrap();
        assert_eq!(c.category, "vip");
        assert_eq!(c.model, ModelRef { id: TENANT_MODEL_ID.into(), version: "3".into() });
    }
}
