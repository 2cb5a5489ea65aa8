//! `spawn_app()`: a whole platform per test — its own database, its own stack of queues in the
//! AWS emulator, its own runner on a free port — so tests run in parallel without sharing state.

use helpdesk_domain::{OrgId, Role, UserId};
use helpdesk_http::JwtKeys;
use helpdesk_store::PgStore;
use local_runner::template::Template;
use local_runner::{RunnerConfig, Running, StackResources};
use serde_json::Value;
use sqlx::Connection;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// What `local/dev test` exports for the tests.
pub struct TestEnv {
    pub admin_database_url: String,
    pub redis_url: String,
    pub endpoint: String,
    pub python: String,
    pub root: PathBuf,
}

pub fn test_env() -> TestEnv {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: these integration tests need Postgres, Redis and moto — run them with `local/dev test`")
        })
    };
    TestEnv {
        admin_database_url: var("DATABASE_URL"),
        redis_url: var("REDIS_URL"),
        endpoint: var("AWS_ENDPOINT_URL"),
        python: var("HELPDESK_PYTHON"),
        root: PathBuf::from(var("HELPDESK_ROOT")),
    }
}

pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub http: reqwest::Client,
    /// The database as the functions see it (role `helpdesk_app`: row-level security applies).
    pub store: PgStore,
    /// The database as its owner, for checks across organisations.
    pub owner: PgStore,
    pub keys: JwtKeys,
    /// The platform's signing secret (JWTs; the mail threading keys derive from it).
    pub signing_secret: Vec<u8>,
    pub sqs: aws_sdk_sqs::Client,
    pub resources: StackResources,
    pub running: Running,
}

#[derive(Default)]
pub struct Options {
    /// Another AWS endpoint than the shared emulator (the outage test runs its own).
    pub endpoint: Option<String>,
    pub env_overrides: BTreeMap<String, String>,
    /// Another Redis than the shared one (the readiness test points at nothing).
    pub redis_url: Option<String>,
    /// Let schedules fire on their own, at this period.
    pub schedule_period: Option<Duration>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(mut options: Options) -> TestApp {
    let env = test_env();
    // Tests sign many people up from one address; the ratelimit tests set their own limits.
    options.env_overrides.entry("RATE_LIMIT_CREDENTIALS".into()).or_insert_with(|| "6000/1000".into());
    let database_url = create_database(&env.admin_database_url).await;
    let endpoint = options.endpoint.unwrap_or_else(|| env.endpoint.clone());
    let stack = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let resources = provision(&env, &stack, &endpoint).await;
    let sdk = sdk_config(&endpoint).await;
    let secret = format!("test-secret-{}", uuid::Uuid::new_v4().simple());

    let running = local_runner::start(RunnerConfig {
        template: Template::load(&env.root.join("template.yaml")).expect("template.yaml"),
        resources: resources.clone(),
        database_url: database_url.clone(),
        redis_url: options.redis_url.unwrap_or_else(|| env.redis_url.clone()),
        jwt_secret: secret.clone().into_bytes(),
        bind: "127.0.0.1:0".parse().unwrap(),
        sdk: sdk.clone(),
        env_overrides: options.env_overrides,
        run_schedules: options.schedule_period.is_some(),
        schedule_period: options.schedule_period,
    })
    .await
    .expect("the local runner starts");

    TestApp {
        base: format!("http://{}", running.addr),
        database_url: database_url.clone(),
        http: reqwest::Client::new(),
        store: PgStore::connect_lazy_as(&database_url, "helpdesk_app", 4).unwrap(),
        owner: PgStore::connect_lazy(&database_url, 4).unwrap(),
        keys: JwtKeys::hs256(secret.as_bytes()),
        signing_secret: secret.clone().into_bytes(),
        sqs: aws_sdk_sqs::Client::new(&sdk),
        resources,
        running,
    }
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).endpoint_url(endpoint).load().await
}

