//! Reply drafts without an LLM, and the checks every draft passes before an agent sees it.
//!
//! A past reply is stored as a template: at indexing its personal data, the customer's name and
//! order numbers become `{{placeholders}}` (no customer's data is ever offered to another), and a
//! draft fills them with what the current conversation says. An intent template per default
//! category covers the rest. Whatever wrote a draft, [`check_draft`] then refuses placeholders
//! left unfilled, personal data the customer did not give, another language, a length out of
//! bounds and the organisation's blocked phrases: a draft failing any is marked, never sent.

use crate::language::Detector;
use crate::pii::{detect, PiiKind};
use regex::Regex;
use serde::Serialize;
use std::sync::LazyLock;

/// Shortest and longest draft, in characters.
pub const MIN_CHARS: usize = 20;
pub const MAX_CHARS: usize = 4000;
/// Below this many letters the language detector is not asked (a short "Thanks!" is any language).
const MIN_LETTERS_FOR_LANGUAGE: usize = 40;

/// What the conversation says that a template may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entities {
    /// The customer's first name, from the contact or a signature.
    pub customer_name: Option<String>,
    pub order_number: Option<String>,
    pub email: Option<String>,
}

static ORDER_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:order|purchase|invoice)(?:\s+(?:number|no\.?|num|id|ref(?:erence)?))?\s*(?:is|:|#)?\s*#?\s*([A-Z0-9][A-Z0-9-]{3,23})\b|#\s?(\d{4,12})\b")
        .unwrap()
});
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"\{\{[^{}\n]{1,40}\}\}",
        r"|\[(?:EMAIL|IBAN|CARD|ID|IP|PHONE)_\d+\]",
        r"|(?i:\[(?:your|customer|customer's|agent|company|insert)\b[^\]\n]{0,30}\])",
        r"|(?i:\[(?:name|first name|order number|order id|date|link|email|phone|number)\])",
    ))
    .unwrap()
});
static TEMPLATE_SLOT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\{\{\s*([a-z_]+)\s*\}\}").unwrap());

/// The first order number the text mentions ("order #A-10042", "order number 55120", "#88231").
/// A candidate needs a digit, so "order status" is not one.
pub fn find_order_number(text: &str) -> Option<String> {
    ORDER_NUMBER.captures_iter(text).find_map(|c| {
        let m = c.get(1).or_else(|| c.get(2))?.as_str().trim_end_matches('-');
        m.chars().any(|ch| ch.is_ascii_digit()).then(|| m.to_string())
    })
}

/// The first word of a contact's name, when it looks like a name.
pub fn first_name(name: &str) -> Option<String> {
    let first = name.split_whitespace().next()?;
    let letters = first.chars().all(|c| c.is_alphabetic() || c == '-' || c == '\'');
    (letters && first.chars().next()?.is_uppercase()).then(|| first.to_string())
}

/// A past agent reply as a reusable template: personal data, the customer's name and order
/// numbers replaced by `{{email}}`, `{{phone}}`, `{{customer_name}}`, `{{order_number}}`, ….
pub fn templatise(reply: &str, customer_name: Option<&str>) -> String {
    let mut out = String::with_capacity(reply.len());
    let mut last = 0;
    for m in detect(reply) {
        out.push_str(&reply[last..m.start]);
        out.push_str(&format!("{{{{{}}}}}", m.kind.name()));
        last = m.end;
    }
    out.push_str(&reply[last..]);
    let mut text = out;
    // Order numbers: the captured number only, the words around it stay.
    let mut numbers: Vec<String> = ORDER_NUMBER
        .captures_iter(&text)
        .filter_map(|c| c.get(1).or_else(|| c.get(2)).map(|m| m.as_str().trim_end_matches('-').to_string()))
        .filter(|n| n.chars().any(|c| c.is_ascii_digit()))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    if !numbers.is_empty() {
        // Every occurrence of every number in one pass (one `replace` per number would be
        // quadratic in a text full of them); the longest wins where two overlap.
        let all = aho_corasick::AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(&numbers)
            .expect("literal patterns build");
        text = all.replace_all(&text, &vec!["{{order_number}}"; numbers.len()]);
    }
    if let Some(name) = customer_name {
        for part in name.split_whitespace().filter(|p| p.chars().count() >= 2) {
            let word = Regex::new(&format!(r"\b{}\b", regex::escape(part))).expect("an escaped word is a pattern");
            text = word.replace_all(&text, "{{customer_name}}").into_owned();
        }
        // "Hi {{customer_name}} {{customer_name}}" (first and last name) reads as one name.
        text = text.replace("{{customer_name}} {{customer_name}}", "{{customer_name}}");
    }
    text
}

