//! An organisation's own category model, trained from its agents' verdicts (confirmations and
//! corrections).
//!
//! - Every model starts from the default categories' descriptions and example phrases, so it
//!   still knows the categories nobody has corrected yet, and adds the organisation's verdicts
//!   (new categories included).
//! - One verdict in [`HELDOUT_ONE_IN`] is held out, chosen by a hash of its id: the same
//!   verdicts stay held out run after run, so models trained on different days are compared on
//!   the same ground and a verdict never trains the model that is judged on it.
//! - The candidate is promoted only if it beats the current model (the previous version, or the
//!   defaults) on the held-out verdicts.

use crate::category::CategoryModel;
use crate::encoder::SentenceEncoder;
use crate::metrics::evaluate;
use crate::triage::{default_examples, Categorizer};
use crate::{Result, TrainConfig};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// One verdict in [`HELDOUT_ONE_IN`] is held out for evaluation.
pub const HELDOUT_ONE_IN: u64 = 5;
/// Fewer held-out verdicts than this say nothing about which model is better.
pub const MIN_HELDOUT: usize = 3;

/// One agent verdict: the text as the models read it (see [`crate::triage::model_text`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Stable across runs (the verdict's id): decides whether the example is held out.
    pub id: String,
    pub text: String,
    pub label: String,
}

/// FNV-1a of an id: where the id falls, the same every run.
fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Whether an example is held out by the hash rule: one in [`HELDOUT_ONE_IN`].
pub fn is_heldout(id: &str) -> bool {
    id_hash(id).is_multiple_of(HELDOUT_ONE_IN)
}

/// The held-out verdicts and the training ones. The hash rule decides; when it leaves fewer
/// than [`MIN_HELDOUT`] out (a small organisation can be unlucky), the training verdicts with
/// the smallest hashes join them, so a run is never skipped by chance and the choice stays the
/// same run after run.
pub fn split_heldout(verdicts: &[Example]) -> (Vec<&Example>, Vec<&Example>) {
    let (mut heldout, mut train): (Vec<&Example>, Vec<&Example>) = verdicts.iter().partition(|e| is_heldout(&e.id));
    if heldout.len() < MIN_HELDOUT {
        train.sort_by_key(|e| (id_hash(&e.id), e.id.clone()));
        let missing = (MIN_HELDOUT - heldout.len()).min(train.len());
        heldout.extend(train.drain(..missing));
    }
    (heldout, train)
}

/// What one training run found, stored with the model and its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    pub verdicts: usize,
    pub train_verdicts: usize,
    pub heldout_verdicts: usize,
    /// Default examples every model also learns from.
    pub seed_examples: usize,
    pub labels: Vec<String>,
    /// The candidate on the held-out verdicts.
    pub accuracy: f64,
    pub macro_f1: f64,
    /// The model it had to beat, on the same verdicts.
    pub current_model: String,
    pub current_accuracy: f64,
    pub promoted: bool,
    pub encoder: Option<String>,
    pub seconds: f64,
}

pub enum Outcome {
    /// Not enough verdicts to train, or to judge a model.
    Skipped(String),
    Trained {
        model: Box<CategoryModel>,
        report: TrainingReport,
    },
}

/// Trains a candidate from the verdicts and compares it with `current` (named `current_name`
/// in the report) on the held-out verdicts.
pub fn train_and_compare(
    verdicts: &[Example],
    current: &Categorizer,
    current_name: &str,
    encoder: Option<Arc<SentenceEncoder>>,
    min_verdicts: usize,
) -> Result<Outcome> {
    let started = Instant::now();
    if verdicts.len() < min_verdicts {
        return Ok(Outcome::Skipped(format!("{} verdicts; training needs at least {min_verdicts}", verdicts.len())));
    }
    let (heldout, train) = split_heldout(verdicts);
    if heldout.len() < MIN_HELDOUT {
        return Ok(Outcome::Skipped(format!(
            "{} held-out verdicts; judging a model needs at least {MIN_HELDOUT}",
            heldout.len()
        )));
    }

    let (mut texts, mut labels) = default_examples();
    let seed_examples = texts.len();
    texts.extend(train.iter().map(|e| e.text.clone()));
    labels.extend(train.iter().map(|e| e.label.clone()));
    let encoder_name = encoder.as_ref().map(|_| crate::encoder::MODEL_NAME.to_string());
    let model = CategoryModel::train_with(&texts, &labels, &TrainConfig::default(), encoder)?;
    let candidate = Categorizer::Model(Box::new(model));

    let truth: Vec<String> = heldout.iter().map(|e| e.label.clone()).collect();
    let heldout_texts: Vec<&str> = heldout.iter().map(|e| e.text.as_str()).collect();
    let judge = |c: &Categorizer| -> Result<crate::Evaluation> {
        let predicted: Vec<String> = c.categorize(&heldout_texts)?.into_iter().map(|(label, _)| label).collect();
        Ok(evaluate(&truth, &predicted, None, 0.0))
    };
    let mine = judge(&candidate)?;
    let theirs = judge(current)?;
    let Categorizer::Model(model) = candidate else { unreachable!("trained above") };
    let mut labels = model.labels.clone();
    labels.sort();
    let report = TrainingReport {
        verdicts: verdicts.len(),
        train_verdicts: train.len(),
        heldout_verdicts: heldout.len(),
        seed_examples,
        labels,
        accuracy: mine.accuracy,
        macro_f1: mine.macro_f1,
        current_model: current_name.to_string(),
        current_accuracy: theirs.accuracy,
        promoted: mine.accuracy > theirs.accuracy,
        encoder: encoder_name,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Outcome::Trained { model, report })
}

