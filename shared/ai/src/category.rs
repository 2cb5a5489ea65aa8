//! The category (intent) model: n-gram TF-IDF features and multinomial logistic regression,
//! with confidence calibrated on held-out data (temperature scaling) and an out-of-scope
//! threshold set from out-of-scope examples when the training data has some.
//!
//! On disk a model is a directory: `model.json` (labels, vocabulary, calibration, figures) and
//! `weights.bin` (little-endian f32).

use crate::encoder::{SentenceEncoder, MODEL_NAME};
use crate::features::{NgramConfig, NgramFeaturizer, SparseVec};
use crate::linear::{softmax_in_place, SoftmaxRegression, TrainOptions};
use crate::{AiError, Result, Rng};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// The label a rejected text gets when the model was trained without out-of-scope examples.
pub const UNKNOWN: &str = "unknown";
const FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub ngram: NgramConfig,
    pub options: TrainOptions,
    /// Share of the data held out to calibrate confidence and set the threshold.
    pub validation_fraction: f64,
    /// Rows with this label are out-of-scope examples, not a class.
    pub oos_label: Option<String>,
    /// After calibrating, train again on everything (the held-out part included).
    pub refit_on_all: bool,
    /// How much the sentence embedding weighs against the n-gram vector (both unit length),
    /// when the model is trained with an encoder.
    pub embedding_weight: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            ngram: NgramConfig::default(),
            options: TrainOptions::default(),
            validation_fraction: 0.1,
            oos_label: None,
            refit_on_all: true,
            embedding_weight: 1.0,
        }
    }
}

/// What training found out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    pub examples: usize,
    pub classes: usize,
    pub features: usize,
    /// Accuracy of the held-out part, before refitting on everything.
    pub validation_accuracy: f64,
    pub temperature: f32,
    pub threshold: f32,
    pub seconds: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// `None`: below the threshold (out of scope).
    pub label: Option<String>,
    /// Calibrated probability of the best class.
    pub confidence: f32,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    kind: String,
    labels: Vec<String>,
    oos_label: Option<String>,
    temperature: f32,
    threshold: f32,
    classes: usize,
    dims: usize,
    report: TrainReport,
    featurizer: NgramFeaturizer,
    /// The sentence encoder the model was trained with (`None`: n-grams only).
    #[serde(default)]
    encoder: Option<String>,
    #[serde(default)]
    embedding_weight: f32,
}

#[derive(Debug, Clone)]
pub struct CategoryModel {
    pub labels: Vec<String>,
    pub oos_label: Option<String>,
    pub temperature: f32,
    pub threshold: f32,
    pub report: TrainReport,
    featurizer: NgramFeaturizer,
    regression: SoftmaxRegression,
    encoder: Option<Arc<SentenceEncoder>>,
    embedding_weight: f32,
}

/// The n-gram vector, followed (when there is an embedding) by the weighted embedding.
fn join(mut ngrams: SparseVec, offset: usize, embedding: Option<&[f32]>, weight: f32) -> SparseVec {
    if let Some(e) = embedding {
        ngrams.extend(e.iter().enumerate().map(|(k, v)| ((offset + k) as u32, v * weight)));
    }
    ngrams
}

/// Embeddings in batches (the encoder is fastest on a few dozen texts at a time).
fn embed_all<S: AsRef<str>>(encoder: &SentenceEncoder, texts: &[S]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(32) {
        out.extend(encoder.encode(chunk)?);
    }
    Ok(out)
}

impl CategoryModel {
    /// An n-gram model.
    pub fn train<S: AsRef<str>>(texts: &[S], labels: &[S], config: &TrainConfig) -> Result<Self> {
        Self::train_with(texts, labels, config, None)
    }

