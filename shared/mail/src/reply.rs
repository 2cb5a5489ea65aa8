//! The customer's new words in an email: what the AI reads and drafts answer. Quoted earlier
//! messages, reply headers, signatures and phone footers are removed; the whole text is kept
//! elsewhere.
//!
//! The approach of the peers (GitHub's email_reply_parser, Mailgun's talon, Zammad's and
//! FreeScout's reply separators), for every language the engine supports: find where the
//! quoted history starts — an attribution line ("On … wrote:", "Am … schrieb …:", "Op …
//! schreef …:", "…님이 작성:", also wrapped over two lines), a header block such as Outlook's
//! `From/Sent/To/Subject` in any of those languages, an "original message" separator, a run of
//! `>` lines, or an HTML quote container ([`crate::html::QUOTE_MARK`]). Text above it is the
//! reply (top-posting). Nothing above it means the customer answered below or between the
//! quoted lines: the lines that are not quoted are the reply. A forwarded message is kept whole
//! (what was forwarded is the point). Then the signature: the `-- ` delimiter, a phone or app
//! footer ("Sent from my iPhone", "Enviado do meu iPhone", "Inviato da iPhone", …), or a
//! sign-off followed by a short block (name, title, phone). Nothing is ever emptied: when no
//! words would be left, the text is returned whole.

use crate::html::QUOTE_MARK;
use regex::Regex;
use std::sync::LazyLock;

/// The reply and what was found around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The customer's new words.
    pub text: String,
    /// Quoted history was found and removed.
    pub quote_removed: bool,
    /// The message forwards another (kept whole).
    pub forwarded: bool,
}

/// The reply in plain text (from a text part, or HTML rendered with
/// [`crate::html::to_text_marking_quotes`]).
pub fn extract(text: &str) -> Reply {
    let normalised = text.replace("\r\n", "\n").replace(['\u{a0}', '\u{202f}'], " ");
    let lines: Vec<&str> = normalised.lines().collect();
    let whole = || clean_marks(&normalised);

    let boundary = (0..lines.len()).find_map(|i| boundary_at(&lines, i).map(|b| (i, b)));
    let Some((at, kind)) = boundary else {
        return Reply { text: or_whole(strip_signature(&lines), whole), quote_removed: false, forwarded: false };
    };
    if kind == Boundary::Forward {
        return Reply {
            text: or_whole(strip_signature(&lines[..at]), whole) + &forwarded_part(&lines[at..]),
            quote_removed: false,
            forwarded: true,
        };
    }
    let above = strip_signature(&lines[..at]);
    if !above.is_empty() {
        return Reply { text: above, quote_removed: true, forwarded: false };
    }
    // Answered below (or between) the quoted lines: what is not quoted, after the boundary.
    let below: Vec<&str> = match kind {
        // After a header block or a separator everything is history, unquoted as it is.
        Boundary::HeaderBlock | Boundary::Separator => Vec::new(),
        _ => {
            let mut kept = Vec::new();
            let mut i = at;
            while i < lines.len() {
                if let Some(b) = boundary_at(&lines, i) {
                    if matches!(b, Boundary::HeaderBlock | Boundary::Separator | Boundary::Forward) && i > at {
                        break;
                    }
                    i += b.lines();
                    continue;
                }
                kept.push(lines[i]);
                i += 1;
            }
            kept
        }
    };
    let text = strip_signature(&below);
    if text.is_empty() {
        return Reply { text: whole(), quote_removed: false, forwarded: false };
    }
    Reply { text, quote_removed: true, forwarded: false }
}

/// What starts quoted history at a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    /// A quote container's mark, or one `>` line (each is one line).
    Quote,
    /// An attribution line, over this many lines (1 or 2).
    Attribution(usize),
    /// A header block of a quoted message (Outlook's `From:/Sent:/To:/Subject:`).
    HeaderBlock,
    /// "-----Original Message-----" and its translations.
    Separator,
    /// A forwarded message's header.
    Forward,
}

impl Boundary {
    fn lines(self) -> usize {
        match self {
            Self::Attribution(n) => n,
            _ => 1,
        }
    }
}

