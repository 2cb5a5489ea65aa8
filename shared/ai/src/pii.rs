//! Personal data in text: detection, and reversible redaction. Used by the logs and before any
//! call to an external LLM: the text goes out with placeholders (`[EMAIL_1]`, `[CARD_1]`, …) and
//! the answer comes back with the originals restored.
//!
//! Detectors are patterns plus the checks that make them precise: the Luhn digit for payment
//! cards, ISO 7064 mod-97 for IBANs, the check letter of Spanish DNI/NIE numbers, the reserved
//! ranges of US social security numbers, real address parsing for IPv6.

use regex::Regex;
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Iban,
    PaymentCard,
    NationalId,
    IpAddress,
    Phone,
}

impl PiiKind {
    /// The kind's name where it is reported (stored classifications, logs).
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "email",
            PiiKind::Iban => "iban",
            PiiKind::PaymentCard => "payment_card",
            PiiKind::NationalId => "national_id",
            PiiKind::IpAddress => "ip_address",
            PiiKind::Phone => "phone",
        }
    }

    pub fn placeholder_name(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Iban => "IBAN",
            PiiKind::PaymentCard => "CARD",
            PiiKind::NationalId => "ID",
            PiiKind::IpAddress => "IP",
            PiiKind::Phone => "PHONE",
        }
    }
}

/// One piece of personal data: its kind and byte range in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiMatch {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9][a-z0-9._%+-]*@[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*\.[a-z]{2,}\b").unwrap()
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}\b").unwrap());
static CARD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b\d(?:[ -]?\d){12,18}\b").unwrap());
static SSN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b(\d{3})-(\d{2})-(\d{4})\b").unwrap());
static NINO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b").unwrap());
static DNI: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b([XYZ]?)(\d{7,8})-?([A-Z])\b").unwrap());
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b").unwrap()
});
static IPV6: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:%[0-9a-z]+)?").unwrap());
// A phone number: an international prefix, or a trunk 0, or grouping, with 7 to 15 digits.
static PHONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b00)?\(?\d{1,4}\)?(?:[ .\-/]?\(?\d{1,5}\)?){1,6}\b").unwrap());

fn digits(s: &str) -> Vec<u32> {
    s.chars().filter_map(|c| c.to_digit(10)).collect()
}

