//! Text preparation before any model sees a message: HTML rendered to plain text, and for email
//! the quoted earlier messages and the signature removed, so a reply is classified by what the
//! customer wrote now.

use regex::Regex;
use std::sync::LazyLock;

/// Where a client starts quoting the previous message (English, Spanish, French, German,
/// Portuguese, Italian, Outlook's separator).
static QUOTE_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?mi)^\s*(?:on\s.{0,120}\swrote:|el\s.{0,120}\sescribió:|le\s.{0,120}\sa écrit\s?:|am\s.{0,120}\sschrieb\s.{0,60}:|em\s.{0,120}\sescreveu:|il\s.{0,120}\sha scritto:|-{2,}\s*original message\s*-{2,}|-{2,}\s*mensaje original\s*-{2,}|_{5,}\s*$|from:\s.+\n\s*sent:\s)",
    )
    .unwrap()
});
/// The usual signature delimiter and the phone-client footers.
static SIGNATURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?mi)^(?:-- ?$|sent from my \w+|enviado desde mi \w+|envoyé de mon \w+|von meinem \w+ gesendet|get outlook for \w+)")
        .unwrap()
});
/// A sign-off line, after which only a short block (name, title, phone) may follow.
static SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?mi)^\s*(?:best regards|kind regards|regards|best|cheers|thanks|thank you|many thanks|sincerely|saludos|un saludo|atentamente|cordialement|bien à vous|mit freundlichen grüßen|viele grüße|gruß)[,.!]?\s*$")
        .unwrap()
});

/// How much HTML is rendered, in characters, once what a reader never sees is gone. HTML5
/// parsing is quadratic in nesting depth (each new element looks through the open elements for
/// its scope): 190 KB of `<ul><li>` took 8.6 s. 24,000 characters of markup bound that to about
/// 0.1 s (release build) and hold more text than the models read in any ordinary email.
pub const HTML_CHARS: usize = 24_000;

/// HTML as the plain text a reader sees (links keep their text; the head, scripts, styles and
/// comments go first, [`drop_unseen`]), from the first [`HTML_CHARS`] characters of the markup
/// left.
pub fn html_to_text(html: &str) -> String {
    let shown = drop_unseen(html);
    let html = crate::text::prefix(&shown, HTML_CHARS);
    // Nesting deeper than the width is an error there: the text without its tags, then.
    let text = html2text::from_read(html.as_bytes(), 10_000).unwrap_or_else(|_| strip_tags(html));
    text.trim().to_string()
}

/// What a reader never sees — the head (where Outlook puts tens of kilobytes of CSS), styles,
/// scripts, comments — removed in one pass. Hand-rolled rather than a regex with lazy `.*?`: a
/// regex's successive matches can each scan to the end of the text for a closing tag that never
/// comes (`<head<!---->` repeated took 100 s). Here a closer found is jumped past, and a closer
/// not found is remembered as absent, so each is looked for at most once past any point.
fn drop_unseen(html: &str) -> String {
    const BLOCKS: [(&str, &str, bool); 4] =
        [("<head", "</head", true), ("<style", "</style", true), ("<script", "</script", true), ("<!--", "-->", false)];
    // ASCII lower-casing keeps every byte offset.
    let lower = html.to_ascii_lowercase();
    let mut closer_ahead = [true; BLOCKS.len()];
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while let Some(found) = lower[i..].find('<') {
        let at = i + found;
        out.push_str(&html[i..at]);
        let opens = |(open, _, tag): &(&str, &str, bool)| {
            lower[at..].starts_with(open)
                && (!tag || !lower[at + open.len()..].starts_with(|c: char| c.is_ascii_alphanumeric()))
        };
        let block = BLOCKS.iter().position(opens).filter(|&k| closer_ahead[k]);
        if let Some(k) = block {
            let (open, close, tag) = BLOCKS[k];
            // `<!-->` and `<!--->` are whole (empty) comments in HTML5.
            let from = at + open.len();
            if !tag && (lower[from..].starts_with('>') || lower[from..].starts_with("->")) {
                i = from + lower[from..].find('>').map_or(0, |g| g + 1);
                out.push(' ');
                continue;
            }
            // The closing tag by its whole name (`</head` is not `</header`).
            let closer = lower[from..]
                .match_indices(close)
                .map(|(offset, _)| from + offset)
                .find(|&c| !tag || !lower[c + close.len()..].starts_with(|ch: char| ch.is_ascii_alphanumeric()));
            match closer.map(|c| c - from) {
                Some(offset) => {
                    let end = at + open.len() + offset + close.len();
                    // A tag's closer ends at its `>`; a comment's already has.
                    i = if tag { lower[end..].find('>').map_or(lower.len(), |g| end + g + 1) } else { end };
                    out.push(' ');
                    continue;
                }
                None => closer_ahead[k] = false,
            }
        }
        out.push('<');
        i = at + 1;
    }
    out.push_str(&html[i..]);
    out
}

