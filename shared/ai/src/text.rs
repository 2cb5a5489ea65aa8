//! Text normalisation shared by every model: lower case, digits folded, whitespace collapsed;
//! and the prefixes that keep every model's work capped whatever a message looks like.

/// At most the first `max_chars` characters of `text`, cut at a character boundary.
pub fn prefix(text: &str, max_chars: usize) -> &str {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// At most the first `max_chars` characters of `text`, cut at the last white space before the
/// limit when the limit falls inside a word (so no email address or card number is cut in two,
/// leaving a fragment no detector recognises).
pub fn prefix_words(text: &str, max_chars: usize) -> &str {
    let cut = prefix(text, max_chars);
    if cut.len() == text.len() || text[cut.len()..].starts_with(char::is_whitespace) {
        return cut;
    }
    match cut.rfind(char::is_whitespace) {
        Some(space) => &cut[..space],
        None => cut,
    }
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
    fn prefixes_cut_at_characters_and_between_words() {
        use super::{prefix, prefix_words};
        assert_eq!(prefix("héllo", 2), "hé");
        assert_eq!(prefix("hi", 10), "hi");
        assert_eq!(prefix_words("write to ana@example.com", 15), "write to");
        assert_eq!(prefix_words("write to ana@example.com", 8), "write to");
        assert_eq!(prefix_words("short", 10), "short");
        assert_eq!(prefix_words(&"a".repeat(50), 10), "a".repeat(10), "no space to go back to");
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
