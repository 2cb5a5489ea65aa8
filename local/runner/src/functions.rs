//! The platform's functions, built in-process with the same library code their Lambda
//! `main.rs` uses, and invoked the way the Lambda service invokes them: JSON event in, JSON out.

use crate::template::{EnvValue, FunctionSpec};
use crate::StackResources;
use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use helpdesk_aws::{QueueUrls, SqsPublisher};
use helpdesk_http::JwtKeys;
use helpdesk_platform::{Bootstrap, RedisHandle};
use helpdesk_store::PgStore;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A function as the Lambda service sees it.
pub trait LambdaFunction: Send + Sync {
    fn invoke(&self, event: Value, context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>>;
}

/// The clients every function shares in the runner (one per container in AWS).
#[derive(Clone)]
pub struct SharedClients {
    /// The owner's connection (migrations, the local tools); functions get their own role's.
    pub database_url: String,
    pub owner: PgStore,
    pub redis: RedisHandle,
    pub jwt: JwtKeys,
    pub sqs: aws_sdk_sqs::Client,
    pub http: reqwest::Client,
    /// Where the auth function's emails (invitations) go: logged and kept, for tests and tools.
    pub mailer: helpdesk_platform::mail::CapturingMailer,
    /// One hasher for every auth function of the runner (its decoy hash is made once).
    pub passwords: auth::passwords::Passwords,
    pub s3: aws_sdk_s3::Client,
    /// The AI engine the AI functions share (one per process: it is large and read-only).
    pub ai: Arc<helpdesk_ai::Engine>,
    /// For the clients each function builds itself (KMS under its own key id).
    pub sdk: aws_config::SdkConfig,
}

/// The AI engine of this process, loaded on first use. The encoder comes from
/// `$HELPDESK_MODELS` (what `local/dev` fetches), as a Lambda layer would provide it; without
/// it the defaults are the n-gram model. (In AWS the functions copy the files from S3.)
pub async fn local_ai_engine() -> Result<Arc<helpdesk_ai::Engine>> {
    static ENGINE: tokio::sync::OnceCell<Arc<helpdesk_ai::Engine>> = tokio::sync::OnceCell::const_new();
    ENGINE
        .get_or_try_init(|| async {
            let source = match helpdesk_platform::ai::local_encoder_dir() {
                Some(dir) => helpdesk_platform::ai::EncoderSource::Dir(dir),
                None => helpdesk_platform::ai::EncoderSource::None,
            };
            let encoder = source.load(None).await?;
            let language = helpdesk_platform::ai::language_detector(|n| std::env::var(n).ok())?;
            helpdesk_platform::ai::engine(encoder, language).await
        })
        .await
        .cloned()
}

/// A function of the template, ready to invoke.
pub struct LocalFunction {
    pub spec: FunctionSpec,
    pub env: BTreeMap<String, String>,
    handler: Box<dyn LambdaFunction>,
}

impl LocalFunction {
    pub fn build(
        spec: &FunctionSpec,
        resources: &StackResources,
        parameters: &BTreeMap<String, String>,
        overrides: &BTreeMap<String, String>,
        clients: &SharedClients,
        role_passwords: &[(String, String)],
    ) -> Result<Self> {
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
        // Locally an organisation may point its LLM provider at this machine (Ollama, a test's
        // stand-in server); in AWS the variable is unset and such URLs are refused.
        env.insert(helpdesk_outbound::ALLOW_PRIVATE_VAR.into(), "true".into());
        env.extend(overrides.clone());
        let publisher = SqsPublisher::new(clients.sqs.clone(), QueueUrls::from_lookup(|n| env.get(n).cloned()));
        // Each function connects as the role its secret names, as in AWS (its own pool, as its
        // own containers would have).
        let store = match &spec.database_role {
            Some(role) => PgStore::connect_lazy_as(&clients.database_url, role, 5)?,
            None => clients.owner.clone(),
        };

        let lookup = |name: &str| env.get(name).cloned();
        let blobs = || -> Result<Arc<dyn helpdesk_domain::BlobStore>> {
            let bucket = lookup("DATA_BUCKET").ok_or_else(|| anyhow!("{} has no DATA_BUCKET", spec.logical_id))?;
            Ok(Arc::new(helpdesk_aws::S3Blobs::new(clients.s3.clone(), bucket)))
        };
        let gateway =
            |credential_routes| Bootstrap::gateway(store.clone(), clients.redis.clone(), lookup, credential_routes);
        let handler: Box<dyn LambdaFunction> = match spec.binary.as_str() {
            "api" => Box::new(HttpFunction {
                router: api::router(api::AppState {
                    store: store.clone(),
                    publisher,
                    redis: clients.redis.clone(),
                    gateway: gateway(&[]),
                    sealer: {
                        let key = lookup("DATA_KEY_ID").ok_or_else(|| anyhow!("{} has no DATA_KEY_ID", spec.logical_id))?;
                        Arc::new(helpdesk_aws::KmsEnvelope::new(&clients.sdk, key))
                    },
                    llm_destinations: helpdesk_outbound::Destinations::from_lookup(lookup),
                }),
            }),
            "auth" => {
                let gateway = gateway(auth::CREDENTIAL_ROUTES);
                Box::new(HttpFunction {
                    router: auth::router(auth::AuthState {
                        store: store.clone(),
                        sessions: gateway.sessions.clone(),
                        jwt: clients.jwt.clone(),
                        passwords: clients.passwords.clone(),
                        mailer: Arc::new(clients.mailer.clone()),
                        gateway,
                        app_url: lookup("APP_URL").unwrap_or_else(|| "http://localhost:5173".into()),
                    }),
                })
            }
            "authorizer" => Box::new(Authorizer(authorizer::Authorizer {
                jwt: clients.jwt.clone(),
                sessions: gateway(&[]).sessions,
                store: store.clone(),
            })),
            "ai-worker" => Box::new(AiWorker(ai_worker::Worker {
                store: store.clone(),
                publisher,
                engine: clients.ai.clone(),
                models: Arc::new(helpdesk_platform::ai::ModelCache::new(blobs()?, clients.ai.encoder().cloned())),
                llm: Some(Arc::new(llm_gateway(&store, clients, &lookup)?)),
            })),
            "ai-trainer" => {
                let blobs = blobs()?;
                Box::new(AiTrainer(ai_trainer::Trainer {
                    store: store.clone(),
                    models: Arc::new(helpdesk_platform::ai::ModelCache::new(blobs.clone(), clients.ai.encoder().cloned())),
                    blobs,
                    engine: clients.ai.clone(),
                    min_verdicts: ai_trainer::min_verdicts(lookup),
                }))
            }
            "ai-api" => {
                if clients.ai.encoder().is_none() {
                    return Err(anyhow!("ai-api needs the sentence encoder (python local/models.py fetch)"));
                }
                Box::new(HttpFunction {
                    router: ai_api::router(ai_api::AiApiState {
                        assistant: Arc::new(ai_api::Assistant {
                            store: store.clone(),
                            engine: clients.ai.clone(),
                            llm: Some(Arc::new(llm_gateway(&store, clients, &lookup)?)),
                        }),
                        gateway: gateway(&[]),
                    }),
                })
            }
            "ai-indexer" => Box::new(AiIndexer(ai_indexer::Indexer {
                store: store.clone(),
                encoder: clients
                    .ai
                    .encoder()
                    .cloned()
                    .ok_or_else(|| anyhow!("ai-indexer needs the sentence encoder (python local/models.py fetch)"))?,
            })),
            "outbox-relay" => Box::new(OutboxRelay {
                store: store.clone(),
                publisher,
                min_age_secs: env
                    .get("OUTBOX_MIN_AGE_SECS")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(outbox_relay::MIN_AGE_SECS),
            }),
            "migrate" => Box::new(Migrate {
                schema: migrate::Schema { store: Ok(store.clone()), role_passwords: role_passwords.to_vec() },
                http: clients.http.clone(),
            }),
            other => {
                return Err(anyhow!(
                    "{} builds binary '{other}', which the local runner does not know: add it to local/runner/src/functions.rs",
                    spec.logical_id
                ))
            }
        };
        Ok(Self { spec: spec.clone(), env, handler })
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

/// An HTTP function: the API Gateway event goes through `lambda_http`'s own adapter, exactly
/// as `lambda_http::run` does in AWS.
struct HttpFunction {
    router: axum::Router,
}

impl LambdaFunction for HttpFunction {
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

/// The HttpApi Lambda authorizer: its event is the v2 REQUEST payload.
struct Authorizer(authorizer::Authorizer);

impl LambdaFunction for Authorizer {
    fn invoke(&self, event: Value, _context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let request = serde_json::from_value(event).map_err(|e| format!("not an authorizer event: {e}"))?;
            let answer = self.0.handle(request).await.map_err(|e| e.to_string())?;
            serde_json::to_value(answer).map_err(|e| e.to_string())
        })
    }
}

struct AiWorker(ai_worker::Worker);

impl LambdaFunction for AiWorker {
    fn invoke(&self, event: Value, _context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let event = serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
            serde_json::to_value(self.0.handle(event).await).map_err(|e| e.to_string())
        })
    }
}