/// Creates the stack's queues, table, bucket and key from template.yaml, as `local/dev` does.
pub async fn provision(env: &TestEnv, stack: &str, endpoint: &str) -> StackResources {
    let out = std::env::temp_dir().join(format!("helpdesk-{stack}.json"));
    let status = tokio::process::Command::new(&env.python)
        .arg(env.root.join("local/stack.py"))
        .args(["provision", "--stack", stack, "--endpoint", endpoint, "--out"])
        .arg(&out)
        .status()
        .await
        .expect("python runs");
    assert!(status.success(), "provisioning stack {stack} failed");
    let resources = StackResources::load(&out).unwrap();
    let _ = std::fs::remove_file(out);
    resources
}

static CLEANUP: OnceCell<()> = OnceCell::const_new();

/// A fresh database for one test. The first call drops the databases earlier runs left.
async fn create_database(admin_url: &str) -> String {
    let mut admin = sqlx::PgConnection::connect(admin_url).await.expect("connect to the admin database");
    CLEANUP
        .get_or_init(|| async {
            let stale: Vec<String> =
                sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'helpdesk_test_%'")
                    .fetch_all(&mut admin)
                    .await
                    .unwrap();
            for name in stale {
                let _ =
                    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin).await;
            }
        })
        .await;
    let name = format!("helpdesk_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.unwrap();
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let (server, _) = base.rsplit_once('/').expect("DATABASE_URL has a database name");
    format!("{server}/{name}{query}")
}

/// Polls `check` until it returns `Some`, or fails the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A signed-in member of an organisation, made through the API.
#[derive(Debug, Clone)]
pub struct Member {
    pub org: OrgId,
    pub user: UserId,
    pub slug: String,
    pub email: String,
    pub token: String,
    pub refresh: String,
}

