//! `helpdesk-ai`: train, apply and measure the local AI engine's models from CSV files.
//!
//!     helpdesk-ai train   --data F.csv --out DIR [--text-col text] [--label-col label] [--oos-label L]
//!     helpdesk-ai predict --model DIR --data F.csv [--text-col text]          (CSV label,confidence)
//!     helpdesk-ai eval    --model DIR --data F.csv [--text-col text] [--label-col label] [--oos-label L]
//!
//! `eval`'s last line is its figures as JSON.

use anyhow::{anyhow, bail, Context, Result};
use helpdesk_ai::category::TrainConfig;
use helpdesk_ai::{metrics, CategoryModel, Dataset};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

const USAGE: &str = "usage:
  helpdesk-ai train   --data F.csv --out DIR [--text-col text] [--label-col label] [--oos-label L]
  helpdesk-ai predict --model DIR --data F.csv [--text-col text]
  helpdesk-ai eval    --model DIR --data F.csv [--text-col text] [--label-col label] [--oos-label L]";

struct Args(Vec<String>);

impl Args {
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
            let model = CategoryModel::train(&data.texts, &labels, &config)?;
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
            let model = CategoryModel::load(&args.path("--model")?)?;
            let data = Dataset::from_csv(&args.path("--data")?, &text_col, None)?;
            let stdout = std::io::stdout();
            let mut out = csv::Writer::from_writer(stdout.lock());
            out.write_record(["label", "confidence"])?;
            for text in &data.texts {
                let p = model.predict(text);
                out.write_record([model.label_of(&p), format!("{:.4}", p.confidence)])?;
            }
            out.flush()?;
        }
        "eval" => {
            let model = CategoryModel::load(&args.path("--model")?)?;
            let data = Dataset::from_csv(&args.path("--data")?, &text_col, Some(&label_col))?;
            let truth = data.labels.unwrap_or_default();
            let started = Instant::now();
            let predicted: Vec<String> = data.texts.iter().map(|t| model.label_of(&model.predict(t))).collect();
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
        _ => bail!("unknown command {command:?}\n{USAGE}"),
    }
    Ok(())
}
