//! HTML mail as the text a reader sees, and as markup safe to show an agent.
//!
//! One streaming pass (`lol_html`, linear in the input, no DOM) removes what a reader never sees
//! — the head, styles, scripts, comments, and elements hidden by their style such as the
//! `display:none` preheaders of marketing and transactional mail — and, for reply extraction,
//! replaces the containers mail clients quote earlier messages in with a line holding only
//! [`QUOTE_MARK`]. `html2text` then renders what is left.

use lol_html::html_content::{ContentType, Element};
use lol_html::{doc_comments, element, RewriteStrSettings};

/// How much HTML is rendered, in characters, once what a reader never sees is gone. HTML5
/// parsing is quadratic in nesting depth (each new element looks through the open elements for
/// its scope): 190 KB of `<ul><li>` took 8.6 s. 24,000 characters of markup bound that to about
/// 0.1 s (release build) and hold more text than anyone reads in an ordinary email.
pub const HTML_CHARS: usize = 24_000;

/// A line holding only this character stands where a quote container was
/// ([`to_text_marking_quotes`]); reply extraction cuts there. A private-use character: no mail
/// contains it as text (one that does has it removed first).
pub const QUOTE_MARK: char = '\u{E000}';

/// Where mail clients put the message being answered. Blockquotes (Apple Mail, Thunderbird,
/// Gmail's inner quote), Gmail's quote container and attribution line, Yahoo's and Proton's,
/// Thunderbird's cite prefix, Outlook's reply header block (`divRplyFwdMsg`, also with the
/// `x_` prefixes Outlook adds to ids of quoted HTML) and the empty `appendonsend` div that
/// precedes it, Zimbra's quoted-text marker.
const QUOTE_CONTAINERS: &str = "blockquote, div.gmail_quote, div.gmail_quote_container, div.gmail_attr, \
     div.yahoo_quoted, div.protonmail_quote, div.moz-cite-prefix, [id$=\"divRplyFwdMsg\"], \
     [id$=\"appendonsend\"], div.OutlookMessageHeader, div[data-marker=\"__QUOTED_TEXT__\"]";

/// Signature blocks the clients mark as such (Gmail, Outlook, Thunderbird, Apple Mail).
const SIGNATURES: &str = "div.gmail_signature, [id$=\"Signature\"], div.moz-signature, pre.moz-signature, \
     div[data-smartmail=\"gmail_signature\"]";

/// HTML as the plain text a reader sees, from the first [`HTML_CHARS`] characters of the markup
/// left once hidden parts are removed. Blockquotes keep their `> ` prefix.
pub fn to_text(html: &str) -> String {
    render(&rewrite(html, false))
}

/// As [`to_text`], with each quote container and marked signature replaced by a line holding
/// only [`QUOTE_MARK`] (signatures are removed, not marked): what reply extraction reads.
pub fn to_text_marking_quotes(html: &str) -> String {
    render(&rewrite(html, true))
}

/// The most markup [`sanitise_bounded`] cleans (bytes, once hidden parts are gone), and the
/// most tags: html5ever's tree building is quadratic in nesting depth, and a hostile message
/// can nest thousands of elements in a few kilobytes.
pub const SANITISE_MAX_BYTES: usize = 256 * 1024;
pub const SANITISE_MAX_TAGS: usize = 10_000;

/// Markup safe to show an agent (`ammonia`'s defaults: no scripts, styles, event handlers or
/// `javascript:` links; links get `rel="noopener noreferrer"`), with hidden elements gone,
/// `cid:` image sources kept so the display can point them at the attachments, and remote
/// images dropped (tracking pixels) — or `None` for markup over [`SANITISE_MAX_BYTES`] or
/// [`SANITISE_MAX_TAGS`] (the raw message keeps it; the text is shown instead).
pub fn sanitise_bounded(html: &str) -> Option<String> {
    let shown = rewrite(html, false);
    if shown.len() > SANITISE_MAX_BYTES || shown.matches('<').count() > SANITISE_MAX_TAGS {
        return None;
    }
    Some(clean(&shown))
}

