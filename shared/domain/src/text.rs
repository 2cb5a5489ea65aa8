//! Rules for text that people type and others read. Each error names the rule that was broken
//! (a NUL is not a length problem).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether a character is invisible yet changes how text reads, or cannot be shown at all:
/// - controls (C0, DEL, C1) and line or paragraph separators (U+2028, U+2029);
/// - Unicode format characters (general category Cf: zero-width space U+200B, the bidirectional
///   overrides and isolates such as U+202E, the soft hyphen, the byte-order mark, tag characters);
/// - the other default-ignorable characters that render as nothing (Unicode's
///   DerivedCoreProperties: the combining grapheme joiner U+034F, the Hangul fillers U+115F,
///   U+1160, U+3164, U+FFA0, the Khmer inherent vowels U+17B4–U+17B5, the Mongolian variation
///   selectors) and the braille blank U+2800, a favourite "empty" name;
/// - private-use and unassigned code points, which no reader can be sure of.
///
/// The zero-width non-joiner and joiner (U+200C, U+200D) and the variation selectors
/// U+FE00–U+FE0F are allowed: Persian, Indic scripts and emoji need them (UAX #31 permits the
/// joiners in identifiers for the same reason). Addresses allow none of these
/// ([`is_hidden_in_address`]).
pub fn is_hidden(c: char) -> bool {
    use GeneralCategory::*;
    if matches!(c, '\u{200C}' | '\u{200D}') {
        return false;
    }
    c.is_control()
        || matches!(c.general_category(), Format | LineSeparator | ParagraphSeparator | PrivateUse | Unassigned)
        || matches!(c, '\u{034F}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}')
        || matches!(c, '\u{2800}' | '\u{3164}' | '\u{FFA0}' | '\u{E0100}'..='\u{E01EF}')
}

/// A zero-width joiner or non-joiner where it can only hide something: at either end, next to
/// another invisible character, or beside an ASCII character (`Bo\u{200C}b` reads as `Bob`).
/// Where they do their work — inside Persian or Indic words, between emoji — both neighbours
/// are visible and outside ASCII.
fn stray_joiner(text: &str) -> Option<char> {
    let chars: Vec<char> = text.chars().collect();
    let visible = |c: Option<&char>| {
        c.is_some_and(|&c| {
            !c.is_ascii() && !c.is_whitespace() && !is_hidden(c) && !matches!(c, '\u{200C}' | '\u{200D}')
        })
    };
    chars.iter().enumerate().find_map(|(i, &c)| {
        let joiner = matches!(c, '\u{200C}' | '\u{200D}');
        let placed = i > 0 && visible(chars.get(i - 1)) && visible(chars.get(i + 1));
        (joiner && !placed).then_some(c)
    })
}

/// Whether a text shows nothing: only white space, invisible characters ([`is_hidden`]),
/// joiners, variation selectors and combining marks.
pub fn shows_nothing(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || is_hidden(c)
            || is_mark(c)
            || matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}')
    })
}

/// Combining marks (Mn, Mc, Me): parts of letters in many scripts, never letters alone.
pub fn is_mark(c: char) -> bool {
    use GeneralCategory::*;
    matches!(c.general_category(), NonspacingMark | SpacingMark | EnclosingMark)
}

/// [`is_hidden`] for email addresses, where nothing invisible has a use: the joiners and
/// variation selectors too.
pub fn is_hidden_in_address(c: char) -> bool {
    is_hidden(c) || matches!(c, '\u{200C}' | '\u{200D}' | '\u{FE00}'..='\u{FE0F}')
}

