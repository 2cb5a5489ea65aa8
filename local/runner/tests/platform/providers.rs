//! Gmail and Microsoft 365 mailboxes: the OAuth 2.0 consent with PKCE, then fetching through
//! Gmail's history and Graph's delta query — against a local server that speaks Google's and
//! Microsoft's wire formats (their OAuth endpoints, Gmail API v1, Graph v1.0), since neither
//! can be reached from here.

use crate::helpers::{eventually, spawn_app_with, Member, Options, TestApp};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the stand-in providers know.
#[derive(Default)]
struct Fake {
    base: String,
    /// code → (code_challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    refresh_tokens: HashSet<String>,
    access_tokens: HashSet<String>,
    /// Microsoft rotates refresh tokens; the old one stops working.
    rotate: bool,
    issued: usize,
    /// Mail: (id, raw, received, history id)
    messages: Vec<(String, String, chrono::DateTime<chrono::Utc>, u64)>,
    history_id: u64,
    /// Gmail keeps history from here on (older starts answer 404).
    history_floor: u64,
    /// Graph's delta tokens that still work.
    delta_tokens: HashSet<String>,
    token_requests: Vec<BTreeMap<String, String>>,
    /// Access tokens are handed out but never accepted.
    deny: bool,
}

type Shared = Arc<Mutex<Fake>>;

pub struct Providers {
    pub base: String,
    fake: Shared,
}

fn google_error(status: StatusCode, message: &str, kind: &str) -> Response {
    (status, Json(json!({"error": {"code": status.as_u16(), "message": message, "status": kind}}))).into_response()
}

fn authorized(fake: &Fake, headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| fake.access_tokens.contains(t))
}

async fn authorize(State(fake): State<Shared>, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let mut fake = fake.lock().unwrap();
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"), "PKCE S256: {q:?}");
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    fake.issued += 1;
    let code = format!("code-{}", fake.issued);
    let redirect = q["redirect_uri"].clone();
    fake.codes.insert(code.clone(), (q["code_challenge"].clone(), redirect.clone()));
    let location = format!("{redirect}?code={code}&state={}", q["state"]);
    (StatusCode::FOUND, [("location", location)]).into_response()
}

async fn token(State(fake): State<Shared>, body: axum::body::Bytes) -> Response {
    let form: BTreeMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut fake = fake.lock().unwrap();
    fake.token_requests.push(form.clone());
    let invalid = |why: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": "invalid_grant", "error_description": why}))).into_response()
    };
    if form.get("client_secret").map(String::as_str) != Some("test-client-secret") {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let new_refresh = match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some((challenge, redirect)) = fake.codes.remove(&form["code"]) else { return invalid("Bad code") };
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed != challenge || form.get("redirect_uri") != Some(&redirect) {
                return invalid("PKCE verification failed");
            }
            true
        }
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            if !fake.refresh_tokens.contains(&presented) {
                return invalid("Token has been expired or revoked.");
            }
            if fake.rotate {
                fake.refresh_tokens.remove(&presented);
            }
            fake.rotate
        }
        _ => return invalid("unsupported grant"),
    };
    fake.issued += 1;
    let access = format!("access-{}", fake.issued);
    if !fake.deny {
        fake.access_tokens.insert(access.clone());
    }
    let mut answer = json!({"access_token": access, "expires_in": 3599, "token_type": "Bearer", "scope": "mail"});
    if new_refresh {
        let refresh = format!("refresh-{}", fake.issued);
        fake.refresh_tokens.insert(refresh.clone());
        answer["refresh_token"] = json!(refresh);
    }
    Json(answer).into_response()
}

async fn gmail_profile(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    let fake = fake.lock().unwrap();
    if !authorized(&fake, &headers) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        );
    }
    Json(json!({"emailAddress": "support@gmail.example", "messagesTotal": fake.messages.len(),
                "threadsTotal": fake.messages.len(), "historyId": fake.history_id.to_string()}))
    .into_response()
}