/// ammonia with `cid:` image sources kept (the display points them at the attachments) and
/// remote images dropped: an image fetched from the sender's server tells them when, where and
/// by whom the message was read (tracking pixels), so nothing loads from outside by default.
fn clean(shown: &str) -> String {
    let mut schemes = ammonia::Builder::default().clone_url_schemes();
    schemes.insert("cid");
    ammonia::Builder::default()
        .url_schemes(schemes)
        .attribute_filter(|element, attribute, value| {
            let remote = matches!((element, attribute), ("img", "src" | "srcset") | (_, "background"))
                && !value.trim_start().to_ascii_lowercase().starts_with("cid:");
            (!remote).then(|| value.into())
        })
        .clean(shown)
        .to_string()
}

/// Whether a body is HTML rather than plain text (a message's channel does not say: email
/// bodies and API submissions come both ways).
pub fn looks_like_html(body: &str) -> bool {
    static TAG: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"(?i)<(?:html|body|div|p|br|span|table|b|i|strong|em|a\s|ul|ol|li|h[1-6]|blockquote)\b[^>]*>",
        )
        .expect("a valid pattern")
    });
    TAG.is_match(body)
}

fn rewrite(html: &str, mark_quotes: bool) -> String {
    let html = html.replace(QUOTE_MARK, "");
    let remove = |el: &mut Element| {
        el.remove();
        Ok(())
    };
    let mut settings = RewriteStrSettings::new()
        .with_strict(false)
        .append_element_content_handler(element!("head, style, script, template, title", remove))
        .append_element_content_handler(element!("[hidden], [aria-hidden=\"true\"][style]", |el| {
            // `aria-hidden` alone hides from screen readers, not from eyes: only with a style.
            if el.has_attribute("hidden") || el.get_attribute("style").is_some_and(|s| hides(&s)) {
                el.remove();
            }
            Ok(())
        }))
        .append_element_content_handler(element!("[style]", |el| {
            if el.get_attribute("style").is_some_and(|s| hides(&s)) {
                el.remove();
            }
            Ok(())
        }))
        .append_document_content_handler(doc_comments!(|c| {
            c.remove();
            Ok(())
        }));
    if mark_quotes {
        let mark = format!("<p>{QUOTE_MARK}</p>");
        settings = settings
            .append_element_content_handler(element!(SIGNATURES, remove))
            .append_element_content_handler(element!(QUOTE_CONTAINERS, move |el| {
                el.replace(&mark, ContentType::Html);
                Ok(())
            }));
    }
    // The rewriter refuses only what it cannot parse at all; the markup as it came is then
    // better than nothing (html2text and the tag stripper cope with anything).
    lol_html::rewrite_str(&html, settings).unwrap_or(html)
}

/// Whether an inline style hides its element: `display:none`, `visibility:hidden`,
/// `mso-hide:all` (Outlook), `opacity:0`, or a zero `max-height` / `font-size` (how
/// preheaders are hidden from clients that ignore `display:none`).
fn hides(style: &str) -> bool {
    style.split(';').filter_map(|d| d.split_once(':')).any(|(property, value)| {
        let property = property.trim().to_ascii_lowercase();
        let value = value.trim().trim_end_matches("!important").trim().to_ascii_lowercase();
        let zero =
            || value.trim_end_matches("px").trim_end_matches("pt").trim_end_matches("em").parse::<f32>() == Ok(0.0);
        match property.as_str() {
            "display" => value == "none",
            "visibility" => value == "hidden",
            "mso-hide" => value == "all",
            "opacity" | "max-height" | "font-size" => zero(),
            _ => false,
        }
    })
}

fn render(html: &str) -> String {
    let html = prefix(html, HTML_CHARS);
    // Nesting deeper than the width is an error there: the text without its tags, then.
    let text = html2text::config::plain_no_decorate()
        .string_from_read(html.as_bytes(), 10_000)
        .unwrap_or_else(|_| strip_tags(html));
    // Lines without trailing blanks, and at most one empty line in a row.
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if !(line.is_empty() && out.last().is_some_and(|l| l.is_empty())) {
            out.push(line);
        }
    }
    out.join("\n").trim().to_string()
}

