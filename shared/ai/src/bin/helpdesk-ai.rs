//! `helpdesk-ai`: train, apply and measure the local AI engine's models from CSV files.
//! `helpdesk-ai --help` lists the commands, `helpdesk-ai <command> --help` each one's options.
//!
//! `eval`'s last line is its figures as JSON. `train` joins sentence embeddings to the n-grams
//! when the encoder's files are found (`--encoder DIR`, else `$HELPDESK_MODELS/all-MiniLM-L6-v2`,
//! else `.local/models/all-MiniLM-L6-v2`); `--no-encoder` trains the n-gram model alone.

use anyhow::{anyhow, Context, Result};
use clap::{Args, Parser, Subcommand};
use helpdesk_ai::category::TrainConfig;
use helpdesk_ai::encoder::{SentenceEncoder, MODEL_NAME};
use helpdesk_ai::{metrics, CategoryModel, Dataset};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "helpdesk-ai",
    version,
    about = "Train, apply and measure the local AI engine's models from CSV files"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a category model on a labelled CSV and write it to a directory.
    Train {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        columns: Columns,
        #[command(flatten)]
        labels: Labels,
        #[command(flatten)]
        encoder: Encoder,
        /// Train the n-gram model alone, even when the encoder's files are there.
        #[arg(long, conflicts_with = "encoder")]
        no_encoder: bool,
        #[command(flatten)]
        tuning: Tuning,
    },
    /// Predict a label per row: CSV `label,confidence` on stdout.
    Predict {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        encoder: Encoder,
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        columns: Columns,
    },
    /// Per-class precision, recall and F1, accuracy, and the figures as JSON on the last line.
    Eval {
        #[arg(long)]
        model: PathBuf,
        #[command(flatten)]
        encoder: Encoder,
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        columns: Columns,
        #[command(flatten)]
        labels: Labels,
    },
    /// Detect each row's language: CSV `language,confidence` on stdout.
    Language {
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        columns: Columns,
        /// ISO 639-3 codes, comma-separated (every compiled-in language by default).
        #[arg(long, value_delimiter = ',')]
        languages: Option<Vec<String>>,
    },
    /// Language detection's accuracy on `id<TAB>lang<TAB>text` lines (Tatoeba's format).
    LanguageEval {
        #[arg(long)]
        data: PathBuf,
        /// ISO 639-3 codes, comma-separated (every compiled-in language by default).
        #[arg(long, value_delimiter = ',')]
        languages: Option<Vec<String>>,
    },
    /// Each row's sentiment: CSV `label,score` on stdout.
    Sentiment {
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        columns: Columns,
    },
    /// Cross-validate the sentiment model on the UCI sentences.
    SentimentEval {
        #[arg(long, default_value = "../shared/data")]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
    },
    /// Train the shipped sentiment model.
    SentimentTrain {
        #[arg(long, default_value = "../shared/data")]
        data_dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The default categories' zero-shot accuracy on Bitext's requests.
    ZeroShotEval {
        #[arg(long, default_value = "../shared/data/bitext/customer_support.csv")]
        data: PathBuf,
        #[command(flatten)]
        encoder: Encoder,
    },
    /// Personal-data detection's recall and precision on generated snippets.
    PiiEval {
        #[arg(long, default_value_t = 2000)]
        n: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args)]
struct Columns {
    /// The CSV column holding the text.
    #[arg(long, default_value = "text")]
    text_col: String,
}

#[derive(Args)]
struct Labels {
    /// The CSV column holding the label.
    #[arg(long, default_value = "label")]
    label_col: String,
    /// The label that means "none of the categories".
    #[arg(long)]
    oos_label: Option<String>,
}

#[derive(Args)]
struct Encoder {
    /// The sentence encoder's directory (default: $HELPDESK_MODELS/all-MiniLM-L6-v2, else
    /// .local/models/all-MiniLM-L6-v2).
    #[arg(long)]
    encoder: Option<PathBuf>,
}