async fn gmail_history(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let fake = fake.lock().unwrap();
    if !authorized(&fake, &headers) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        );
    }
    assert_eq!(q.get("historyTypes").map(String::as_str), Some("messageAdded"));
    let start: u64 = q["startHistoryId"].parse().unwrap();
    if start < fake.history_floor {
        return google_error(StatusCode::NOT_FOUND, "Requested entity was not found.", "NOT_FOUND");
    }
    // One record a page, to walk the pages.
    let page: usize = q.get("pageToken").map_or(0, |p| p.parse().unwrap());
    let added: Vec<_> = fake.messages.iter().filter(|m| m.3 > start).collect();
    let mut answer = json!({"historyId": fake.history_id.to_string()});
    if let Some((id, _, _, h)) = added.get(page) {
        let message = json!({"id": id, "threadId": id, "labelIds": ["INBOX"]});
        answer["history"] =
            json!([{"id": h.to_string(), "messages": [message.clone()], "messagesAdded": [{"message": message}]}]);
    }
    if page + 1 < added.len() {
        answer["nextPageToken"] = json!((page + 1).to_string());
    }
    Json(answer).into_response()
}

async fn gmail_list(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let fake = fake.lock().unwrap();
    if !authorized(&fake, &headers) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        );
    }
    let days: i64 = q["q"].trim_start_matches("newer_than:").trim_end_matches('d').parse().unwrap();
    let since = chrono::Utc::now() - chrono::Duration::days(days);
    let mut listed: Vec<_> = fake.messages.iter().filter(|m| m.2 >= since).collect();
    listed.reverse();
    let messages: Vec<Value> = listed.iter().map(|m| json!({"id": m.0, "threadId": m.0})).collect();
    Json(json!({"messages": messages, "resultSizeEstimate": messages.len()})).into_response()
}

async fn gmail_message(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let fake = fake.lock().unwrap();
    if !authorized(&fake, &headers) {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        );
    }
    assert_eq!(q.get("format").map(String::as_str), Some("raw"));
    let Some(m) = fake.messages.iter().find(|m| m.0 == id) else {
        return google_error(StatusCode::NOT_FOUND, "Requested entity was not found.", "NOT_FOUND");
    };
    Json(json!({"id": m.0, "threadId": m.0, "labelIds": ["INBOX"], "historyId": m.3.to_string(),
                "internalDate": m.2.timestamp_millis().to_string(), "sizeEstimate": m.1.len(),
                "raw": base64::engine::general_purpose::URL_SAFE.encode(m.1.as_bytes())}))
    .into_response()
}

fn graph_error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({"error": {"code": code, "message": code}}))).into_response()
}

