//! Language detection with `lingua`, restricted to the languages the support team works in, so
//! that it chooses among them (and is faster). Codes are ISO 639-3; `und` when the text is too
//! short to tell or matches none of them.

use crate::{AiError, Result};
use lingua::{IsoCode639_3, Language, LanguageDetector, LanguageDetectorBuilder};
use std::str::FromStr;

/// The languages compiled in; a deployment may choose a subset.
pub const SUPPORTED: &[&str] = &["eng", "spa", "fra", "deu", "por", "ita", "nld", "cat", "jpn", "cmn", "kor"];
/// Undetermined (ISO 639-3).
pub const UNDETERMINED: &str = "und";
/// Fewer letters than this and the answer is `und`: two words of a language are often words of
/// another too.
pub const MIN_LETTERS: usize = 3;

pub struct Detector {
    detector: LanguageDetector,
}

impl std::fmt::Debug for Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("language::Detector(..)")
    }
}

/// lingua names Chinese `zho`; support teams (and Tatoeba) say `cmn` for Mandarin.
fn code_of(language: Language) -> String {
    match language.iso_code_639_3().to_string().as_str() {
        "zho" => "cmn".to_string(),
        other => other.to_string(),
    }
}

fn language_of(code: &str) -> Result<Language> {
    let code = if code == "cmn" { "zho" } else { code };
    let iso = IsoCode639_3::from_str(code).map_err(|_| AiError::Data(format!("unknown language code '{code}'")))?;
    let language = Language::from_iso_code_639_3(&iso);
    if !SUPPORTED.iter().any(|s| language_code_matches(s, language)) {
        return Err(AiError::Data(format!(
            "language '{code}' is not compiled in (supported: {})",
            SUPPORTED.join(", ")
        )));
    }
    Ok(language)
}

fn language_code_matches(code: &str, language: Language) -> bool {
    code_of(language) == code
}

impl Detector {
    /// A detector choosing among `codes` (ISO 639-3, at least two).
    pub fn new<S: AsRef<str>>(codes: &[S]) -> Result<Self> {
        let languages = codes.iter().map(|c| language_of(c.as_ref().trim())).collect::<Result<Vec<_>>>()?;
        if languages.len() < 2 {
            return Err(AiError::Data("choose at least two support languages".into()));
        }
        Ok(Self { detector: LanguageDetectorBuilder::from_languages(&languages).build() })
    }

    /// Every language compiled in.
    pub fn all_supported() -> Self {
        Self::new(SUPPORTED).expect("the compiled-in languages are valid")
    }

    /// The language and the detector's confidence in it (0 for `und`).
    pub fn detect(&self, text: &str) -> (String, f64) {
        if text.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS {
            return (UNDETERMINED.to_string(), 0.0);
        }
        let confidences = self.detector.compute_language_confidence_values(text);
        match confidences.first() {
            Some((language, confidence)) if *confidence > 0.0 => (code_of(*language), *confidence),
            _ => (UNDETERMINED.to_string(), 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_languages_apart_and_admits_when_it_cannot() {
        let d = Detector::all_supported();
        assert_eq!(d.detect("Where is my order? It has not arrived yet.").0, "eng");
        assert_eq!(d.detect("¿Dónde está mi pedido? Todavía no ha llegado.").0, "spa");
        assert_eq!(d.detect("Ma commande n'est toujours pas arrivée, que se passe-t-il ?").0, "fra");
        assert_eq!(d.detect("注文した商品がまだ届いていません。").0, "jpn");
        assert_eq!(d.detect("我的订单还没有到。").0, "cmn");
        assert_eq!(d.detect("ok").0, "und");
        assert_eq!(d.detect("12345 !!!").0, "und");
        let (_, confidence) = d.detect("Where is my order? It has not arrived yet.");
        assert!(confidence > 0.5 && confidence <= 1.0);
    }

    #[test]
    fn the_support_set_is_configurable() {
        let two = Detector::new(&["eng", "spa"]).unwrap();
        assert_eq!(two.detect("Bonjour, ma commande est en retard").0.len(), 3, "chooses among its two");
        assert!(Detector::new(&["eng"]).is_err());
        assert!(Detector::new(&["eng", "xxx"]).is_err());
        assert!(Detector::new(&["eng", "glg"]).is_err(), "Galician is not compiled in");
    }
}