    /// A model over n-grams and, with an encoder, sentence embeddings.
    pub fn train_with<S: AsRef<str>>(
        texts: &[S],
        labels: &[S],
        config: &TrainConfig,
        encoder: Option<Arc<SentenceEncoder>>,
    ) -> Result<Self> {
        let started = Instant::now();
        let embeddings = match &encoder {
            Some(e) => Some(embed_all(e, texts)?),
            None => None,
        };
        let weight = config.embedding_weight;
        let embedding_of = |i: usize| embeddings.as_ref().map(|e| e[i].as_slice());
        let extra = encoder.as_ref().map_or(0, |e| e.dims());
        if texts.len() != labels.len() {
            return Err(AiError::Data("one label per text".into()));
        }
        let oos = config.oos_label.as_deref();
        let mut classes: Vec<String> =
            labels.iter().map(|l| l.as_ref().to_string()).filter(|l| Some(l.as_str()) != oos).collect();
        classes.sort_unstable();
        classes.dedup();
        if classes.len() < 2 {
            return Err(AiError::Data(format!("need at least two in-scope labels, found {}", classes.len())));
        }
        let class_of = |label: &str| classes.binary_search_by(|c| c.as_str().cmp(label)).ok();

        // Hold out a share of each label (in-scope and out-of-scope alike).
        let mut by_label: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
        for (i, l) in labels.iter().enumerate() {
            by_label.entry(l.as_ref()).or_default().push(i);
        }
        let mut rng = Rng::new(config.options.seed ^ 0x5eed);
        let (mut train, mut held) = (Vec::new(), Vec::new());
        for rows in by_label.values_mut() {
            rng.shuffle(rows);
            let n_held = ((rows.len() as f64) * config.validation_fraction).round() as usize;
            let n_held = n_held.min(rows.len().saturating_sub(1));
            held.extend_from_slice(&rows[..n_held]);
            train.extend_from_slice(&rows[n_held..]);
        }
        train.sort_unstable();
        held.sort_unstable();

        let fit = |rows: &[usize]| {
            let in_scope: Vec<usize> =
                rows.iter().copied().filter(|&i| class_of(labels[i].as_ref()).is_some()).collect();
            let texts_in: Vec<&str> = in_scope.iter().map(|&i| texts[i].as_ref()).collect();
            let featurizer = NgramFeaturizer::fit(config.ngram.clone(), &texts_in);
            let xs: Vec<SparseVec> = in_scope
                .iter()
                .map(|&i| join(featurizer.transform(texts[i].as_ref()), featurizer.dims(), embedding_of(i), weight))
                .collect();
            let ys: Vec<usize> = in_scope.iter().map(|&i| class_of(labels[i].as_ref()).unwrap()).collect();
            let dims = featurizer.dims() + extra;
            let regression = SoftmaxRegression::train(&xs, &ys, classes.len(), dims, config.options);
            (featurizer, regression)
        };
        let (featurizer, regression) = fit(&train);

        // Calibration and threshold on the held-out rows.
        let logits: Vec<Vec<f32>> = held
            .iter()
            .map(|&i| {
                regression.logits(&join(
                    featurizer.transform(texts[i].as_ref()),
                    featurizer.dims(),
                    embedding_of(i),
                    weight,
                ))
            })
            .collect();
        let truth: Vec<Option<usize>> = held.iter().map(|&i| class_of(labels[i].as_ref())).collect();
        let temperature = fit_temperature(&logits, &truth);
        let scored: Vec<(usize, f32)> = logits.iter().map(|l| best(l, temperature)).collect();
        let in_scope: Vec<bool> = truth.iter().map(Option::is_some).collect();
        let validation_accuracy = {
            let hits = scored.iter().zip(&truth).filter(|((c, _), t)| Some(*c) == **t).count();
            let n = truth.iter().filter(|t| t.is_some()).count();
            if n == 0 {
                0.0
            } else {
                hits as f64 / n as f64
            }
        };
        let threshold = if in_scope.iter().any(|s| !s) { fit_threshold(&scored, &truth) } else { 0.0 };

        let (featurizer, regression) =
            if config.refit_on_all { fit(&(0..texts.len()).collect::<Vec<_>>()) } else { (featurizer, regression) };
        let report = TrainReport {
            examples: texts.len(),
            classes: classes.len(),
            features: featurizer.dims(),
            validation_accuracy,
            temperature,
            threshold,
            seconds: started.elapsed().as_secs_f64(),
        };
        Ok(Self {
            labels: classes,
            oos_label: config.oos_label.clone(),
            temperature,
            threshold,
            report,
            featurizer,
            regression,
            encoder,
            embedding_weight: weight,
        })
    }

    /// Whether the model needs the sentence encoder.
    pub fn uses_encoder(&self) -> bool {
        self.encoder.is_some()
    }

    pub fn predict(&self, text: &str) -> Result<Prediction> {
        Ok(self.predict_batch(&[text])?.remove(0))
    }

