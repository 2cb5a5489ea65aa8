//! The local runner: the platform on http://127.0.0.1:3000 without AWS or Docker.
//!
//! It reads template.yaml and the physical resources `local/stack.py provision` created, builds
//! every function in-process from its library, and plays the three AWS services that trigger
//! them: API Gateway (HTTP API, payload 2.0), the SQS event source mappings (batches of
//! `BatchSize`, partial batch failures) and EventBridge schedules.

pub mod coldstart;
pub mod functions;
pub mod gateway;
pub mod pollers;
pub mod template;

use anyhow::{anyhow, Context, Result};
use functions::{LocalFunction, SharedClients};
use gateway::RouteEntry;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use template::Template;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// What `stack.py provision` wrote: the physical id of each resource it created.
#[derive(Debug, Clone, Deserialize)]
pub struct StackResources {
    pub stack: String,
    pub endpoint: String,
    pub resources: BTreeMap<String, PhysicalResource>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PhysicalResource {
    #[serde(rename = "type")]
    pub kind: String,
    pub physical_id: String,
    #[serde(default)]
    pub arn: Option<String>,
}

impl StackResources {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading {} (run local/stack.py provision first)", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn physical_id(&self, logical_id: &str) -> Option<&str> {
        self.resources.get(logical_id).map(|r| r.physical_id.as_str())
    }
}

/// Everything the runner needs; tests build one per test with their own database and stack.
pub struct RunnerConfig {
    pub template: Template,
    pub resources: StackResources,
    pub database_url: String,
    pub redis_url: String,
    pub jwt_secret: Vec<u8>,
    pub bind: SocketAddr,
    pub sdk: aws_config::SdkConfig,
    /// Variables that replace the template's for every function (like `sam local --env-vars`).
    pub env_overrides: BTreeMap<String, String>,
    /// Whether schedules fire on their own; they can always be fired by hand.
    pub run_schedules: bool,
    /// Fire every schedule at this period instead of its `rate(...)` (tests).
    pub schedule_period: Option<std::time::Duration>,
}

/// A running runner. Dropping it does not stop it: call [`Running::shutdown`].
pub struct Running {
    pub addr: SocketAddr,
    pub functions: Vec<Arc<LocalFunction>>,
    pub clients: SharedClients,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    pub fn function(&self, binary: &str) -> Option<&Arc<LocalFunction>> {
        self.functions.iter().find(|f| f.spec.binary == binary)
    }

