//! The platform's local AI engine: everything that classifies text on the CPU with no network
//! and no LLM. It knows nothing about AWS, SQL or HTTP; the functions feed it text and store
//! what it answers.
//!
//! - [`prepare`]: HTML to text; quoted replies and signatures removed from email.
//! - [`text`]: normalisation shared by every model.
//! - [`encoder`]: the sentence encoder (all-MiniLM-L6-v2 on candle).
//! - [`features`]: word and character n-grams, weighted TF-IDF, over a vocabulary learnt from
//!   the training texts.
//! - [`language`]: language detection (lingua) over the support languages, ISO 639-3.
//! - [`linear`]: multinomial logistic regression over sparse features, trained here.
//! - [`category`]: the category (intent) model: training with a held-out split, calibrated
//!   confidence (temperature scaling), an out-of-scope threshold, saving and loading.
//! - [`metrics`]: accuracy, macro-F1, per-class figures, out-of-scope recall.
//! - [`dataset`]: labelled CSV files.
//! - [`defaults`]: the default categories, zero-shot from descriptions and example phrases.
//! - [`pii`]: personal data detection and reversible redaction.
//! - [`signals`]: auto-replies (RFC 3834), bulk mail, a spam score.
//! - [`urgency`]: low / normal / high / urgent, with the reasons.
//! - [`sentiment`]: polarity with a score, and emotions, from a model shipped in the binary.
//! - [`triage`]: all of the above for one message, as the AI worker runs it ([`Engine`]).
//! - [`chunk`]: knowledge-base articles (markdown) cut into passages the encoder reads whole.
//! - [`tenant`]: an organisation's own category model: training from agents' verdicts, the
//!   held-out comparison that decides promotion, the artifact files.

pub mod category;
pub mod chunk;
pub mod dataset;
pub mod defaults;
pub mod encoder;
pub mod features;
pub mod language;
pub mod linear;
pub mod metrics;
pub mod pii;
pub mod pii_eval;
pub mod prepare;
pub mod reply;
pub mod sentiment;
pub mod signals;
pub mod tenant;
pub mod text;
pub mod triage;
pub mod urgency;

pub use category::{CategoryModel, Prediction, TrainConfig, TrainReport};
pub use dataset::Dataset;
pub use metrics::Evaluation;
pub use triage::{Categorizer, Engine, MessageInput, TenantModel};

/// What can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum AiError {
    #[error("{0}")]
    Data(String),
    #[error("model files: {0}")]
    Io(#[from] std::io::Error),
    #[error("model format: {0}")]
    Format(#[from] serde_json::Error),
    #[error("CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("model: {0}")]
    Model(String),
}

pub type Result<T, E = AiError> = std::result::Result<T, E>;

/// A small deterministic generator (xorshift64*): training must be reproducible run to run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}
