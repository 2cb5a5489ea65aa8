//! A generated test set for the PII detectors: varied snippets (several languages, formats and
//! positions) with the personal data each one holds, and numbers that look personal but are not
//! (order and tracking numbers, dates, times, amounts, versions). Values are made valid where the
//! real thing is (Luhn, mod-97, check letters), so the checks are tested too.
//!
//! `helpdesk-ai pii-eval [--n 2000] [--seed 1]` prints recall and precision by kind.

use crate::pii::{detect, luhn, PiiKind};
use crate::Rng;
use serde::Serialize;
use std::collections::BTreeMap;

/// One snippet and the personal data in it (kind, exact text).
pub struct Snippet {
    pub text: String,
    pub expected: Vec<(PiiKind, String)>,
}

fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    items[(rng.next_u64() % items.len() as u64) as usize]
}

fn digit(rng: &mut Rng) -> u32 {
    (rng.next_u64() % 10) as u32
}

fn number(rng: &mut Rng, n: usize) -> String {
    (0..n).map(|_| char::from_digit(digit(rng), 10).unwrap()).collect()
}

fn card(rng: &mut Rng) -> String {
    let prefix = pick(rng, &["4", "51", "52", "55", "37", "6011"]);
    let len = if prefix == "37" { 15 } else { 16 };
    let mut d: Vec<u32> = prefix.chars().filter_map(|c| c.to_digit(10)).collect();
    while d.len() < len - 1 {
        d.push(digit(rng));
    }
    let body: String = d.iter().map(|x| char::from_digit(*x, 10).unwrap()).collect();
    // The one check digit that passes the detector's own Luhn test.
    let check = (0..10).find(|c| luhn(&format!("{body}{c}"))).expect("one digit completes any number");
    d.push(check);
    let s: String = d.iter().map(|x| char::from_digit(*x, 10).unwrap()).collect();
    match rng.next_u64() % 3 {
        0 => s,
        1 => s.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" "),
        _ => s.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join("-"),
    }
}

fn iban(rng: &mut Rng) -> String {
    let (country, bban_len) = *[("DE", 18), ("FR", 23), ("ES", 20), ("GB", 18), ("NL", 14), ("IT", 23)]
        .get((rng.next_u64() % 6) as usize)
        .unwrap();
    let bban = if country == "GB" || country == "NL" {
        let bank: String = (0..4).map(|_| (b'A' + (rng.next_u64() % 26) as u8) as char).collect();
        format!("{bank}{}", number(rng, bban_len - 4))
    } else {
        number(rng, bban_len)
    };
    let numeric: String = format!("{bban}{country}00")
        .chars()
        .map(|c| if c.is_ascii_digit() { c.to_string() } else { (c as u32 - 'A' as u32 + 10).to_string() })
        .collect();
    let rem = numeric.chars().fold(0u64, |r, c| (r * 10 + c.to_digit(10).unwrap() as u64) % 97);
    let compact = format!("{country}{:02}{bban}", 98 - rem);
    if rng.next_u64().is_multiple_of(2) {
        compact
    } else {
        compact.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
    }
}

fn national_id(rng: &mut Rng) -> String {
    match rng.next_u64() % 3 {
        0 => format!(
            "{}{}-{:02}-{:04}",
            1 + rng.next_u64() % 6,
            number(rng, 2),
            1 + rng.next_u64() % 98,
            1 + rng.next_u64() % 9998
        ),
        1 => {
            let first = pick(rng, &["A", "B", "C", "E", "H", "J", "K", "L", "M", "P", "R", "S", "T", "W"]);
            let second = pick(rng, &["A", "B", "C", "E", "H", "J", "K", "L", "M", "P", "R", "S", "T", "W"]);
            let end = pick(rng, &["A", "B", "C", "D"]);
            format!("{first}{second} {} {} {} {end}", number(rng, 2), number(rng, 2), number(rng, 2))
        }
        _ => {
            let n = 10_000_000 + rng.next_u64() % 89_999_999;
            let letter = b"TRWAGMYFPDXBNJZSQVHLCKE"[(n % 23) as usize] as char;
            format!("{n}{letter}")
        }
    }
}