impl Member {
    fn from_tokens(tokens: &Value, slug: &str, email: &str) -> Self {
        let text = |k: &str| tokens[k].as_str().unwrap_or_else(|| panic!("{k} in {tokens}")).to_string();
        Self {
            org: text("organization_id").parse().unwrap(),
            user: text("user_id").parse().unwrap(),
            slug: slug.into(),
            email: email.into(),
            token: text("access_token"),
            refresh: text("refresh_token"),
        }
    }
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// POSTs JSON, with a bearer token when given.
    pub async fn post(&self, token: Option<&str>, path: &str, body: &Value) -> reqwest::Response {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// Signs up a new organisation; returns its owner, signed in.
    pub async fn signup(&self) -> Member {
        let slug = format!("org-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let email = format!("owner@{slug}.example");
        let body = serde_json::json!({
            "organization_name": "Test org", "organization_slug": slug, "email": email, "password": PASSWORD,
        });
        let response = self.post(None, "/v1/auth/signup", &body).await;
        assert_eq!(response.status(), 201, "sign-up: {}", response.text().await.unwrap());
        Member::from_tokens(&response.json().await.unwrap(), &slug, &email)
    }

    /// The invitation token the last email to `email` carries.
    pub fn invitation_token(&self, email: &str) -> String {
        let sent = self.running.clients.mailer.sent();
        let mail = sent.iter().rev().find(|m| m.to.as_str() == email).unwrap_or_else(|| panic!("no email to {email}"));
        let start = mail.text.find("token=").expect("the email has a link") + "token=".len();
        mail.text[start..].split_whitespace().next().unwrap().to_string()
    }

    /// `inviter` invites a new member with `role`, who accepts; returns the new member.
    pub async fn invite(&self, inviter: &Member, role: &str) -> Member {
        let email = format!("{role}-{}@{}.example", &uuid::Uuid::new_v4().simple().to_string()[..8], inviter.slug);
        let response = self
            .post(Some(&inviter.token), "/v1/invitations", &serde_json::json!({"email": email, "role": role}))
            .await;
        assert_eq!(response.status(), 201, "invitation: {}", response.text().await.unwrap());
        let body = serde_json::json!({"token": self.invitation_token(&email), "password": PASSWORD});
        let response = self.post(None, "/v1/invitations/accept", &body).await;
        assert_eq!(response.status(), 201, "accepting: {}", response.text().await.unwrap());
        Member::from_tokens(&response.json().await.unwrap(), &inviter.slug, &email)
    }

    /// A new organisation with a member of the given role, and that member's token.
    pub async fn org_with(&self, role: Role) -> (OrgId, UserId, String) {
        let owner = self.signup().await;
        let member = if role == Role::Owner { owner } else { self.invite(&owner, role.as_str()).await };
        (member.org, member.user, member.token)
    }

    /// A new organisation and its owner's token.
    pub async fn org(&self) -> (OrgId, String) {
        let owner = self.signup().await;
        (owner.org, owner.token)
    }

    pub async fn post_message(&self, token: &str, body: &Value, idempotency_key: Option<&str>) -> reqwest::Response {
        let mut request = self.http.post(format!("{}/v1/messages", self.base)).bearer_auth(token).json(body);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.unwrap()
    }

    /// Posts a message that must be accepted, and returns the answer.
    pub async fn accept(&self, token: &str, email: &str, text: &str) -> Value {
        let response = self.post_message(token, &sample_message(email, text), None).await;
        assert_eq!(response.status(), 202, "message from {email} accepted");
        response.json().await.unwrap()
    }

    /// A GET that must succeed, as JSON.
    pub async fn get_json(&self, token: &str, path: &str) -> Value {
        let response = self.get(token, path).await;
        assert!(response.status().is_success(), "GET {path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Sets a conversation's column directly (the routes that change it come with later issues).
    pub async fn set_conversation(&self, id: &str, column: &str, value: &str) {
        sqlx::query(&format!(
            "UPDATE conversations SET {column} = $1::text::{ty} WHERE id = $2::uuid",
            ty = if column == "assignee_id" { "uuid" } else { "text" }
        ))
        .bind(value)
        .bind(id)
        .execute(self.owner.pool())
        .await
        .unwrap();
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap()
    }

    /// Polls the message until the AI worker has classified it.
    pub async fn wait_classified(&self, token: &str, id: &str) -> Value {
        eventually(&format!("message {id} to be classified"), Duration::from_secs(30), || async {
            let body: Value = self.get(token, &format!("/v1/messages/{id}")).await.json().await.ok()?;
            (!body["classification"].is_null()).then_some(body)
        })
        .await
    }

    pub fn queue_url(&self, logical_id: &str) -> String {
        self.resources.physical_id(logical_id).expect("queue provisioned").to_string()
    }

    /// Receives what is waiting on a queue (up to 10 messages, waiting up to a second).
    pub async fn drain(&self, logical_id: &str) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(self.queue_url(logical_id))
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        out.messages.unwrap_or_default().into_iter().filter_map(|m| m.body).collect()
    }
}

/// The `id`s of a list answer's `data`, in order.
pub fn ids(page: &Value) -> Vec<&str> {
    page["data"].as_array().expect("a list answer").iter().map(|c| c["id"].as_str().unwrap()).collect()
}

pub fn sample_message(email: &str, body: &str) -> Value {
    serde_json::json!({
        "channel": "api",
        "from": {"email": email, "name": "Customer"},
        "subject": "Help",
        "body": body,
    })
}

/// Every log line the functions in this test binary wrote, captured with the same JSON format
/// they use in Lambda.
#[derive(Clone, Default)]
pub struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

static LOGS: std::sync::OnceLock<CapturedLogs> = std::sync::OnceLock::new();

/// Starts capturing (once per test binary) and returns the capture.
pub fn logs() -> CapturedLogs {
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        helpdesk_platform::telemetry::init_with_writer("info", logs.clone());
        logs
    })
    .clone()
}

impl CapturedLogs {
    /// The captured lines, parsed.
    pub fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8_lossy(&bytes).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A stand-in for CloudFormation's pre-signed response URL: returns the URL and what was PUT.
pub async fn cloudformation_response_sink() -> (String, std::sync::Arc<std::sync::Mutex<Option<Value>>>) {
    let received: std::sync::Arc<std::sync::Mutex<Option<Value>>> = Default::default();
    let sink = received.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/response", listener.local_addr().unwrap());
    let server = axum::Router::new().route(
        "/response",
        axum::routing::put(move |body: axum::body::Bytes| async move {
            *sink.lock().unwrap() = serde_json::from_slice(&body).ok();
        }),
    );
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });
    (url, received)
}