/// Fills the slots the conversation has values for; the others stay (and fail the gate).
/// A greeting whose name is unknown loses the slot rather than the draft ("Hi {{customer_name}},"
/// becomes "Hi,").
pub fn fill(template: &str, entities: &Entities) -> String {
    let filled = TEMPLATE_SLOT.replace_all(template, |c: &regex::Captures<'_>| {
        let value = match &c[1] {
            "customer_name" => entities.customer_name.as_deref(),
            "order_number" => entities.order_number.as_deref(),
            "email" => entities.email.as_deref(),
            _ => None,
        };
        value.map(str::to_string).unwrap_or_else(|| c[0].to_string())
    });
    let mut text = filled.into_owned();
    if entities.customer_name.is_none() {
        for greeting in ["Hi", "Hello", "Dear", "Hey"] {
            text = text.replace(&format!("{greeting} {{{{customer_name}}}},"), &format!("{greeting},"));
        }
    }
    text
}

/// The default categories' replies, for when neither an LLM nor a close past reply is there.
/// English; a customer writing another language gets a draft the language gate marks.
pub fn intent_template(category: &str, has_order_number: bool) -> Option<String> {
    let (middle, order_line) = match category {
        "account" => ("I'm sorry you're having trouble with your account. I'm looking into it now.", None),
        "billing" => ("Thanks for reaching out about your payment. I'm checking the charges on your account.", None),
        "refund" => (
            "Thanks for getting in touch about your refund.",
            Some("I'm checking the refund for order {{order_number}} and will confirm its status shortly."),
        ),
        "order" => ("Thanks for your message about your order.", Some("I'm looking at order {{order_number}} now.")),
        "delivery" => (
            "I'm sorry your delivery hasn't gone as expected.",
            Some("I'm tracking the shipment of order {{order_number}} and will update you shortly."),
        ),
        "cancellation" => (
            "Thanks for letting us know you'd like to cancel.",
            Some("I'm processing the cancellation of order {{order_number}}."),
        ),
        "technical" => ("Sorry about the trouble. I'm looking into the problem you described.", None),
        "complaint" => {
            ("I'm sorry about your experience, and thank you for telling us. I'm looking into it personally.", None)
        }
        "feedback" => ("Thank you for taking the time to share your feedback; I've passed it on to the team.", None),
        "contact" => ("Thanks for reaching out. I'm happy to help.", None),
        "other" => ("Thanks for your message. I'm looking into it and will get back to you shortly.", None),
        _ => return None,
    };
    let order = match (order_line, has_order_number) {
        (Some(line), true) => format!(" {line}"),
        (Some(_), false) => " Could you send me your order number so I can look it up?".to_string(),
        (None, _) => String::new(),
    };
    Some(format!("Hi {{{{customer_name}}}},\n\n{middle}{order}\n\nBest regards"))
}

/// A gate a draft failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gate {
    Placeholder,
    ForeignPii,
    Language,
    Length,
    BlockedPhrase,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GateFailure {
    pub gate: Gate,
    /// What failed, without the personal data itself ("phone not given by the customer").
    pub detail: String,
}

/// What a draft is checked against.
pub struct DraftContext<'a> {
    /// ISO 639-3 of the customer's language (`und`: not checked).
    pub language: &'a str,
    /// Texts whose personal data a draft may repeat: the customer's messages (their own data)
    /// and the sources it cites (the organisation's published contact details).
    pub allowed_text: &'a [&'a str],
    pub blocked_phrases: &'a [String],
}