struct AiTrainer(ai_trainer::Trainer);

impl LambdaFunction for AiTrainer {
    fn invoke(&self, event: Value, _context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(self.0.handle(event))
    }
}

struct AiIndexer(ai_indexer::Indexer);

impl LambdaFunction for AiIndexer {
    fn invoke(&self, event: Value, _context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move {
            let event = serde_json::from_value(event).map_err(|e| format!("not an SQS event: {e}"))?;
            serde_json::to_value(self.0.handle(event).await).map_err(|e| e.to_string())
        })
    }
}

struct OutboxRelay {
    store: PgStore,
    publisher: SqsPublisher,
    min_age_secs: i64,
}

impl LambdaFunction for OutboxRelay {
    fn invoke(&self, _event: Value, _context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        let (store, publisher, min_age_secs) = (self.store.clone(), self.publisher.clone(), self.min_age_secs);
        Box::pin(async move {
            let report = outbox_relay::handle(&store, &publisher, min_age_secs).await?;
            serde_json::to_value(report).map_err(|e| e.to_string())
        })
    }
}

struct Migrate {
    schema: migrate::Schema,
    http: reqwest::Client,
}

impl LambdaFunction for Migrate {
    fn invoke(&self, event: Value, _context: lambda_runtime::Context) -> BoxFuture<'_, Result<Value, String>> {
        Box::pin(migrate::handle(&self.schema, &self.http, event))
    }
}

/// The LLM gateway as the AI functions build it in AWS, from the function's environment: KMS
/// under `DATA_KEY_ID`, the platform's default provider from `LLM_*` (the key from `LLM_API_KEY`
/// locally), prices with `LLM_PRICES` over the shipped table.
fn llm_gateway(
    store: &PgStore,
    clients: &SharedClients,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<helpdesk_platform::llm::LlmGateway> {
    let key = lookup("DATA_KEY_ID").ok_or_else(|| anyhow!("no DATA_KEY_ID"))?;
    let sealer = Arc::new(helpdesk_aws::KmsEnvelope::new(&clients.sdk, key));
    let default = helpdesk_platform::llm::ProviderConfig::platform_default(lookup, lookup("LLM_API_KEY"))?;
    let prices = helpdesk_llm::pricing::PriceTable::from_lookup(lookup).map_err(anyhow::Error::msg)?;
    let destinations = helpdesk_outbound::Destinations::from_lookup(lookup);
    Ok(helpdesk_platform::llm::LlmGateway::new(store.clone(), sealer, default, destinations).with_prices(prices))
}
