//! The engine's speed on this machine (release build):
//!
//!     RAYON_NUM_THREADS=1 cargo bench -p helpdesk-ai --bench engine     (one core, as the targets say)
//!
//! Needs the encoder's files (`python local/models.py fetch`; `HELPDESK_MODELS` or
//! `.local/models`); without them only the parts that need no files are measured. Prints p50 /
//! p99 per operation, throughputs, and the process's peak memory. The encoder runs at the
//! precision the worker would pick on this CPU (`ENCODER_PRECISION` to force one); the exact f32
//! model is timed last, for comparison, after the peak memory is read.

use helpdesk_ai::encoder::{Precision, SentenceEncoder, MODEL_NAME};
use helpdesk_ai::{language, pii, sentiment, CategoryModel, Engine, MessageInput};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MESSAGES: &[&str] = &[
    "Hi, I ordered a blender last week (order 10423) and it arrived broken. I want a refund please.",
    "I can't log in to my account, the password reset email never arrives. Can you help?",
    "Where is my parcel? The tracking page has not changed for five days and I need it by Friday.",
    "Please cancel my subscription, I was charged twice this month and nobody answers my emails!!!",
    "Thanks a lot for the quick help yesterday, everything works now.",
    "¿Dónde está mi pedido? Lo compré hace dos semanas y todavía no ha llegado.",
    "Bonjour, je n'arrive pas à télécharger ma facture depuis mon espace client.",
    "The app crashes every time I open the settings page on Android 14.",
];

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!("{name:<46} n={:<6} p50={:>9.2?} p99={:>9.2?}", samples.len(), pct(0.5), pct(0.99));
}

fn time(n: usize, mut f: impl FnMut(usize)) -> Vec<Duration> {
    for i in 0..n / 10 + 1 {
        f(i);
    }
    (0..n)
        .map(|i| {
            let started = Instant::now();
            f(i);
            started.elapsed()
        })
        .collect()
}

fn throughput(name: &str, n: usize, mut f: impl FnMut(usize)) {
    let started = Instant::now();
    for i in 0..n {
        f(i);
    }
    println!("{name:<46} {:.0} messages/s", n as f64 / started.elapsed().as_secs_f64());
}

fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn main() {
    println!("threads: RAYON_NUM_THREADS={}", std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "unset".into()));
    let pick = |i: usize| MESSAGES[i % MESSAGES.len()];

    let model_json = include_bytes!("../models/sentiment/model.json");
    let weights = include_bytes!("../models/sentiment/weights.bin");
    let started = Instant::now();
    let ngram = CategoryModel::from_bytes(model_json, weights).unwrap();
    println!("{:<46} {:.1?}", "load an n-gram model (the sentiment one)", started.elapsed());
    use std::hint::black_box;
    report("n-gram model, one message", time(20_000, |i| _ = black_box(ngram.predict(pick(i)))));
    throughput("n-gram model throughput", 50_000, |i| _ = black_box(ngram.predict(pick(i))));

    let s = sentiment::SentimentModel::shipped();
    report("sentiment + emotions, one message", time(20_000, |i| _ = black_box(s.analyse(pick(i)))));
    let detector = language::Detector::all_supported();
    report("language, one message", time(5_000, |i| _ = black_box(detector.detect(pick(i)))));
    report("PII redaction, one message", time(20_000, |i| _ = black_box(pii::redact(pick(i)))));

    let dir = std::env::var("HELPDESK_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/models"))
        .join(MODEL_NAME);
    if !dir.join("model.safetensors").exists() {
        println!("encoder: no files in {} (python local/models.py fetch), skipped", dir.display());
    } else {
        let started = Instant::now();
        let encoder = SentenceEncoder::load(&dir).unwrap();
        let precision = encoder.precision().as_str();
        println!("{:<46} {:.1?}", format!("load the sentence encoder ({precision})"), started.elapsed());
        report(
            &format!("encoder {precision}, one message"),
            time(300, |i| _ = black_box(encoder.encode(&[pick(i)]).unwrap())),
        );
        let batch: Vec<&str> = (0..32).map(pick).collect();
        let started = Instant::now();
        for _ in 0..5 {
            encoder.encode(&batch).unwrap();
        }
        println!("{:<46} {:.0} messages/s", "encoder, batches of 32", 160.0 / started.elapsed().as_secs_f64());

        // What the worker does per message: the whole triage with the zero-shot defaults.
        let started = Instant::now();
        let engine = Engine::new(Some(Arc::new(encoder)), language::Detector::all_supported()).unwrap();
        println!("{:<46} {:.1?}", "engine ready (encoder given; prototypes embedded)", started.elapsed());
        let headers = Vec::new();
        let input = |i: usize| MessageInput { body: pick(i), headers: &headers, ..MessageInput::default() };
        report(
            "whole triage, one message (worker)",
            time(300, |i| _ = black_box(engine.triage(&input(i), None).unwrap())),
        );
    }
    if let Some(mb) = peak_memory_mb() {
        println!("{:<46} {mb:.0} MB", "peak memory (VmHWM)");
    }
    if dir.join("model.safetensors").exists() {
        let exact = SentenceEncoder::load_with(&dir, Precision::F32).unwrap();
        report(
            "encoder f32 (for comparison), one message",
            time(300, |i| _ = black_box(exact.encode(&[pick(i)]).unwrap())),
        );
    }
}