/// Every gate the draft fails (empty: ready for the agent).
pub fn check_draft(body: &str, context: &DraftContext<'_>, languages: &Detector) -> Vec<GateFailure> {
    let mut failures = Vec::new();
    let fail =
        |failures: &mut Vec<GateFailure>, gate: Gate, detail: String| failures.push(GateFailure { gate, detail });

    let placeholders: Vec<&str> = PLACEHOLDER.find_iter(body).map(|m| m.as_str()).collect();
    if !placeholders.is_empty() {
        fail(&mut failures, Gate::Placeholder, format!("unfilled: {}", placeholders.join(", ")));
    }

    let allowed: std::collections::HashSet<(PiiKind, String)> = context
        .allowed_text
        .iter()
        .flat_map(|text| detect(text).into_iter().map(move |m| (m.kind, normalise(m.kind, &text[m.start..m.end]))))
        .collect();
    let mut foreign: Vec<&str> = detect(body)
        .into_iter()
        .filter(|m| !allowed.contains(&(m.kind, normalise(m.kind, &body[m.start..m.end]))))
        .map(|m| m.kind.name())
        .collect();
    foreign.dedup();
    if !foreign.is_empty() {
        fail(&mut failures, Gate::ForeignPii, format!("{} not given by the customer", foreign.join(", ")));
    }

    let chars = body.trim().chars().count();
    if chars < MIN_CHARS {
        fail(&mut failures, Gate::Length, format!("{chars} characters, at least {MIN_CHARS} needed"));
    } else if chars > MAX_CHARS {
        fail(&mut failures, Gate::Length, format!("{chars} characters, at most {MAX_CHARS}"));
    }

    let letters = body.chars().filter(|c| c.is_alphabetic()).count();
    if context.language != "und" && letters >= MIN_LETTERS_FOR_LANGUAGE {
        // Placeholders and slots are not words of any language.
        let words = PLACEHOLDER.replace_all(body, " ");
        let (found, confidence) = languages.detect(&words);
        if found != "und" && found != context.language && confidence >= 0.5 {
            fail(
                &mut failures,
                Gate::Language,
                format!(
                    "written in {}, the customer writes {}",
                    language_name(&found),
                    language_name(context.language)
                ),
            );
        }
    }

    let lowered = body.to_lowercase();
    for phrase in context.blocked_phrases.iter().filter(|p| !p.trim().is_empty()) {
        if lowered.contains(&phrase.trim().to_lowercase()) {
            fail(&mut failures, Gate::BlockedPhrase, format!("contains \"{}\"", phrase.trim()));
        }
    }
    failures
}

/// Personal data compared as written by anyone: case-insensitive emails, the digits and letters
/// of numbers (`+44 20 7946 0958` is `+442079460958`).
fn normalise(kind: PiiKind, value: &str) -> String {
    match kind {
        PiiKind::Email => value.to_lowercase(),
        _ => value.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_uppercase(),
    }
}

/// The English name of an ISO 639-3 code, for prompts and messages.
pub fn language_name(code: &str) -> &str {
    match code {
        "eng" => "English",
        "spa" => "Spanish",
        "fra" => "French",
        "deu" => "German",
        "por" => "Portuguese",
        "ita" => "Italian",
        "nld" => "Dutch",
        "cat" => "Catalan",
        "jpn" => "Japanese",
        "zho" => "Chinese",
        "kor" => "Korean",
        other => other,
    }
}

/// The sentences of a text (at `.`, `!`, `?` and line breaks), trimmed, without empty ones.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' {
            push_sentence(&mut out, &mut current);
            continue;
        }
        current.push(c);
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？') && chars.peek().is_none_or(|n| n.is_whitespace()) {
            push_sentence(&mut out, &mut current);
        }
    }
    push_sentence(&mut out, &mut current);
    out
}

fn push_sentence(out: &mut Vec<String>, current: &mut String) {
    let s = current.trim();
    if s.chars().filter(|c| c.is_alphanumeric()).count() >= 3 {
        out.push(s.to_string());
    }
    current.clear();
}

