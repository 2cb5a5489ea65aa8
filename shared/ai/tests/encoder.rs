//! The sentence encoder on the real all-MiniLM-L6-v2 files (skipped, saying so, when they have
//! not been fetched: `python local/models.py fetch`).

use helpdesk_ai::encoder::{SentenceEncoder, MODEL_NAME};
use std::path::PathBuf;

fn model_dir() -> Option<PathBuf> {
    let root = std::env::var("HELPDESK_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.local/models"));
    let dir = root.join(MODEL_NAME);
    if dir.join("model.safetensors").exists() {
        Some(dir)
    } else {
        eprintln!("skipped: no {MODEL_NAME} in {} (python local/models.py fetch)", root.display());
        None
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn similar_requests_land_close_and_unrelated_ones_far() {
    let Some(dir) = model_dir() else { return };
    let encoder = SentenceEncoder::load(&dir).unwrap();
    assert_eq!(encoder.dims(), 384);
    let v = encoder
        .encode(&[
            "I want my money back for the broken blender",
            "Please refund me, the blender arrived damaged",
            "What time does the football match start?",
            "",
        ])
        .unwrap();
    assert_eq!(v.len(), 4);
    for e in &v[..3] {
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "unit length: {norm}");
    }
    let (close, far) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
    assert!(close > 0.6, "paraphrases: {close}");
    assert!(far < 0.3, "unrelated: {far}");
    // A batch gives what one at a time gives (padding does not leak into the mean).
    let alone = encoder.encode(&["Please refund me, the blender arrived damaged"]).unwrap();
    assert!(cosine(&alone[0], &v[1]) > 0.9999);
}

#[test]
fn the_default_categories_work_before_any_training() {
    let Some(dir) = model_dir() else { return };
    let encoder = std::sync::Arc::new(SentenceEncoder::load(&dir).unwrap());
    let zero_shot = helpdesk_ai::defaults::ZeroShot::new(encoder).unwrap();
    let texts = [
        "I still haven't received my money back for the returned shoes",
        "The courier says my parcel was delivered but it is not here",
        "I can't sign in, the password reset email never comes",
        "Please stop my subscription, I no longer need it",
        "Let me speak to a real person please",
    ];
    let got: Vec<&str> = zero_shot.classify(&texts).unwrap().into_iter().map(|(c, _)| c).collect();
    assert_eq!(got, ["refund", "delivery", "account", "cancellation", "contact"]);
}
