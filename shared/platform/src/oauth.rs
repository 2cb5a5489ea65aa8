//! Mailboxes by OAuth 2.0: Google (Gmail's API) and Microsoft 365 (Graph). The consent is the
//! authorization-code flow with PKCE (RFC 7636) through the `oauth2` crate; the refresh token
//! is what a mailbox keeps (sealed); each sync trades it for an access token (Microsoft may hand
//! back a new refresh token: the caller keeps the newest). The two mail APIs are spoken here too,
//! as far as fetching needs: Gmail's `users.getProfile`, `users.history.list` (404 when the
//! start is too old), `users.messages.list` and `users.messages.get?format=raw`; Graph's `/me`,
//! the messages delta query per folder (410 when the delta link has expired) and
//! `/messages/{id}/$value`.
//!
//! The providers' endpoints are the platform's settings (the tests point them at local servers
//! that speak the same wire formats); requests never follow redirects.

use crate::config::{SecretString, Secrets};
use base64::Engine;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use std::time::Duration;

/// A provider of mailboxes by OAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Google,
    Microsoft,
}

impl Provider {
    /// The path segment (`/v1/mailboxes/oauth/{provider}/…`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "google" => Some(Self::Google),
            "microsoft" => Some(Self::Microsoft),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Microsoft => "microsoft",
        }
    }

    /// The kind of mailbox it makes.
    pub fn mailbox_kind(self) -> helpdesk_domain::email::MailboxKind {
        match self {
            Self::Google => helpdesk_domain::email::MailboxKind::Gmail,
            Self::Microsoft => helpdesk_domain::email::MailboxKind::Microsoft,
        }
    }

    /// The folder read when none is named: Gmail's `INBOX` label, Graph's `inbox` folder.
    pub fn default_folder(self) -> &'static str {
        match self {
            Self::Google => "INBOX",
            Self::Microsoft => "inbox",
        }
    }

    /// What is asked for: reading mail now, sending it for the outbound side (one consent for
    /// both), and offline access (a refresh token).
    fn scopes(self) -> &'static [&'static str] {
        match self {
            Self::Google => {
                &["https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.send"]
            }
            Self::Microsoft => &[
                "offline_access",
                "https://graph.microsoft.com/User.Read",
                "https://graph.microsoft.com/Mail.Read",
                "https://graph.microsoft.com/Mail.Send",
            ],
        }
    }
}

/// The OAuth apps' settings (README, "Configuration"): each provider is offered when its
/// client id and secret (or the secret's ARN) are set.
#[derive(Debug, Clone, Deserialize)]
pub struct OAuthConfig {
    pub google_client_id: Option<String>,
    pub google_client_secret: Option<SecretString>,
    pub google_client_secret_arn: Option<String>,
    #[serde(default = "default_google_auth_url")]
    pub google_auth_url: String,
    #[serde(default = "default_google_token_url")]
    pub google_token_url: String,
    #[serde(default = "default_gmail_api_url")]
    pub gmail_api_url: String,
    pub microsoft_client_id: Option<String>,
    pub microsoft_client_secret: Option<SecretString>,
    pub microsoft_client_secret_arn: Option<String>,
    /// `common` (work and personal accounts), `organizations`, or a tenant id.
    #[serde(default = "default_microsoft_tenant")]
    pub microsoft_tenant: String,
    #[serde(default = "default_microsoft_login_url")]
    pub microsoft_login_url: String,
    #[serde(default = "default_microsoft_graph_url")]
    pub microsoft_graph_url: String,
    /// The API's public base URL; the callback is `{base}/v1/mailboxes/oauth/{provider}/callback`
    /// (register it with the provider).
    pub oauth_redirect_base_url: Option<String>,
}

fn default_google_auth_url() -> String {
    "https://accounts.google.com/o/oauth2/v2/auth".into()
}
fn default_google_token_url() -> String {
    "https://oauth2.googleapis.com/token".into()
}
fn default_gmail_api_url() -> String {
    "https://gmail.googleapis.com".into()
}
fn default_microsoft_tenant() -> String {
    "common".into()
}
fn default_microsoft_login_url() -> String {
    "https://login.microsoftonline.com".into()
}
fn default_microsoft_graph_url() -> String {
    "https://graph.microsoft.com".into()
}

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// One provider's app.
#[derive(Clone)]
struct App {
    client: Client,
    api_url: String,
}

