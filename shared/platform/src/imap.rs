//! IMAP as the platform speaks it (`async-imap`): connecting to a mailbox's server with the
//! protection it asked for — TLS from the first byte, `STARTTLS`, or none to a server on this
//! machine — signing in with a password (`LOGIN`) or an OAuth 2.0 token (`AUTHENTICATE
//! XOAUTH2`), reading each folder's state (`EXAMINE`: `UIDVALIDITY`, `UIDNEXT`, `EXISTS`) and
//! fetching messages whole without marking them read (`BODY.PEEK[]`).
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
    let checked = async {
        let mut session = ImapSession::open(settings, secret, destinations, Limits::CHECK).await?;
        let mut folders = Vec::new();
        for name in &settings.folders {
            folders.push(session.examine(name).await?);
        }
        session.logout().await;
        Ok(folders)
    };
    let result = tokio::time::timeout(DEADLINE, checked)
        .await
        .unwrap_or_else(|_| Err(ImapFailure::Unreachable(format!("no answer within {} s", DEADLINE.as_secs()))));
    result.map_err(ImapFailure::in_words)
}

impl ImapFailure {
    /// The failure as stored and shown: the text plain and short.
    fn in_words(self) -> Self {
        match self {
            ImapFailure::AuthFailed(text) => ImapFailure::AuthFailed(words(&text)),
            ImapFailure::Unreachable(text) => ImapFailure::Unreachable(words(&text)),
        }
    }
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

/// How much one connection may read: in all, in one literal (`{n}`), and in one line outside
/// literals (async-imap parses a line again as it grows: a server that never ends one would
/// cost CPU as the square of its length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_literal: u64,
    pub max_line: u64,
}

impl Limits {
    /// A check reads greetings and short answers.
    pub const CHECK: Limits =
        Limits { max_bytes: CHECK_MAX_BYTES, max_literal: CHECK_MAX_LITERAL, max_line: CHECK_MAX_LITERAL };
    /// A fetch reads messages up to `max_message` bytes; its longest lines are `UID SEARCH`
    /// answers (about 8 bytes a message: 8 MB is a million messages).
    pub const fn fetch(max_message: u64) -> Limits {
        Limits { max_bytes: 4 << 30, max_literal: max_message, max_line: 8 << 20 }
    }
}

/// A connection's byte stream, whichever protection it has.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

/// A signed-in IMAP session that only reads: folders are opened with `EXAMINE` (read-only, so
/// `\Recent` and everything else stay as they are) and messages fetched with `BODY.PEEK[]`
/// (no `\Seen` set): the people who also read the mailbox in their mail program see it as
/// they left it.
pub struct ImapSession {
    inner: async_imap::Session<Guarded<Box<dyn Io>>>,
}

/// A message as fetched: its UID and its raw bytes (`None` when the server sent no body).
#[derive(Debug)]
pub struct FetchedMessage {
    pub uid: u32,
    pub raw: Option<Vec<u8>>,
}

/// A failed command on an open session, in the health's terms.
fn command_failed(what: &str, e: async_imap::error::Error) -> ImapFailure {
    match e {
        async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
            ImapFailure::Unreachable(format!("{what}: {}", server_words(&text)))
        }
        other => ImapFailure::Unreachable(format!("{what}: {other}")),
    }
}

