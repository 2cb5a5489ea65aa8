//! IMAP as the platform speaks it (`async-imap`): connecting to a mailbox's server with the
//! protection it asked for — TLS from the first byte, `STARTTLS`, or none to a server on this
//! machine — signing in with a password (`LOGIN`) or an OAuth 2.0 token (`AUTHENTICATE
//! XOAUTH2`), and reading each folder's state (`SELECT`: `UIDVALIDITY`, `UIDNEXT`, `EXISTS`).
//! The host is resolved through the outbound guard: in AWS only public addresses are reached.
//! Failures are sorted the way a mailbox's health shows them: the credentials were refused
//! (`auth_failed`) or the server could not be spoken to (`unreachable`).

use helpdesk_domain::email::{ImapAuth, ImapSecurity, ImapSettings};
use helpdesk_outbound::Destinations;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How long a whole check may take: below the function's own limit (28 s) and API Gateway's
/// (30 s), so a slow server is recorded as `unreachable` instead of the request dying.
pub const DEADLINE: Duration = Duration::from_secs(20);
/// How much a check reads from a server at most, and the largest literal (`{n}`) it accepts:
/// a check reads greetings and short answers, and a hostile server must not make the client
/// allocate what it announces.
pub const CHECK_MAX_BYTES: u64 = 1024 * 1024;
pub const CHECK_MAX_LITERAL: u64 = 64 * 1024;
/// Errors in words are cut to this many characters (a server's answer is not ours to store
/// whole).
const ERROR_CHARS: usize = 300;

/// One folder's state, as `SELECT` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FolderState {
    pub name: String,
    /// `UIDVALIDITY`: when it changes, every UID of the folder is new (RFC 9051 §2.3.1.1).
    pub uid_validity: Option<u32>,
    /// `UIDNEXT`: the UID the next message will get.
    pub uid_next: Option<u32>,
    /// Messages in the folder.
    pub exists: u32,
}

/// Why a check failed, in words for an admin (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImapFailure {
    /// The server refused the credentials.
    #[error("the server refused the sign-in: {0}")]
    AuthFailed(String),
    /// The server could not be reached or spoken to (name, connection, TLS, protocol, a folder
    /// that is not there).
    #[error("{0}")]
    Unreachable(String),
}

/// Connects, signs in, selects every folder and signs out.
pub async fn check(
    settings: &ImapSettings,
    secret: &str,
    destinations: Destinations,
) -> Result<Vec<FolderState>, ImapFailure> {
    let result = tokio::time::timeout(DEADLINE, check_within(settings, secret, destinations))
        .await
        .unwrap_or_else(|_| Err(ImapFailure::Unreachable(format!("no answer within {} s", DEADLINE.as_secs()))));
    result.map_err(|e| match e {
        ImapFailure::AuthFailed(text) => ImapFailure::AuthFailed(words(&text)),
        ImapFailure::Unreachable(text) => ImapFailure::Unreachable(words(&text)),
    })
}

/// An error's text as stored and shown: control characters gone, at most [`ERROR_CHARS`].
fn words(text: &str) -> String {
    let text = text.split(" during parsing of").next().unwrap_or(text);
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut cut: String = clean.chars().take(ERROR_CHARS).collect();
    if clean.chars().count() > ERROR_CHARS {
        cut.push('…');
    }
    cut
}

async fn check_within(
    settings: &ImapSettings,
    secret: &str,
    destinations: Destinations,
) -> Result<Vec<FolderState>, ImapFailure> {
    let unreachable = |what: &str, e: &dyn std::fmt::Display| {
        ImapFailure::Unreachable(format!("{what} {}:{}: {e}", settings.host, settings.port))
    };
    let addrs = helpdesk_outbound::resolve(&settings.host, settings.port, destinations)
        .await
        .map_err(|e| unreachable("resolving", &e))?;
    let tcp = TcpStream::connect(&addrs[..]).await.map_err(|e| unreachable("connecting to", &e))?;
    match settings.security {
        ImapSecurity::None => session(Guarded::new(tcp), settings, secret).await,
        ImapSecurity::Tls => session(Guarded::new(tls(tcp, &settings.host).await?), settings, secret).await,
        ImapSecurity::Starttls => {
            let mut client = async_imap::Client::new(Guarded::new(tcp));
            greeting(&mut client).await?;
            client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| unreachable("STARTTLS with", &e))?;
            // Whatever the server sent after its OK is dropped with the client's buffer: only
            // what comes through TLS is read (no STARTTLS response injection).
            let plain = client.into_inner().into_inner();
            session(Guarded::new(tls(plain, &settings.host).await?), settings, secret).await
        }
    }
}

/// A TLS stream to `host`, its certificate checked against the Mozilla roots.
async fn tls(tcp: TcpStream, host: &str) -> Result<tokio_rustls::client::TlsStream<TcpStream>, ImapFailure> {
    use tokio_rustls::rustls;
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapFailure::Unreachable(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ImapFailure::Unreachable(format!("TLS: {host}: {e}")))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| ImapFailure::Unreachable(format!("TLS with {host}: {e}")))
}

async fn greeting<S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send>(
    client: &mut async_imap::Client<S>,
) -> Result<(), ImapFailure> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapFailure::Unreachable("the server closed the connection before greeting".into())),
        Err(e) => Err(ImapFailure::Unreachable(format!("reading the greeting: {e}"))),
    }
}