fn ip(rng: &mut Rng) -> String {
    if rng.next_u64().is_multiple_of(4) {
        format!("2001:db8:{:x}::{:x}", rng.next_u64() % 65535, 1 + rng.next_u64() % 65534)
    } else {
        format!(
            "{}.{}.{}.{}",
            1 + rng.next_u64() % 223,
            rng.next_u64() % 256,
            rng.next_u64() % 256,
            1 + rng.next_u64() % 254
        )
    }
}

fn phone(rng: &mut Rng) -> String {
    match rng.next_u64() % 6 {
        0 => format!("+44 20 {} {}", number(rng, 4), number(rng, 4)),
        1 => format!("+1 {} {} {}", 200 + rng.next_u64() % 799, number(rng, 3), number(rng, 4)),
        2 => format!("+33 6 {} {} {} {}", number(rng, 2), number(rng, 2), number(rng, 2), number(rng, 2)),
        3 => format!("0{} {} {}", 1 + rng.next_u64() % 9, number(rng, 3), number(rng, 4)),
        4 => format!("({}) {}-{}", 200 + rng.next_u64() % 799, number(rng, 3), number(rng, 4)),
        _ => format!("+49 30 {}", number(rng, 8)),
    }
}

fn email(rng: &mut Rng) -> String {
    let user = pick(rng, &["ana", "ben.smith", "chloe_92", "d.ramos", "eve+shop", "frank.o", "g.muller"]);
    let domain = pick(rng, &["example.com", "mail.example.org", "shop.example.co.uk", "example.es", "example.de"]);
    format!("{user}{}@{domain}", rng.next_u64() % 100)
}

/// Text that must not be flagged.
fn decoy(rng: &mut Rng) -> String {
    match rng.next_u64() % 9 {
        0 => format!("order #{}", number(rng, 8)),
        1 => format!("on 2024-{:02}-{:02}", 1 + rng.next_u64() % 12, 1 + rng.next_u64() % 28),
        2 => format!("at {:02}:{:02}", rng.next_u64() % 24, rng.next_u64() % 60),
        3 => format!("{}.{:02} EUR", 10 + rng.next_u64() % 9000, rng.next_u64() % 100),
        4 => format!("version {}.{}.{}", rng.next_u64() % 20, rng.next_u64() % 20, rng.next_u64() % 50),
        5 => format!("tracking 1Z{}", number(rng, 16)),
        6 => format!("invoice {}/{}", 2020 + rng.next_u64() % 6, number(rng, 7)),
        7 => format!("ticket {}", number(rng, 6)),
        _ => format!("{} items", 1 + rng.next_u64() % 40),
    }
}

const TEMPLATES: &[&str] = &[
    "Hi, my {kind} is {value} and {decoy} still has not arrived.",
    "Hola, mi {kind} es {value}. El pedido {decoy} llegó roto.",
    "Bonjour, voici mon {kind} : {value}, merci de vérifier {decoy}.",
    "Hallo, meine {kind} lautet {value} – bitte prüfen Sie {decoy}.",
    "{value} is my {kind}; please update it before {decoy}.",
    "Please use the {kind} below:\n{value}\nThanks, {decoy}",
    "I paid {decoy} but you charged the wrong {kind} ({value}).",
    "Customer wrote from {decoy}. {kind}={value}. Urgent!",
];

fn kind_word(kind: PiiKind) -> &'static str {
    match kind {
        PiiKind::Email => "email",
        PiiKind::Iban => "IBAN",
        PiiKind::PaymentCard => "card number",
        PiiKind::NationalId => "ID",
        PiiKind::IpAddress => "IP",
        PiiKind::Phone => "phone number",
    }
}