impl ImapSession {
    /// Connects (through the outbound guard), protects the connection as `settings` say and
    /// signs in with `secret` (a password, or an XOAUTH2 access token).
    pub async fn open(
        settings: &ImapSettings,
        secret: &str,
        destinations: Destinations,
        limits: Limits,
    ) -> Result<Self, ImapFailure> {
        let unreachable = |what: &str, e: &dyn std::fmt::Display| {
            ImapFailure::Unreachable(format!("{what} {}:{}: {e}", settings.host, settings.port))
        };
        let addrs = helpdesk_outbound::resolve(&settings.host, settings.port, destinations)
            .await
            .map_err(|e| unreachable("resolving", &e))?;
        let tcp = TcpStream::connect(&addrs[..]).await.map_err(|e| unreachable("connecting to", &e))?;
        let stream: Box<dyn Io> = match settings.security {
            ImapSecurity::None => Box::new(tcp),
            ImapSecurity::Tls => Box::new(tls(tcp, &settings.host).await?),
            ImapSecurity::Starttls => {
                let mut client = async_imap::Client::new(Guarded::new(tcp, limits));
                greeting(&mut client).await?;
                client
                    .run_command_and_check_ok("STARTTLS", None)
                    .await
                    .map_err(|e| unreachable("STARTTLS with", &e))?;
                // Whatever the server sent after its OK is dropped with the client's buffer:
                // only what comes through TLS is read (no STARTTLS response injection).
                let plain = client.into_inner().into_inner();
                Box::new(tls(plain, &settings.host).await?)
            }
        };
        let mut client = async_imap::Client::new(Guarded::new(stream, limits));
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
        let inner = signed_in.map_err(|(e, _)| match e {
            // RFC 5530: `[UNAVAILABLE]` is the server's trouble, not the credentials'.
            async_imap::error::Error::No(text) if text.contains("[UNAVAILABLE]") => {
                ImapFailure::Unreachable(format!("signing in: {}", server_words(&text)))
            }
            async_imap::error::Error::No(text) | async_imap::error::Error::Bad(text) => {
                ImapFailure::AuthFailed(server_words(&text))
            }
            other => ImapFailure::Unreachable(format!("signing in: {other}")),
        })?;
        Ok(Self { inner })
    }

    /// Opens `folder` read-only and reports its state. The name is as people write it
    /// (`Entwürfe`); the server is sent its modified UTF-7 form (RFC 3501 §5.1.3).
    pub async fn examine(&mut self, folder: &str) -> Result<FolderState, ImapFailure> {
        let encoded = utf7_imap::encode_utf7_imap(folder.to_string());
        let opened = self.inner.examine(&encoded).await.map_err(|e| command_failed(&format!("EXAMINE {folder}"), e))?;
        self.forget_unsolicited();
        Ok(FolderState {
            name: folder.to_string(),
            uid_validity: opened.uid_validity,
            uid_next: opened.uid_next,
            exists: opened.exists,
        })
    }