/// A valid body for each documented write route (so a test about permissions or tenancy is not
/// answered 422 first). `unique` keeps names and emails apart between calls.
pub fn body_for(method: &str, path: &str, unique: &str) -> Option<Value> {
    use serde_json::json;
    let body = match (method, path) {
        ("get" | "delete", _) | ("post", "/v1/auth/logout" | "/v1/users/{id}/deactivate") => return None,
        ("post", "/v1/messages") => sample_message("z@customer.example", "hi"),
        ("post", "/v1/invitations") => json!({"email": format!("invitee-{unique}@team.example"), "role": "viewer"}),
        ("post", "/v1/api-keys") => json!({"name": format!("key {unique}"), "permissions": ["messages:read"]}),
        ("post", "/v1/roles") => json!({"name": format!("role-{unique}"), "permissions": ["messages:read"]}),
        ("put", "/v1/roles/{id}/permissions") => json!({"permissions": ["messages:read"]}),
        ("put", "/v1/users/{id}/role") => json!({"role": "viewer"}),
        ("put", "/v1/messages/{id}/classification") => json!({"category": "refund"}),
        ("put", "/v1/ai/settings") => json!({
            "external_llm_allowed": true, "provider": null, "hybrid_threshold": 0.5,
            "monthly_budget_usd": null, "budget_alert_percent": 80
        }),
        ("post", "/v1/kb/articles") | ("put", "/v1/kb/articles/{id}") => {
            json!({"title": format!("Article {unique}"), "body": "Refunds take 5 days.", "published": true})
        }
        ("post", "/v1/conversations/{id}/replies") => json!({"body": format!("Thanks, we are on it ({unique}).")}),
        ("post", "/v1/drafts/{id}/feedback") => json!({"outcome": "rejected"}),
        ("post", "/v1/auth/refresh") => json!({"refresh_token": "hdr_not-a-token"}),
        ("post", "/v1/auth/login") => json!({"organization": "nobody", "email": "no@body.example", "password": "x"}),
        ("post", "/v1/mailboxes") => {
            json!({"name": format!("Support {unique}"), "address": format!("support-{unique}@shop.example"), "kind": "forwarding"})
        }
        ("patch", "/v1/mailboxes/{id}") => json!({"reopen_days": 7}),
        _ => json!({}),
    };
    Some(body)
}