/// `n` snippets, reproducibly from `seed`; about one in eight has no personal data at all.
pub fn generate(n: usize, seed: u64) -> Vec<Snippet> {
    let mut rng = Rng::new(seed);
    let kinds =
        [PiiKind::Email, PiiKind::Iban, PiiKind::PaymentCard, PiiKind::NationalId, PiiKind::IpAddress, PiiKind::Phone];
    (0..n)
        .map(|i| {
            let template = pick(&mut rng, TEMPLATES);
            let d = decoy(&mut rng);
            if i % 8 == 7 {
                let text =
                    template.replace("{kind}", "reference").replace("{value}", &decoy(&mut rng)).replace("{decoy}", &d);
                return Snippet { text, expected: vec![] };
            }
            let kind = kinds[(rng.next_u64() % kinds.len() as u64) as usize];
            let value = match kind {
                PiiKind::Email => email(&mut rng),
                PiiKind::Iban => iban(&mut rng),
                PiiKind::PaymentCard => card(&mut rng),
                PiiKind::NationalId => national_id(&mut rng),
                PiiKind::IpAddress => ip(&mut rng),
                PiiKind::Phone => phone(&mut rng),
            };
            let text = template.replace("{kind}", kind_word(kind)).replace("{value}", &value).replace("{decoy}", &d);
            Snippet { text, expected: vec![(kind, value)] }
        })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct KindFigures {
    pub expected: usize,
    pub found: usize,
    pub correct: usize,
    pub recall: f64,
    pub precision: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PiiEvaluation {
    pub snippets: usize,
    pub recall: f64,
    pub precision: f64,
    pub by_kind: BTreeMap<String, KindFigures>,
    /// Up to ten misses and ten false alarms, to look at.
    pub examples_missed: Vec<String>,
    pub examples_false: Vec<String>,
}

/// Span-exact scoring: a detection counts when its kind and text are exactly an expected one.
pub fn evaluate(snippets: &[Snippet]) -> PiiEvaluation {
    let mut per: BTreeMap<PiiKind, (usize, usize, usize)> = BTreeMap::new();
    let (mut missed, mut false_alarms) = (Vec::new(), Vec::new());
    for s in snippets {
        let found: Vec<(PiiKind, String)> =
            detect(&s.text).into_iter().map(|m| (m.kind, s.text[m.start..m.end].to_string())).collect();
        for e in &s.expected {
            per.entry(e.0).or_default().0 += 1;
            if !found.contains(e) && missed.len() < 10 {
                missed.push(format!("{:?} {:?} in {:?}", e.0, e.1, s.text));
            }
        }
        for f in &found {
            let entry = per.entry(f.0).or_default();
            entry.1 += 1;
            if s.expected.contains(f) {
                entry.2 += 1;
            } else if false_alarms.len() < 10 {
                false_alarms.push(format!("{:?} {:?} in {:?}", f.0, f.1, s.text));
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let (expected, found, correct) = per.values().fold((0, 0, 0), |t, v| (t.0 + v.0, t.1 + v.1, t.2 + v.2));
    PiiEvaluation {
        snippets: snippets.len(),
        recall: ratio(correct, expected),
        precision: ratio(correct, found),
        by_kind: per
            .into_iter()
            .map(|(k, (e, f, c))| {
                (
                    format!("{k:?}"),
                    KindFigures { expected: e, found: f, correct: c, recall: ratio(c, e), precision: ratio(c, f) },
                )
            })
            .collect(),
        examples_missed: missed,
        examples_false: false_alarms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_set_meets_the_targets() {
        let e = evaluate(&generate(2000, 1));
        assert!(e.recall >= 0.99, "recall {:.4}; missed {:#?}", e.recall, e.examples_missed);
        assert!(e.precision >= 0.95, "precision {:.4}; false {:#?}", e.precision, e.examples_false);
    }
}
