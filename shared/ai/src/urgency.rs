//! Urgency: low / normal / high / urgent, with the reasons, so an agent sees why a message jumped
//! the queue: explicit urgency, a deadline, a legal threat, a threat to leave, strong negative
//! sentiment, repeated contact.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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
            Urgency::Low => "low",
            Urgency::Normal => "normal",
            Urgency::High => "high",
            Urgency::Urgent => "urgent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    ExplicitUrgency,
    Deadline,
    LegalThreat,
    ChurnThreat,
    StrongNegativeSentiment,
    RepeatedContact,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ExplicitUrgency => "explicit_urgency",
            Reason::Deadline => "deadline",
            Reason::LegalThreat => "legal_threat",
            Reason::ChurnThreat => "churn_threat",
            Reason::StrongNegativeSentiment => "strong_negative_sentiment",
            Reason::RepeatedContact => "repeated_contact",
        }
    }

    /// How much each reason weighs.
    fn points(self) -> u32 {
        match self {
            Reason::LegalThreat => 3,
            Reason::ExplicitUrgency | Reason::ChurnThreat => 2,
            Reason::Deadline | Reason::StrongNegativeSentiment | Reason::RepeatedContact => 1,
        }
    }
}

/// What the assessment looks at besides the text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Context {
    /// The message's sentiment score (−1 to 1).
    pub sentiment_score: f32,
    /// Earlier messages from the same contact in this conversation.
    pub previous_contacts: u32,
}

impl Default for Context {
    fn default() -> Self {
        Self { sentiment_score: 0.0, previous_contacts: 0 }
    }
}

const EXPLICIT: &[&str] = &[
    "urgent",
    "asap",
    "as soon as possible",
    "immediately",
    "right now",
    "emergency",
    "critical",
    "right away",
    "urgente",
    "inmediatamente",
    "cuanto antes",
    "dringend",
    "sofort",
    "immédiatement",
    "au plus vite",
];
const DEADLINE: &[&str] = &[
    "today",
    "tonight",
    "by tomorrow",
    "tomorrow morning",
    "end of day",
    "eod",
    "by monday",
    "by tuesday",
    "by wednesday",
    "by thursday",
    "by friday",
    "this week",
    "before the weekend",
    "deadline",
    "within 24 hours",
    "hoy",
    "mañana",
    "aujourd'hui",
    "demain",
    "heute",
    "morgen",
];
const LEGAL: &[&str] = &[
    "lawyer",
    "attorney",
    "legal action",
    "sue ",
    "sue you",
    "lawsuit",
    "court",
    "small claims",
    "trading standards",
    "consumer protection",
    "ombudsman",
    "chargeback",
    "report you",
    "abogado",
    "denuncia",
    "avocat",
    "anwalt",
];
const CHURN: &[&str] = &[
    "cancel my subscription",
    "cancel my account",
    "close my account",
    "cancel my order and",
    "switch to",
    "switching to",
    "moving to a competitor",
    "never order again",
    "never buy",
    "last time i",
    "take my business",
    "leave for",
    "unsubscribe",
    "darme de baja",
    "résilier",
    "kündigen",
];
const CALM: &[&str] = &[
    "no rush",
    "no hurry",
    "whenever you can",
    "when you get a chance",
    "not urgent",
    "just wondering",
    "just curious",
    "feedback",
];

/// The urgency of a message and why.
pub fn assess(text: &str, context: Context) -> (Urgency, Vec<Reason>) {
    let lower = format!(" {} ", text.to_lowercase().replace('’', "'"));
    let has = |cues: &[&str]| cues.iter().any(|c| lower.contains(c));
    let mut reasons = Vec::new();
    let calm = has(CALM);
    if has(EXPLICIT) && !lower.contains("not urgent") {
        reasons.push(Reason::ExplicitUrgency);
    }
    if has(DEADLINE) {
        reasons.push(Reason::Deadline);
    }
    if has(LEGAL) {
        reasons.push(Reason::LegalThreat);
    }
    if has(CHURN) {
        reasons.push(Reason::ChurnThreat);
    }
    if context.sentiment_score <= -0.7 {
        reasons.push(Reason::StrongNegativeSentiment);
    }
    if context.previous_contacts >= 2 {
        reasons.push(Reason::RepeatedContact);
    }
    let points: u32 = reasons.iter().map(|r| r.points()).sum();
    let level = match points {
        0 if calm => Urgency::Low,
        0 | 1 => Urgency::Normal,
        2 => Urgency::High,
        _ => Urgency::Urgent,
    };
    (level, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_reasons() {
        let calm = Context::default();
        assert_eq!(assess("Just wondering, no rush: do you ship to Norway?", calm), (Urgency::Low, vec![]));
        assert_eq!(assess("Where is my order?", calm), (Urgency::Normal, vec![]));
        assert_eq!(assess("I need it by Friday", calm), (Urgency::Normal, vec![Reason::Deadline]));
        assert_eq!(assess("URGENT: my account is locked", calm), (Urgency::High, vec![Reason::ExplicitUrgency]));
        let (level, reasons) = assess("Refund me today or I will contact my lawyer", calm);
        assert_eq!(level, Urgency::Urgent);
        assert_eq!(reasons, [Reason::Deadline, Reason::LegalThreat]);
        let angry = Context { sentiment_score: -0.9, previous_contacts: 3 };
        let (level, reasons) = assess("Still nothing. I will cancel my subscription.", angry);
        assert_eq!(level, Urgency::Urgent);
        assert_eq!(reasons, [Reason::ChurnThreat, Reason::StrongNegativeSentiment, Reason::RepeatedContact]);
        assert_eq!(assess("This is not urgent, but the logo is blurry", calm).0, Urgency::Low);
    }
}
