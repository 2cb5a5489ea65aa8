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
    /// The support languages' codes, for the writing-system rules.
    codes: Vec<String>,
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
        Ok(Self {
            detector: LanguageDetectorBuilder::from_languages(&languages).build(),
            codes: languages.iter().map(|l| code_of(*l)).collect(),
        })
    }

    /// Every language compiled in.
    pub fn all_supported() -> Self {
        Self::new(SUPPORTED).expect("the compiled-in languages are valid")
    }

    /// The language and the detector's confidence in it (0 for `und`). It reads the first
    /// [`LANGUAGE_CHARS`] characters: enough for the statistics (lingua is at its best past
    /// 120), and a bound on lingua's n-grams, which are quadratic in a word's length (one
    /// 200,000-letter word took 17 s; a 1,000-letter one takes under a millisecond).
    pub fn detect(&self, text: &str) -> (String, f64) {
        let text = crate::text::prefix(text, LANGUAGE_CHARS);
        if let Some(code) = self.by_writing_system(text) {
            return (code.to_string(), 1.0);
        }
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

/// How much of a text language detection reads, in characters.
pub const LANGUAGE_CHARS: usize = 1_000;

impl Detector {
    /// What the writing itself settles, before any statistics: kana is Japanese only and Hangul
    /// Korean only, whatever the length (lingua needs a few letters, but one CJK character says
    /// more than three Latin ones); a short run of Han characters alone is Chinese; and the
    /// inverted marks `¿` `¡` are written only in Spanish among the languages compiled in, as
    /// the Catalan spellings of [`catalan_spelling`] only in Catalan.
    fn by_writing_system(&self, text: &str) -> Option<&str> {
        let supported = |code: &'static str| self.codes.iter().any(|c| c == code).then_some(code);
        let (mut han, mut kana, mut hangul, mut latin) = (0, 0, 0, 0);
        for c in text.chars() {
            match c as u32 {
                0x3040..=0x30FF | 0x31F0..=0x31FF | 0xFF66..=0xFF9D => kana += 1,
                0xAC00..=0xD7AF | 0x1100..=0x11FF | 0x3130..=0x318F => hangul += 1,
                0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF => han += 1,
                _ if c.is_alphabetic() => latin += 1,
                _ => {}
            }
        }
        if hangul > 0 && hangul >= latin {
            return supported("kor");
        }
        if kana > 0 && kana + han >= latin {
            return supported("jpn");
        }
        if han > 0 && latin == 0 && han < MIN_LETTERS {
            return supported("cmn");
        }
        if latin >= MIN_LETTERS && (text.contains('¿') || text.contains('¡')) {
            return supported("spa");
        }
        if latin >= MIN_LETTERS && catalan_spelling(text) {
            return supported("cat");
        }
        None
    }
}

/// Spellings only Catalan has among the languages compiled in: the middle dot of `l·l`, and
/// the words `és` (is), `què` (what) and `això` (this). (Not the ending `-ió`: Spanish verbs
/// have it, `salió`.)
fn catalan_spelling(text: &str) -> bool {
    let lower = text.to_lowercase();
    lower.contains("l·l") || lower.split(|c: char| !c.is_alphabetic()).any(|w| matches!(w, "és" | "què" | "això"))
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
    fn the_writing_settles_short_and_marked_texts() {
        let d = Detector::all_supported();
        assert_eq!(d.detect("進め。").0, "jpn", "kana");
        assert_eq!(d.detect("건배!").0, "kor");
        assert_eq!(d.detect("你好。").0, "cmn");
        assert_eq!(d.detect("¡Dilo!").0, "spa");
        assert_eq!(d.detect("¿Ya te has recuperado de tu resfriado?").0, "spa");
        assert_eq!(d.detect("Per què?").0, "cat");
        assert_eq!(d.detect("Ella salió de casa muy temprano.").0, "spa");
        assert_eq!(d.detect("Il est là, c'est sûr.").0, "fra", "no rule: lingua decides");
        let without_spanish = Detector::new(&["eng", "por"]).unwrap();
        assert_ne!(without_spanish.detect("¿Dónde está?").0, "spa");
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