fn boundary_at(lines: &[&str], i: usize) -> Option<Boundary> {
    let line = lines[i].trim();
    if line == QUOTE_MARK.to_string() || line.starts_with('>') {
        return Some(Boundary::Quote);
    }
    if FORWARD.is_match(line) {
        return Some(Boundary::Forward);
    }
    if ORIGINAL_MESSAGE.is_match(line) {
        return Some(Boundary::Separator);
    }
    // A bare rule (Outlook's plain-text `____…`) only when a quoted header block follows it: a
    // customer draws rules in lists and orders too.
    if RULE.is_match(line) {
        let next = lines.iter().enumerate().skip(i + 1).find(|(_, l)| !l.trim().is_empty());
        if next.is_some_and(|(j, _)| is_header_block(lines, j)) {
            return Some(Boundary::Separator);
        }
    }
    if is_header_block(lines, i) {
        return Some(Boundary::HeaderBlock);
    }
    if is_attribution(line) {
        return Some(Boundary::Attribution(1));
    }
    // Clients wrap a long attribution line (Gmail's plain text at 76 columns): the address on
    // the next line. Both lines must be short and the pair must read as one attribution.
    if let Some(next) = lines.get(i + 1) {
        let next = next.trim();
        if !line.is_empty()
            && !next.is_empty()
            && line.len() < 200
            && next.len() < 200
            && !ATTRIBUTION_END.is_match(line)
            && is_attribution(&format!("{line} {next}"))
        {
            return Some(Boundary::Attribution(2));
        }
    }
    None
}

/// An attribution line: a known form, with a date, time or address in it when it starts like
/// one ("On …", "Am …"), and with an address when the verb is all there is ("… wrote:"), so
/// a customer's own "as I wrote on 3 June:" is not one.
fn is_attribution(line: &str) -> bool {
    if line.chars().count() > 300 {
        return false;
    }
    let dated = line.contains('@') || line.chars().any(|c| c.is_ascii_digit());
    (ATTRIBUTION.is_match(line) && dated)
        || (ATTRIBUTION_ANYWHERE.is_match(line) && line.contains('@'))
        || (CJK_ATTRIBUTION.is_match(line) && dated)
}

/// "On … wrote:" and its kin, by language: English, Spanish, French, German, Dutch,
/// Portuguese, Italian, Catalan, Swedish/Norwegian/Danish, Finnish, Polish.
static ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?ix)^(?:on|el|le|am|em|il|op|den|w\s+dniu|\d).{0,250}
            (?:\bwrote|\bescribió|\ba\s+écrit|\bschrieb|\bescreveu|\bha\s+scritto|\bschreef|\bva\s+escriure|\bskrev|\bkirjoitti|\bnapisał|\bpisze)
            (?:\s.{0,120})?\s?:\s*$",
    )
    .expect("a valid pattern")
});

/// "Name <address> wrote:" and "Name <address> schrieb am …:" (the verb after the sender).
static ATTRIBUTION_ANYWHERE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^.{0,250}(?:\bwrote|\bschrieb|\bschreef|\bescribió|\bescreveu|\bha\s+scritto|\ba\s+écrit|\bskrev|\bnapisał)(?:\s.{0,120})?\s?:\s*$",
    )
    .expect("a valid pattern")
});

/// Japanese, Chinese and Korean attributions: Gmail's `2025年11月24日(月) 10:02 Name <a@b>:`,
/// `在 … 写道：` / `於 … 寫道：`, `…님이 작성:`, `…のメッセージ:`, `…さんは書きました:`.
static CJK_ATTRIBUTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日.{0,200}[>)）]\s*[:：]|.{0,250}(?:写道|寫道|님이\s*작성|작성함|のメッセージ|さんは書きました|書きました)\s*[:：]|\d{4}\s*년\s*\d{1,2}\s*월\s*\d{1,2}\s*일.{0,200}[:：])\s*$",
    )
    .expect("a valid pattern")
});

/// A line that already ends an attribution (then it is not the first half of a wrapped one).
static ATTRIBUTION_END: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[:：]\s*$").expect("a valid pattern"));

/// "-----Original Message-----" and its translations.
static ORIGINAL_MESSAGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^-{2,}\s*(?:original message|mensaje original|message d'origine|ursprüngliche nachricht|originalnachricht|messaggio originale|oorspronkelijk bericht|origineel bericht|mensagem original|missatge original|元のメッセージ|原始邮件|原始郵件|원본 메시지)\s*-{2,}\s*$",
    )
    .expect("a valid pattern")
});