/// The longest prefix of `text` of at most `max_chars` characters.
fn prefix(text: &str, max_chars: usize) -> &str {
    text.char_indices().nth(max_chars).map_or(text, |(i, _)| &text[..i])
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_what_a_reader_sees() {
        let text = to_text(
            "<html><head><title>t</title><style>p{}</style></head><body><p>My <b>order</b> is late.</p><p>Help!</p></body></html>",
        );
        assert_eq!(text, "My order is late.\n\nHelp!");
    }

    #[test]
    fn hidden_preheaders_and_comments_are_not_text() {
        let html = r#"<div style="display: none !important; max-height:0">Your receipt is inside 50% off</div>
            <span style="font-size:0px">invisible</span><div style="MSO-HIDE: ALL">outlook only</div>
            <div hidden>gone</div><!-- a comment --><p style="color:red">The blender arrived broken.</p>"#;
        assert_eq!(to_text(html), "The blender arrived broken.");
        assert!(!hides("display:block; font-size: 12px; opacity:0.5"));
    }

    #[test]
    fn renders_the_text_after_kilobytes_of_head_and_style() {
        let css = format!("<style>{}</style>", ".x{color:red}".repeat(5_000));
        let html = format!("<html><head>{css}</head><body><!-- {css} --><p>Where is my order?</p></body></html>");
        assert!(html.len() > 2 * HTML_CHARS);
        assert_eq!(to_text(&html), "Where is my order?");
    }

    #[test]
    fn unclosed_and_odd_markup_still_renders() {
        // Each of these once cost seconds to a hand-rolled pass or a lazy regex.
        let nested = "<head<!---->".repeat(1_500) + "<p>hello</p>";
        assert!(to_text(&nested).contains("hello"));
        assert_eq!(to_text("<script>never closed"), "");
        assert_eq!(to_text("<!-->Hi<!--->there<!-- x -->!"), "Hithere!");
        assert_eq!(strip_tags("<p>a</p><b>b</b> 3 < 4"), " a  b  3 < 4");
    }

    #[test]
    fn quote_containers_become_one_marked_line() {
        let gmail = r#"<div dir="ltr">Still broken.</div><br><div class="gmail_quote"><div class="gmail_attr">On Mon wrote:</div><blockquote>old</blockquote></div>"#;
        assert_eq!(to_text_marking_quotes(gmail), format!("Still broken.\n\n{QUOTE_MARK}"));
        let outlook = r#"<p>Please cancel.</p><div id="appendonsend"></div><hr><div id="x_divRplyFwdMsg"><b>From:</b> Shop</div><p>old text</p>"#;
        let text = to_text_marking_quotes(outlook);
        assert!(text.starts_with(&format!("Please cancel.\n\n{QUOTE_MARK}")), "{text:?}");
        // Without marking, the quote is text like any other.
        assert!(to_text(gmail).contains("old"));
        assert_eq!(to_text_marking_quotes("a\u{E000}b"), "ab", "a mark in the input is not a quote");
    }

    #[test]
    fn sanitised_markup_keeps_what_is_safe() {
        let clean = sanitise_bounded(
            r#"<p onclick="x()">Hi <a href="javascript:alert(1)">x</a><img src="cid:logo@x"><script>bad()</script><span style="display:none">pre</span></p>"#,
        )
        .unwrap();
        assert!(!clean.contains("onclick") && !clean.contains("javascript") && !clean.contains("script"), "{clean}");
        assert!(clean.contains(r#"src="cid:logo@x""#) && !clean.contains("pre"), "{clean}");
        let pixel =
            sanitise_bounded(r#"<p>Hi</p><img src="https://tracker.example/p.gif"><img src="CID:a@b">"#).unwrap();
        assert!(!pixel.contains("tracker.example") && pixel.contains("CID:a@b"), "{pixel}");
    }

    #[test]
    fn hostile_markup_is_not_sanitised_at_all() {
        let nested = "<div>".repeat(20_000);
        assert_eq!(sanitise_bounded(&nested), None);
        assert!(sanitise_bounded("<p>fine</p>").is_some());
    }

    #[test]
    fn tells_html_from_text() {
        assert!(looks_like_html("<p>Refund please</p>"));
        assert!(looks_like_html("Hi<br/>there"));
        assert!(!looks_like_html("Is 3 < 5? I think a<b is fine"));
        assert!(!looks_like_html("plain text"));
    }
}
