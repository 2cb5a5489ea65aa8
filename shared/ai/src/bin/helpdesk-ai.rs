//! `helpdesk-ai`: train, apply and measure the local AI engine's models from CSV files.
//!
//!     helpdesk-ai train   --data F.csv --out DIR [--text-col text] [--label-col label] [--oos-label L]
//!     helpdesk-ai predict --model DIR --data F.csv [--text-col text]          (CSV label,confidence)
//!     helpdesk-ai eval    --model DIR --data F.csv [--text-col text] [--label-col label] [--oos-label L]
//!
//! `eval`'s last line is its figures as JSON. `train` joins sentence embeddings to the n-grams
//! when the encoder's files are found (`--encoder DIR`, else `$HELPDESK_MODELS/all-MiniLM-L6-v2`,
//! else `.local/models/all-MiniLM-L6-v2`); `--no-encoder` trains the n-gram model alone.

use anyhow::{anyhow, bail, Context, Result};
use helpdesk_ai::category::TrainConfig;
use helpdesk_ai::encoder::{SentenceEncoder, MODEL_NAME};
use helpdesk_ai::{metrics, CategoryModel, Dataset};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const USAGE: &str = "usage:
  helpdesk-ai train   --data F.csv --out DIR [--text-col text] [--label-col label] [--oos-label L]
                      [--encoder DIR | --no-encoder]
  helpdesk-ai predict --model DIR --data F.csv [--text-col text]
  helpdesk-ai eval    --model DIR --data F.csv [--text-col text] [--label-col label] [--oos-label L]
  helpdesk-ai language --data F.csv [--text-col text] [--languages eng,spa,…]   (CSV language,confidence)
  helpdesk-ai language-eval --data tatoeba.tsv [--languages eng,spa,…]          (id<TAB>lang<TAB>text lines)
  helpdesk-ai sentiment --data F.csv [--text-col text]                          (CSV label,score)
  helpdesk-ai sentiment-eval [--data-dir ../shared/data] [--folds 5]
  helpdesk-ai sentiment-train [--data-dir ../shared/data] --out DIR
  helpdesk-ai zero-shot-eval [--data ../shared/data/bitext/customer_support.csv]
  helpdesk-ai pii-eval [--n 2000] [--seed 1]";

struct Args(Vec<String>);

impl Args {
    fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    /// Where the sentence encoder's files are, if they are there.
    fn encoder_dir(&self) -> Option<PathBuf> {
        let dir = self.get("--encoder").map(PathBuf::from).unwrap_or_else(|| {
            std::env::var("HELPDESK_MODELS")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(".local/models"))
                .join(MODEL_NAME)
        });
        dir.join("model.safetensors").exists().then_some(dir)
    }

    fn encoder(&self) -> Result<Option<Arc<SentenceEncoder>>> {
        match self.encoder_dir() {
            Some(dir) => Ok(Some(Arc::new(SentenceEncoder::load(&dir)?))),
            None => Ok(None),
        }
    }

    /// The model of `--model`, with the encoder when it needs one.
    fn model(&self) -> Result<CategoryModel> {
        let dir = self.path("--model")?;
        let encoder = if CategoryModel::needs_encoder(&dir)? {
            Some(self.encoder()?.ok_or_else(|| anyhow!("this model needs the sentence encoder: --encoder DIR"))?)
        } else {
            None
        };
        Ok(CategoryModel::load(&dir, encoder)?)
    }

    fn get(&self, name: &str) -> Option<String> {
        self.0.iter().position(|a| a == name).and_then(|i| self.0.get(i + 1)).cloned()
    }

    fn need(&self, name: &str) -> Result<String> {
        self.get(name).ok_or_else(|| anyhow!("{name} is required\n{USAGE}"))
    }

    fn path(&self, name: &str) -> Result<PathBuf> {
        self.need(name).map(PathBuf::from)
    }
}

/// Writes `label,value` rows to stdout as CSV, one per input row, in order.
fn write_csv(header: [&str; 2], rows: impl Iterator<Item = (String, f32)>) -> Result<()> {
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record(header)?;
    for (label, value) in rows {
        out.write_record([label, format!("{value:.4}")])?;
    }
    out.flush()?;
    Ok(())
}

/// The detector over `--languages` (ISO 639-3, comma-separated), or every compiled-in language.
fn language_detector(args: &Args) -> Result<helpdesk_ai::language::Detector> {
    Ok(match args.get("--languages") {
        Some(list) => helpdesk_ai::language::Detector::new(&list.split(',').collect::<Vec<_>>())?,
        None => helpdesk_ai::language::Detector::all_supported(),
    })
}

