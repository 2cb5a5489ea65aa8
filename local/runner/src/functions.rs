//! The platform's functions, built in-process with the same constructor their Lambda `main.rs`
//! uses ([`helpdesk_platform::function::build`], from the template's variables), and invoked the
//! way the Lambda service invokes them: JSON event in, JSON out.
//!
//! [`CATALOGUE`] is the one place a function is registered; everything else about it (its
//! variables, triggers, routes, database role) comes from template.yaml.

use crate::template::{EnvValue, FunctionSpec};
use crate::StackResources;
use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use helpdesk_platform::function::{build, EventFunction, HttpFunction};
use helpdesk_platform::{Deps, Environment};
use helpdesk_store::PgStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A function as the Lambda service sees it.
pub trait LambdaFunction: Send + Sync {
    fn invoke(&self, event: Value, context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>>;
}

/// Builds a function from its environment and the shared clients.
type Constructor = for<'a> fn(&'a Environment, &'a Deps) -> BoxFuture<'a, Result<Box<dyn LambdaFunction>>>;

/// A function the runner can build: the binary template.yaml names, and its constructor.
pub struct Registration {
    pub binary: &'static str,
    build: Constructor,
    /// The variables its configuration reads.
    pub variables: fn() -> Vec<String>,
}

/// Every function of the platform. Adding one: its crate, its template resource, and a line here.
pub const CATALOGUE: &[Registration] = &[
    http::<api::AppState>(),
    http::<auth::AuthState>(),
    http::<ai_api::AiApiState>(),
    http::<integrations::IntegrationsState>(),
    events::<authorizer::Authorizer>(),
    events::<ai_worker::Worker>(),
    events::<ai_trainer::Trainer>(),
    events::<ai_indexer::Indexer>(),
    events::<mail_fetcher::Fetcher>(),
    events::<mail_ingest::MailIngest>(),
    events::<outbox_relay::Relay>(),
    events::<migrate::Migrator>(),
];

const fn http<F: HttpFunction>() -> Registration {
    Registration { binary: F::NAME, build: build_http::<F>, variables: variables::<F> }
}

const fn events<F: EventFunction>() -> Registration {
    Registration { binary: F::NAME, build: build_events::<F>, variables: variables::<F> }
}

/// Every variable `F`'s configuration reads, set or not: its sections parsed from the least
/// environment that satisfies them all (a required variable the error names is given a
/// placeholder, so a new function's required settings need nothing here).
fn variables<F: helpdesk_platform::Function>() -> Vec<String> {
    use helpdesk_platform::FromEnvironment;
    // Required variables whose value has a form to meet.
    let mut vars: Vec<(String, String)> = vec![("DATABASE_URL".into(), "postgres://localhost/x".into())];
    for _ in 0..32 {
        let env = Environment::from_vars(vars.clone());
        match F::Config::from_environment(&env) {
            Ok(_) => return env.variables_read(),
            Err(e) => match e.missing_variable() {
                Some(name) if !vars.iter().any(|(n, _)| n == name) => {
                    vars.push((name.to_string(), "placeholder".into()))
                }
                _ => panic!("{}: the least environment should parse: {e}", F::NAME),
            },
        }
    }
    panic!("{}: more than 32 required variables", F::NAME)
}

fn build_http<'a, F: HttpFunction>(
    env: &'a Environment,
    deps: &'a Deps,
) -> BoxFuture<'a, Result<Box<dyn LambdaFunction>>> {
    Box::pin(async move {
        let function = build::<F>(env, deps).await?;
        Ok(Box::new(Http { router: function.router() }) as Box<dyn LambdaFunction>)
    })
}

fn build_events<'a, F: EventFunction>(
    env: &'a Environment,
    deps: &'a Deps,
) -> BoxFuture<'a, Result<Box<dyn LambdaFunction>>> {
    Box::pin(async move { Ok(Box::new(Events(build::<F>(env, deps).await?)) as Box<dyn LambdaFunction>) })
}

/// What the runner stands in for, locally: the values of the secrets the template names, and
/// the cache's endpoint.
#[derive(Clone)]
pub struct LocalSecrets {
    /// The owner's URL; each function connects with its role's name instead.
    pub database_url: String,
    pub redis_url: String,
    /// What `JWT_SECRET_ARN` names in AWS.
    pub jwt_secret: String,
    /// The same, kept in the emulator's Secrets Manager: functions then read it as in AWS.
    pub jwt_secret_arn: Option<String>,
    /// The roles' secrets (`username`, `password`) in the emulator, for migrate to set their
    /// passwords as in AWS; none where Postgres trusts local connections.
    pub role_secret_arns: Vec<String>,
}

