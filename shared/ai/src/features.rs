//! Word and character n-gram features with TF-IDF weights, over a vocabulary learnt from the
//! training texts (sublinear term frequency, smoothed IDF, L2-normalised: what scikit-learn's
//! `TfidfVectorizer(sublinear_tf=True)` computes, word 1–3-grams joined with character 3–5-grams
//! taken inside word boundaries).

use crate::text::normalise;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A sparse vector: (feature index, value), sorted by index.
pub type SparseVec = Vec<(u32, f32)>;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NgramConfig {
    /// Word n-grams from 1 to this.
    pub word_max: usize,
    /// Character n-grams from `char_min` to `char_max` inside `<word>`; 0 turns them off.
    pub char_min: usize,
    pub char_max: usize,
    /// A gram must appear in at least this many training texts to be a feature.
    pub min_df: u32,
}

impl Default for NgramConfig {
    fn default() -> Self {
        Self { word_max: 3, char_min: 3, char_max: 5, min_df: 2 }
    }
}

/// Calls `emit` with every gram of a normalised text, in a reused buffer.
fn grams(config: &NgramConfig, normalised: &str, mut emit: impl FnMut(&str)) {
    let words: Vec<&str> = normalised.split(' ').filter(|w| !w.is_empty()).collect();
    let mut buf = String::with_capacity(64);
    for n in 1..=config.word_max {
        for window in words.windows(n) {
            buf.clear();
            buf.push_str("w:");
            for (i, w) in window.iter().enumerate() {
                if i > 0 {
                    buf.push(' ');
                }
                buf.push_str(w);
            }
            emit(&buf);
        }
    }
    if config.char_min == 0 {
        return;
    }
    let mut chars: Vec<char> = Vec::with_capacity(32);
    for w in &words {
        chars.clear();
        chars.push('<');
        chars.extend(w.chars());
        chars.push('>');
        for n in config.char_min..=config.char_max {
            if n > chars.len() {
                break;
            }
            for window in chars.windows(n) {
                buf.clear();
                buf.push_str("c:");
                buf.extend(window.iter());
                emit(&buf);
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NgramFeaturizer {
    pub config: NgramConfig,
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
}

impl NgramFeaturizer {
    /// Learns the vocabulary and IDF weights from training texts.
    pub fn fit<S: AsRef<str>>(config: NgramConfig, texts: &[S]) -> Self {
        let mut df: HashMap<String, u32> = HashMap::new();
        let mut seen: Vec<String> = Vec::new();
        for text in texts {
            seen.clear();
            grams(&config, &normalise(text.as_ref()), |g| seen.push(g.to_string()));
            seen.sort_unstable();
            seen.dedup();
            for g in seen.drain(..) {
                *df.entry(g).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(String, u32)> = df.into_iter().filter(|(_, n)| *n >= config.min_df).collect();
        // A stable order, so the same data gives the same model.
        kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let n = texts.len() as f32;
        let idf = kept.iter().map(|(_, d)| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0).collect();
        let vocabulary = kept.into_iter().enumerate().map(|(i, (g, _))| (g, i as u32)).collect();
        Self { config, vocabulary, idf }
    }

    pub fn dims(&self) -> usize {
        self.idf.len()
    }

    /// The text's TF-IDF vector (L2-normalised; empty when it has no known gram).
    pub fn transform(&self, text: &str) -> SparseVec {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        grams(&self.config, &normalise(text), |g| {
            if let Some(&i) = self.vocabulary.get(g) {
                *counts.entry(i).or_insert(0.0) += 1.0;
            }
        });
        let mut v: SparseVec = counts.into_iter().map(|(i, tf)| (i, (1.0 + tf.ln()) * self.idf[i as usize])).collect();
        v.sort_unstable_by_key(|(i, _)| *i);
        let norm = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|(_, x)| *x /= norm);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_word_and_character_grams() {
        let mut all = Vec::new();
        grams(&NgramConfig { word_max: 2, char_min: 3, char_max: 4, min_df: 1 }, "my card", |g| {
            all.push(g.to_string())
        });
        for g in ["w:my", "w:card", "w:my card", "c:<my", "c:my>", "c:<my>", "c:<ca", "c:ard>", "c:<car"] {
            assert!(all.contains(&g.to_string()), "{g} in {all:?}");
        }
    }

    #[test]
    fn vectors_are_unit_length_and_ignore_unknown_grams() {
        let f = NgramFeaturizer::fit(NgramConfig::default(), &["card lost", "card stolen", "lost card again"]);
        let v = f.transform("my card was lost");
        let norm: f32 = v.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(v.windows(2).all(|w| w[0].0 < w[1].0), "sorted by index");
        assert!(f.transform("zzz qqq").is_empty());
    }
}