/// A horizontal rule drawn in text.
static RULE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:_{10,}|-{10,})\s*$").expect("a valid pattern"));

/// A forwarded message's header, by client and language.
static FORWARD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|mensaje reenviado|message transféré|messaggio inoltrato|doorgestuurd bericht|mensagem encaminhada|missatge reenviat|転送されたメッセージ|转发的邮件|轉寄的郵件|전달된 메시지)\s*-{2,}|begin forwarded message:|anfang der weitergeleiteten nachricht:|inicio del mensaje reenviado:|début du message réexpédié :?|inizio messaggio inoltrato:|begin doorgestuurd bericht:|início da mensagem reencaminhada:)\s*$",
    )
    .expect("a valid pattern")
});

/// Header labels of a quoted message's block, by kind, in the supported languages (Outlook
/// translates them; `*` around a label is html2text's or a client's bold).
static HEADER_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^[*\s]*(?P<label>from|von|de|da|van|från|fra|od|差出人|发件人|發件人|寄件者|보낸\s*사람|sent|date|gesendet|datum|enviado|envoyé|inviato|data|verzonden|verstuurd|enviat|skickat|sendt|送信日時|日付|发送时间|發送時間|寄件日期|날짜|보낸\s*날짜|to|an|para|à|a|aan|per a|till|til|宛先|收件人|收件者|받는\s*사람|subject|betreff|asunto|objet|oggetto|onderwerp|assunto|assumpte|ämne|emne|件名|主题|主旨|제목|cc|kopie)[*\s]*[:：]",
    )
    .expect("a valid pattern")
});

#[derive(PartialEq)]
enum Label {
    From,
    Sent,
    To,
    Subject,
    Cc,
}

fn label(line: &str) -> Option<Label> {
    let found = HEADER_LABEL.captures(line)?;
    let l = found["label"].to_lowercase();
    let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
    Some(match l.as_str() {
        "from" | "von" | "de" | "da" | "van" | "från" | "fra" | "od" | "差出人" | "发件人" | "發件人" | "寄件者"
        | "보낸 사람" => Label::From,
        "sent" | "date" | "gesendet" | "datum" | "enviado" | "envoyé" | "inviato" | "data" | "verzonden"
        | "verstuurd" | "enviat" | "skickat" | "sendt" | "送信日時" | "日付" | "发送时间" | "發送時間" | "寄件日期"
        | "날짜" | "보낸 날짜" => Label::Sent,
        "cc" | "kopie" => Label::Cc,
        "subject" | "betreff" | "asunto" | "objet" | "oggetto" | "onderwerp" | "assunto" | "assumpte" | "ämne"
        | "emne" | "件名" | "主题" | "主旨" | "제목" => Label::Subject,
        _ => Label::To,
    })
}

/// A "From:" line followed, within the next five lines, by at least two of the other labels
/// (sent/date, to, subject), and either an address on the From line or a Subject among them:
/// "From: Berlin / To: Paris / Date: 12 December" is a customer's booking, not a quote.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let from = lines[i].trim();
    if label(from) != Some(Label::From) {
        return false;
    }
    let mut seen = Vec::new();
    for line in lines.iter().skip(i + 1).take(5) {
        match label(line.trim()) {
            Some(l @ (Label::Sent | Label::To | Label::Subject)) if !seen.contains(&l) => seen.push(l),
            _ => {}
        }
    }
    let addressed = from.contains('@') || from.contains('<') || from.to_ascii_lowercase().contains("mailto:");
    seen.len() >= 2 && (addressed || seen.contains(&Label::Subject))
}