/// Where a version's files live in the bucket.
pub fn artifact_prefix(organization: &str, version: i32) -> String {
    format!("models/{organization}/category/v{version}/")
}

/// A version's files: the model's two, and `metrics.json` with the training report.
pub fn artifact_files(model: &CategoryModel, report: &TrainingReport) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let mut files = model.to_files()?.to_vec();
    files.push(("metrics.json", serde_json::to_vec_pretty(report)?));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verdicts of a shop whose agents use a category of their own ("warranty") and file
    /// delivery complaints under "delivery".
    fn verdicts() -> Vec<Example> {
        let warranty = [
            "my blender broke after two months, is it under warranty",
            "the warranty should cover this broken kettle",
            "warranty claim for a faulty toaster",
            "does the two year warranty cover the motor",
            "I need to make a warranty claim, the screen died",
            "is my vacuum cleaner still under warranty",
            "faulty product, I want the warranty repair",
            "warranty replacement for my broken headphones",
            "how do I claim the warranty on my coffee machine",
            "the fridge stopped cooling, warranty please",
        ];
        let delivery = [
            "my parcel has not arrived",
            "where is my delivery, it is late",
            "the courier never came",
            "tracking says delivered but nothing is here",
            "delivery is two weeks late",
            "the package was left at the wrong address",
            "when will my parcel be delivered",
            "the delivery driver did not ring",
            "my order is stuck in transit",
            "shipment has not moved for days",
        ];
        let mut out = Vec::new();
        for round in 0..3 {
            for (i, t) in warranty.iter().enumerate() {
                out.push(Example {
                    id: format!("w{round}-{i}"),
                    text: format!("{t} ({round})"),
                    label: "warranty".into(),
                });
            }
            for (i, t) in delivery.iter().enumerate() {
                out.push(Example {
                    id: format!("d{round}-{i}"),
                    text: format!("{t} ({round})"),
                    label: "delivery".into(),
                });
            }
        }
        out
    }

    #[test]
    fn the_heldout_split_is_stable_and_about_one_in_five() {
        let ids: Vec<String> = (0..5000).map(|i| format!("0190{i:08}-verdict")).collect();
        let held = ids.iter().filter(|id| is_heldout(id)).count();
        assert!((800..1200).contains(&held), "{held} of 5000");
        assert!(ids.iter().all(|id| is_heldout(id) == is_heldout(id)));
    }

    #[test]
    fn an_unlucky_split_is_topped_up_to_the_minimum_the_same_way_every_time() {
        let few: Vec<Example> = (0..40)
            .map(|i| format!("id-{i}"))
            .filter(|id| !is_heldout(id))
            .take(10)
            .map(|id| Example { id, text: "t".into(), label: "l".into() })
            .collect();
        let (heldout, train) = split_heldout(&few);
        assert_eq!((heldout.len(), train.len()), (MIN_HELDOUT, 7));
        let again = split_heldout(&few).0;
        assert_eq!(heldout.iter().map(|e| &e.id).collect::<Vec<_>>(), again.iter().map(|e| &e.id).collect::<Vec<_>>());
    }

    #[test]
    fn a_model_that_learns_the_new_category_beats_the_defaults_and_is_promoted() {
        let defaults = Categorizer::default_categories(None).unwrap();
        let Outcome::Trained { model, report } =
            train_and_compare(&verdicts(), &defaults, "default-ngram", None, 20).unwrap()
        else {
            panic!("should train")
        };
        assert!(report.promoted, "{report:?}");
        assert!(report.accuracy > report.current_accuracy);
        assert!(report.labels.contains(&"warranty".to_string()) && report.labels.contains(&"billing".to_string()));
        assert_eq!(report.train_verdicts + report.heldout_verdicts, 60);

        // A second candidate from the same verdicts is no better than the promoted one: kept out.
        let current = Categorizer::Model(model);
        let Outcome::Trained { report: again, .. } =
            train_and_compare(&verdicts(), &current, "tenant-category v1", None, 20).unwrap()
        else {
            panic!("should train")
        };
        assert!(!again.promoted, "{again:?}");
    }

    #[test]
    fn too_few_verdicts_are_a_skip_not_a_model() {
        let defaults = Categorizer::default_categories(None).unwrap();
        let few = &verdicts()[..10];
        assert!(matches!(train_and_compare(few, &defaults, "d", None, 20).unwrap(), Outcome::Skipped(_)));
    }

    #[test]
    fn artifacts_round_trip() {
        let defaults = Categorizer::default_categories(None).unwrap();
        let Outcome::Trained { model, report } = train_and_compare(&verdicts(), &defaults, "d", None, 20).unwrap()
        else {
            panic!("should train")
        };
        let files = artifact_files(&model, &report).unwrap();
        let file = |n: &str| files.iter().find(|(name, _)| *name == n).unwrap().1.clone();
        let loaded = CategoryModel::from_parts(&file("model.json"), &file("weights.bin"), None).unwrap();
        assert_eq!(loaded.labels, model.labels);
        let back: TrainingReport = serde_json::from_slice(&file("metrics.json")).unwrap();
        assert_eq!(back, report);
        assert_eq!(artifact_prefix("org-1", 7), "models/org-1/category/v7/");
    }
}
