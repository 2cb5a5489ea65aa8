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

/// How long connecting, the greeting and each command may take.
pub const TIMEOUT: Duration = Duration::from_secs(15);

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
    tokio::time::timeout(TIMEOUT * 4, check_within(settings, secret, destinations))
        .await
        .unwrap_or_else(|_| Err(ImapFailure::Unreachable(format!("no answer within {} s", TIMEOUT.as_secs() * 4))))
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
    let tcp = tokio::time::timeout(TIMEOUT, TcpStream::connect(&addrs[..]))
        .await
        .map_err(|_| unreachable("connecting to", &"timed out"))?
        .map_err(|e| unreachable("connecting to", &e))?;
    match settings.security {
        ImapSecurity::None => session(tcp, settings, secret).await,
        ImapSecurity::Tls => session(tls(tcp, &settings.host).await?, settings, secret).await,
        ImapSecurity::Starttls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client).await?;
            client.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| unreachable("STARTTLS with", &e))?;
            session(tls(client.into_inner(), &settings.host).await?, settings, secret).await
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
    tokio::time::timeout(TIMEOUT, tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp))
        .await
        .map_err(|_| ImapFailure::Unreachable(format!("TLS with {host}: timed out")))?
        .map_err(|e| ImapFailure::Unreachable(format!("TLS with {host}: {e}")))
}

async fn greeting<S: AsyncRead + AsyncWrite + Unpin + std::fmt::Debug + Send>(
    client: &mut async_imap::Client<S>,
) -> Result<(), ImapFailure> {
    match tokio::time::timeout(TIMEOUT, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(ImapFailure::Unreachable("the server closed the connection before greeting".into())),
        Ok(Err(e)) => Err(ImapFailure::Unreachable(format!("reading the greeting: {e}"))),
        Err(_) => Err(ImapFailure::Unreachable("no greeting within the time limit".into())),
    }
}

/// The server's own words from async-imap's rendering of a `NO`/`BAD` answer
/// (`code: …, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")`).
fn server_words(text: &str) -> String {
    text.split_once("info: Some(\"")
        .and_then(|(_, rest)| rest.rsplit_once("\")"))
        .map_or_else(|| text.to_string(), |(words, _)| words.to_string())
}

/// SASL XOAUTH2 (Google's and Microsoft's IMAP): `user=…^Aauth=Bearer …^A^A`.
struct XOAuth2<'a> {
    user: &'a str,
    token: &'a str,
}

impl async_imap::Authenticator for XOAuth2<'_> {
    type Response = String;
    fn process(&mut self, _challenge: &[u8]) -> String {
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
        ImapAuth::Xoauth2 => client.authenticate("XOAUTH2", XOAuth2 { user: &settings.username, token: secret }).await,
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
        let selected = tokio::time::timeout(TIMEOUT, session.select(name))
            .await
            .map_err(|_| ImapFailure::Unreachable(format!("SELECT {name}: timed out")))?
            .map_err(|e| match e {
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
    let _ = tokio::time::timeout(TIMEOUT, session.logout()).await;
    Ok(folders)
}