/// The platform's OAuth apps and the HTTP client they speak through, built once per container.
#[derive(Clone)]
pub struct OAuthApps {
    google: Option<App>,
    microsoft: Option<App>,
    http: reqwest::Client,
}

/// A consent to send the browser to: the provider's URL, the `state` naming this flow, and the
/// PKCE verifier the code will be exchanged with (kept server-side until the callback).
pub struct Consent {
    pub url: String,
    pub state: String,
    pub verifier: String,
}

/// Tokens from the provider.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    /// Present on the first exchange, and on a refresh when the provider rotates it.
    pub refresh_token: Option<String>,
}

/// Why talking to a provider failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("{0} mailboxes are not set up on this platform: {1} must be set (README, \"Configuration\")")]
    NotConfigured(&'static str, &'static str),
    /// The provider refused the grant or the token: the account must consent again.
    #[error("the provider refused the authorization: {0}")]
    Refused(String),
    /// The provider answered 404 / 410: the cursor is too old (Gmail's history, Graph's delta).
    #[error("the provider no longer knows this position")]
    Expired,
    /// The message is gone.
    #[error("not found")]
    NotFound,
    /// The provider will not give this one message (a 4xx about it, or an answer that does not
    /// decode): the message's fault, not the account's or the service's.
    #[error("{0}")]
    Unreadable(String),
    /// The message is larger than a fetch takes (bytes, as announced).
    #[error("{0} bytes, more than a fetch takes")]
    TooLarge(u64),
    #[error("{0}")]
    Unreachable(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

/// The `oauth2` crate's requests sent with our client (reqwest 0.13; the crate's own adapter is
/// for 0.12). A named type, not a closure: its future is `Send` for every lifetime, which the
/// HTTP handlers that await it need.
struct OAuthHttp<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp<'_> {
    type Error = HttpError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send(self.0, request))
    }
}

async fn send(http: &reqwest::Client, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|e| HttpError(e.to_string()))?;
    let mut answer = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        answer = answer.header(name, value);
    }
    let body = response.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    answer.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
}

fn refused_or_unreachable<RE: std::error::Error + 'static>(
    e: RequestTokenError<RE, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
) -> OAuthError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            let detail = r.error_description().map(|d| format!("{}: {d}", r.error())).unwrap_or(r.error().to_string());
            match r.error() {
                BasicErrorResponseType::InvalidGrant
                | BasicErrorResponseType::InvalidClient
                | BasicErrorResponseType::UnauthorizedClient
                | BasicErrorResponseType::InvalidScope => OAuthError::Refused(detail),
                _ => OAuthError::Unreachable(detail),
            }
        }
        other => OAuthError::Unreachable(crate::oauth::words(&other.to_string())),
    }
}

/// A provider's words, on one line and short (never a token: answers with tokens are not shown).
fn words(text: &str) -> String {
    let line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
    line
}

