//! Every text path on the shapes an attacker sends, against normal prose of the same length
//! (release build, one core):
//!
//!     RAYON_NUM_THREADS=1 cargo bench -p helpdesk-ai --bench adversarial
//!
//! Each shape is 200,000 characters, the largest message body the API takes. Prints the slowest
//! of three runs per path and shape; every path must stay within a few times the prose figure
//! (before the bounds, one long word took 16.8 s of triage). Uses the sentence encoder when its
//! files are there (`python local/models.py fetch`), the n-gram defaults otherwise.

use helpdesk_ai::encoder::{SentenceEncoder, MODEL_NAME};
use helpdesk_ai::{chunk, language, pii, reply, Engine, MessageInput};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LEN: usize = 200_000;

fn repeat_to(unit: &str, len: usize) -> String {
    unit.repeat(len / unit.len() + 1).chars().take(len).collect()
}

fn shapes() -> Vec<(&'static str, String)> {
    vec![
        ("prose (baseline)", repeat_to("Hi, my order 10423 arrived broken and I want a refund please. ", LEN)),
        ("one long word", "a".repeat(LEN)),
        ("one run of digits", "1".repeat(LEN)),
        ("digits in groups", repeat_to("1 ", LEN)),
        ("numbers after words", repeat_to("call +1000001, ", LEN)),
        ("deep quotes", repeat_to(">", LEN / 2) + " hi\n" + &repeat_to("> ", LEN / 2)),
        ("quoted lines", repeat_to("> > > > > > > > quoted\n", LEN)),
        ("many @", "@".repeat(LEN)),
        ("many addresses", repeat_to("a@b.cc ", LEN)),
        ("brackets", "[".repeat(LEN)),
        ("links without end", repeat_to("[a](", LEN)),
        ("angle brackets", repeat_to("<a", LEN)),
        ("no spaces, punctuation", repeat_to("a.b,c;", LEN)),
        ("newlines", "\n".repeat(LEN)),
        ("nested lists (HTML)", repeat_to("<ul><li>", LEN)),
        ("nested divs (HTML)", repeat_to("<div>", LEN)),
        ("nested quotes (HTML)", repeat_to("<blockquote>", LEN)),
        ("unclosed heads (HTML)", format!("<p>{}", repeat_to("<head<!---->", LEN - 3))),
        ("unclosed tags, deep (HTML)", repeat_to("<div>", LEN / 2) + &repeat_to("<a", LEN / 2)),
    ]
}

fn slowest(mut f: impl FnMut()) -> Duration {
    (0..3)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .max()
        .unwrap_or_default()
}

fn main() {
    let dir = std::env::var("HELPDESK_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/models"))
        .join(MODEL_NAME);
    let encoder = dir.join("model.safetensors").exists().then(|| Arc::new(SentenceEncoder::load(&dir).unwrap()));
    println!("encoder: {}", if encoder.is_some() { "loaded" } else { "absent (n-gram defaults)" });
    let engine = Engine::new(encoder.clone(), language::Detector::all_supported()).unwrap();
    let detector = language::Detector::all_supported();
    let headers = Vec::new();
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "shape", "triage", "language", "redact", "chunk", "templat.", "encode"
    );
    for (name, text) in shapes() {
        let input = MessageInput { body: &text, headers: &headers, is_email: true, ..MessageInput::default() };
        let triage = slowest(|| _ = black_box(engine.triage(&input, None).unwrap()));
        let language = slowest(|| _ = black_box(detector.detect(&text)));
        let redact = slowest(|| _ = black_box(pii::redact(&text)));
        let chunk = slowest(|| _ = black_box(chunk::chunk_markdown("Title", &text)));
        let templatise = slowest(|| _ = black_box(reply::templatise(&text, Some("Ana Pérez"))));
        let encode = match &encoder {
            Some(e) => format!("{:.1?}", slowest(|| _ = black_box(e.encode(&[text.as_str()]).unwrap()))),
            None => "-".into(),
        };
        println!(
            "{name:<26} {:>10} {:>10} {:>10} {:>10} {:>10} {encode:>10}",
            format!("{triage:.1?}"),
            format!("{language:.1?}"),
            format!("{redact:.1?}"),
            format!("{chunk:.1?}"),
            format!("{templatise:.1?}"),
        );
    }
}