/// Sends `method` to `url` with a token and the body [`body_for`] gives.
pub async fn call(app: &TestApp, token: &str, method: &str, path: &str, url: &str, unique: &str) -> reqwest::Response {
    let request =
        app.http.request(method.to_uppercase().parse().unwrap(), format!("{}{url}", app.base)).bearer_auth(token);
    let request = match body_for(method, path, unique) {
        // Raw MIME, not JSON.
        Some(_) if path == "/v1/mailboxes/{id}/messages" => {
            request.header("content-type", "message/rfc822").body(format!(
            "From: z@customer.example\r\nSubject: {unique}\r\nMessage-ID: <{unique}@customer.example>\r\n\r\nhi\r\n"
        ))
        }
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.unwrap()
}

/// The URL of `path` with our ids filled in: `value` is the id, or `id|attachment_id` for a
/// route that takes two.
pub fn with_ids(path: &str, value: &str) -> String {
    let mut parts = value.split('|');
    let url = path.replace("{id}", parts.next().unwrap_or_default());
    match parts.next() {
        Some(second) => url.replace("{attachment_id}", second),
        None => url,
    }
}

/// One of each thing an organisation owns that a route takes by id, made through the API.
pub struct OwnedIds {
    pub by_path: Vec<(&'static str, String)>,
    /// Text that must not show up anywhere else (emails, names).
    pub secrets: Vec<String>,
}

impl TestApp {
    /// Gives `owner`'s organisation a message (with an agent's verdict on its category), a
    /// member, a pending invitation, a custom role, an API key and a training run; returns their
    /// ids by the route path that takes them.
    pub async fn owned_ids(&self, owner: &Member, marker: &str) -> OwnedIds {
        let accepted = self.accept(&owner.token, "x@customer.example", marker).await;
        let member = self.invite(owner, "viewer").await;
        let invited = format!("pending-{}@team.example", uuid::Uuid::new_v4().simple());
        let invitation: Value = self
            .post(Some(&owner.token), "/v1/invitations", &serde_json::json!({"email": invited, "role": "agent"}))
            .await
            .json()
            .await
            .unwrap();
        let role: Value = self
            .post(
                Some(&owner.token),
                "/v1/roles",
                &serde_json::json!({"name": "billing", "permissions": ["messages:read"]}),
            )
            .await
            .json()
            .await
            .unwrap();
        let key: Value = self
            .post(
                Some(&owner.token),
                "/v1/api-keys",
                &serde_json::json!({"name": "ci", "permissions": ["messages:read"]}),
            )
            .await
            .json()
            .await
            .unwrap();
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}")).to_string();
        let message_id = text(&accepted, "id");
        self.wait_classified(&owner.token, &message_id).await;
        let reviewed = self
            .http
            .put(format!("{}/v1/messages/{message_id}/classification", self.base))
            .bearer_auth(&owner.token)
            .json(&serde_json::json!({"category": "feedback"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reviewed.status(), 200);
        let run: Value =
            self.post(Some(&owner.token), "/v1/ai/training-runs", &serde_json::json!({})).await.json().await.unwrap();
        let llm_key = format!("sk-{}", uuid::Uuid::new_v4().simple());
        let settings = self
            .http
            .put(format!("{}/v1/ai/settings", self.base))
            .bearer_auth(&owner.token)
            .json(&serde_json::json!({
                // A key stored, but no call: these tests have no provider to reach.
                "external_llm_allowed": false, "provider": "openai", "model": "gpt-4o-mini", "api_key": llm_key,
                "hybrid_threshold": 0.5, "monthly_budget_usd": 25, "budget_alert_percent": 80,
                "tone": format!("tone {marker}")
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(settings.status(), 200);
        self.store
            .record_llm_call(
                owner.org,
                &helpdesk_store::LlmCall {
                    feature: "draft",
                    provider: "openai".into(),
                    model: "gpt-4o-mini".into(),
                    input_tokens: 100,
                    output_tokens: 20,
                    cost_micro_usd: 27,
                    priced: true,
                    latency_ms: 800,
                    attempts: 1,
                    outcome: "ok",
                    error: None,
                    request_id: None,
                },
            )
            .await
            .unwrap();
        let article: Value = self
            .post(
                Some(&owner.token),
                "/v1/kb/articles",
                &serde_json::json!({"title": "Refunds", "body": format!("Refunds take 5 days. {marker}"), "published": true}),
            )
            .await
            .json()
            .await
            .unwrap();
        let article_id = text(&article, "id");
        eventually("the article to be indexed", Duration::from_secs(30), || async {
            let a = self.get_json(&owner.token, &format!("/v1/kb/articles/{article_id}")).await;
            (a["indexed_version"] == 1).then_some(())
        })
        .await;
        let conversation_id = text(&accepted, "conversation_id");
        // A draft by the local engine (external LLMs are not allowed above).
        let draft = self
            .post(Some(&owner.token), &format!("/v1/conversations/{conversation_id}/draft"), &serde_json::json!({}))
            .await;
        assert_eq!(draft.status(), 201);
        let draft: Value = draft.json().await.unwrap();
        let mailbox = self.mailbox(&owner.token, "forwarding").await;
        let raw = format!(
            "From: y@customer.example\r\nSubject: Photo {marker}\r\nMessage-ID: <{}@customer.example>\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee the photo.\r\n\
             --b\r\nContent-Type: image/png; name=\"p.png\"\r\nContent-Disposition: attachment; filename=\"p.png\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
            uuid::Uuid::new_v4().simple()
        );
        let (status, email) = self.post_raw(&owner.token, &text(&mailbox, "id"), &raw).await;
        assert_eq!(status, 202, "{email}");
        let email_id = text(&email, "message_id");
        let stored = self.get_json(&owner.token, &format!("/v1/messages/{email_id}")).await;
        let attachment = text(&stored["attachments"][0], "id");
        OwnedIds {
            by_path: vec![
                ("/v1/messages/{id}", message_id.clone()),
                ("/v1/messages/{id}/classification", message_id.clone()),
                ("/v1/ai/training-runs/{id}", text(&run, "id")),
                ("/v1/conversations/{id}", text(&accepted, "conversation_id")),
                ("/v1/users/{id}/role", member.user.to_string()),
                ("/v1/users/{id}/deactivate", member.user.to_string()),
                ("/v1/invitations/{id}", text(&invitation, "id")),
                ("/v1/roles/{id}", text(&role, "id")),
                ("/v1/roles/{id}/permissions", text(&role, "id")),
                ("/v1/api-keys/{id}", text(&key, "id")),
                ("/v1/kb/articles/{id}", article_id.clone()),
                ("/v1/conversations/{id}/draft", conversation_id.clone()),
                ("/v1/conversations/{id}/summary", conversation_id.clone()),
                ("/v1/conversations/{id}/replies", conversation_id.clone()),
                ("/v1/messages/{id}/translate", message_id.clone()),
                ("/v1/drafts/{id}", text(&draft, "id")),
                ("/v1/drafts/{id}/feedback", text(&draft, "id")),
                ("/v1/mailboxes/{id}", text(&mailbox, "id")),
                ("/v1/mailboxes/{id}/messages", text(&mailbox, "id")),
                ("/v1/mailboxes/{id}/test", text(&mailbox, "id")),
                ("/v1/messages/{id}/raw", email_id.clone()),
                ("/v1/messages/{id}/attachments/{attachment_id}", format!("{email_id}|{attachment}")),
            ],
            secrets: vec![
                marker.to_string(),
                "x@customer.example".into(),
                "y@customer.example".into(),
                member.email,
                invited,
                text(&key, "key"),
                llm_key,
            ],
        }
    }

    /// A new mailbox of the caller's organisation (`forwarding`, or `imap` with a loopback
    /// server that is never reached), as the API answers it.
    pub async fn mailbox(&self, token: &str, kind: &str) -> Value {
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let mut body =
            serde_json::json!({"name": "Support", "address": format!("support-{unique}@shop.example"), "kind": kind});
        if kind == "imap" {
            body["imap"] =
                serde_json::json!({"host": "127.0.0.1", "port": 1, "security": "none", "username": "support"});
            body["secret"] = serde_json::json!(format!("imap-password-{unique}"));
        }
        let response = self.post(Some(token), "/v1/mailboxes", &body).await;
        assert_eq!(response.status(), 201, "creating a mailbox");
        response.json().await.unwrap()
    }

    /// Posts raw MIME to a mailbox: (status, answer).
    pub async fn post_raw(&self, token: &str, mailbox: &str, raw: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/v1/mailboxes/{mailbox}/messages", self.base))
            .bearer_auth(token)
            .header("content-type", "message/rfc822")
            .body(raw.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The documented operations as (method, path, required permission if any), logout last
    /// (it ends the caller's session).
    pub async fn documented_operations(&self) -> Vec<(String, String, Option<String>, bool)> {
        let spec: Value =
            self.http.get(format!("{}/v1/openapi.json", self.base)).send().await.unwrap().json().await.unwrap();
        let mut operations = Vec::new();
        for (path, item) in spec["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let protected = operation.get("security").is_some();
                let needs = operation["security"][0]["bearer"][0].as_str().map(str::to_string);
                operations.push((method.clone(), path.clone(), needs, protected));
            }
        }
        operations.sort_by_key(|(_, path, _, _)| path == "/v1/auth/logout");
        operations
    }
}

/// A user of the tests' own Dovecot (`local/dev test` starts it: `HELPDESK_IMAP_PORT`,
/// `HELPDESK_DOVECOT_DIR`), made for one test: its own passwd-file (`users/<name>`) and an
/// empty Maildir that [`ImapAccount::deliver`] puts mail into, as a mail server's local
/// delivery would.
pub struct ImapAccount {
    pub port: u16,
    pub user: String,
    pub password: String,
    maildir: PathBuf,
}

impl ImapAccount {
    /// `None` (the test says it is skipped, and why) where `local/dev test` could not start
    /// Dovecot: it needs Debian's `dovecot-imapd` and root.
    pub fn new() -> Option<Self> {
        let (Ok(dir), Ok(port)) = (std::env::var("HELPDESK_DOVECOT_DIR"), std::env::var("HELPDESK_IMAP_PORT")) else {
            eprintln!("skipped: no Dovecot (HELPDESK_DOVECOT_DIR unset); `local/dev test` starts it as root with dovecot-imapd");
            return None;
        };
        let dir = PathBuf::from(dir);
        let user = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let home = dir.join("home").join(&user);
        let maildir = home.join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        own_by_mail(&home);
        // Written aside and renamed: Dovecot never reads half a file.
        let line = format!("{user}:{{PLAIN}}{password}:8:8::{}\n", home.display());
        let partial = dir.join("users").join(format!(".{user}"));
        std::fs::write(&partial, line).unwrap();
        std::fs::set_permissions(&partial, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        std::fs::rename(&partial, dir.join("users").join(&user)).unwrap();
        Some(Self { port: port.parse().unwrap(), user, password, maildir })
    }

    /// Delivers a raw message into the account's INBOX (Maildir `new/`, written in `tmp/`
    /// first and renamed, as Maildir requires); returns the file's name.
    pub fn deliver(&self, raw: &str) -> String {
        let name = format!("{}.{}.helpdesk-test", chrono::Utc::now().timestamp(), uuid::Uuid::new_v4().simple());
        let tmp = self.maildir.join("tmp").join(&name);
        std::fs::write(&tmp, raw).unwrap();
        own_by_mail(&tmp);
        std::fs::rename(&tmp, self.maildir.join("new").join(&name)).unwrap();
        name
    }

    /// Delivers a raw message into another folder: `directory` is its Maildir++ directory as a
    /// server names it on disk (`.Entw&APw-rfe` for "Entwürfe": modified UTF-7 behind a dot).
    pub fn deliver_to(&self, directory: &str, raw: &str) {
        let folder = self.maildir.join(directory);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(folder.join(sub)).unwrap();
        }
        own_by_mail(&folder);
        let name = format!("{}.{}.helpdesk-test", chrono::Utc::now().timestamp(), uuid::Uuid::new_v4().simple());
        std::fs::write(folder.join("tmp").join(&name), raw).unwrap();
        own_by_mail(&folder.join("tmp").join(&name));
        std::fs::rename(folder.join("tmp").join(&name), folder.join("new").join(&name)).unwrap();
    }

    /// The path of a delivered message, wherever Dovecot moved it (`new/` or `cur/`, with
    /// flags after a `:2,`).
    pub fn message_path(&self, name: &str) -> PathBuf {
        for dir in ["new", "cur"] {
            for entry in std::fs::read_dir(self.maildir.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().unwrap().to_str().unwrap().starts_with(name) {
                    return path;
                }
            }
        }
        panic!("no message {name} in the Maildir")
    }

    /// Every message's Maildir flags (the letters after `:2,`; `S` is `\Seen`).
    pub fn flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        for dir in ["new", "cur"] {
            for entry in std::fs::read_dir(self.maildir.join(dir)).unwrap() {
                let name = entry.unwrap().file_name().to_str().unwrap().to_string();
                flags.push(name.split_once(":2,").map(|(_, f)| f.to_string()).unwrap_or_default());
            }
        }
        flags
    }

    /// Gives the INBOX a new `UIDVALIDITY`, as a server does when it rebuilds a folder: the
    /// index and UID list are dropped and a list that names the new value and no message is
    /// written, so Dovecot numbers every message afresh.
    pub fn renumber(&self, uid_validity: u32) {
        for entry in std::fs::read_dir(&self.maildir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            // The indexes, the UID list and the next-UIDVALIDITY file: Dovecot's whole memory
            // of the folder.
            if name.starts_with("dovecot") && path.is_file() {
                std::fs::remove_file(&path).unwrap();
            }
        }
        let list = self.maildir.join("dovecot-uidlist");
        std::fs::write(&list, format!("3 V{uid_validity} N1\n")).unwrap();
        own_by_mail(&list);
    }
}

/// Mail belongs to Debian's `mail` user (uid and gid 8), whom Dovecot reads it as.
fn own_by_mail(path: &std::path::Path) {
    std::os::unix::fs::chown(path, Some(8), Some(8)).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            own_by_mail(&entry.unwrap().path());
        }
    }
}