/// The `k` sentences most like the others (the sum of cosine similarities of unit vectors), in
/// their original order: an extractive summary when no LLM may write one. Linear in the number of
/// sentences: the sum of `a·b` over the others is `a·(Σb) − a·a`.
pub fn central_sentences(embeddings: &[Vec<f32>], k: usize) -> Vec<usize> {
    let dims = embeddings.first().map_or(0, Vec::len);
    let mut sum = vec![0f32; dims];
    for e in embeddings {
        sum.iter_mut().zip(e).for_each(|(s, x)| *s += x);
    }
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let mut scored: Vec<(usize, f32)> =
        embeddings.iter().enumerate().map(|(i, a)| (i, dot(a, &sum) - dot(a, a))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = scored.into_iter().take(k).map(|(i, _)| i).collect();
    chosen.sort_unstable();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> Detector {
        Detector::all_supported()
    }

    fn context<'a>(allowed: &'a [&'a str], blocked: &'a [String]) -> DraftContext<'a> {
        DraftContext { language: "eng", allowed_text: allowed, blocked_phrases: blocked }
    }

    #[test]
    fn order_numbers_are_found_where_a_customer_writes_them() {
        assert_eq!(find_order_number("Where is my order #A-10042?").as_deref(), Some("A-10042"));
        assert_eq!(find_order_number("order number 55120 never came").as_deref(), Some("55120"));
        assert_eq!(find_order_number("It's #88231, placed Monday").as_deref(), Some("88231"));
        assert_eq!(find_order_number("Order: ZX9981 arrived broken").as_deref(), Some("ZX9981"));
        assert_eq!(find_order_number("what is the order status please"), None);
    }

    #[test]
    fn a_past_reply_keeps_its_words_but_not_its_customer() {
        let reply = "Hi Maria Lopez, your order #55120 was refunded. We wrote to maria@shop.example and will call +44 20 7946 0958. Maria, thanks!";
        let template = templatise(reply, Some("Maria Lopez"));
        assert_eq!(
            template,
            "Hi {{customer_name}}, your order #{{order_number}} was refunded. We wrote to {{email}} and will call {{phone}}. {{customer_name}}, thanks!"
        );
        let entities = Entities {
            customer_name: Some("Ana".into()),
            order_number: Some("A-7".into()),
            email: Some("ana@x.example".into()),
        };
        let filled = fill(&template, &entities);
        assert!(filled
            .starts_with("Hi Ana, your order #A-7 was refunded. We wrote to ana@x.example and will call {{phone}}."));
    }

    #[test]
    fn an_unknown_name_drops_from_the_greeting_and_intent_templates_ask_for_what_is_missing() {
        let t = intent_template("refund", false).unwrap();
        let filled = fill(&t, &Entities::default());
        assert!(filled
            .starts_with("Hi,\n\nThanks for getting in touch about your refund. Could you send me your order number"));
        let with = fill(
            &intent_template("refund", true).unwrap(),
            &Entities { order_number: Some("55120".into()), ..Default::default() },
        );
        assert!(with.contains("order 55120"), "{with}");
        assert!(intent_template("custom-category", true).is_none());
    }

    #[test]
    fn a_clean_draft_passes_every_gate() {
        let body = "Hi Ana, your refund for order 55120 was issued today and reaches your card within five days.";
        assert!(check_draft(body, &context(&["order 55120"], &[]), &detector()).is_empty());
    }

    #[test]
    fn each_gate_names_what_failed() {
        let languages = detector();
        let gates = |body: &str, allowed: &[&str], blocked: &[String]| -> Vec<Gate> {
            check_draft(body, &context(allowed, blocked), &languages).into_iter().map(|f| f.gate).collect()
        };
        assert_eq!(gates("Hi {{customer_name}}, your refund is on its way to you.", &[], &[]), [Gate::Placeholder]);
        assert_eq!(gates("Hi [Customer Name], your refund is on its way to you.", &[], &[]), [Gate::Placeholder]);
        assert_eq!(gates("We will email [EMAIL_1] about the refund today.", &[], &[]), [Gate::Placeholder]);
        // Another customer's phone number, but the customer's own email is fine (any case).
        let mixed = "We will write to Ana@Shop.example and call +44 20 7946 0958 about the refund.";
        let failures = check_draft(mixed, &context(&["I am ana@shop.example"], &[]), &languages);
        assert_eq!(failures.iter().map(|f| &f.gate).collect::<Vec<_>>(), [&Gate::ForeignPii]);
        assert_eq!(failures[0].detail, "phone not given by the customer");
        assert!(!failures[0].detail.contains("7946"));
        assert_eq!(gates("OK, done.", &[], &[]), [Gate::Length]);
        assert_eq!(gates(&"Refund on its way. ".repeat(300), &[], &[]), [Gate::Length]);
        assert_eq!(
            gates("Hola Ana, tu reembolso ya está en camino y llegará a tu tarjeta en cinco días.", &[], &[]),
            [Gate::Language]
        );
        let blocked = vec!["guarantee".to_string()];
        assert_eq!(gates("We Guarantee your refund arrives within five days.", &[], &blocked), [Gate::BlockedPhrase]);
    }

    #[test]
    fn the_most_central_sentences_summarise_in_order() {
        let v = |x: f32, y: f32| {
            let n = (x * x + y * y).sqrt();
            vec![x / n, y / n]
        };
        let picked = central_sentences(&[v(1.0, 0.0), v(0.0, 1.0), v(1.0, 0.1), v(1.0, 0.2)], 2);
        assert_eq!(picked, [2, 3]);
        assert_eq!(
            sentences("Hi there. My order 1.5 kg is late!\nThanks"),
            ["Hi there.", "My order 1.5 kg is late!", "Thanks"]
        );
    }
}