/// A name a person reads as a label — an organisation's, a member's, a customer's, an API key's:
/// trimmed, 1 to `max_chars` characters, on one line, with nothing hidden ([`is_hidden`]) that could
/// make it read as something else (`Acme\u{202E}gnp.exe`).
///
/// Errors: `"must not contain NUL characters"`, `"must not contain control characters"`,
/// `"must not contain invisible formatting characters (U+XXXX)"`, `"must not be empty"`,
/// `"must start with a letter, digit or symbol, not a combining mark"`, `"must be at most N
/// characters"`.
pub fn display_name(raw: &str, max_chars: usize) -> Result<String, String> {
    let name = raw.trim();
    if name.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters (line breaks, tabs)".into());
    }
    if let Some(c) = name.chars().find(|&c| is_hidden(c)) {
        return Err(format!("must not contain invisible formatting characters (U+{:04X})", c as u32));
    }
    if let Some(c) = stray_joiner(name) {
        return Err(format!("must not contain a joiner (U+{:04X}) outside a word of a script that needs it", c as u32));
    }
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    // A mark combines with what precedes it; leading the name, it stacks on nothing visible.
    if name.chars().next().is_some_and(is_mark) {
        return Err("must start with a letter, digit or symbol, not a combining mark".into());
    }
    if name.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    Ok(name.to_string())
}

/// Free text — a message, a reply, an article, a note: at most `max_chars` characters and no NUL
/// (Postgres cannot store it); when `required`, more than white space.
///
/// Errors: `"must not contain NUL characters"`, `"must not be empty"`, `"must be at most N
/// characters"`.
pub fn check_text(text: &str, max_chars: usize, required: bool) -> Result<(), String> {
    if text.contains('\0') {
        return Err("must not contain NUL characters".into());
    }
    if required && text.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if text.chars().count() > max_chars {
        return Err(format!("must be at most {} characters", group(max_chars)));
    }
    Ok(())
}

/// 200000 → "200,000", as the API's other messages write numbers.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_what_hides_or_reorders_text_and_say_so() {
        assert_eq!(display_name("  Ana Pérez ", 200).unwrap(), "Ana Pérez");
        assert_eq!(display_name("نرم‌افزار", 200).unwrap(), "نرم‌افزار", "ZWNJ is part of Persian words");
        assert_eq!(display_name("👩‍💻 Support", 200).unwrap(), "👩‍💻 Support", "ZWJ joins emoji");
        for stray in [
            "Bo\u{200C}b",
            "Ac\u{200D}me",
            "\u{200C}",
            "\u{200D}\u{200D}",
            "\u{200D}\u{0301}",
            "نرم\u{200C}\u{200C}افزار",
        ] {
            let error = display_name(stray, 200).unwrap_err();
            assert!(error.contains("joiner") || error.contains("combining"), "{stray:?}: {error}");
        }
        assert!(shows_nothing("\u{200B} \u{200C}\n\u{200D}\t\u{0301}\u{FE0F}"));
        assert!(!shows_nothing("\u{200B}a"));
        for (bad, why) in [
            ("Acme\u{202E}gnp.exe", "U+202E"),
            ("Ac\u{200B}me", "U+200B"),
            ("\u{2066}Acme\u{2069}", "U+2066"),
            ("Acme\u{00AD}", "U+00AD"),
            ("\u{FEFF}Acme", "U+FEFF"),
            ("Ac\u{E0041}me", "U+E0041"),
            ("Acme\nInc", "control"),
            ("Ac\u{0085}me", "control"),
            ("Ac\0me", "NUL"),
            ("   ", "empty"),
            ("\u{0301}\u{0301}", "combining mark"),
        ] {
            let error = display_name(bad, 200).unwrap_err();
            assert!(error.contains(why), "{bad:?}: {error}");
        }
        assert_eq!(display_name(&"a".repeat(201), 200).unwrap_err(), "must be at most 200 characters");
        for blank in ["\u{3164}", "\u{2800}\u{2800}", "\u{115F}", "A\u{034F}B", "Ac\u{2028}me", "\u{E000}", "\u{0378}"]
        {
            assert!(display_name(blank, 200).is_err(), "{blank:?}");
        }
    }

    #[test]
    fn text_errors_name_the_rule() {
        assert!(check_text("line one\nline two", 100, true).is_ok());
        assert_eq!(check_text("a\0b", 100, true).unwrap_err(), "must not contain NUL characters");
        assert_eq!(check_text(" \n", 100, true).unwrap_err(), "must not be empty");
        assert!(check_text("", 100, false).is_ok());
        assert_eq!(check_text(&"x".repeat(20_001), 20_000, true).unwrap_err(), "must be at most 20,000 characters");
    }
}