impl Encoder {
    /// The sentence encoder, if its files are there.
    fn load(&self) -> Result<Option<Arc<SentenceEncoder>>> {
        let dir = self.encoder.clone().unwrap_or_else(|| {
            std::env::var("HELPDESK_MODELS")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from(".local/models"))
                .join(MODEL_NAME)
        });
        if !dir.join("model.safetensors").exists() {
            return Ok(None);
        }
        Ok(Some(Arc::new(SentenceEncoder::load(&dir)?)))
    }
}

/// Training's knobs (the defaults are what the figures in the docs use).
#[derive(Args)]
struct Tuning {
    /// Passes over the training set.
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    learning_rate: Option<f32>,
    /// L2 regularisation strength.
    #[arg(long)]
    l2: Option<f32>,
    /// The fewest examples an n-gram must appear in to be a feature.
    #[arg(long)]
    min_df: Option<u32>,
    /// The most word n-gram features kept.
    #[arg(long)]
    word_max: Option<usize>,
    /// The most character n-gram features kept.
    #[arg(long)]
    char_max: Option<usize>,
    /// How much the sentence embedding weighs against the n-grams.
    #[arg(long)]
    embedding_weight: Option<f32>,
}

impl Tuning {
    fn apply(&self, config: &mut TrainConfig) {
        let o = &mut config.options;
        o.epochs = self.epochs.unwrap_or(o.epochs);
        o.learning_rate = self.learning_rate.unwrap_or(o.learning_rate);
        o.l2 = self.l2.unwrap_or(o.l2);
        let n = &mut config.ngram;
        n.min_df = self.min_df.unwrap_or(n.min_df);
        n.word_max = self.word_max.unwrap_or(n.word_max);
        n.char_max = self.char_max.unwrap_or(n.char_max);
        config.embedding_weight = self.embedding_weight.unwrap_or(config.embedding_weight);
    }
}

/// A saved model, with the encoder when it needs one.
fn load_model(dir: &Path, encoder: &Encoder) -> Result<CategoryModel> {
    let encoder = if CategoryModel::needs_encoder(dir).with_context(|| format!("the model in {}", dir.display()))? {
        Some(encoder.load()?.ok_or_else(|| anyhow!("this model needs the sentence encoder: --encoder DIR"))?)
    } else {
        None
    };
    CategoryModel::load(dir, encoder).with_context(|| format!("the model in {}", dir.display()))
}

/// (text, label) rows.
type Labelled = Vec<(String, String)>;

/// The UCI sentences and Bitext's neutral requests under a data directory.
fn sentiment_data(dir: &Path) -> Result<(Labelled, Labelled)> {
    let uci = helpdesk_ai::sentiment::read_uci(&dir.join("uci_sentiment"))?;
    let neutral = helpdesk_ai::sentiment::read_neutral(&dir.join("bitext/customer_support.csv"))?;
    Ok((uci, neutral))
}

