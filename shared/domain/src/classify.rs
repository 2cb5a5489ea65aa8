//! Message triage: what a classifier produces, and the keyword baseline the platform starts with.
//! The local AI engine (a later issue) implements the same [`Classifier`] trait with real models.

use serde::{Deserialize, Serialize};

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

/// What the classifier says about one message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    pub category: String,
    /// In [0, 1].
    pub confidence: f32,
    pub sentiment: Sentiment,
    /// In [-1, 1].
    pub sentiment_score: f32,
    /// ISO 639-1 code, or `und` when the text is too short to tell.
    pub language: String,
    pub urgency: Urgency,
    /// Why the urgency is what it is, for the agent.
    pub urgency_reasons: Vec<String>,
    pub model_id: String,
}

/// Anything that can triage a message.
pub trait Classifier: Send + Sync {
    fn model_id(&self) -> &str;
    fn classify(&self, subject: Option<&str>, body: &str) -> Classification;
}

/// A transparent keyword baseline: good enough to route obvious messages, and a fixed reference
/// the real engine must beat.
#[derive(Debug, Default, Clone, Copy)]
pub struct BaselineClassifier;

const CATEGORIES: &[(&str, &[&str])] = &[
    ("refund", &["refund", "money back", "reimburse", "chargeback", "reembolso", "remboursement"]),
    (
        "billing",
        &["invoice", "billing", "charged", "charge", "payment", "card", "subscription fee", "receipt", "factura"],
    ),
    ("cancellation", &["cancel", "unsubscribe", "terminate", "close my account", "cancelar", "annuler"]),
    ("delivery", &["delivery", "shipping", "shipment", "tracking", "package", "parcel", "courier", "arrived", "envío"]),
    ("order", &["order", "purchase", "bought", "checkout", "pedido", "commande"]),
    ("account", &["password", "login", "log in", "sign in", "account", "username", "2fa", "locked out"]),
    ("technical", &["error", "bug", "crash", "not working", "doesn't work", "broken", "500", "timeout", "fails"]),
    ("complaint", &["complaint", "unacceptable", "terrible", "worst", "disappointed", "awful"]),
    ("feedback", &["suggestion", "feedback", "feature request", "would be nice", "love your", "great job"]),
    ("contact_human", &["speak to a human", "real person", "talk to someone", "agent please", "call me"]),
];

const NEGATIVE: &[&str] = &[
    "angry",
    "awful",
    "bad",
    "broken",
    "disappointed",
    "frustrated",
    "furious",
    "horrible",
    "hate",
    "never",
    "not working",
    "poor",
    "ridiculous",
    "terrible",
    "unacceptable",
    "upset",
    "useless",
    "worst",
    "wrong",
    "still waiting",
    "annoyed",
    "scam",
];
const POSITIVE: &[&str] = &[
    "thanks",
    "thank you",
    "great",
    "awesome",
    "love",
    "excellent",
    "happy",
    "perfect",
    "amazing",
    "appreciate",
    "helpful",
    "wonderful",
    "glad",
];
const URGENT_WORDS: &[&str] = &["urgent", "asap", "immediately", "emergency", "right now", "critical"];
const DEADLINE_WORDS: &[&str] = &["today", "tomorrow", "deadline", "by end of day", "within 24 hours"];
const THREAT_WORDS: &[&str] = &["lawyer", "legal action", "sue", "chargeback", "cancel my", "switch to", "regulator"];

const STOPWORDS: &[(&str, &[&str])] = &[
    ("en", &["the", "and", "is", "my", "you", "to", "it", "not", "have", "i", "with", "this", "for"]),
    ("es", &["el", "la", "de", "que", "y", "mi", "no", "es", "por", "con", "para", "una", "pedido"]),
    ("fr", &["le", "la", "de", "et", "est", "je", "mon", "pas", "une", "pour", "avec", "vous", "ma"]),
    ("de", &["der", "die", "und", "ist", "ich", "nicht", "mein", "ein", "mit", "das", "zu", "sie", "meine"]),
    ("pt", &["o", "a", "de", "que", "e", "meu", "não", "um", "para", "com", "uma", "minha", "é"]),
    ("it", &["il", "di", "che", "e", "non", "mio", "un", "per", "con", "una", "sono", "la", "è"]),
    ("nl", &["de", "het", "en", "is", "ik", "niet", "mijn", "een", "met", "van", "dat", "je", "zijn"]),
];

impl Classifier for BaselineClassifier {
    fn model_id(&self) -> &str {
        "baseline-keywords-v1"
    }

    fn classify(&self, subject: Option<&str>, body: &str) -> Classification {
        let text = format!("{} {}", subject.unwrap_or_default(), body).to_lowercase();
        let words: Vec<&str> =
            text.split(|c: char| !c.is_alphanumeric() && c != '\'').filter(|w| !w.is_empty()).collect();

        let (category, confidence) = best_category(&text);
        let (sentiment, sentiment_score) = sentiment_of(&text);
        let language = language_of(&words);
        let (urgency, urgency_reasons) = urgency_of(&text, sentiment_score);

        Classification {
            category,
            confidence,
            sentiment,
            sentiment_score,
            language,
            urgency,
            urgency_reasons,
            model_id: self.model_id().to_string(),
        }
    }
}