fn main() -> Result<()> {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let command = all.first().cloned().unwrap_or_default();
    let args = Args(all);
    let text_col = args.get("--text-col").unwrap_or_else(|| "text".into());
    let label_col = args.get("--label-col").unwrap_or_else(|| "label".into());
    match command.as_str() {
        "train" => {
            let data = Dataset::from_csv(&args.path("--data")?, &text_col, Some(&label_col))?;
            let labels = data.labels.unwrap_or_default();
            let mut config = TrainConfig { oos_label: args.get("--oos-label"), ..TrainConfig::default() };
            // Tuning knobs (the defaults are what the figures in the docs use).
            let number = |name: &str| args.get(name).map(|v| v.parse::<f64>()).transpose();
            if let Some(v) = number("--epochs")? {
                config.options.epochs = v as usize;
            }
            if let Some(v) = number("--learning-rate")? {
                config.options.learning_rate = v as f32;
            }
            if let Some(v) = number("--l2")? {
                config.options.l2 = v as f32;
            }
            if let Some(v) = number("--min-df")? {
                config.ngram.min_df = v as u32;
            }
            if let Some(v) = number("--word-max")? {
                config.ngram.word_max = v as usize;
            }
            if let Some(v) = number("--char-max")? {
                config.ngram.char_max = v as usize;
            }
            let encoder = if args.flag("--no-encoder") { None } else { args.encoder()? };
            if encoder.is_none() && !args.flag("--no-encoder") {
                eprintln!("no sentence encoder found (python local/models.py fetch): training the n-gram model alone");
            }
            if let Some(v) = number("--embedding-weight")? {
                config.embedding_weight = v as f32;
            }
            let model = CategoryModel::train_with(&data.texts, &labels, &config, encoder)?;
            let out = args.path("--out")?;
            model.save(&out).with_context(|| format!("writing {}", out.display()))?;
            eprintln!(
                "trained {} classes on {} examples ({} features) in {:.1} s; held-out accuracy {:.4}, \
                 temperature {:.2}, threshold {:.2}; written to {}",
                model.report.classes,
                model.report.examples,
                model.report.features,
                model.report.seconds,
                model.report.validation_accuracy,
                model.temperature,
                model.threshold,
                out.display()
            );
        }
        "predict" => {
            let model = args.model()?;
            let data = Dataset::from_csv(&args.path("--data")?, &text_col, None)?;
            let rows = model.predict_batch(&data.texts)?.into_iter().map(|p| (model.label_of(&p), p.confidence));
            write_csv(["label", "confidence"], rows)?;
        }
        "eval" => {
            let model = args.model()?;
            let data = Dataset::from_csv(&args.path("--data")?, &text_col, Some(&label_col))?;
            let truth = data.labels.unwrap_or_default();
            let started = Instant::now();
            let predicted: Vec<String> = model.predict_batch(&data.texts)?.iter().map(|p| model.label_of(p)).collect();
            let seconds = started.elapsed().as_secs_f64();
            let oos = args.get("--oos-label");
            let e = metrics::evaluate(&truth, &predicted, oos.as_deref(), seconds);
            let mut out = std::io::stdout().lock();
            for c in &e.per_class {
                writeln!(
                    out,
                    "{:<48} precision {:.3}  recall {:.3}  f1 {:.3}  n {}",
                    c.label, c.precision, c.recall, c.f1, c.support
                )?;
            }
            writeln!(out, "examples            {}", e.examples)?;
            writeln!(out, "accuracy            {:.4}", e.accuracy)?;
            writeln!(out, "macro-F1            {:.4}", e.macro_f1)?;
            if let (Some(a), Some(r)) = (e.in_scope_accuracy, e.oos_recall) {
                writeln!(out, "in-scope accuracy   {a:.4}")?;
                writeln!(out, "out-of-scope recall {r:.4}")?;
            }
            writeln!(out, "messages per second {:.0}", e.messages_per_second)?;
            writeln!(out, "{}", serde_json::to_string(&e)?)?;
        }
        "language" => {
            let detector = language_detector(&args)?;
            let data = Dataset::from_csv(&args.path("--data")?, &text_col, None)?;
            let rows = data.texts.iter().map(|t| {
                let (language, confidence) = detector.detect(t);
                (language, confidence as f32)
            });
            write_csv(["language", "confidence"], rows)?;
        }
        "language-eval" => {
            let detector = language_detector(&args)?;
            let supported: Vec<String> = match args.get("--languages") {
                Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
                None => helpdesk_ai::language::SUPPORTED.iter().map(|s| s.to_string()).collect(),
            };
            let path = args.path("--data")?;
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let rows: Vec<(&str, &str)> = text
                .lines()
                .filter_map(|l| {
                    let mut parts = l.splitn(3, '\t');
                    let (_, lang, sentence) = (parts.next()?, parts.next()?, parts.next()?);
                    Some((lang, sentence))
                })
                .collect();
            let (scored, skipped): (Vec<_>, Vec<_>) = rows.iter().partition(|(l, _)| supported.iter().any(|s| s == l));
            let started = Instant::now();
            let predicted: Vec<String> = scored.iter().map(|(_, t)| detector.detect(t).0).collect();
            let seconds = started.elapsed().as_secs_f64();
            let truth: Vec<String> = scored.iter().map(|(l, _)| l.to_string()).collect();
            let e = metrics::evaluate(&truth, &predicted, None, seconds);
            let mut out = std::io::stdout().lock();
            for c in &e.per_class {
                writeln!(
                    out,
                    "{:<6} precision {:.3}  recall {:.3}  f1 {:.3}  n {}",
                    c.label, c.precision, c.recall, c.f1, c.support
                )?;
            }
            writeln!(
                out,
                "sentences           {} (skipped {} in languages the detector does not support)",
                e.examples,
                skipped.len()
            )?;
            writeln!(out, "accuracy            {:.4}", e.accuracy)?;
            writeln!(out, "sentences per second {:.0}", e.messages_per_second)?;
            writeln!(out, "{}", serde_json::to_string(&e)?)?;
        }
        "sentiment" => {
            let model = helpdesk_ai::sentiment::SentimentModel::shipped();
            let data = Dataset::from_csv(&args.path("--data")?, &text_col, None)?;
            let rows = data.texts.iter().map(|t| {
                let s = model.analyse(t);
                (s.label.as_str().to_string(), s.score)
            });
            write_csv(["label", "score"], rows)?;
        }
        "sentiment-eval" | "sentiment-train" => {
            let dir = args.get("--data-dir").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("../shared/data"));
            let uci = helpdesk_ai::sentiment::read_uci(&dir.join("uci_sentiment"))?;
            let neutral = helpdesk_ai::sentiment::read_neutral(&dir.join("bitext/customer_support.csv"))?;
            if command == "sentiment-train" {
                let out = args.path("--out")?;
                let rows: Vec<(String, String)> = uci.iter().chain(&neutral).cloned().collect();
                helpdesk_ai::sentiment::train(&rows)?.save(&out)?;
                eprintln!(
                    "trained on {} sentences ({} neutral); written to {}",
                    rows.len(),
                    neutral.len(),
                    out.display()
                );
            } else {
                let folds = args.get("--folds").map(|v| v.parse()).transpose()?.unwrap_or(5);
                let accuracy = helpdesk_ai::sentiment::cross_validate(&uci, &neutral, folds)?;
                println!(
                    "{folds}-fold cross-validated polarity accuracy on {} UCI sentences: {accuracy:.4}",
                    uci.len()
                );
                println!("{}", serde_json::json!({"sentences": uci.len(), "folds": folds, "accuracy": accuracy}));
            }
        }
        "zero-shot-eval" => {
            let encoder =
                args.encoder()?.ok_or_else(|| anyhow!("zero-shot needs the sentence encoder: --encoder DIR"))?;
            let zero_shot = helpdesk_ai::defaults::ZeroShot::new(encoder)?;
            let path = args
                .get("--data")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("../shared/data/bitext/customer_support.csv"));
            let data = Dataset::from_csv(&path, "instruction", Some("category"))?;
            let truth = data.labels.unwrap_or_default();
            let started = Instant::now();
            let predicted = zero_shot.classify(&data.texts)?;
            let seconds = started.elapsed().as_secs_f64();
            let mut by_category: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
            for (t, (p, _)) in truth.iter().zip(&predicted) {
                let entry = by_category.entry(t.as_str()).or_default();
                entry.1 += 1;
                if helpdesk_ai::defaults::bitext_mapping(t).contains(p) {
                    entry.0 += 1;
                }
            }
            let correct: usize = by_category.values().map(|v| v.0).sum();
            let mut out = std::io::stdout().lock();
            for (c, (ok, n)) in &by_category {
                writeln!(
                    out,
                    "{c:<18} {:.3}  ({ok}/{n}) → {:?}",
                    *ok as f64 / *n as f64,
                    helpdesk_ai::defaults::bitext_mapping(c)
                )?;
            }
            let accuracy = correct as f64 / truth.len().max(1) as f64;
            writeln!(
                out,
                "accuracy            {accuracy:.4} over {} requests, {:.0} per second",
                truth.len(),
                truth.len() as f64 / seconds
            )?;
            writeln!(out, "{}", serde_json::json!({"examples": truth.len(), "accuracy": accuracy}))?;
        }
        "pii-eval" => {
            let n = args.get("--n").map(|v| v.parse()).transpose()?.unwrap_or(2000);
            let seed = args.get("--seed").map(|v| v.parse()).transpose()?.unwrap_or(1);
            let snippets = helpdesk_ai::pii_eval::generate(n, seed);
            let started = Instant::now();
            let e = helpdesk_ai::pii_eval::evaluate(&snippets);
            let seconds = started.elapsed().as_secs_f64();
            let mut out = std::io::stdout().lock();
            for (kind, f) in &e.by_kind {
                writeln!(
                    out,
                    "{kind:<12} recall {:.4}  precision {:.4}  (expected {}, found {}, correct {})",
                    f.recall, f.precision, f.expected, f.found, f.correct
                )?;
            }
            writeln!(out, "snippets     {}", e.snippets)?;
            writeln!(out, "recall       {:.4}", e.recall)?;
            writeln!(out, "precision    {:.4}", e.precision)?;
            writeln!(out, "snippets per second {:.0}", n as f64 / seconds)?;
            writeln!(out, "{}", serde_json::to_string(&e)?)?;
        }
        _ => bail!("unknown command {command:?}\n{USAGE}"),
    }
    Ok(())
}
