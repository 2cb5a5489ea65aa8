//! Whether a person wrote the message: RFC 3834 auto-replies (`Auto-Submitted`), out-of-office
//! and bulk mail (`Precedence`, `List-*`, vendor auto-reply headers and subjects), and a spam
//! score. The pipeline uses them to skip auto-replies (no reply loops) and to park spam.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signals {
    /// Sent by a machine on its own (auto-reply, bounce, out-of-office): never answer it.
    pub auto_generated: bool,
    /// Sent to a list or in bulk (newsletters, notifications).
    pub bulk: bool,
    /// 0 (a person's message) to 1 (spam).
    pub spam_score: f32,
    /// What was seen, e.g. `auto-submitted: auto-replied`.
    pub reasons: Vec<String>,
}

const SPAM_PHRASES: &[&str] = &[
    "viagra",
    "cialis",
    "casino",
    "lottery",
    "you have won",
    "you are a winner",
    "claim your prize",
    "bitcoin",
    "crypto investment",
    "double your",
    "100% free",
    "act now",
    "limited time offer",
    "click here",
    "wire transfer",
    "nigerian prince",
    "inheritance",
    "work from home and earn",
    "cheap meds",
    "seo services",
    "backlinks",
];

/// Looks at the headers (any case), the subject and the body. Whether a machine sent it is the
/// mail loop guard's verdict ([`helpdesk_mail::loop_guard`]), the one email ingest applies.
pub fn assess(headers: &[(String, String)], subject: Option<&str>, body: &str) -> Signals {
    use helpdesk_mail::loop_guard::AutoKind;
    let automatic = helpdesk_mail::loop_guard::assess(headers, subject, false);
    let (bulk, auto_generated) = (automatic.bulk, automatic.kind.is_some_and(|k| k != AutoKind::Bulk));
    let mut reasons = automatic.reasons;
    let lower_subject = subject.unwrap_or_default().to_lowercase();

    let lower_body = body.to_lowercase();
    let mut spam = 0.0f32;
    let phrases = SPAM_PHRASES.iter().filter(|p| lower_body.contains(*p) || lower_subject.contains(*p)).count();
    if phrases > 0 {
        spam += 0.3 * phrases as f32;
        reasons.push(format!("{phrases} spam phrase(s)"));
    }
    let links = lower_body.matches("http://").count() + lower_body.matches("https://").count();
    if links >= 5 {
        spam += 0.2;
        reasons.push(format!("{links} links"));
    }
    let letters: Vec<char> = subject.unwrap_or_default().chars().filter(|c| c.is_alphabetic()).collect();
    if letters.len() >= 8 && letters.iter().all(|c| c.is_uppercase()) {
        spam += 0.15;
        reasons.push("subject in capitals".into());
    }
    if subject.unwrap_or_default().matches('!').count() >= 3 || lower_subject.contains('$') {
        spam += 0.1;
    }
    Signals { auto_generated, bulk, spam_score: spam.min(1.0), reasons }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn tells_machines_lists_and_spam_from_people() {
        let person = assess(&h(&[("Auto-Submitted", "no")]), Some("Broken blender"), "It broke after a day.");
        assert!(!person.auto_generated && !person.bulk && person.spam_score == 0.0);
        let ooo = assess(&h(&[("Auto-Submitted", "auto-replied")]), Some("Out of Office: Re: order"), "I am away.");
        assert!(ooo.auto_generated);
        assert!(ooo.reasons.contains(&"auto-submitted: auto-replied".to_string()));
        // Exchange puts it on people's own mail: not a sign of a machine.
        assert!(!assess(&h(&[("X-Auto-Response-Suppress", "All")]), None, "").auto_generated);
        assert!(assess(&[], Some("Respuesta automática: pedido"), "").auto_generated);
        let list = assess(&h(&[("Precedence", "bulk"), ("List-Unsubscribe", "<mailto:x@y>")]), Some("News"), "");
        assert!(list.bulk && !list.auto_generated);
        let spam = assess(&[], Some("YOU HAVE WON A PRIZE!!!"), "Claim your prize now, click here: http://x.example");
        assert!(spam.spam_score >= 0.7, "{spam:?}");
    }
}