async fn graph_me(State(fake): State<Shared>, headers: HeaderMap) -> Response {
    let fake = fake.lock().unwrap();
    if !authorized(&fake, &headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    Json(json!({"id": "u1", "displayName": "Support", "mail": "support@contoso.example",
                "userPrincipalName": "support@contoso.example"}))
    .into_response()
}

async fn graph_delta(
    State(fake): State<Shared>,
    headers: HeaderMap,
    Path(folder): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let mut fake = fake.lock().unwrap();
    if !authorized(&fake, &headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    assert_eq!(folder, "inbox");
    assert_eq!(headers.get("prefer").and_then(|v| v.to_str().ok()), Some("odata.maxpagesize=50"));
    // Messages after `from` (the delta token's count, or the skip token's), two a page.
    let from: usize = match (q.get("$deltatoken"), q.get("$skiptoken")) {
        (Some(token), _) if !fake.delta_tokens.contains(token) => {
            return graph_error(StatusCode::GONE, "SyncStateNotFound")
        }
        (Some(token), _) => token.trim_start_matches('d').split('-').next().unwrap().parse().unwrap(),
        (None, Some(skip)) => skip.parse().unwrap(),
        (None, None) => 0,
    };
    let page: Vec<Value> = fake
        .messages
        .iter()
        .skip(from)
        .take(2)
        .map(|m| json!({"@odata.etag": "W/\"1\"", "id": m.0, "receivedDateTime": m.2.to_rfc3339()}))
        .collect();
    let base = format!("{}/graph/v1.0/me/mailFolders/inbox/messages/delta", fake.base);
    let mut answer =
        json!({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(message)", "value": page});
    let next = from + page.len();
    if next < fake.messages.len() {
        answer["@odata.nextLink"] = json!(format!("{base}?$skiptoken={next}"));
    } else {
        fake.issued += 1;
        let token = format!("d{next}-{}", fake.issued);
        fake.delta_tokens.insert(token.clone());
        answer["@odata.deltaLink"] = json!(format!("{base}?$deltatoken={token}"));
    }
    Json(answer).into_response()
}

async fn graph_value(State(fake): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let fake = fake.lock().unwrap();
    if !authorized(&fake, &headers) {
        return graph_error(StatusCode::UNAUTHORIZED, "InvalidAuthenticationToken");
    }
    match fake.messages.iter().find(|m| m.0 == id) {
        Some(m) => ([("content-type", "text/plain")], m.1.clone()).into_response(),
        None => graph_error(StatusCode::NOT_FOUND, "ErrorItemNotFound"),
    }
}

impl Providers {
    pub async fn start(rotate: bool) -> Self {
        let fake: Shared = Arc::new(Mutex::new(Fake { rotate, history_id: 1000, ..Fake::default() }));
        let app = axum::Router::new()
            .route("/google/auth", axum::routing::get(authorize))
            .route("/google/token", axum::routing::post(token))
            .route("/gmail/v1/users/me/profile", axum::routing::get(gmail_profile))
            .route("/gmail/v1/users/me/history", axum::routing::get(gmail_history))
            .route("/gmail/v1/users/me/messages", axum::routing::get(gmail_list))
            .route("/gmail/v1/users/me/messages/{id}", axum::routing::get(gmail_message))
            .route("/microsoft/common/oauth2/v2.0/authorize", axum::routing::get(authorize))
            .route("/microsoft/common/oauth2/v2.0/token", axum::routing::post(token))
            .route("/graph/v1.0/me", axum::routing::get(graph_me))
            .route("/graph/v1.0/me/mailFolders/{folder}/messages/delta", axum::routing::get(graph_delta))
            .route("/graph/v1.0/me/messages/{id}/$value", axum::routing::get(graph_value))
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        fake.lock().unwrap().base = base.clone();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, fake }
    }

    /// The platform's settings that point at these providers.
    pub fn env(&self) -> BTreeMap<String, String> {
        let b = &self.base;
        [
            ("GOOGLE_CLIENT_ID", "test-client".to_string()),
            ("GOOGLE_CLIENT_SECRET", "test-client-secret".into()),
            ("GOOGLE_AUTH_URL", format!("{b}/google/auth")),
            ("GOOGLE_TOKEN_URL", format!("{b}/google/token")),
            ("GMAIL_API_URL", b.clone()),
            ("MICROSOFT_CLIENT_ID", "test-client".into()),
            ("MICROSOFT_CLIENT_SECRET", "test-client-secret".into()),
            ("MICROSOFT_LOGIN_URL", format!("{b}/microsoft")),
            ("MICROSOFT_GRAPH_URL", format!("{b}/graph")),
            ("OAUTH_REDIRECT_BASE_URL", "http://helpdesk.test".into()),
            ("APP_URL", "http://dashboard.test".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A message arrives `days_ago` days ago (Gmail's history moves on).
    pub fn deliver(&self, n: usize, days_ago: i64) {
        let mut fake = self.fake.lock().unwrap();
        fake.history_id += 7;
        let history = fake.history_id;
        let raw = format!(
            "From: Customer {n} <c{n}@customer.example>\r\nTo: support@shop.example\r\nSubject: Provider {n}\r\n\
             Message-ID: <provider-{n}@customer.example>\r\n\r\nMessage {n}.\r\n"
        );
        fake.messages.push((format!("m{n:04}"), raw, chrono::Utc::now() - chrono::Duration::days(days_ago), history));
    }

    /// Gmail forgets history older than now; Graph forgets every delta link.
    pub fn forget(&self) {
        let mut fake = self.fake.lock().unwrap();
        fake.history_floor = fake.history_id + 1;
        fake.delta_tokens.clear();
    }

    /// Every refresh token is revoked (the account's password changed, access was removed).
    pub fn revoke(&self) {
        self.fake.lock().unwrap().refresh_tokens.clear();
    }

    /// Every access token handed out so far expires (refreshing gives working ones).
    pub fn expire_access(&self) {
        self.fake.lock().unwrap().access_tokens.clear();
    }

    /// The API answers 401 to every token, fresh or not (the mailbox's API access was taken
    /// away while its refresh token still works).
    pub fn deny_api(&self) {
        let mut fake = self.fake.lock().unwrap();
        fake.deny = true;
        fake.access_tokens.clear();
    }

    fn token_requests(&self) -> Vec<BTreeMap<String, String>> {
        self.fake.lock().unwrap().token_requests.clone()
    }
}

/// The consent, as a browser goes through it: `start`, the provider's page (which redirects
/// back with a code), the callback. Returns the callback's answer.
async fn consent(app: &TestApp, owner: &Member, provider: &str, body: Value) -> (reqwest::Response, String) {
    let started = app.post(Some(&owner.token), &format!("/v1/mailboxes/oauth/{provider}/start"), &body).await;
    assert_eq!(started.status(), 200);
    let url = started.json::<Value>().await.unwrap()["authorization_url"].as_str().unwrap().to_string();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let at_provider = browser.get(&url).send().await.unwrap();
    assert_eq!(at_provider.status(), 302);
    let back = at_provider.headers()["location"].to_str().unwrap().replace("http://helpdesk.test", &app.base);
    (browser.get(&back).send().await.unwrap(), url)
}

/// The starter confirms the consent the callback kept: (status, answer).
async fn confirm(app: &TestApp, member: &Member, connection: &str) -> (u16, Value) {
    let answer =
        app.post(Some(&member.token), &format!("/v1/mailboxes/oauth/connections/{connection}"), &json!({})).await;
    (answer.status().as_u16(), answer.json().await.unwrap_or(Value::Null))
}

/// The whole consent without a dashboard path: the callback's connection, confirmed.
async fn connect(app: &TestApp, owner: &Member, provider: &str, body: Value) -> (u16, Value, String) {
    let (back, url) = consent(app, owner, provider, body).await;
    assert_eq!(back.status(), 200);
    let connection: Value = back.json().await.unwrap();
    let (status, record) = confirm(app, owner, connection["connection"].as_str().unwrap()).await;
    (status, record, url)
}

async fn sync(app: &TestApp, owner: &Member, mailbox: &str) -> Value {
    let body = json!({"type": "mailbox.sync_requested", "organization_id": owner.org, "mailbox_id": mailbox});
    let event = json!({"Records": [{"messageId": uuid::Uuid::new_v4().to_string(), "body": body.to_string()}]});
    let answer = app.running.function("mail-fetcher").unwrap().invoke("test", event).await.unwrap();
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    answer
}

async fn stored(app: &TestApp, mailbox: &str, n: i64) {
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM messages WHERE mailbox_id = $1::uuid")
            .bind(mailbox)
            .fetch_one(app.owner.pool())
            .await
            .unwrap()
    };
    eventually(&format!("{n} messages"), Duration::from_secs(30), || async { (count().await >= n).then_some(()) })
        .await;
    assert_eq!(count().await, n, "exactly {n}");
}

async fn status(app: &TestApp, mailbox: &str) -> String {
    sqlx::query_scalar("SELECT status FROM mailboxes WHERE id = $1::uuid")
        .bind(mailbox)
        .fetch_one(app.owner.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn gmail_connects_by_consent_with_pkce_and_reads_history_then_a_full_sync_after_a_404() {
    let providers = Providers::start(false).await;
    let app = spawn_app_with(Options { env_overrides: providers.env(), ..Options::default() }).await;
    let owner = app.signup().await;
    providers.deliver(1, 40);
    providers.deliver(2, 3);
    providers.deliver(3, 1);

    let (back, url) = consent(
        &app,
        &owner,
        "google",
        json!({"start": "import", "import_days": 7, "return_to": "/settings/mailboxes"}),
    )
    .await;
    for part in ["access_type=offline", "prompt=consent", "gmail.readonly", "code_challenge=", "state="] {
        assert!(url.contains(part), "{part} in {url}");
    }
    assert_eq!(back.status(), 303);
    let location = back.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("http://dashboard.test/settings/mailboxes?connection="), "{location}");
    let connection = location.rsplit('=').next().unwrap().to_string();
    // Only the member who started it confirms it: a colleague cannot, nor can it be used twice.
    let colleague = app.invite(&owner, "admin").await;
    assert_eq!(confirm(&app, &colleague, &connection).await.0, 404);
    let (confirmed, record) = confirm(&app, &owner, &connection).await;
    assert_eq!(confirmed, 201, "{record}");
    assert_eq!(confirm(&app, &owner, &connection).await.0, 404, "used");
    let id = record["id"].as_str().unwrap().to_string();
    let exchange = &providers.token_requests()[0];
    assert_eq!(exchange["grant_type"], "authorization_code");
    assert!(exchange["code_verifier"].len() >= 43, "a PKCE verifier was sent");

    let record = app.get_json(&owner.token, &format!("/v1/mailboxes/{id}")).await;
    assert_eq!((record["kind"].as_str(), record["address"].as_str()), (Some("gmail"), Some("support@gmail.example")));
    assert_eq!(record["settings"]["oauth"]["folders"], json!(["INBOX"]));
    assert!(!record.to_string().contains("refresh-"), "the token is never shown");

    // The import: the two of the last seven days.
    sync(&app, &owner, &id).await;
    stored(&app, &id, 2).await;
    // New mail, by history.
    providers.deliver(4, 0);
    providers.deliver(5, 0);
    sync(&app, &owner, &id).await;
    stored(&app, &id, 4).await;
    // History too old (404): a full sync of the days since the last one; nothing twice.
    providers.forget();
    providers.deliver(6, 0);
    sync(&app, &owner, &id).await;
    stored(&app, &id, 5).await;
    assert_eq!(status(&app, &id).await, "ok");

    // Access taken away: the refresh is refused and the mailbox waits for a new consent.
    providers.revoke();
    sync(&app, &owner, &id).await;
    assert_eq!(status(&app, &id).await, "auth_failed");
    let (renewed, record, _) = connect(&app, &owner, "google", json!({})).await;
    assert_eq!((renewed, &record["id"]), (200, &json!(id)), "the same mailbox, reconnected: {record}");
    assert_eq!(status(&app, &id).await, "ok");
}

#[tokio::test]
async fn microsoft_reads_by_delta_keeps_rotated_tokens_and_starts_a_new_round_after_410() {
    let providers = Providers::start(true).await;
    let app = spawn_app_with(Options { env_overrides: providers.env(), ..Options::default() }).await;
    let owner = app.signup().await;
    for n in 1..=3 {
        providers.deliver(n, 2);
    }
    let (created, record, url) = connect(&app, &owner, "microsoft", json!({"name": "Contoso support"})).await;
    assert!(url.contains("offline_access") && url.contains("Mail.Read"), "{url}");
    assert_eq!(created, 201, "{record}");
    let id = record["id"].as_str().unwrap().to_string();
    assert_eq!((record["kind"].as_str(), record["name"].as_str()), (Some("microsoft"), Some("Contoso support")));

    // Started now: the first round only finds its place.
    sync(&app, &owner, &id).await;
    providers.deliver(4, 0);
    providers.deliver(5, 0);
    providers.deliver(6, 0);
    // Each refresh rotated the refresh token and revoked the old: this works only if the
    // rotated one was kept.
    sync(&app, &owner, &id).await;
    stored(&app, &id, 3).await;
    sync(&app, &owner, &id).await;
    assert_eq!(status(&app, &id).await, "ok");

    // The delta link expired (410): a new round, from the last sync's day; nothing twice.
    providers.forget();
    providers.deliver(7, 0);
    sync(&app, &owner, &id).await;
    stored(&app, &id, 4).await;
    assert_eq!(status(&app, &id).await, "ok");

    // Access tokens expire between runs: each run refreshes first.
    providers.expire_access();
    providers.deliver(8, 0);
    sync(&app, &owner, &id).await;
    stored(&app, &id, 5).await;
    // A 401 with a fresh token: the API access is gone, the mailbox waits for a new consent.
    providers.deny_api();
    sync(&app, &owner, &id).await;
    assert_eq!(status(&app, &id).await, "auth_failed");
}

#[tokio::test]
async fn a_consent_refused_replayed_or_for_an_unknown_provider_connects_nothing() {
    let providers = Providers::start(false).await;
    let app = spawn_app_with(Options { env_overrides: providers.env(), ..Options::default() }).await;
    let owner = app.signup().await;

    let unknown = app.post(Some(&owner.token), "/v1/mailboxes/oauth/yahoo/start", &json!({})).await;
    assert_eq!(unknown.status(), 404);
    let open_redirect = app
        .post(Some(&owner.token), "/v1/mailboxes/oauth/google/start", &json!({"return_to": "https://evil.example"}))
        .await;
    assert_eq!(open_redirect.status(), 422);

    // The person says no at the provider.
    let started = app
        .post(Some(&owner.token), "/v1/mailboxes/oauth/google/start", &json!({"return_to": "/settings/mailboxes"}))
        .await;
    let url = started.json::<Value>().await.unwrap()["authorization_url"].as_str().unwrap().to_string();
    let state = url.split("state=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let refused = browser
        .get(format!("{}/v1/mailboxes/oauth/google/callback?error=access_denied&state={state}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 303);
    assert!(refused.headers()["location"].to_str().unwrap().ends_with("/settings/mailboxes?error=refused"));

    // A consent link sent to someone else connects nothing for the sender: the callback only
    // keeps the consent, and another organisation's admin cannot confirm it.
    let (back, _) = consent(&app, &owner, "google", json!({})).await;
    assert_eq!(back.status(), 200);
    let connection = back.json::<Value>().await.unwrap()["connection"].as_str().unwrap().to_string();
    let stranger = app.signup().await;
    assert_eq!(confirm(&app, &stranger, &connection).await.0, 404);
    assert_eq!(confirm(&app, &owner, &connection).await.0, 201);
    // A used, forged or missing state names no flow.
    let again = browser
        .get(format!("{}/v1/mailboxes/oauth/google/callback?code=code-1&state={state}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(again.headers()["content-type"], "application/problem+json");
    let none = browser.get(format!("{}/v1/mailboxes/oauth/google/callback?code=x", app.base)).send().await.unwrap();
    assert_eq!(none.status(), 400);
    let mailboxes = app.get_json(&owner.token, "/v1/mailboxes").await;
    assert_eq!(mailboxes["mailboxes"].as_array().unwrap().len(), 1, "{mailboxes}");
}