/// The Luhn check every payment card number passes.
pub fn luhn(number: &str) -> bool {
    let d = digits(number);
    if d.len() < 2 {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                if x * 2 > 9 {
                    x * 2 - 9
                } else {
                    x * 2
                }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// ISO 13616 (IBAN): the country code and check digits moved to the end, letters as numbers,
/// the whole mod 97 is 1.
pub fn iban_valid(iban: &str) -> bool {
    let s: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len()) || !s.is_ascii() {
        return false;
    }
    let rearranged = format!("{}{}", &s[4..], &s[..4]);
    let mut rem: u64 = 0;
    for c in rearranged.chars() {
        let v = match c {
            '0'..='9' => c as u64 - '0' as u64,
            'A'..='Z' => c as u64 - 'A' as u64 + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

fn dni_valid(prefix: &str, number: &str, letter: &str) -> bool {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let lead = match prefix {
        "" => "",
        "X" => "0",
        "Y" => "1",
        "Z" => "2",
        _ => return false,
    };
    if prefix.is_empty() && number.len() != 8 {
        return false;
    }
    let Ok(n) = format!("{lead}{number}").parse::<u64>() else { return false };
    letter.as_bytes().first() == Some(&LETTERS[(n % 23) as usize])
}

fn ssn_valid(area: &str, group: &str, serial: &str) -> bool {
    area != "000" && area != "666" && !area.starts_with('9') && group != "00" && serial != "0000"
}

/// Every piece of personal data found, in order, without overlaps (the more specific kind wins:
/// an IBAN is not also a phone number).
pub fn detect(text: &str) -> Vec<PiiMatch> {
    let mut found: Vec<PiiMatch> = Vec::new();
    // The ranges taken so far, by start: they never overlap, so the one starting last before
    // `e` is the only one that can overlap [s, e) — a look-up, not a scan (many matches in one
    // text would make a scan quadratic).
    let mut taken: std::collections::BTreeMap<usize, usize> = std::collections::BTreeMap::new();
    let mut push = |found: &mut Vec<PiiMatch>, kind, s: usize, e: usize| {
        let overlaps = taken.range(..e).next_back().is_some_and(|(_, &end)| s < end);
        if !overlaps {
            taken.insert(s, e);
            found.push(PiiMatch { kind, start: s, end: e });
        }
    };
    for m in EMAIL.find_iter(text) {
        push(&mut found, PiiKind::Email, m.start(), m.end());
    }
    for m in IBAN.find_iter(text) {
        if iban_valid(m.as_str()) {
            push(&mut found, PiiKind::Iban, m.start(), m.end());
        }
    }
    for m in CARD.find_iter(text) {
        let n = digits(m.as_str()).len();
        if (13..=19).contains(&n) && luhn(m.as_str()) {
            push(&mut found, PiiKind::PaymentCard, m.start(), m.end());
        }
    }
    for c in SSN.captures_iter(text) {
        let m = c.get(0).unwrap();
        if ssn_valid(&c[1], &c[2], &c[3]) {
            push(&mut found, PiiKind::NationalId, m.start(), m.end());
        }
    }
    for m in NINO.find_iter(text) {
        push(&mut found, PiiKind::NationalId, m.start(), m.end());
    }
    for c in DNI.captures_iter(text) {
        let m = c.get(0).unwrap();
        if dni_valid(&c[1], &c[2], &c[3]) {
            push(&mut found, PiiKind::NationalId, m.start(), m.end());
        }
    }
    for m in IPV4.find_iter(text) {
        push(&mut found, PiiKind::IpAddress, m.start(), m.end());
    }
    for m in IPV6.find_iter(text) {
        let candidate = m.as_str().split('%').next().unwrap_or_default();
        if candidate.matches(':').count() >= 2 && candidate.parse::<std::net::Ipv6Addr>().is_ok() {
            push(&mut found, PiiKind::IpAddress, m.start(), m.end());
        }
    }
    for m in PHONE.find_iter(text) {
        // "(020 7946 0958)": the bracket is the sentence's, not an area code's.
        let start = if m.as_str().starts_with('(') && !m.as_str().contains(')') { m.start() + 1 } else { m.start() };
        if is_phone(text, start, &text[start..m.end()]) {
            push(&mut found, PiiKind::Phone, start, m.end());
        }
    }
    found.sort_by_key(|m| m.start);
    found
}

/// How far before a number its cue word is looked for, in characters ("confirmation number:" and
/// "téléphone :" fit, with room to spare).
const PHONE_CUE_CHARS: usize = 64;

/// Whether a digit run looks like a phone number rather than an order number, a date, an amount
/// or a time: 7 to 15 digits, and written like a phone (an international prefix, a trunk 0,
/// separators between groups, or a phone word just before it).
fn is_phone(text: &str, start: usize, candidate: &str) -> bool {
    let d = digits(candidate);
    if !(7..=15).contains(&d.len()) {
        return false;
    }
    let before = &text[..start];
    let prev = before.chars().next_back();
    // Part of an identifier (#1042, ORD-12345678, v1.2.3): not a phone.
    if matches!(prev, Some('#') | Some('-') | Some('.') | Some('/') | Some(':') | Some('$') | Some('€') | Some('£'))
        || prev.is_some_and(|c| c.is_alphanumeric())
    {
        return false;
    }
    // Only the words just before the number matter: lower-casing the whole text before each
    // candidate would make a text full of numbers quadratic.
    let near = before.char_indices().rev().nth(PHONE_CUE_CHARS).map_or(0, |(i, _)| i);
    let lowered = before[near..].to_lowercase();
    let tail = lowered.trim_end();
    let previous_word = tail
        .trim_end_matches(|c: char| !c.is_alphanumeric())
        .rsplit(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default();
    // Numbers named as something else are that thing.
    let named_otherwise = [
        "invoice",
        "order",
        "ref",
        "reference",
        "ticket",
        "case",
        "tracking",
        "parcel",
        "sku",
        "item",
        "receipt",
        "transaction",
        "booking",
        "confirmation",
        "serial",
        "version",
        "build",
        "iban",
        "account",
        "sort",
        "code",
    ]
    .contains(&previous_word);
    let cue = [
        "phone",
        "call",
        "tel",
        "mobile",
        "cell",
        "number",
        "whatsapp",
        "sms",
        "text me",
        "ring",
        "téléphone",
        "teléfono",
        "telefon",
    ]
    .iter()
    .any(|w| {
        tail.ends_with(w)
            || tail.ends_with(&format!("{w}:"))
            || tail.ends_with(&format!("{w} is"))
            || tail.ends_with(&format!("{w} on"))
            || tail.ends_with(&format!("{w} at"))
    });
    let international = candidate.starts_with('+') || candidate.starts_with("00");
    if named_otherwise && !international {
        return false;
    }
    let trunk = candidate.starts_with('0') || candidate.starts_with("(0");
    let grouped = candidate.chars().any(|c| matches!(c, ' ' | '-' | '.' | '(' | '/'));
    // Dates (2024-05-17, 17.05.2024, 17/05/2024) have three groups of 2–4 digits that read as a
    // date; leave them.
    let groups: Vec<&str> = candidate.split(|c: char| !c.is_ascii_digit()).filter(|g| !g.is_empty()).collect();
    let date_like = groups.len() == 3
        && groups.iter().all(|g| g.len() <= 4)
        && (groups[0].len() == 4 || groups[2].len() == 4)
        && d.len() == 8;
    if date_like {
        return false;
    }
    international || cue || (trunk && grouped) || (grouped && d.len() >= 9 && groups.len() >= 2)
}

/// What a placeholder looks like: `[EMAIL_1]`, `[CARD_12]`.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\[[A-Z]+_[0-9]+\]").expect("valid regex"));

/// A text with its personal data replaced by placeholders, and the way back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    /// (placeholder, original), in order of first appearance.
    pub replacements: Vec<(String, String)>,
}

impl Redacted {
    /// Puts the originals back wherever a placeholder appears (an LLM's answer may quote them),
    /// in one pass over the text; a placeholder this redaction never made stays as it is.
    pub fn restore(&self, text: &str) -> String {
        restore(text, &self.replacements)
    }
}

/// `text` with each placeholder of `replacements` (placeholder, original) put back, in one pass.
fn restore(text: &str, replacements: &[(String, String)]) -> String {
    let originals: std::collections::HashMap<&str, &str> =
        replacements.iter().map(|(p, o)| (p.as_str(), o.as_str())).collect();
    PLACEHOLDER.replace_all(text, |c: &regex::Captures| originals.get(&c[0]).unwrap_or(&&c[0]).to_string()).into_owned()
}

/// Replaces every piece of personal data with a placeholder; the same value gets the same one.
pub fn redact(text: &str) -> Redacted {
    let mut redactor = Redactor::default();
    let text = redactor.redact(text);
    Redacted { text, replacements: redactor.replacements }
}

/// Redacts several texts with one set of placeholders (a prompt's parts: the same email in the
/// subject and the body is `[EMAIL_1]` in both), and restores an answer that quotes any of them.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    replacements: Vec<(String, String)>,
    /// Original → placeholder, so a repeated value is found without a scan.
    placeholders: std::collections::HashMap<String, String>,
    counts: std::collections::BTreeMap<PiiKind, usize>,
}

impl Redactor {
    pub fn redact(&mut self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in detect(text) {
            out.push_str(&text[last..m.start]);
            let original = &text[m.start..m.end];
            let placeholder = match self.placeholders.get(original) {
                Some(p) => p.clone(),
                None => {
                    let n = self.counts.entry(m.kind).or_insert(0);
                    *n += 1;
                    let p = format!("[{}_{}]", m.kind.placeholder_name(), n);
                    self.replacements.push((p.clone(), original.to_string()));
                    self.placeholders.insert(original.to_string(), p.clone());
                    p
                }
            };
            out.push_str(&placeholder);
            last = m.end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// How many distinct values were replaced.
    pub fn replaced(&self) -> usize {
        self.replacements.len()
    }

    pub fn restore(&self, text: &str) -> String {
        restore(text, &self.replacements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(PiiKind, &str)> {
        detect(text).into_iter().map(|m| (m.kind, &text[m.start..m.end])).collect()
    }

    #[test]
    fn one_redactor_gives_the_same_value_the_same_placeholder_across_texts() {
        let mut r = Redactor::default();
        let subject = r.redact("Order for ana@example.com");
        let body = r.redact("Write to ana@example.com or bob@example.com, card 4111 1111 1111 1111");
        assert_eq!(subject, "Order for [EMAIL_1]");
        assert!(body.starts_with("Write to [EMAIL_1] or [EMAIL_2], card [CARD_1]"), "{body}");
        assert_eq!(r.replaced(), 3);
        assert_eq!(
            r.restore("Dear [EMAIL_2], we refunded [CARD_1]."),
            "Dear bob@example.com, we refunded 4111 1111 1111 1111."
        );
    }

    #[test]
    fn finds_each_kind_with_its_check() {
        use PiiKind::*;
        assert_eq!(kinds("write to Ana.Lopez+shop@example.co.uk please"), [(Email, "Ana.Lopez+shop@example.co.uk")]);
        assert_eq!(kinds("card 4111 1111 1111 1111 expired"), [(PaymentCard, "4111 1111 1111 1111")]);
        assert!(kinds("card 4111 1111 1111 1112 expired").iter().all(|(k, _)| *k != PaymentCard), "fails Luhn");
        assert_eq!(kinds("IBAN DE89 3704 0044 0532 0130 00 thanks"), [(Iban, "DE89 3704 0044 0532 0130 00")]);
        assert_eq!(kinds("GB82WEST12345698765432"), [(Iban, "GB82WEST12345698765432")]);
        assert!(kinds("GB82WEST12345698765431").iter().all(|(k, _)| *k != Iban), "fails mod 97");
        assert_eq!(kinds("SSN 123-45-6789"), [(NationalId, "123-45-6789")]);
        assert!(kinds("id 666-45-6789").iter().all(|(k, _)| *k != NationalId), "reserved SSN area");
        assert_eq!(kinds("NI number AB 12 34 56 C"), [(NationalId, "AB 12 34 56 C")]);
        assert_eq!(kinds("DNI 12345678Z"), [(NationalId, "12345678Z")]);
        assert!(kinds("DNI 12345678A").is_empty(), "wrong check letter");
        assert_eq!(
            kinds("from 192.168.1.20 and 2001:db8::8a2e:370:7334"),
            [(IpAddress, "192.168.1.20"), (IpAddress, "2001:db8::8a2e:370:7334")]
        );
        assert_eq!(kinds("call me on +44 20 7946 0958"), [(Phone, "+44 20 7946 0958")]);
        assert_eq!(kinds("my number is 555 123 4567"), [(Phone, "555 123 4567")]);
        assert_eq!(kinds("ring 020 7946 0958 today"), [(Phone, "020 7946 0958")]);
        assert_eq!(kinds("the wrong number (02 832 0979)."), [(Phone, "02 832 0979")]);
        assert_eq!(kinds("call (415) 555-0100"), [(Phone, "(415) 555-0100")]);
    }

    #[test]
    fn leaves_numbers_that_are_not_personal() {
        for text in [
            "order #10423388 arrived",
            "order ORD-20240517 is late",
            "on 2024-05-17 at 14:30",
            "paid 1249.99 EUR",
            "version 10.2.3 crashed",
            "tracking 1Z999AA10123456784",
            "invoice 2024/0001234",
            "it took 3 hours and 45 minutes",
        ] {
            assert!(detect(text).is_empty(), "{text}: {:?}", kinds(text));
        }
    }

    #[test]
    fn redacts_and_restores() {
        let text = "I'm ana@example.com, card 4111-1111-1111-1111, phone +1 415 555 0100; again ana@example.com";
        let r = redact(text);
        assert_eq!(r.text, "I'm [EMAIL_1], card [CARD_1], phone [PHONE_1]; again [EMAIL_1]");
        assert_eq!(r.restore(&r.text), text);
        assert_eq!(
            r.restore("Dear [EMAIL_1], we refunded [CARD_1]."),
            "Dear ana@example.com, we refunded 4111-1111-1111-1111."
        );
    }
}
