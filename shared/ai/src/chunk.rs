//! Cutting a knowledge-base article (markdown) into passages the encoder can embed whole.
//!
//! The encoder reads 128 tokens, about 90 English words, so a passage is a section's paragraphs
//! packed up to [`MAX_WORDS`], each under a heading (the article's title and its section's) that
//! says what it is about. A paragraph longer than that is cut at sentences, a sentence at words.
//! Markdown syntax is dropped (links keep their text, images and HTML tags go); the words stay.

/// Words per passage, heading included, to stay inside the encoder's 128 tokens.
pub const MAX_WORDS: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// "Title › Section" (the title alone before the first heading).
    pub heading: String,
    pub content: String,
}

impl Passage {
    /// What is embedded: the heading then the passage.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.heading, self.content)
    }
}

/// The most of a section heading kept, in characters.
const HEADING_CHARS: usize = 200;

pub fn chunk_markdown(title: &str, body: &str) -> Vec<Passage> {
    let title = plain(title.trim());
    let mut passages = Vec::new();
    let mut heading = title.clone();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    let mut in_code = false;
    let flush_paragraph = |current: &mut Vec<&str>, paragraphs: &mut Vec<String>| {
        let text = plain(&current.join(" "));
        if !text.is_empty() {
            paragraphs.push(text);
        }
        current.clear();
    };
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_code = !in_code;
            continue;
        }
        if !in_code && trimmed.starts_with('#') {
            flush_paragraph(&mut current, &mut paragraphs);
            pack(&heading, std::mem::take(&mut paragraphs), &mut passages);
            let section = plain(trimmed.trim_start_matches('#').trim());
            // A heading goes with every passage of its section: a long one is cut, or it would be
            // embedded again with each.
            let section = crate::text::prefix(&section, HEADING_CHARS);
            heading = if section.is_empty() { title.clone() } else { format!("{title} › {section}") };
            continue;
        }
        if trimmed.is_empty() || (!in_code && is_list_item(trimmed)) {
            flush_paragraph(&mut current, &mut paragraphs);
        }
        if !trimmed.is_empty() {
            current.push(trimmed);
        }
    }
    flush_paragraph(&mut current, &mut paragraphs);
    pack(&heading, paragraphs, &mut passages);
    passages
}

fn is_list_item(line: &str) -> bool {
    line.starts_with("- ") || line.starts_with("* ") || line.starts_with("+ ") || {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        digits > 0 && line[digits..].starts_with(". ")
    }
}

/// Packs a section's paragraphs into passages of at most [`MAX_WORDS`] (heading included).
fn pack(heading: &str, paragraphs: Vec<String>, out: &mut Vec<Passage>) {
    let budget = MAX_WORDS.saturating_sub(words(heading)).max(20);
    let mut pieces: Vec<String> = Vec::new();
    for paragraph in paragraphs {
        if words(&paragraph) <= budget {
            pieces.push(paragraph);
        } else {
            pieces.extend(split_long(&paragraph, budget));
        }
    }
    let mut content = String::new();
    for piece in pieces {
        if !content.is_empty() && words(&content) + words(&piece) > budget {
            out.push(Passage { heading: heading.to_string(), content: std::mem::take(&mut content) });
        }
        if !content.is_empty() {
            content.push('\n');
        }
        content.push_str(&piece);
    }
    if !content.is_empty() {
        out.push(Passage { heading: heading.to_string(), content });
    }
}