    /// Predictions for many texts (embedded in batches).
    pub fn predict_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Prediction>> {
        let embeddings = match &self.encoder {
            Some(e) => Some(embed_all(e, texts)?),
            None => None,
        };
        Ok(texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let x = join(
                    self.featurizer.transform(text.as_ref()),
                    self.featurizer.dims(),
                    embeddings.as_ref().map(|e| e[i].as_slice()),
                    self.embedding_weight,
                );
                let (class, confidence) = best(&self.regression.logits(&x), self.temperature);
                let label = (confidence >= self.threshold).then(|| self.labels[class].clone());
                Prediction { label, confidence }
            })
            .collect())
    }

    /// The calibrated probability of each label (in `labels` order), for an n-gram model.
    pub fn probabilities(&self, text: &str) -> Result<Vec<f32>> {
        if self.encoder.is_some() {
            return Err(AiError::Data("probabilities() is for n-gram models".into()));
        }
        let mut p: Vec<f32> =
            self.regression.logits(&self.featurizer.transform(text)).iter().map(|l| l / self.temperature).collect();
        softmax_in_place(&mut p);
        Ok(p)
    }

    /// The label to write for a prediction: the class, or the out-of-scope label when rejected.
    pub fn label_of(&self, prediction: &Prediction) -> String {
        prediction.label.clone().unwrap_or_else(|| self.oos_label.clone().unwrap_or_else(|| UNKNOWN.to_string()))
    }

    /// The model's two files, `model.json` and `weights.bin`, as bytes (what S3 stores).
    pub fn to_files(&self) -> Result<[(&'static str, Vec<u8>); 2]> {
        let header = Header {
            format: FORMAT,
            kind: "ngram-logreg".into(),
            labels: self.labels.clone(),
            oos_label: self.oos_label.clone(),
            temperature: self.temperature,
            threshold: self.threshold,
            classes: self.regression.classes,
            dims: self.regression.dims,
            report: self.report.clone(),
            featurizer: self.featurizer.clone(),
            encoder: self.encoder.as_ref().map(|_| MODEL_NAME.to_string()),
            embedding_weight: self.embedding_weight,
        };
        Ok([("model.json", serde_json::to_vec(&header)?), ("weights.bin", self.regression.to_bytes())])
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        for (name, bytes) in self.to_files()? {
            std::fs::write(dir.join(name), bytes)?;
        }
        Ok(())
    }

    /// Whether the model in `dir` was trained with the sentence encoder (so loading it needs one).
    pub fn needs_encoder(dir: &Path) -> Result<bool> {
        #[derive(Deserialize)]
        struct Peek {
            #[serde(default)]
            encoder: Option<String>,
        }
        let peek: Peek = serde_json::from_slice(&std::fs::read(dir.join("model.json"))?)?;
        Ok(peek.encoder.is_some())
    }

    /// Loads a model; one trained with the sentence encoder needs it passed in (loaded once per
    /// process and shared by every model).
    pub fn load(dir: &Path, encoder: Option<Arc<SentenceEncoder>>) -> Result<Self> {
        Self::from_parts(&std::fs::read(dir.join("model.json"))?, &std::fs::read(dir.join("weights.bin"))?, encoder)
    }

    /// An n-gram model from its two files' bytes (a model shipped inside the binary).
    pub fn from_bytes(model_json: &[u8], weights: &[u8]) -> Result<Self> {
        Self::from_parts(model_json, weights, None)
    }

    /// A model from the bytes of its two files; one trained with the sentence encoder needs it.
    pub fn from_parts(model_json: &[u8], weights: &[u8], encoder: Option<Arc<SentenceEncoder>>) -> Result<Self> {
        let header: Header = serde_json::from_slice(model_json)?;
        let encoder = match (&header.encoder, encoder) {
            (None, _) => None,
            (Some(name), Some(e)) if name == MODEL_NAME => Some(e),
            (Some(name), _) => return Err(AiError::Data(format!("this model needs the sentence encoder {name}"))),
        };
        if header.format != FORMAT || header.kind != "ngram-logreg" {
            return Err(AiError::Data(format!("unsupported model: {} format {}", header.kind, header.format)));
        }
        let regression = SoftmaxRegression::from_bytes(header.classes, header.dims, weights)
            .ok_or_else(|| AiError::Data("weights.bin does not match model.json".into()))?;
        let extra = encoder.as_ref().map_or(0, |e| e.dims());
        if header.labels.len() != header.classes || header.featurizer.dims() + extra != header.dims {
            return Err(AiError::Data("model.json is inconsistent".into()));
        }
        Ok(Self {
            labels: header.labels,
            oos_label: header.oos_label,
            temperature: header.temperature,
            threshold: header.threshold,
            report: header.report,
            featurizer: header.featurizer,
            regression,
            encoder,
            embedding_weight: header.embedding_weight,
        })
    }
}

