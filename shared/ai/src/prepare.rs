//! Text preparation before any model sees a message: HTML rendered to plain text, and for email
//! the quoted earlier messages and the signature removed, so a reply is classified by what the
//! customer wrote now. The email rules are the mail crate's ([`helpdesk_mail::html`],
//! [`helpdesk_mail::reply`]): the ingest path stores the same `stripped_text`.

pub use helpdesk_mail::html::looks_like_html;

/// HTML as the plain text a reader sees ([`helpdesk_mail::html::to_text`]).
pub fn html_to_text(html: &str) -> String {
    helpdesk_mail::html::to_text(html)
}

/// The new part of an email reply ([`helpdesk_mail::reply::extract`]): never empties a message.
pub fn strip_email(text: &str) -> String {
    helpdesk_mail::reply::extract(text).text
}

/// A message body ready for the models.
pub fn prepare(body: &str, is_html: bool, is_email: bool) -> String {
    match (is_html, is_email) {
        // Quote containers are found in the markup, before it becomes text.
        (true, true) => helpdesk_mail::reply::extract(&helpdesk_mail::html::to_text_marking_quotes(body)).text,
        (true, false) => html_to_text(body),
        (false, true) => strip_email(body),
        (false, false) => body.trim().to_string(),
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
    fn prepares_by_channel() {
        assert_eq!(prepare("  hi  ", false, false), "hi");
        assert!(prepare("<p>Refund please</p><blockquote>old</blockquote>", true, true).starts_with("Refund please"));
    }
}