impl OAuthApps {
    /// The apps whose id and secret are set; the secrets read from Secrets Manager when given
    /// by ARN.
    pub async fn from_config(
        config: &OAuthConfig,
        secrets: &Secrets,
        destinations: helpdesk_outbound::Destinations,
    ) -> anyhow::Result<Self> {
        let redirect = |provider: Provider| -> anyhow::Result<Option<RedirectUrl>> {
            config
                .oauth_redirect_base_url
                .as_deref()
                .map(|base| {
                    RedirectUrl::new(format!(
                        "{}/v1/mailboxes/oauth/{}/callback",
                        base.trim_end_matches('/'),
                        provider.as_str()
                    ))
                    .map_err(|e| anyhow::anyhow!("OAUTH_REDIRECT_BASE_URL: {e}"))
                })
                .transpose()
        };
        let app = |id: &Option<String>, secret: Option<String>, auth: String, token: String, api: &str, p| {
            let (Some(id), Some(secret)) = (id.clone(), secret) else { return Ok(None) };
            let mut client = BasicClient::new(ClientId::new(id))
                .set_client_secret(ClientSecret::new(secret))
                .set_auth_uri(AuthUrl::new(auth).map_err(|e| anyhow::anyhow!("{e}"))?)
                .set_token_uri(TokenUrl::new(token).map_err(|e| anyhow::anyhow!("{e}"))?)
                // Both providers take the client's credentials in the form body.
                .set_auth_type(AuthType::RequestBody);
            if let Some(url) = redirect(p)? {
                client = client.set_redirect_uri(url);
            }
            anyhow::Ok(Some(App { client, api_url: api.trim_end_matches('/').to_string() }))
        };
        let google_secret =
            secrets.value(config.google_client_secret.as_ref(), config.google_client_secret_arn.as_deref()).await?;
        let microsoft_secret = secrets
            .value(config.microsoft_client_secret.as_ref(), config.microsoft_client_secret_arn.as_deref())
            .await?;
        let login = config.microsoft_login_url.trim_end_matches('/');
        let tenant = &config.microsoft_tenant;
        let http = helpdesk_outbound::client(destinations);
        Ok(Self {
            google: app(
                &config.google_client_id,
                google_secret,
                config.google_auth_url.clone(),
                config.google_token_url.clone(),
                &config.gmail_api_url,
                Provider::Google,
            )?,
            microsoft: app(
                &config.microsoft_client_id,
                microsoft_secret,
                format!("{login}/{tenant}/oauth2/v2.0/authorize"),
                format!("{login}/{tenant}/oauth2/v2.0/token"),
                &config.microsoft_graph_url,
                Provider::Microsoft,
            )?,
            http,
        })
    }

    fn app(&self, provider: Provider) -> Result<&App, OAuthError> {
        match provider {
            Provider::Google => self.google.as_ref(),
            Provider::Microsoft => self.microsoft.as_ref(),
        }
        .ok_or(OAuthError::NotConfigured(
            provider.as_str(),
            match provider {
                Provider::Google => "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET (or _ARN)",
                Provider::Microsoft => "MICROSOFT_CLIENT_ID and MICROSOFT_CLIENT_SECRET (or _ARN)",
            },
        ))
    }

    /// The consent URL for a new flow (PKCE S256, a random `state`; Google also asked for
    /// offline access and a fresh consent, so a refresh token comes back every time).
    pub fn consent(&self, provider: Provider) -> Result<Consent, OAuthError> {
        let app = self.app(provider)?;
        if app.client.redirect_uri().is_none() {
            return Err(OAuthError::NotConfigured(provider.as_str(), "OAUTH_REDIRECT_BASE_URL"));
        }
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = app
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(provider.scopes().iter().map(|s| Scope::new(s.to_string())))
            .set_pkce_challenge(challenge);
        if provider == Provider::Google {
            request = request.add_extra_param("access_type", "offline").add_extra_param("prompt", "consent");
        }
        let (url, state) = request.url();
        Ok(Consent { url: url.to_string(), state: state.secret().clone(), verifier: verifier.secret().clone() })
    }

    /// Trades the callback's code (with the flow's PKCE verifier) for tokens.
    pub async fn exchange(&self, provider: Provider, code: &str, verifier: &str) -> Result<Tokens, OAuthError> {
        let app = self.app(provider)?;
        let answer = app
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&OAuthHttp(&self.http))
            .await
            .map_err(refused_or_unreachable)?;
        Ok(Tokens {
            access_token: answer.access_token().secret().clone(),
            refresh_token: answer.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// An access token for a refresh token. `Refused` means the account must consent again.
    pub async fn refresh(&self, provider: Provider, refresh_token: &str) -> Result<Tokens, OAuthError> {
        let app = self.app(provider)?;
        let answer = app
            .client
            .exchange_refresh_token(&RefreshToken::new(refresh_token.to_string()))
            .request_async(&OAuthHttp(&self.http))
            .await
            .map_err(refused_or_unreachable)?;
        Ok(Tokens {
            access_token: answer.access_token().secret().clone(),
            refresh_token: answer.refresh_token().map(|t| t.secret().clone()),
        })
    }

    /// The mail API of `provider` with `access_token`.
    pub fn mail(&self, provider: Provider, access_token: &str) -> Result<MailApi<'_>, OAuthError> {
        Ok(MailApi { http: &self.http, base: &self.app(provider)?.api_url, token: access_token.to_string(), provider })
    }
}

/// One account's mail, through its provider's API.
pub struct MailApi<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    token: String,
    provider: Provider,
}