/// The clients every function shares in the runner (one per container in AWS).
#[derive(Clone)]
pub struct SharedClients {
    pub secrets: LocalSecrets,
    /// The owner's connection (migrations, the local tools).
    pub owner: PgStore,
    pub sqs: aws_sdk_sqs::Client,
    /// Where the functions' emails (invitations) go: logged and kept, for tests and tools.
    pub mailer: helpdesk_platform::mail::CapturingMailer,
    pub deps: Deps,
}

/// The encoder's settings locally: the files `local/dev` fetched into `$HELPDESK_MODELS` (as a
/// Lambda layer would provide them), else none (the n-gram defaults answer).
pub fn local_encoder_dir() -> Option<String> {
    helpdesk_platform::ai::local_encoder_dir().map(|d| d.display().to_string())
}

/// The AI engine the runner's functions share (loaded once per process for their settings).
pub async fn local_ai_engine() -> Result<Arc<helpdesk_ai::Engine>> {
    let env = Environment::from_vars(local_encoder_dir().map(|dir| ("ENCODER_DIR".to_string(), dir)));
    let config: helpdesk_platform::ai::EncoderConfig = env.section()?;
    Ok(config.load(&env.section()?, None).await?.engine)
}

/// A function of the template, ready to invoke.
pub struct LocalFunction {
    pub spec: FunctionSpec,
    handler: Box<dyn LambdaFunction>,
}

impl LocalFunction {
    /// Builds the function with its constructor, as in Lambda, from [`environment`].
    pub async fn build(
        spec: &FunctionSpec,
        resources: &StackResources,
        parameters: &BTreeMap<String, String>,
        overrides: &BTreeMap<String, String>,
        clients: &SharedClients,
    ) -> Result<Self> {
        let env = environment(spec, resources, parameters, overrides, &clients.secrets)?;
        let registration = CATALOGUE.iter().find(|r| r.binary == spec.binary).ok_or_else(|| {
            anyhow!(
                "{} builds binary '{}', which is not in the runner's catalogue (local/runner/src/functions.rs)",
                spec.logical_id,
                spec.binary
            )
        })?;
        let handler = (registration.build)(&Environment::from_vars(env), &clients.deps).await?;
        Ok(Self { spec: spec.clone(), handler })
    }

    /// Invokes the function and logs the invocation (function, trigger, duration, outcome).
    pub async fn invoke(&self, trigger: &str, event: Value) -> Result<Value, String> {
        let mut context = lambda_runtime::Context::default();
        context.request_id = uuid::Uuid::new_v4().to_string();
        context.invoked_function_arn = format!("arn:aws:lambda:local:123456789012:function:{}", self.spec.logical_id);
        let started = Instant::now();
        let result = self.handler.invoke(event, context).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(_) => {
                tracing::info!(function = %self.spec.logical_id, trigger, duration_ms, outcome = "ok", "invocation")
            }
            Err(e) => {
                tracing::warn!(function = %self.spec.logical_id, trigger, duration_ms, outcome = "error", error = %e, "invocation")
            }
        }
        result
    }
}

/// A function's environment: the template's variables resolved against the local stack, with
/// local stand-ins for what only AWS has (secrets, the encoder's files), then `overrides` (like
/// `sam local --env-vars`).
pub fn environment(
    spec: &FunctionSpec,
    resources: &StackResources,
    parameters: &BTreeMap<String, String>,
    overrides: &BTreeMap<String, String>,
    secrets: &LocalSecrets,
) -> Result<BTreeMap<String, String>> {
    let mut env: BTreeMap<String, String> = spec
        .env
        .iter()
        .filter_map(|(name, value)| {
            let resolved = match value {
                EnvValue::Literal(v) => Some(v.clone()),
                EnvValue::Ref(id) if id == "AWS::StackName" => Some(resources.stack.clone()),
                EnvValue::Ref(id) => {
                    resources.physical_id(id).map(str::to_string).or_else(|| parameters.get(id).cloned())
                }
                EnvValue::CloudOnly => None,
            };
            resolved.map(|v| (name.clone(), v))
        })
        .collect();
    env.extend(local_stand_ins(spec, secrets)?);
    env.extend(overrides.clone());
    Ok(env)
}