    /// Fires a function's schedule now, as EventBridge would, and returns the function's answer.
    pub async fn fire_schedule(&self, binary: &str) -> Result<serde_json::Value> {
        let f = self.function(binary).ok_or_else(|| anyhow!("no function builds {binary}"))?;
        let event = f.spec.schedules.first().map(|s| pollers::scheduled_event(&f.spec.logical_id, &s.event_name));
        let event = event.ok_or_else(|| anyhow!("{} has no schedule", f.spec.logical_id))?;
        f.invoke("schedule", event).await.map_err(|e| anyhow!(e))
    }

    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Builds every function, applies the migrations through the `migrate` function, then serves
/// HTTP and starts the queue pollers and schedules.
pub async fn start(config: RunnerConfig) -> Result<Running> {
    let mailer = helpdesk_platform::mail::CapturingMailer::capturing();
    let clients = SharedClients {
        secrets: local_secrets(&config).await?,
        owner: helpdesk_store::PgStore::connect_lazy(&config.database_url, 4)?,
        sqs: aws_sdk_sqs::Client::new(&config.sdk),
        deps: helpdesk_platform::Deps::new(config.sdk.clone(), Arc::new(mailer.clone())),
        mailer,
    };
    let mut functions: Vec<Arc<LocalFunction>> = Vec::new();
    for spec in &config.template.functions {
        let function =
            LocalFunction::build(spec, &config.resources, &config.template.parameters, &config.env_overrides, &clients)
                .await
                .with_context(|| format!("building {}", spec.logical_id))?;
        functions.push(Arc::new(function));
    }

    if let Some(migrate) = functions.iter().find(|f| f.spec.binary == "migrate") {
        migrate.invoke("startup", serde_json::json!({})).await.map_err(|e| anyhow!("migrations failed: {e}"))?;
    }
    let mut authorizers = BTreeMap::new();
    for (name, spec) in &config.template.authorizers {
        let function = functions
            .iter()
            .find(|f| f.spec.logical_id == spec.function)
            .ok_or_else(|| anyhow!("authorizer {name} names {}, which is not a function", spec.function))?;
        authorizers.insert(name.clone(), Arc::new(gateway::LocalAuthorizer::new(spec.clone(), function.clone())));
    }
    let routes: Arc<Vec<RouteEntry>> = Arc::new(
        functions
            .iter()
            .flat_map(|f| {
                f.spec.routes.iter().map(|r| RouteEntry {
                    route: r.clone(),
                    function: f.clone(),
                    authorizer: r.authorizer.as_ref().and_then(|name| authorizers.get(name).cloned()),
                })
            })
            .collect(),
    );
    let listener =
        tokio::net::TcpListener::bind(config.bind).await.with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();

    let cors = config.template.cors.clone().map(Arc::new);
    let app = axum::Router::new().fallback({
        let routes = routes.clone();
        move |axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>, req: axum::extract::Request| {
            gateway::serve(routes.clone(), cors.clone(), peer, req)
        }
    });
    let mut stop = shutdown_rx.clone();
    tasks.spawn(async move {
        let server = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            });
        if let Err(e) = server.await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });

    for f in &functions {
        for mapping in &f.spec.queues {
            let url = config
                .resources
                .physical_id(&mapping.queue)
                .ok_or_else(|| anyhow!("queue {} was not provisioned", mapping.queue))?
                .to_string();
            let arn = config.resources.resources[&mapping.queue].arn.clone().unwrap_or_default();
            tasks.spawn(pollers::poll_queue(
                clients.sqs.clone(),
                f.clone(),
                mapping.clone(),
                url,
                arn,
                shutdown_rx.clone(),
            ));
        }
        if config.run_schedules {
            for schedule in &f.spec.schedules {
                let mut schedule = schedule.clone();
                schedule.every = config.schedule_period.unwrap_or(schedule.every);
                tasks.spawn(pollers::run_schedule(f.clone(), schedule, shutdown_rx.clone()));
            }
        }
    }
    tracing::info!(%addr, stack = %config.resources.stack, functions = functions.len(), routes = routes.len(), "local runner ready");
    Ok(Running { addr, functions, clients, shutdown, tasks })
}

/// The secrets the template's functions read, as the emulator's Secrets Manager keeps them: the
/// JWT key, and each database role's credentials (locally, the owner's password; none with trust
/// authentication). Re-created or updated on every start.
async fn local_secrets(config: &RunnerConfig) -> Result<functions::LocalSecrets> {
    let client = aws_sdk_secretsmanager::Client::new(&config.sdk);
    let jwt_secret = String::from_utf8(config.jwt_secret.clone()).context("the JWT secret is not UTF-8")?;
    let stack = &config.resources.stack;
    let jwt_secret_arn = Some(put_secret(&client, &format!("{stack}-jwt"), &jwt_secret).await?);
    let mut role_secret_arns = Vec::new();
    if let Some(password) = url_password(&config.database_url) {
        for role in &config.template.database_roles {
            let value = serde_json::json!({"username": role, "password": password}).to_string();
            role_secret_arns.push(put_secret(&client, &format!("{stack}-role-{role}"), &value).await?);
        }
    }
    Ok(functions::LocalSecrets {
        database_url: config.database_url.clone(),
        redis_url: config.redis_url.clone(),
        jwt_secret,
        jwt_secret_arn,
        role_secret_arns,
    })
}

/// Creates the secret, or gives an existing one this value; returns its ARN.
async fn put_secret(client: &aws_sdk_secretsmanager::Client, name: &str, value: &str) -> Result<String> {
    use aws_sdk_secretsmanager::error::DisplayErrorContext;
    match client.create_secret().name(name).secret_string(value).send().await {
        Ok(created) => created.arn.ok_or_else(|| anyhow!("secret {name} was created without an ARN")),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_resource_exists_exception()) => {
            let put = client.put_secret_value().secret_id(name).secret_string(value).send().await;
            let put = put.map_err(|e| anyhow!("updating secret {name}: {}", DisplayErrorContext(e)))?;
            put.arn.ok_or_else(|| anyhow!("secret {name} has no ARN"))
        }
        Err(e) => Err(anyhow!("creating secret {name}: {}", DisplayErrorContext(e))),
    }
}

/// The password in a `postgres://user:password@host/db` URL, if any (as written: a
/// percent-encoded password is not decoded).
fn url_password(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_string())
}