    /// The open folder's UIDs above `last_uid`, ascending. (`n:*` always matches the highest
    /// message, even below `n` — RFC 9051 §6.4.8 — so the answer is filtered.)
    pub async fn uids_after(&mut self, last_uid: u32) -> Result<Vec<u32>, ImapFailure> {
        let query = format!("UID {}:*", last_uid.saturating_add(1));
        let found = self.inner.uid_search(&query).await.map_err(|e| command_failed("UID SEARCH", e))?;
        self.forget_unsolicited();
        let mut uids: Vec<u32> = found.into_iter().filter(|u| *u > last_uid).collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The open folder's UIDs of messages that arrived on or after `day` (`SINCE`, the
    /// server's internal date), ascending.
    pub async fn uids_since(&mut self, day: chrono::NaiveDate) -> Result<Vec<u32>, ImapFailure> {
        let query = format!("SINCE {}", day.format("%-d-%b-%Y"));
        let found = self.inner.uid_search(&query).await.map_err(|e| command_failed("UID SEARCH", e))?;
        self.forget_unsolicited();
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Which of `uids` are still in the open folder (`UID SEARCH UID`), ascending: a message
    /// missing from a `FETCH` answer was either expunged meanwhile or could not be read by the
    /// server, and only this tells them apart.
    pub async fn existing(&mut self, uids: &[u32]) -> Result<Vec<u32>, ImapFailure> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let query = format!("UID {}", uid_set(uids));
        let found = self.inner.uid_search(&query).await.map_err(|e| command_failed("UID SEARCH", e))?;
        self.forget_unsolicited();
        let mut found: Vec<u32> = found.into_iter().filter(|u| uids.contains(u)).collect();
        found.sort_unstable();
        Ok(found)
    }

    /// The sizes (`RFC822.SIZE`, bytes) of `uids` in the open folder; a UID the server does
    /// not answer for (expunged meanwhile) is absent.
    pub async fn sizes(&mut self, uids: &[u32]) -> Result<Vec<(u32, u32)>, ImapFailure> {
        use futures::TryStreamExt;
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let fetched: Vec<_> = self
            .inner
            .uid_fetch(&set, "RFC822.SIZE")
            .await
            .map_err(|e| command_failed("UID FETCH RFC822.SIZE", e))?
            .try_collect()
            .await
            .map_err(|e| command_failed("UID FETCH RFC822.SIZE", e))?;
        self.forget_unsolicited();
        Ok(fetched.iter().filter_map(|f| Some((f.uid?, f.size?))).collect())
    }

    /// Fetches `uids` whole (`BODY.PEEK[]`), ascending by UID. A UID expunged meanwhile is
    /// simply absent; the caller sizes the batch (every message is held at once).
    pub async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<FetchedMessage>, ImapFailure> {
        use futures::StreamExt;
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let mut stream =
            self.inner.uid_fetch(&set, "(UID BODY.PEEK[])").await.map_err(|e| command_failed("UID FETCH", e))?;
        let mut messages = Vec::new();
        while let Some(item) = stream.next().await {
            let fetched = item.map_err(|e| command_failed("UID FETCH", e))?;
            // Unsolicited FETCH answers (another client's flag changes) name no UID we asked for.
            let Some(uid) = fetched.uid.filter(|u| uids.contains(u)) else { continue };
            messages.push(FetchedMessage { uid, raw: fetched.body().map(<[u8]>::to_vec) });
        }
        drop(stream);
        self.forget_unsolicited();
        messages.sort_by_key(|m| m.uid);
        Ok(messages)
    }

    /// Signs out; a failed `LOGOUT` changes nothing already read.
    pub async fn logout(mut self) {
        let _ = self.inner.logout().await;
    }

    /// Server news nobody asked for (`EXISTS`, `EXPUNGE`) is not needed between polls.
    fn forget_unsolicited(&mut self) {
        while self.inner.unsolicited_responses.try_recv().is_ok() {}
    }
}

/// A UID set in IMAP's syntax, runs folded (`1:4,7,9:10`).
fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end = sorted[i];
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}:{end}") });
        i += 1;
    }
    parts.join(",")
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

/// A server connection held to its [`Limits`]: at most `max_bytes` read, and no literal
/// announced (`{n}` or `{n+}` before a line end) larger than `max_literal` — async-imap sizes
/// its buffer by the announcement before the bytes arrive.
#[derive(Debug)]
struct Guarded<S> {
    inner: S,
    limits: Limits,
    read: u64,
    /// The end of what was read last, where an announcement may have begun.
    tail: Vec<u8>,
    /// Bytes of an announced literal still to come (not read for announcements).
    skip: u64,
    /// Bytes since the last line end, outside literals.
    line: u64,
}

impl<S> Guarded<S> {
    fn new(inner: S, limits: Limits) -> Self {
        Self { inner, limits, read: 0, tail: Vec::new(), skip: 0, line: 0 }
    }

    fn into_inner(self) -> S {
        self.inner
    }