/// A CSV file's rows: `text_col`, and `label_col` when given. Errors name the file.
fn read_csv(path: &Path, text_col: &str, label_col: Option<&str>) -> Result<Dataset> {
    Dataset::from_csv(path, text_col, label_col).with_context(|| format!("reading {}", path.display()))
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

/// The detector over the given languages (ISO 639-3), or every compiled-in language.
fn language_detector(languages: &Option<Vec<String>>) -> Result<helpdesk_ai::language::Detector> {
    Ok(match languages {
        Some(list) => helpdesk_ai::language::Detector::new(&list.iter().map(String::as_str).collect::<Vec<_>>())?,
        None => helpdesk_ai::language::Detector::all_supported(),
    })
}

/// Usage errors are clap's (exit 2); a failure is one line on stderr and exit 1, never a
/// backtrace, whatever `RUST_BACKTRACE` says.
fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("helpdesk-ai: {}", helpdesk_domain::error::describe(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train { data, out, columns, labels, encoder, no_encoder, tuning } => {
            let data = read_csv(&data, &columns.text_col, Some(&labels.label_col))?;
            let truth = data.labels.unwrap_or_default();
            let mut config = TrainConfig { oos_label: labels.oos_label, ..TrainConfig::default() };
            tuning.apply(&mut config);
            let encoder = if no_encoder { None } else { encoder.load()? };
            if encoder.is_none() && !no_encoder {
                eprintln!("no sentence encoder found (python local/models.py fetch): training the n-gram model alone");
            }
            let model = CategoryModel::train_with(&data.texts, &truth, &config, encoder)?;
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
        Command::Predict { model, encoder, data, columns } => {
            let model = load_model(&model, &encoder)?;
            let data = read_csv(&data, &columns.text_col, None)?;
            let rows = model.predict_batch(&data.texts)?.into_iter().map(|p| (model.label_of(&p), p.confidence));
            write_csv(["label", "confidence"], rows)?;
        }
        Command::Eval { model, encoder, data, columns, labels } => {
            let model = load_model(&model, &encoder)?;
            let data = read_csv(&data, &columns.text_col, Some(&labels.label_col))?;
            let truth = data.labels.unwrap_or_default();
            let started = Instant::now();
            let predicted: Vec<String> = model.predict_batch(&data.texts)?.iter().map(|p| model.label_of(p)).collect();
            let seconds = started.elapsed().as_secs_f64();
            let e = metrics::evaluate(&truth, &predicted, labels.oos_label.as_deref(), seconds);
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
        Command::Language { data, columns, languages } => {
            let detector = language_detector(&languages)?;
            let data = read_csv(&data, &columns.text_col, None)?;
            let rows = data.texts.iter().map(|t| {
                let (language, confidence) = detector.detect(t);
                (language, confidence as f32)
            });
            write_csv(["language", "confidence"], rows)?;
        }
        Command::LanguageEval { data: path, languages } => {
            let detector = language_detector(&languages)?;
            let supported: Vec<String> = match &languages {
                Some(list) => list.iter().map(|s| s.trim().to_string()).collect(),
                None => helpdesk_ai::language::SUPPORTED.iter().map(|s| s.to_string()).collect(),
            };
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
        Command::Sentiment { data, columns } => {
            let model = helpdesk_ai::sentiment::SentimentModel::shipped();
            let data = read_csv(&data, &columns.text_col, None)?;
            let rows = data.texts.iter().map(|t| {
                let s = model.analyse(t);
                (s.label.as_str().to_string(), s.score)
            });
            write_csv(["label", "score"], rows)?;
        }
        Command::SentimentTrain { data_dir, out } => {
            let (uci, neutral) = sentiment_data(&data_dir)?;
            let rows: Vec<(String, String)> = uci.iter().chain(&neutral).cloned().collect();
            helpdesk_ai::sentiment::train(&rows)?.save(&out)?;
            eprintln!("trained on {} sentences ({} neutral); written to {}", rows.len(), neutral.len(), out.display());
        }
        Command::SentimentEval { data_dir, folds } => {
            let (uci, neutral) = sentiment_data(&data_dir)?;
            let accuracy = helpdesk_ai::sentiment::cross_validate(&uci, &neutral, folds)?;
            println!("{folds}-fold cross-validated polarity accuracy on {} UCI sentences: {accuracy:.4}", uci.len());
            println!("{}", serde_json::json!({"sentences": uci.len(), "folds": folds, "accuracy": accuracy}));
        }
        Command::ZeroShotEval { data: path, encoder } => {
            let encoder =
                encoder.load()?.ok_or_else(|| anyhow!("zero-shot needs the sentence encoder: --encoder DIR"))?;
            let zero_shot = helpdesk_ai::defaults::ZeroShot::new(encoder)?;
            let data = read_csv(&path, "instruction", Some("category"))?;
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
        Command::PiiEval { n, seed } => {
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
    }
    Ok(())
}