/// Phone and app footers, alone on their line: "Sent from my iPhone", "Sent from Yahoo Mail for
/// iPhone", "Get Outlook for Android", "Enviado do meu iPhone", "Inviato da iPhone", "Von meinem
/// iPhone gesendet", "Verzonden vanaf mijn iPhone", "iPhoneから送信", "从我的iPhone发送", …
static FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    const APPS: &str = r"(?:(?:my|mi|meu|mon|mijn|mio|meinem)\s+)?(?:iphone|ipad|android|samsung|galaxy|huawei|xiaomi|pixel|blackberry|smartphone|mobile|phone|handy|móvil|movil|celular|telemóvel|portable|cellulare|telefoon|yahoo|aol|outlook|gmail|mail|spark|proton\s?mail|superhuman|airmail|edison|bluemail|newton|the\s+\S+\s+app)";
    Regex::new(&format!(
        r"(?i)^(?:sent\s+(?:from|with|via|using)\s+{APPS}.{{0,40}}|get\s+outlook\s+for\s+\S.{{0,30}}|enviado\s+(?:desde|do|a\s+partir\s+do|con)\s+{APPS}.{{0,40}}|envoyé\s+(?:de|depuis|avec)\s+{APPS}.{{0,40}}|inviato\s+da\s+{APPS}.{{0,40}}|von\s+meinem\s+\S.{{0,40}}\s+gesendet|gesendet\s+(?:von|mit)\s+{APPS}.{{0,40}}|verzonden\s+(?:vanaf|met|van)\s+{APPS}.{{0,40}}|verstuurd\s+(?:vanaf|met)\s+{APPS}.{{0,40}}|enviat\s+des\s+del?\s+{APPS}.{{0,40}}|\S{{1,30}}から送信|从我的\s?\S{{1,30}}发送|從我的\s?\S{{1,30}}傳送|내\s?\S{{1,30}}에서\s?보냄)\s*$"
    ))
    .expect("a valid pattern")
});

/// A sign-off line, after which only a short block (name, title, phone) may follow.
static SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:best regards|kind regards|warm regards|regards|best|cheers|thanks|thank you|many thanks|sincerely|saludos|un saludo|saludos cordiales|atentamente|cordialement|bien à vous|bien cordialement|mit freundlichen grüßen|viele grüße|liebe grüße|gruß|grüße|met vriendelijke groet|groeten|vriendelijke groet|cordiali saluti|saluti|distinti saluti|atenciosamente|cumprimentos|obrigado|obrigada|salutacions|よろしくお願いします|よろしくお願いいたします|此致|谢谢|감사합니다)[,.!]?\s*$",
    )
    .expect("a valid pattern")
});

/// The lines without a trailing signature, phone footer or sign-off block, trimmed, quote marks
/// and separators dropped.
fn strip_signature(lines: &[&str]) -> String {
    let mut cut = lines.len();
    if let Some(i) = lines.iter().position(|l| *l == "-- " || l.trim_end() == "--") {
        cut = i;
    }
    // A footer ends what a person typed: at most a line or two (a name) after it.
    let footer = |l: &&str| {
        FOOTER.is_match(l.trim()) && !l.trim_end().ends_with(['.', '?', '!', ',']) && l.split_whitespace().count() <= 8
    };
    if let Some(i) = lines[..cut].iter().position(footer) {
        if non_empty(&lines[i + 1..cut]) <= 2 {
            cut = i;
        }
    }
    if let Some(i) = lines[..cut].iter().rposition(|l| SIGN_OFF.is_match(l)) {
        // A sign-off ends the message when words come before it and only a short block that
        // reads as a signature (a name, a title, a phone number: no sentences) after it.
        let (before, after) = (&lines[..i], &lines[i + 1..cut]);
        let words_before = before.iter().flat_map(|l| l.split_whitespace()).count();
        let postscript = after.iter().any(|l| {
            let l = l.trim_start().to_ascii_lowercase();
            l.starts_with("ps") || l.starts_with("p.s")
        });
        let signature_like = !postscript
            && after.iter().all(|l| {
                let l = l.trim();
                l.chars().count() < 60 && (l.split_whitespace().count() <= 2 || !l.ends_with(['.', '?', '!']))
            });
        if words_before >= 2 && non_empty(after) <= 4 && signature_like {
            cut = i;
        }
    }
    // Quote marks go; a rule or "original message" line is dropped only where it ends the
    // reply (it led into the quote that was cut), not inside the customer's text.
    let mut kept: Vec<&str> = lines[..cut].iter().copied().filter(|l| !l.trim().starts_with(QUOTE_MARK)).collect();
    while kept.last().is_some_and(|l| {
        let l = l.trim();
        l.is_empty() || RULE.is_match(l) || ORIGINAL_MESSAGE.is_match(l)
    }) {
        kept.pop();
    }
    kept.join("\n").trim().to_string()
}