    /// The largest literal announced in `bytes` (with the previous read's tail before them).
    /// An announcement is `{n}` (or `{n+}`) right before a line end; the `n` bytes that follow
    /// it are the literal's own and are not read for announcements (a message may say
    /// `{60000000}` in its text without being one).
    fn largest_literal(&mut self, bytes: &[u8]) -> u64 {
        let mut window = std::mem::take(&mut self.tail);
        window.extend_from_slice(bytes);
        let mut largest = 0;
        let mut at = 0;
        while at < window.len() {
            if self.skip > 0 {
                let n = self.skip.min((window.len() - at) as u64);
                self.skip -= n;
                at += n as usize;
                continue;
            }
            if window[at] != b'{' {
                self.line = if window[at] == b'\n' { 0 } else { self.line + 1 };
                at += 1;
                continue;
            }
            let digits = window[at + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
            let rest = &window[at + 1 + digits..];
            let closing: &[u8] = if rest.starts_with(b"+") { b"+}\r\n" } else { b"}\r\n" };
            if digits > 0 && rest.starts_with(closing) {
                let n = std::str::from_utf8(&window[at + 1..at + 1 + digits])
                    .ok()
                    .and_then(|d| d.parse::<u64>().ok())
                    .unwrap_or(u64::MAX);
                largest = largest.max(n);
                self.skip = n;
                self.line = 0;
                at += 1 + digits + closing.len();
            } else if closing.starts_with(rest) && window.len() - at <= 24 {
                // An announcement cut off at the end of this read: kept for the next.
                self.tail = window[at..].to_vec();
                break;
            } else {
                self.line += 1;
                at += 1;
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
            if self.read > self.limits.max_bytes {
                return too_much(format!("the server sent more than {} bytes", self.limits.max_bytes));
            }
            let literal = self.largest_literal(&fresh);
            if self.line > self.limits.max_line {
                return too_much(format!("the server sent a line longer than {} bytes", self.limits.max_line));
            }
            if literal > self.limits.max_literal {
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
        let mut g = Guarded::new((), Limits::CHECK);
        assert_eq!(g.largest_literal(b"* OK ready\r\n"), 0);
        assert_eq!(g.largest_literal(b"* 1 FETCH (BODY[] {53600"), 0);
        assert_eq!(g.largest_literal(b"0000}\r\n"), 536_000_000);
        let mut g = Guarded::new((), Limits::CHECK);
        assert_eq!(g.largest_literal(b"a {12+}\r\n"), 12);
        assert_eq!(g.largest_literal(b"x {5}"), 0, "not before a line end: text");
    }

    #[test]
    fn lines_are_counted_outside_literals() {
        let mut g = Guarded::new((), Limits::CHECK);
        g.largest_literal(b"* OK ");
        g.largest_literal(&vec![b'A'; 1000]);
        assert_eq!(g.line, 1005);
        g.largest_literal(b"\r\n* 1 FETCH (BODY[] {5000}\r\n");
        g.largest_literal(&vec![b'x'; 5000]);
        assert_eq!(g.line, 0, "a literal's bytes are not a line");
    }

    #[test]
    fn a_literals_own_bytes_announce_nothing() {
        let mut g = Guarded::new((), Limits::CHECK);
        let body = b"Subject: x\r\n\r\nsee {60000000}\r\nhere\r\n";
        let head = format!("* 1 FETCH (UID 7 BODY[] {{{}}}\r\n", body.len());
        assert_eq!(g.largest_literal(head.as_bytes()), body.len() as u64);
        assert_eq!(g.largest_literal(&body[..20]), 0);
        assert_eq!(g.largest_literal(&body[20..]), 0);
        assert_eq!(g.largest_literal(b")\r\n* 2 FETCH (UID 8 BODY[] {3}\r\nabc)\r\n"), 3);
    }

    #[test]
    fn folder_names_are_sent_in_modified_utf7() {
        assert_eq!(utf7_imap::encode_utf7_imap("Entwürfe".into()), "Entw&APw-rfe");
        assert_eq!(utf7_imap::encode_utf7_imap("Support & Sales".into()), "Support &- Sales");
        assert_eq!(utf7_imap::encode_utf7_imap("INBOX".into()), "INBOX");
    }

    #[test]
    fn uid_sets_fold_runs() {
        assert_eq!(uid_set(&[9, 1, 2, 3, 4, 7, 10, 3]), "1:4,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
    }

    #[test]
    fn error_words_are_short_and_plain() {
        assert_eq!(words("bad\r\nthing during parsing of \"secret stuff\""), "bad  thing");
        assert_eq!(words(&"x".repeat(400)).chars().count(), ERROR_CHARS + 1);
    }
}