fn count_hits(text: &str, terms: &[&str]) -> usize {
    terms.iter().filter(|t| contains_term(text, t)).count()
}

/// A term matches at word boundaries, so "card" does not match "discard".
fn contains_term(text: &str, term: &str) -> bool {
    text.match_indices(term).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + term.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

fn best_category(text: &str) -> (String, f32) {
    let scores: Vec<(&str, usize)> = CATEGORIES.iter().map(|(c, kw)| (*c, count_hits(text, kw))).collect();
    let total: usize = scores.iter().map(|(_, s)| s).sum();
    // The first category wins ties: the table is ordered from most to least specific.
    let best = scores.iter().fold(None::<(&str, usize)>, |best, &(c, s)| match best {
        Some((_, bs)) if bs >= s => best,
        _ => Some((c, s)),
    });
    match best {
        Some((category, hits)) if hits > 0 => {
            // Share of the evidence, discounted when there is little of it.
            let share = hits as f32 / total as f32;
            let support = 1.0 - 0.5f32.powi(hits as i32);
            (category.to_string(), (share * support).clamp(0.05, 0.95))
        }
        _ => ("other".to_string(), 0.2),
    }
}

fn sentiment_of(text: &str) -> (Sentiment, f32) {
    let neg = count_hits(text, NEGATIVE) as f32 + text.matches("!!").count() as f32 * 0.5;
    let pos = count_hits(text, POSITIVE) as f32;
    if neg + pos == 0.0 {
        return (Sentiment::Neutral, 0.0);
    }
    let score = ((pos - neg) / (pos + neg + 1.0)).clamp(-1.0, 1.0);
    let label = if score <= -0.2 {
        Sentiment::Negative
    } else if score >= 0.2 {
        Sentiment::Positive
    } else {
        Sentiment::Neutral
    };
    (label, score)
}

fn language_of(words: &[&str]) -> String {
    if words.len() < 3 {
        return "und".to_string();
    }
    let best = STOPWORDS
        .iter()
        .map(|(lang, stop)| (*lang, words.iter().filter(|w| stop.contains(w)).count()))
        .fold(("und", 0), |best, cur| if cur.1 > best.1 { cur } else { best });
    best.0.to_string()
}

fn urgency_of(text: &str, sentiment_score: f32) -> (Urgency, Vec<String>) {
    let mut reasons = Vec::new();
    let mut level = Urgency::Normal;
    let mut raise = |to: Urgency, why: &str| {
        level = level.max(to);
        reasons.push(why.to_string());
    };
    if count_hits(text, URGENT_WORDS) > 0 {
        raise(Urgency::Urgent, "explicit urgency");
    }
    if count_hits(text, THREAT_WORDS) > 0 {
        raise(Urgency::High, "legal or churn threat");
    }
    if count_hits(text, DEADLINE_WORDS) > 0 {
        raise(Urgency::High, "deadline mentioned");
    }
    if sentiment_score <= -0.5 {
        raise(Urgency::High, "strong negative sentiment");
    }
    (level, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_obvious_messages() {
        let c = BaselineClassifier.classify(Some("Refund please"), "I want my money back for the order");
        assert_eq!(c.category, "refund");
        assert!(c.confidence > 0.3 && c.confidence <= 0.95);
        assert_eq!(c.language, "en");
        assert_eq!(c.model_id, "baseline-keywords-v1");
    }

    #[test]
    fn unknown_text_is_other_with_low_confidence() {
        let c = BaselineClassifier.classify(None, "hello there");
        assert_eq!(c.category, "other");
        assert!(c.confidence < 0.5);
        assert_eq!(c.language, "und");
    }

    #[test]
    fn angry_urgent_messages_are_flagged_with_reasons() {
        let c = BaselineClassifier
            .classify(None, "This is unacceptable and terrible, I am furious. Fix my login ASAP or I call my lawyer!!");
        assert_eq!(c.sentiment, Sentiment::Negative);
        assert!(c.sentiment_score < -0.5);
        assert_eq!(c.urgency, Urgency::Urgent);
        assert!(c.urgency_reasons.contains(&"explicit urgency".to_string()));
        assert!(c.urgency_reasons.contains(&"legal or churn threat".to_string()));
    }

    #[test]
    fn detects_a_few_languages() {
        assert_eq!(BaselineClassifier.classify(None, "mi pedido no ha llegado y es para mañana").language, "es");
        assert_eq!(BaselineClassifier.classify(None, "je ne trouve pas ma commande avec vous").language, "fr");
        assert_eq!(
            BaselineClassifier.classify(None, "ich habe meine bestellung nicht und das ist schlecht").language,
            "de"
        );
    }

    #[test]
    fn terms_match_whole_words_only() {
        assert!(contains_term("my card was charged", "card"));
        assert!(!contains_term("i discard it", "card"));
    }
}
