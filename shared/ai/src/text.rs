//! Text normalisation shared by every model: lower case, digits folded, whitespace collapsed;
//! and the bounds that keep every model's work linear and capped whatever a message looks like.

use std::borrow::Cow;

/// At most the first `max_chars` characters of `text`, cut at a character boundary.
pub fn prefix(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `text` with every word (run of non-white-space characters) longer than `max_chars` cut to its
/// first `max_chars`. No language has words that long; a 200,000-letter "word" is an attack on
/// whatever is quadratic in a word's length (lingua's n-grams, WordPiece's longest match).
pub fn cut_long_words(text: &str, max_chars: usize) -> Cow<'_, str> {
    let mut run = 0;
    if text.chars().all(|c| {
        run = if c.is_whitespace() { 0 } else { run + 1 };
        run <= max_chars
    }) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_whitespace() { 0 } else { run + 1 };
        if run <= max_chars {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// What a model reads of a text: its first `max_chars` characters, long words cut to
/// `max_word_chars` ([`prefix`], [`cut_long_words`]).
pub fn bounded(text: &str, max_chars: usize, max_word_chars: usize) -> Cow<'_, str> {
    cut_long_words(prefix(text, max_chars), max_word_chars)
}

/// The form every feature is computed from. Digits become `0` so that "order 1042" and "order
/// 7781" look alike to a model; punctuation becomes spaces except inside words (`can't`).
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last_space = true;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let keep = if c.is_alphabetic() {
            Some(c)
        } else if c.is_numeric() {
            Some('0')
        } else if c == '\'' || c == '’' {
            // An apostrophe inside a word stays (it changes meaning: "can't").
            let inside = i > 0 && chars[i - 1].is_alphabetic() && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
            inside.then_some('\'')
        } else {
            None
        };
        match keep {
            Some(c) => {
                out.extend(c.to_lowercase());
                last_space = false;
            }
            None if !last_space => {
                out.push(' ');
                last_space = true;
            }
            None => {}
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounds_cut_at_characters_and_words() {
        use super::{bounded, cut_long_words, prefix};
        assert_eq!(prefix("héllo", 2), "hé");
        assert_eq!(prefix("hi", 10), "hi");
        assert_eq!(cut_long_words("a bbbbbb cc", 3), "a bbb cc");
        assert!(matches!(cut_long_words("short words only", 8), std::borrow::Cow::Borrowed(_)));
        let attack = "a".repeat(200_000);
        assert_eq!(bounded(&attack, 1_000, 48), "a".repeat(48));
        let digits = "1".repeat(200_000);
        assert_eq!(bounded(&format!("call {digits} now"), 100, 20).chars().count(), 5 + 20);
    }

    use super::*;

    #[test]
    fn folds_case_digits_punctuation_and_space() {
        assert_eq!(normalise("  Where's my ORDER #1042?!  "), "where's my order 0000");
        assert_eq!(normalise("I can’t log-in"), "i can't log in");
        assert_eq!(normalise("Ünïcode déjà vu"), "ünïcode déjà vu");
        assert_eq!(normalise("'quoted'"), "quoted");
        assert_eq!(normalise(""), "");
    }
}