/// A paragraph over the budget: whole sentences packed up to it, a sentence over it cut at words.
fn split_long(paragraph: &str, budget: usize) -> Vec<String> {
    let mut sentences: Vec<String> = Vec::new();
    let mut start = 0;
    let bytes: Vec<(usize, char)> = paragraph.char_indices().collect();
    for (i, (at, c)) in bytes.iter().enumerate() {
        let next_is_space = bytes.get(i + 1).is_none_or(|(_, n)| n.is_whitespace());
        if matches!(c, '.' | '!' | '?' | '。' | '！' | '？') && next_is_space {
            let end = at + c.len_utf8();
            sentences.push(paragraph[start..end].trim().to_string());
            start = end;
        }
    }
    if start < paragraph.len() {
        sentences.push(paragraph[start..].trim().to_string());
    }
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    for sentence in sentences.into_iter().filter(|s| !s.is_empty()) {
        let pieces: Vec<String> = if words(&sentence) > budget {
            let all: Vec<&str> = sentence.split_whitespace().collect();
            all.chunks(budget).map(|c| c.join(" ")).collect()
        } else {
            vec![sentence]
        };
        for piece in pieces {
            if !current.is_empty() && words(&current) + words(&piece) > budget {
                out.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push(' ');
            }
            current.push_str(&piece);
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Markdown to its words: links keep their text, images and HTML tags go, emphasis and list
/// markers and quote marks are dropped. Linear in the text: every look-ahead for a closing `]`,
/// `)` or `>` is a look-up in [`Closers`].
fn plain(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let chars: Vec<char> = markdown.chars().collect();
    let closers = Closers::of(&chars);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '!' if chars.get(i + 1) == Some(&'[') => {
                // An image: skip ![alt](url) whole.
                i = skip_link(&chars, &closers, i + 1).unwrap_or(i + 1);
                continue;
            }
            '[' => {
                if let Some(end_text) = closers.next(&closers.bracket, i + 1) {
                    if chars.get(end_text + 1) == Some(&'(') {
                        out.extend(&chars[i + 1..end_text]);
                        i = skip_link(&chars, &closers, i).unwrap_or(end_text + 1);
                        continue;
                    }
                }
                out.push(c);
            }
            '<' if chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == '/') => {
                match closers.next(&closers.angle, i) {
                    Some(end) => {
                        i = end + 1;
                        out.push(' ');
                        continue;
                    }
                    None => out.push(c),
                }
            }
            '*' | '_' | '`' => {}
            _ => out.push(c),
        }
        i += 1;
    }
    let text = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.trim_start_matches(['-', '+', '>', ' ']).trim();
    let digits = text.chars().take_while(char::is_ascii_digit).count();
    let text = if digits > 0 && text[digits..].starts_with(". ") { &text[digits + 2..] } else { text };
    text.to_string()
}

/// For each position, where the next `]`, `)` and `>` are (at or after it), found in one pass
/// from the end: a line of 200,000 `[` would otherwise be scanned once per `[`.
struct Closers {
    bracket: Vec<usize>,
    paren: Vec<usize>,
    angle: Vec<usize>,
}

impl Closers {
    fn of(chars: &[char]) -> Self {
        let table = |target: char| {
            let mut next = vec![usize::MAX; chars.len() + 1];
            for i in (0..chars.len()).rev() {
                next[i] = if chars[i] == target { i } else { next[i + 1] };
            }
            next
        };
        Self { bracket: table(']'), paren: table(')'), angle: table('>') }
    }

    fn next(&self, table: &[usize], from: usize) -> Option<usize> {
        table.get(from).copied().filter(|&p| p != usize::MAX)
    }
}

/// The index after `[text](url)` starting at `[`, if it is one.
fn skip_link(chars: &[char], closers: &Closers, open: usize) -> Option<usize> {
    let close = closers.next(&closers.bracket, open)?;
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    Some(closers.next(&closers.paren, close + 1)? + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_become_passages_under_their_heading_and_markdown_goes() {
        let body = "Intro with a [link](https://example.com/x) and **bold**.\n\n\
                    ## Refund times\n\nRefunds take *5 days*.\n\n- Cards: 5 days\n- PayPal: 1 day\n\n\
                    ![diagram](https://example.com/d.png)\n\n### Exceptions\n\nGift cards are <b>not</b> refundable.";
        let passages = chunk_markdown("Refunds", body);
        assert_eq!(passages.len(), 3, "{passages:#?}");
        assert_eq!(passages[0], Passage { heading: "Refunds".into(), content: "Intro with a link and bold.".into() });
        assert_eq!(passages[1].heading, "Refunds › Refund times");
        assert_eq!(passages[1].content, "Refunds take 5 days.\nCards: 5 days\nPayPal: 1 day");
        assert_eq!(passages[2].heading, "Refunds › Exceptions");
        assert_eq!(passages[2].content, "Gift cards are not refundable.");
        assert_eq!(passages[2].text(), "Refunds › Exceptions\nGift cards are not refundable.");
    }

    #[test]
    fn long_text_is_cut_at_sentences_within_the_word_budget() {
        let sentence = "Our couriers deliver parcels on weekdays between nine and five in most regions. ";
        let body = sentence.repeat(30);
        let passages = chunk_markdown("Delivery", &body);
        assert!(passages.len() >= 5, "{}", passages.len());
        for p in &passages {
            assert!(words(&p.text()) <= MAX_WORDS, "{} words", words(&p.text()));
            assert!(p.content.ends_with("regions."), "cut at a sentence: {}", p.content);
        }
        let one_run_on = "word ".repeat(500);
        for p in chunk_markdown("T", &one_run_on) {
            assert!(words(&p.text()) <= MAX_WORDS);
        }
        assert!(chunk_markdown("Empty", "\n\n  \n").is_empty());
    }

    #[test]
    fn code_blocks_keep_their_lines_and_their_hashes() {
        let passages = chunk_markdown("API", "Use this:\n\n```\n# not a heading\ncurl -X POST\n```\n");
        assert_eq!(passages.len(), 1);
        assert_eq!(passages[0].content, "Use this:\n# not a heading curl -X POST");
        assert_eq!(passages[0].heading, "API");
    }
}