/// Like `sam local --env-vars`: any setting a function reads, set in this process's environment,
/// replaces the template's value (e.g. `RATE_LIMIT_IP=100000/10000`, `ENCODER_PRECISION=f32`) —
/// but for the secrets, which the runner stands in for per function (each its own role).
pub fn overrides_from(lookup: impl Fn(&str) -> Option<String>) -> BTreeMap<String, String> {
    const STOOD_IN: [&str; 6] =
        ["DATABASE_URL", "DATABASE_SECRET_ARN", "JWT_SECRET", "JWT_SECRET_ARN", "ROLE_SECRET_ARNS", "REDIS_URL"];
    CATALOGUE
        .iter()
        .flat_map(|r| (r.variables)())
        .filter(|name| !STOOD_IN.contains(&name.as_str()))
        .filter_map(|name| Some((name.clone(), lookup(&name)?)))
        .collect()
}

/// What AWS gives a function that the local stack has no resource for: the database as the
/// function's role (a URL: the emulator's secrets cannot require TLS of a local Postgres), the
/// JWT key's and the roles' secrets in the emulator, Redis, and the encoder's files from this
/// machine rather than S3. Organisations may point their LLM provider at this machine
/// (Ollama, a test's stand-in server); in AWS that is refused.
fn local_stand_ins(spec: &FunctionSpec, secrets: &LocalSecrets) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    let names = |name: &str| spec.env.contains_key(name);
    if names("DATABASE_SECRET_ARN") || names("DATABASE_URL") {
        let url = match &spec.database_role {
            Some(role) => with_username(&secrets.database_url, role)?,
            None => secrets.database_url.clone(),
        };
        env.insert("DATABASE_URL".into(), url);
        env.insert("DB_MAX_CONNECTIONS".into(), "5".into());
    }
    if names("JWT_SECRET_ARN") {
        match &secrets.jwt_secret_arn {
            Some(arn) => env.insert("JWT_SECRET_ARN".into(), arn.clone()),
            None => env.insert("JWT_SECRET".into(), secrets.jwt_secret.clone()),
        };
    }
    if names("ROLE_SECRET_ARNS") && !secrets.role_secret_arns.is_empty() {
        env.insert("ROLE_SECRET_ARNS".into(), secrets.role_secret_arns.join(","));
    }
    if names("REDIS_URL") {
        env.insert("REDIS_URL".into(), secrets.redis_url.clone());
    }
    if names("ENCODER_S3_PREFIX") || names("ENCODER_DIR") {
        // An empty value is unset: the n-gram defaults answer when no files were fetched.
        env.insert("ENCODER_S3_PREFIX".into(), String::new());
        env.insert("ENCODER_DIR".into(), local_encoder_dir().unwrap_or_default());
    }
    env.insert(helpdesk_outbound::ALLOW_PRIVATE_VAR.into(), "true".into());
    Ok(env)
}

/// The same database URL with another user (the function's role).
fn with_username(url: &str, role: &str) -> Result<String> {
    let mut parsed = reqwest::Url::parse(url).map_err(|e| anyhow!("DATABASE_URL: {e}"))?;
    parsed.set_username(role).map_err(|()| anyhow!("DATABASE_URL cannot carry a user name"))?;
    Ok(parsed.to_string())
}

/// An HTTP function: the API Gateway event goes through `lambda_http`'s own adapter, exactly
/// as `lambda_http::run` does in AWS.
struct Http {
    router: axum::Router,
}

impl LambdaFunction for Http {
    fn invoke(&self, event: Value, context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            use tower::Service;
            let request: lambda_http::request::LambdaRequest =
                serde_json::from_value(event).map_err(|e| format!("not an HTTP API event: {e}"))?;
            // The adapter is not Send (it only marks the response type), so it must not live
            // across the await; an axum Router is always ready, so no poll_ready is needed.
            let response = {
                let mut adapter = lambda_http::Adapter::from(self.router.clone());
                adapter.call(lambda_runtime::LambdaEvent::new(request, context))
            };
            let response = response.await.map_err(|e| e.to_string())?;
            serde_json::to_value(response).map_err(|e| e.to_string())
        })
    }
}

/// An event function: the event parsed as its type, as `lambda_runtime` does.
struct Events<F>(F);

impl<F: EventFunction> LambdaFunction for Events<F> {
    fn invoke(&self, event: Value, _context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let event: F::Event =
                serde_json::from_value(event).map_err(|e| format!("{}: malformed event: {e}", F::NAME))?;
            let answer = self.0.handle(event).await.map_err(|e| helpdesk_domain::error::describe(e.as_ref()))?;
            serde_json::to_value(answer).map_err(|e| e.to_string())
        })
    }
}