/// How long one API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A message found by a listing: its id, and when it arrived where the API says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub received: Option<chrono::DateTime<chrono::Utc>>,
}

/// A page of changes.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub added: Vec<Listed>,
    /// Where to read on: Gmail's next page token, Graph's `@odata.nextLink`.
    pub next: Option<String>,
    /// The new position once the last page is read: Gmail's `historyId`, Graph's
    /// `@odata.deltaLink`.
    pub position: Option<String>,
}

impl MailApi<'_> {
    async fn get(&self, url: &str) -> Result<reqwest::Response, OAuthError> {
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.token)
            // Graph: pages of at most 50 messages.
            .header("Prefer", "odata.maxpagesize=50")
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| OAuthError::Unreachable(words(&e.to_string())))?;
        let status = response.status().as_u16();
        let provider = self.provider.as_str();
        match status {
            200..=299 => Ok(response),
            401 => Err(OAuthError::Refused(format!("{provider} answered 401"))),
            // Google says 403 for its rate limits too (`rateLimitExceeded`,
            // `userRateLimitExceeded`, `quotaExceeded`): those pass; the rest is a refusal
            // (a scope taken away).
            403 => {
                let body = response.text().await.unwrap_or_default();
                if ["rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "ApplicationThrottled"]
                    .iter()
                    .any(|reason| body.contains(reason))
                {
                    Err(OAuthError::Unreachable(format!("{provider} is throttling (403)")))
                } else {
                    Err(OAuthError::Refused(format!("{provider} answered 403")))
                }
            }
            404 if self.provider == Provider::Google && url.contains("/history") => Err(OAuthError::Expired),
            410 => Err(OAuthError::Expired),
            404 => Err(OAuthError::NotFound),
            408 | 429 | 500..=599 => Err(OAuthError::Unreachable(format!("{provider} answered {status}"))),
            _ => Err(OAuthError::Unreadable(format!("{provider} answered {status}"))),
        }
    }

    async fn json(&self, url: &str) -> Result<serde_json::Value, OAuthError> {
        self.get(url).await?.json().await.map_err(|e| OAuthError::Unreachable(words(&e.to_string())))
    }

    /// The account's address, and (Gmail) its current `historyId`.
    pub async fn profile(&self) -> Result<(String, Option<String>), OAuthError> {
        match self.provider {
            Provider::Google => {
                let profile = self.json(&format!("{}/gmail/v1/users/me/profile", self.base)).await?;
                let address = profile["emailAddress"].as_str().unwrap_or_default().to_string();
                Ok((address, profile["historyId"].as_str().map(str::to_string)))
            }
            Provider::Microsoft => {
                let me = self.json(&format!("{}/v1.0/me", self.base)).await?;
                let address = me["mail"].as_str().or(me["userPrincipalName"].as_str()).unwrap_or_default();
                Ok((address.to_string(), None))
            }
        }
    }

    /// Gmail: messages added to `label` since `history_id` (`users.history.list`), a page at a
    /// time; `Expired` when the history no longer reaches back that far (a full sync is due).
    pub async fn gmail_history(
        &self,
        history_id: &str,
        label: &str,
        page: Option<&str>,
    ) -> Result<Changes, OAuthError> {
        let mut url = reqwest::Url::parse(&format!("{}/gmail/v1/users/me/history", self.base))
            .map_err(|e| OAuthError::Unreachable(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("startHistoryId", history_id)
            .append_pair("historyTypes", "messageAdded")
            .append_pair("labelId", label);
        if let Some(page) = page {
            url.query_pairs_mut().append_pair("pageToken", page);
        }
        let answer = self.json(url.as_str()).await?;
        let mut added = Vec::new();
        for record in answer["history"].as_array().into_iter().flatten() {
            for item in record["messagesAdded"].as_array().into_iter().flatten() {
                if let Some(id) = item["message"]["id"].as_str() {
                    if !added.iter().any(|l: &Listed| l.id == id) {
                        added.push(Listed { id: id.to_string(), received: None });
                    }
                }
            }
        }
        let next = answer["nextPageToken"].as_str().map(str::to_string);
        Ok(Changes { added, position: answer["historyId"].as_str().map(str::to_string), next })
    }

    /// Gmail: messages in `label` received in the last `days` days (`users.messages.list`,
    /// newest first), a page at a time.
    pub async fn gmail_list(&self, label: &str, days: u32, page: Option<&str>) -> Result<Changes, OAuthError> {
        let mut url = reqwest::Url::parse(&format!("{}/gmail/v1/users/me/messages", self.base))
            .map_err(|e| OAuthError::Unreachable(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("labelIds", label)
            .append_pair("q", &format!("newer_than:{days}d"))
            .append_pair("maxResults", "100");
        if let Some(page) = page {
            url.query_pairs_mut().append_pair("pageToken", page);
        }
        let answer = self.json(url.as_str()).await?;
        let added = answer["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| Some(Listed { id: m["id"].as_str()?.to_string(), received: None }))
            .collect();
        Ok(Changes { added, next: answer["nextPageToken"].as_str().map(str::to_string), position: None })
    }

    /// Graph: a page of the delta query of `folder`'s messages — from the start (`from` is
    /// `None`), or from a next or delta link. `Expired` (410) when the link is too old.
    pub async fn graph_delta(&self, folder: &str, from: Option<&str>) -> Result<Changes, OAuthError> {
        let url = match from {
            Some(link) => {
                // Only links to the API we were given: a link is followed with the token.
                if !link.starts_with(&format!("{}/", self.base)) {
                    return Err(OAuthError::Unreachable("a link outside the Graph API".into()));
                }
                link.to_string()
            }
            None => format!(
                "{}/v1.0/me/mailFolders/{}/messages/delta?$select=receivedDateTime",
                self.base,
                urlencoding(folder)
            ),
        };
        let answer = self.json(&url).await?;
        let added = answer["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m.get("@removed").is_none())
            .filter_map(|m| {
                Some(Listed {
                    id: m["id"].as_str()?.to_string(),
                    received: m["receivedDateTime"].as_str().and_then(|t| t.parse().ok()),
                })
            })
            .collect();
        Ok(Changes {
            added,
            next: answer["@odata.nextLink"].as_str().map(str::to_string),
            position: answer["@odata.deltaLink"].as_str().map(str::to_string),
        })
    }

    /// A message's raw MIME: Gmail's `format=raw` (base64url in JSON), Graph's `$value`.
    /// `TooLarge` when the answer announces more than `max_bytes` of message (Gmail's base64
    /// counted as the bytes it decodes to), before it is read.
    pub async fn raw(&self, id: &str, max_bytes: u64) -> Result<Vec<u8>, OAuthError> {
        let (url, encoded) = match self.provider {
            Provider::Google => {
                (format!("{}/gmail/v1/users/me/messages/{}?format=raw", self.base, urlencoding(id)), true)
            }
            Provider::Microsoft => (format!("{}/v1.0/me/messages/{}/$value", self.base, urlencoding(id)), false),
        };
        let response = self.get(&url).await?;
        if let Some(length) = response.content_length() {
            let message = if encoded { length / 4 * 3 } else { length };
            if message > max_bytes {
                return Err(OAuthError::TooLarge(message));
            }
        }
        let body = response.bytes().await.map_err(|e| OAuthError::Unreachable(words(&e.to_string())))?;
        if !encoded {
            return Ok(body.to_vec());
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| OAuthError::Unreadable(format!("the answer: {e}")))?;
        let raw = answer["raw"].as_str().ok_or(OAuthError::Unreadable("no raw in the answer".into()))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim_end_matches('='))
            .map_err(|e| OAuthError::Unreadable(format!("the raw message: {e}")))
    }
}

/// A path segment, percent-encoded (ids and folder names are opaque).
fn urlencoding(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_segments_are_encoded() {
        assert_eq!(urlencoding("AAMk/ADA=+x"), "AAMk%2FADA%3D%2Bx");
        assert_eq!(urlencoding("INBOX"), "INBOX");
    }
}