/// The forwarded part as it came (the marks of quote containers dropped).
fn forwarded_part(lines: &[&str]) -> String {
    let part = clean_marks(&lines.join("\n"));
    if part.is_empty() {
        part
    } else {
        format!("\n\n{part}")
    }
}

fn non_empty(lines: &[&str]) -> usize {
    lines.iter().filter(|l| !l.trim().is_empty()).count()
}

fn clean_marks(text: &str) -> String {
    let kept: Vec<&str> = text.lines().filter(|l| l.trim() != QUOTE_MARK.to_string()).collect();
    kept.join("\n").trim().to_string()
}

fn or_whole(text: String, whole: impl FnOnce() -> String) -> String {
    if text.is_empty() {
        whole()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str) -> String {
        extract(text).text
    }

    #[test]
    fn top_posted_replies_lose_the_quote_in_every_language() {
        let cases = [
            "Still no refund.\n\nOn Mon, 3 Jun 2024 at 10:02, Support <help@shop.example> wrote:\n> We refunded you.",
            "Still no refund.\n\nEl lun, 3 jun 2024 a las 10:02, Tienda (<help@shop.example>) escribió:\n> Hola",
            "Still no refund.\n\nLe lun. 3 juin 2024 à 10:02, Boutique <help@shop.example> a écrit :\n> Bonjour",
            "Still no refund.\n\nAm Mo., 3. Juni 2024 um 10:02 Uhr schrieb Shop <help@shop.example>:\n> Hallo",
            "Still no refund.\n\nShop <help@shop.example> schrieb am Mo., 3. Juni 2024, 10:02:\n> Hallo",
            "Still no refund.\n\nOp di 24 nov. 2025 om 22:12 schreef Klantenservice <hulp@shop.example>:\n> Hallo",
            "Still no refund.\n\nEm seg., 3 de jun. de 2024 às 10:02, Loja <help@shop.example> escreveu:\n> Olá",
            "Still no refund.\n\nIl giorno lun 3 giu 2024 alle ore 10:02 Negozio <help@shop.example> ha scritto:\n> Ciao",
            "Still no refund.\n\nEl dl., 3 de juny 2024 a les 10:02, Botiga (<help@shop.example>) va escriure:\n> Hola",
            "Still no refund.\n\n2025年11月24日(月) 22:12 Shop Support <help@shop.example>:\n> こんにちは",
            "Still no refund.\n\n在 2025年11月24日 22:12，Shop Support <help@shop.example> 写道：\n> 你好",
            "Still no refund.\n\n2025년 11월 24일 (월) 오후 10:12, Shop Support <help@shop.example>님이 작성:\n> 안녕하세요",
        ];
        for case in cases {
            assert_eq!(reply(case), "Still no refund.", "{case}");
        }
    }

    #[test]
    fn an_attribution_wrapped_over_two_lines_is_one() {
        let text = "Where is it?\n\nOn Mon, Nov 24, 2025 at 10:02 AM Shop Support Team <\nsupport@shop.example> wrote:\n\n> Your parcel left.";
        assert_eq!(reply(text), "Where is it?");
    }

    #[test]
    fn outlook_header_blocks_in_any_language_end_the_reply() {
        let german = "Bitte stornieren.\n\nVon: Shop <help@shop.example>\nGesendet: Montag, 24. November 2025 10:02\nAn: Ana <ana@example.com>\nBetreff: Ihre Bestellung\n\nHallo Ana, ...";
        assert_eq!(reply(german), "Bitte stornieren.");
        let bold = "Please cancel.\n\n________________________________\n**From:** Shop\n**Sent:** Monday\n**To:** Ana\n**Subject:** Order\n\nOld text";
        assert_eq!(reply(bold), "Please cancel.");
        let french =
            "Annulez.\n\nDe : Boutique\nEnvoyé : lundi 24 novembre 2025 10:02\nÀ : Ana\nObjet : Commande\n\nBonjour";
        assert_eq!(reply(french), "Annulez.");
        let separator = "Please cancel it.\n\n-----Original Message-----\nFrom: Shop\nSent: Monday\nYour order shipped";
        assert_eq!(reply(separator), "Please cancel it.");
    }

    #[test]
    fn a_single_from_line_is_the_customers_own() {
        let text = "From: my old address I could log in.\nNow I cannot.";
        assert_eq!(reply(text), text);
    }

    #[test]
    fn a_reply_below_the_quote_is_kept_and_the_quote_dropped() {
        let text = "On 24/11/2025 10:02, Shop Support wrote:\n> Did the replacement arrive?\n> Kind regards\n\nNo, it did not. Please send it again.";
        let r = extract(text);
        assert_eq!(r.text, "No, it did not. Please send it again.");
        assert!(r.quote_removed);
        let inline = "> Which colour?\nBlue.\n> Which size?\nLarge.";
        assert_eq!(reply(inline), "Blue.\nLarge.");
    }

    #[test]
    fn phone_footers_and_signatures_go() {
        for footer in [
            "Sent from my iPhone",
            "Sent from Yahoo Mail for iPhone",
            "Get Outlook for Android",
            "Enviado do meu iPhone",
            "Enviado desde mi Samsung Galaxy",
            "Inviato da iPhone",
            "Envoyé de mon iPhone",
            "Von meinem iPhone gesendet",
            "Verzonden vanaf mijn iPhone",
            "iPhoneから送信",
            "从我的iPhone发送",
        ] {
            assert_eq!(reply(&format!("Where is my order?\n\n{footer}")), "Where is my order?", "{footer}");
        }
        assert_eq!(reply("The app crashes on login.\n-- \nBen\nCTO, Example Ltd"), "The app crashes on login.");
        assert_eq!(reply("Still broken.\n\nMet vriendelijke groet,\nJan de Vries\n06 1234 5678"), "Still broken.");
    }

    #[test]
    fn a_thanks_inside_the_message_is_not_a_sign_off() {
        assert_eq!(reply("Hi,\nThanks\nIt works now."), "Hi,\nThanks\nIt works now.");
        let sentence = "Hello,\nSent from the warehouse on Monday, it never came.\nWhere is it?";
        assert_eq!(reply(sentence), sentence);
    }

    #[test]
    fn customers_own_lines_that_look_like_quoting_are_kept() {
        for text in [
            "Hello,\nas I wrote on 3 June:\nthe blender arrived broken, refund 4411.",
            "Please change my booking:\nFrom: Berlin\nTo: Paris\nDate: 12 December",
            "My parcel 5531 was\nsent via DHL on 3 June\nbut never arrived",
            "Order 5531 never arrived.\nThanks\nPS: my new address is\n12 High Street, London",
            "My order:\n----------\n2x Blender\n----------\nOnly the kettle came.",
        ] {
            assert_eq!(reply(text), text, "{text}");
        }
    }

    #[test]
    fn a_long_text_after_thanks_is_the_message() {
        let long = "Thanks,\nI tried the steps you sent, but the export still fails with error 500 every time I press the button on the reports page, on every browser, since the last update; my whole team is blocked and we need the monthly report for our board meeting.";
        assert_eq!(reply(long), long);
    }

    #[test]
    fn forwarded_messages_are_kept() {
        let text = "Please look at this.\n\n---------- Forwarded message ---------\nFrom: Courier <noreply@courier.example>\nDate: Mon, 24 Nov 2025\nSubject: Delivery failed\nTo: ana@example.com\n\nWe could not deliver parcel 123.";
        let r = extract(text);
        assert!(r.forwarded);
        assert!(
            r.text.starts_with("Please look at this.") && r.text.ends_with("We could not deliver parcel 123."),
            "{}",
            r.text
        );
    }

    #[test]
    fn nothing_is_ever_emptied() {
        assert_eq!(reply("> only a quote"), "> only a quote");
        assert_eq!(reply("Sent from my iPhone"), "Sent from my iPhone");
        assert_eq!(reply(""), "");
    }

    #[test]
    fn a_customer_sentence_ending_in_wrote_is_not_an_attribution() {
        let text = "This is what my colleague wrote:\nthe invoice is wrong.";
        assert_eq!(reply(text), text);
    }
}