/// The text of markup without its tags, in one pass: a `<` with no `>` after it ends the tags.
fn strip_tags(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else { break };
        out.push_str(&rest[..open]);
        out.push(' ');
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// The new part of an email reply: quoted lines, the quoted previous message and the signature
/// removed. Never empties a message: if nothing would be left, the text is returned as it was.
pub fn strip_email(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let mut cut = text.len();
    if let Some(m) = QUOTE_HEADER.find(&text) {
        cut = cut.min(m.start());
    }
    if let Some(m) = SIGNATURE.find(&text[..cut]) {
        cut = cut.min(m.start());
    }
    if let Some(m) = SIGN_OFF.find_iter(&text[..cut]).last() {
        // Only a short block after the sign-off: a name, a title, a phone number.
        let after = &text[m.end()..cut];
        if after.lines().filter(|l| !l.trim().is_empty()).count() <= 4 && after.len() < 300 {
            cut = m.start();
        }
    }
    let kept: Vec<&str> = text[..cut].lines().filter(|l| !l.trim_start().starts_with('>')).collect();
    let kept = kept.join("\n").trim().to_string();
    if kept.is_empty() {
        text.trim().to_string()
    } else {
        kept
    }
}

/// Whether a body is HTML rather than plain text (a message's channel does not say: email
/// bodies and API submissions come both ways).
pub fn looks_like_html(body: &str) -> bool {
    static TAG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)<(?:html|body|div|p|br|span|table|b|i|strong|em|a\s|ul|ol|li|h[1-6]|blockquote)\b[^>]*>")
            .unwrap()
    });
    TAG.is_match(body)
}

/// A message body ready for the models.
pub fn prepare(body: &str, is_html: bool, is_email: bool) -> String {
    let text = if is_html { html_to_text(body) } else { body.to_string() };
    if is_email {
        strip_email(&text)
    } else {
        text.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_html_as_text() {
        let text = html_to_text(
            "<html><head><style>p{}</style></head><body><p>My <b>order</b> is late.</p><p>Help!</p></body></html>",
        );
        assert!(text.contains("My **order** is late.") || text.contains("My order is late."), "{text}");
        assert!(text.contains("Help!") && !text.contains("<p>") && !text.contains("p{}"), "{text}");
    }

    #[test]
    fn renders_the_text_after_kilobytes_of_head_and_style() {
        let css = format!("<style>{}</style>", ".x{color:red}".repeat(5_000));
        let html = format!("<html><head>{css}</head><body><!-- {css} --><p>Where is my order?</p></body></html>");
        assert!(html.len() > 2 * HTML_CHARS);
        assert_eq!(html_to_text(&html), "Where is my order?");
    }

    #[test]
    fn drops_what_a_reader_never_sees_in_one_pass() {
        assert_eq!(drop_unseen("a<HEAD><title>t</title></head >b<!-- c -->d<Style x>e</STYLE>f"), "a b d f");
        assert_eq!(drop_unseen("<header>kept</header>"), "<header>kept</header>", "not a head");
        assert_eq!(drop_unseen("a<head b<!--x-->c"), "a<head b c", "an unclosed head hides nothing");
        assert_eq!(drop_unseen("<script>never closed"), "<script>never closed");
        assert_eq!(drop_unseen("<!-->Hi<!--->there<!-- x -->!"), " Hi there !", "empty comments");
        assert_eq!(drop_unseen("<head><header>x</header>y</head>z"), " z", "</header> does not close the head");
        assert_eq!(strip_tags("<p>a</p><b>b</b> 3 < 4"), " a  b  3 < 4");
    }

    #[test]
    fn keeps_only_what_the_customer_wrote_now() {
        let reply = "Still no refund, please check again.\n\nBest regards,\nAna López\n+34 600 000 000\n\nOn Mon, 3 Jun 2024 at 10:02, Support <help@shop.example> wrote:\n> We have issued your refund.\n> Kind regards";
        assert_eq!(strip_email(reply), "Still no refund, please check again.");
        let spanish = "¿Dónde está mi pedido?\n\nEnviado desde mi iPhone\n\nEl lun, 3 jun 2024 a las 10:02, Tienda escribió:\n> Hola";
        assert_eq!(strip_email(spanish), "¿Dónde está mi pedido?");
        let outlook = "Please cancel it.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\nYour order shipped";
        assert_eq!(strip_email(outlook), "Please cancel it.");
        let signature = "The app crashes on login.\n-- \nBen\nCTO, Example Ltd";
        assert_eq!(strip_email(signature), "The app crashes on login.");
        // A long text after "Thanks," is the message, not a signature.
        let long = "Thanks,\nI tried the steps you sent, but the export still fails with error 500 every time I press the button on the reports page, on every browser, since the last update; my whole team is blocked and we need the monthly report for our board meeting.";
        assert_eq!(strip_email(long), long);
        assert_eq!(strip_email("> only a quote"), "> only a quote", "never empties a message");
    }

    #[test]
    fn tells_html_from_text() {
        assert!(looks_like_html("<p>Refund please</p>"));
        assert!(looks_like_html("Hi<br/>there"));
        assert!(!looks_like_html("Is 3 < 5? I think a<b is fine"));
        assert!(!looks_like_html("plain text"));
    }

    #[test]
    fn prepares_by_channel() {
        assert_eq!(prepare("  hi  ", false, false), "hi");
        assert!(prepare("<p>Refund please</p><blockquote>old</blockquote>", true, true).starts_with("Refund please"));
    }
}