/// The server's own words from async-imap's rendering of a `NO`/`BAD` answer
/// (`code: …, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")`).
fn server_words(text: &str) -> String {
    text.split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map_or_else(|| text.to_string(), |(words, _)| words.to_string())
}

/// SASL XOAUTH2 (Google's and Microsoft's IMAP): `user=…^Aauth=Bearer …^A^A` first; a
/// refusal comes as a JSON challenge, answered with an empty line so the server can end the
/// exchange with its `NO` and reason (Google's XOAUTH2 protocol).
struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
        if std::mem::replace(&mut self.sent, true) {
            return String::new();
        }
        format!("user={}\x01auth=Bearer {}\x01\x01", self.user, self.token)
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send>(
    stream: S,
    settings: &ImapSettings,
    secret: &str,
) -> Result<Vec<FolderState>, ImapFailure> {
    let mut client = async_imap::Client::new(stream);
    // After STARTTLS there is no second greeting; a new connection has one.
    if settings.security != ImapSecurity::Starttls {
        greeting(&mut client).await?;
    }
    let signed_in = match settings.auth {
        ImapAuth::Password => client.login(&settings.username, secret).await,
        ImapAuth::Xoauth2 => {
            client.authenticate("XOAUTH2", XOAuth2 { user: &settings.username, token: secret, sent: false }).await
        }
    };
    let mut session = signed_in.map_err(|(e, _)| match e {
        // RFC 5530: `[UNAVAILABLE]` is the server's trouble, not the credentials'.
        async_imap::error::Error::No(text) if text.contains("[UNAVAILABLE]") => {
            ImapFailure::Unreachable(format!("signing in: {}", server_words(&text)))
        }
        async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
            ImapFailure::AuthFailed(server_words(&text))
        }
        other => ImapFailure::Unreachable(format!("signing in: {other}")),
    })?;
    let mut folders = Vec::new();
    for name in &settings.folders {
        let selected = session.select(name).await.map_err(|e| match e {
            async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                ImapFailure::Unreachable(format!("SELECT {name}: {}", server_words(&text)))
            }
            other => ImapFailure::Unreachable(format!("SELECT {name}: {other}")),
        })?;
        folders.push(FolderState {
            name: name.clone(),
            uid_validity: selected.uid_validity,
            uid_next: selected.uid_next,
            exists: selected.exists,
        });
    }
    // A failed LOGOUT changes nothing the check found.
    let _ = session.logout().await;
    Ok(folders)
}

/// A server connection held to what a check needs: at most [`CHECK_MAX_BYTES`] read, and no
/// literal announced (`{n}` or `{n+}` before a line end) larger than [`CHECK_MAX_LITERAL`] —
/// async-imap sizes its buffer by the announcement before the bytes arrive.
#[derive(Debug)]
struct Guarded<S> {
    inner: S,
    read: u64,
    /// The end of what was read last, where an announcement may have begun.
    tail: Vec<u8>,
}

impl<S> Guarded<S> {
    fn new(inner: S) -> Self {
        Self { inner, read: 0, tail: Vec::new() }
    }

    fn into_inner(self) -> S {
        self.inner
    }

    /// The largest literal announced in `bytes` (with the previous read's tail before them).
    fn largest_literal(&mut self, bytes: &[u8]) -> u64 {
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(bytes);
        let mut largest = 0;
        for (at, _) in window.iter().enumerate().filter(|(_, b)| **b == b'{') {
            let digits: Vec<u8> = window[at + 1..].iter().take_while(|b| b.is_ascii_digit()).copied().collect();
            let rest = &window[at + 1 + digits.len()..];
            if !digits.is_empty() && (rest.starts_with(b"}") || rest.starts_with(b"+}")) {
                let n = std::str::from_utf8(&digits).ok().and_then(|d| d.parse::<u64>().ok()).unwrap_or(u64::MAX);
                largest = largest.max(n);
            }
        }
        // Keep an announcement that may be cut off at the end (a `{` not yet closed), and
        // nothing already seen whole.
        if let Some(open) = window.iter().rposition(|b| *b == b'{') {
            if !window[open..].contains(&b'}') && window.len() - open <= 24 {
                self.tail = window[open..].to_vec();
            }
        }
        largest
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Guarded<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &polled {
            let fresh = buf.filled()[before..].to_vec();
            self.read += fresh.len() as u64;
            let too_much = |what: String| std::task::Poll::Ready(Err(std::io::Error::other(what)));
            if self.read > CHECK_MAX_BYTES {
                return too_much(format!("the server sent more than {CHECK_MAX_BYTES} bytes"));
            }
            let literal = self.largest_literal(&fresh);
            if literal > CHECK_MAX_LITERAL {
                return too_much(format!("the server announced a {literal}-byte literal"));
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Guarded<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announced_literals_are_seen_across_reads() {
        let mut g = Guarded::new(());
        assert_eq!(g.largest_literal(b"* OK ready\r\n"), 0);
        assert_eq!(g.largest_literal(b"* 1 FETCH (BODY[] {53600"), 0);
        assert_eq!(g.largest_literal(b"0000}\r\n"), 536_000_000);
        assert_eq!(g.largest_literal(b"a {12+}\r\n"), 12);
    }

    #[test]
    fn error_words_are_short_and_plain() {
        assert_eq!(words("bad\r\nthing during parsing of \"secret stuff\""), "bad  thing");
        assert_eq!(words(&"x".repeat(400)).chars().count(), ERROR_CHARS + 1);
    }
}
