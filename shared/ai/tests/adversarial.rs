//! The shapes an attacker sends (issue 18), through every text path that needs no model files.
//! What each path reads is bounded, and each is linear in what it reads: the figures are in
//! `cargo bench -p helpdesk-ai --bench adversarial`; here, that each finishes and what it reads.

use helpdesk_ai::triage::{model_text, MODEL_CHARS};
use helpdesk_ai::{chunk, language, pii, reply, text};

const LEN: usize = 200_000;

fn repeat_to(unit: &str, len: usize) -> String {
    unit.repeat(len / unit.len() + 1).chars().take(len).collect()
}

fn shapes() -> Vec<String> {
    vec![
        "a".repeat(LEN),
        "1".repeat(LEN),
        repeat_to("1 ", LEN),
        repeat_to("call +1000001, ", LEN),
        repeat_to("> ", LEN),
        "@".repeat(LEN),
        repeat_to("a@b.cc ", LEN),
        "[".repeat(LEN),
        repeat_to("[a](", LEN),
        repeat_to("<a", LEN),
        repeat_to("<ul><li>", LEN),
        repeat_to("<div>", LEN),
        format!("<p>{}{}", repeat_to("<head<!---->", LEN / 2), "😀".repeat(LEN / 8)),
        repeat_to("<div>", LEN / 2) + &repeat_to("<a", LEN / 2),
    ]
}

#[test]
fn the_models_read_a_bounded_text_whatever_the_message() {
    for shape in shapes() {
        let read = model_text(Some("Subject"), &shape, true);
        assert!(read.chars().count() <= MODEL_CHARS, "{}", read.len());
    }
    // The text after a head of 150 KB of styles is still read.
    let styled = format!(
        "<html><head><style>{}</style></head><body><p>Where is my refund?</p></body></html>",
        ".x{color:red}".repeat(150_000 / 13)
    );
    assert_eq!(model_text(None, &styled, false), "Where is my refund?");
    // Text without spaces (Chinese, Japanese, Thai) is read whole up to the bound, not cut.
    let chinese = "我的订单还没有到，请帮我查一下物流信息。".repeat(20);
    assert_eq!(model_text(None, &chinese, false), chinese);
}

#[test]
fn every_text_path_finishes_on_adversarial_shapes() {
    let detector = language::Detector::all_supported();
    for shape in shapes() {
        let _ = detector.detect(&shape);
        let redacted = pii::redact(&shape);
        assert_eq!(redacted.restore(&redacted.text).len(), shape.len(), "redaction round-trips");
        let _ = chunk::chunk_markdown("Title", &shape);
        let _ = reply::templatise(&shape, Some("Ana Pérez"));
        let _ = text::normalise(&shape);
    }
}
