//! How good a classifier is: accuracy, macro-F1, per-class precision/recall/F1, and, when an
//! out-of-scope label is named, in-scope accuracy and out-of-scope recall.

use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassFigures {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub examples: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_scope_accuracy: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oos_recall: Option<f64>,
    pub messages_per_second: f64,
    pub per_class: Vec<ClassFigures>,
}

/// Compares predictions with the truth. Macro-F1 averages over the labels of the truth.
pub fn evaluate(truth: &[String], predicted: &[String], oos_label: Option<&str>, seconds: f64) -> Evaluation {
    assert_eq!(truth.len(), predicted.len(), "one prediction per example");
    let n = truth.len();
    let correct = truth.iter().zip(predicted).filter(|(t, p)| t == p).count();
    let mut tp: BTreeMap<&str, usize> = BTreeMap::new();
    let mut support: BTreeMap<&str, usize> = BTreeMap::new();
    let mut predicted_count: BTreeMap<&str, usize> = BTreeMap::new();
    for (t, p) in truth.iter().zip(predicted) {
        *support.entry(t).or_default() += 1;
        *predicted_count.entry(p).or_default() += 1;
        if t == p {
            *tp.entry(t).or_default() += 1;
        }
    }
    let per_class: Vec<ClassFigures> = support
        .iter()
        .map(|(label, &s)| {
            let hits = tp.get(label).copied().unwrap_or(0) as f64;
            let precision = match predicted_count.get(label) {
                Some(&p) if p > 0 => hits / p as f64,
                _ => 0.0,
            };
            let recall = hits / s as f64;
            let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
            ClassFigures { label: label.to_string(), precision, recall, f1, support: s }
        })
        .collect();
    let macro_f1 = per_class.iter().map(|c| c.f1).sum::<f64>() / per_class.len().max(1) as f64;
    let share = |rows: Vec<(&String, &String)>| {
        (!rows.is_empty()).then(|| rows.iter().filter(|(t, p)| t == p).count() as f64 / rows.len() as f64)
    };
    let (in_scope_accuracy, oos_recall) = match oos_label {
        Some(oos) => (
            share(truth.iter().zip(predicted).filter(|(t, _)| t.as_str() != oos).collect()),
            share(truth.iter().zip(predicted).filter(|(t, _)| t.as_str() == oos).collect()),
        ),
        None => (None, None),
    };
    Evaluation {
        examples: n,
        accuracy: if n == 0 { 0.0 } else { correct as f64 / n as f64 },
        macro_f1,
        in_scope_accuracy,
        oos_recall,
        messages_per_second: if seconds > 0.0 { n as f64 / seconds } else { 0.0 },
        per_class,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn figures_match_a_hand_computed_example() {
        let truth = strings(&["a", "a", "b", "b", "oos"]);
        let predicted = strings(&["a", "b", "b", "b", "a"]);
        let e = evaluate(&truth, &predicted, Some("oos"), 1.0);
        assert_eq!(e.accuracy, 0.6);
        let a = &e.per_class[0];
        assert_eq!((a.label.as_str(), a.precision, a.recall, a.support), ("a", 0.5, 0.5, 2));
        let b = &e.per_class[1];
        assert_eq!((b.precision, b.recall), (2.0 / 3.0, 1.0));
        assert_eq!(e.in_scope_accuracy, Some(0.75));
        assert_eq!(e.oos_recall, Some(0.0));
        assert_eq!(e.messages_per_second, 5.0);
    }
}