/// The best class and its probability at a temperature.
fn best(logits: &[f32], temperature: f32) -> (usize, f32) {
    let mut p: Vec<f32> = logits.iter().map(|l| l / temperature).collect();
    softmax_in_place(&mut p);
    p.iter().enumerate().fold((0, 0.0), |(bi, bp), (i, &q)| if q > bp { (i, q) } else { (bi, bp) })
}

/// The temperature that minimises the held-out negative log-likelihood (in-scope rows).
fn fit_temperature(logits: &[Vec<f32>], truth: &[Option<usize>]) -> f32 {
    let nll = |t: f32| {
        let mut total = 0.0f64;
        for (l, y) in logits.iter().zip(truth) {
            let Some(y) = y else { continue };
            let mut p: Vec<f32> = l.iter().map(|x| x / t).collect();
            softmax_in_place(&mut p);
            total -= (p[*y].max(1e-12) as f64).ln();
        }
        total
    };
    let mut best_t = 1.0;
    let mut best_nll = f64::INFINITY;
    for step in 1..=100 {
        let t = step as f32 * 0.05;
        let v = nll(t);
        if v < best_nll {
            (best_t, best_nll) = (t, v);
        }
    }
    best_t
}

/// The confidence below which a text is out of scope: the one that best balances in-scope
/// accuracy (a rejected in-scope text counts as wrong) and out-of-scope recall.
fn fit_threshold(scored: &[(usize, f32)], truth: &[Option<usize>]) -> f32 {
    let n_in = truth.iter().filter(|t| t.is_some()).count().max(1) as f64;
    let n_out = truth.iter().filter(|t| t.is_none()).count().max(1) as f64;
    let mut best = (0.0f32, f64::NEG_INFINITY);
    for step in 0..=100 {
        let th = step as f32 / 100.0;
        let mut in_ok = 0.0;
        let mut out_ok = 0.0;
        for ((class, p), t) in scored.iter().zip(truth) {
            match t {
                Some(y) if *p >= th && class == y => in_ok += 1.0,
                None if *p < th => out_ok += 1.0,
                _ => {}
            }
        }
        let balanced = (in_ok / n_in + out_ok / n_out) / 2.0;
        if balanced > best.1 {
            best = (th, balanced);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Vec<String>, Vec<String>) {
        let mut texts = Vec::new();
        let mut labels = Vec::new();
        let samples = [
            ("refund", ["I want my money back", "please refund my order", "refund the charge", "give me a refund now"]),
            ("delivery", ["where is my parcel", "my package has not arrived", "delivery is late", "track my shipment"]),
            ("account", ["I cannot log in", "reset my password", "my account is locked", "change my login email"]),
            ("oos", ["what is the weather", "tell me a joke", "who won the match", "best pizza in town"]),
        ];
        for _ in 0..5 {
            for (label, texts_of) in samples {
                for t in texts_of {
                    texts.push(t.to_string());
                    labels.push(label.to_string());
                }
            }
        }
        (texts, labels)
    }

    #[test]
    fn trains_predicts_rejects_and_round_trips() {
        let (texts, labels) = toy();
        let config = TrainConfig { oos_label: Some("oos".into()), ..TrainConfig::default() };
        let model = CategoryModel::train(&texts, &labels, &config).unwrap();
        assert_eq!(model.labels, ["account", "delivery", "refund"]);
        assert_eq!(model.predict("please refund me").unwrap().label.as_deref(), Some("refund"));
        assert_eq!(model.predict("my parcel has not arrived yet").unwrap().label.as_deref(), Some("delivery"));
        let p = model.predict("password reset please").unwrap();
        assert_eq!(p.label.as_deref(), Some("account"));
        assert!(p.confidence > 0.0 && p.confidence <= 1.0);

        let dir = std::env::temp_dir().join(format!("helpdesk-ai-test-{}", std::process::id()));
        model.save(&dir).unwrap();
        let back = CategoryModel::load(&dir, None).unwrap();
        for t in ["refund the charge", "tell me a joke", "where is my parcel"] {
            assert_eq!(back.predict(t).unwrap(), model.predict(t).unwrap(), "{t}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_data_it_cannot_learn_from() {
        let one = vec!["a".to_string(), "b".to_string()];
        assert!(CategoryModel::train(&one, &["x".to_string(), "x".to_string()], &TrainConfig::default()).is_err());
        assert!(CategoryModel::train(&one, &["x".to_string()], &TrainConfig::default()).is_err());
    }
}
