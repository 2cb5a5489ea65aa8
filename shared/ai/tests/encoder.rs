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

#[test]
fn the_8_bit_encoder_stays_within_a_hair_of_the_exact_one() {
    use helpdesk_ai::encoder::Precision;
    let Some(dir) = model_dir() else { return };
    let exact = SentenceEncoder::load_with(&dir, Precision::F32).unwrap();
    let int8 = SentenceEncoder::load_with(&dir, Precision::Int8).unwrap();
    assert_eq!((exact.precision(), int8.precision()), (Precision::F32, Precision::Int8));
    let texts = [
        "Hi, I ordered a blender last week (order 10423) and it arrived broken. I want a refund please.",
        "I can't log in to my account, the password reset email never arrives.",
        "¿Dónde está mi pedido? Lo compré hace dos semanas.",
        "Thanks!",
        "The app crashes every time I open the settings page on Android 14, and I have reinstalled it \
         twice already; my colleague's phone has the same problem since the last update.",
    ];
    // In a batch (padded, masked) and one at a time, as the worker calls it. Over Banking77's
    // test texts the cosine is 0.9987 on average and never below 0.996; a two-token text like
    // "Thanks!" is the hardest case (0.987).
    let (a, b) = (exact.encode(&texts).unwrap(), int8.encode(&texts).unwrap());
    for (i, text) in texts.iter().enumerate() {
        let alone = int8.encode(&[text]).unwrap();
        let (batched, single) = (cosine(&a[i], &b[i]), cosine(&a[i], &alone[0]));
        assert!(batched > 0.98 && single > 0.98, "{text}: cosine {batched} / {single}");
    }
}

/// The prototypes shipped in the binary are what the exact encoder makes of today's phrases;
/// `UPDATE_PROTOTYPES=1` rewrites the file.
#[test]
fn the_shipped_prototypes_are_the_encoders_own() {
    use helpdesk_ai::defaults::{PrototypeSource, ZeroShot};
    use helpdesk_ai::encoder::Precision;
    let Some(dir) = model_dir() else { return };
    let exact = std::sync::Arc::new(SentenceEncoder::load_with(&dir, Precision::F32).unwrap());
    let fresh = ZeroShot::embed_prototypes(&exact).unwrap();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/zero_shot_prototypes.safetensors");
    if std::env::var_os("UPDATE_PROTOTYPES").is_some() {
        std::fs::write(&path, ZeroShot::prototypes_file(&fresh).unwrap()).unwrap();
        return;
    }
    let stale = "stale: UPDATE_PROTOTYPES=1 cargo test -p helpdesk-ai --test encoder";
    let shipped = ZeroShot::shipped_prototypes(exact.dims()).expect(stale);
    assert_eq!(shipped.len(), fresh.len());
    for (a, b) in shipped.iter().zip(&fresh) {
        assert!(cosine(a, b) > 0.9999, "{stale}: cosine {}", cosine(a, b));
    }
    assert_eq!(ZeroShot::new(exact).unwrap().prototype_source(), PrototypeSource::Shipped);
}
