//! Reads what the runner needs from template.yaml: each function's binary, environment, and the
//! HTTP routes, SQS mappings and schedules that trigger it.

use anyhow::{anyhow, bail, Context, Result};
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// An environment variable's value as the template gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// `!Ref LogicalId` or `!Ref Parameter`.
    Ref(String),
    /// Anything else (`!GetAtt DatabaseProxy.Endpoint`, `!Sub …`): only meaningful in AWS.
    CloudOnly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// `/v1/messages/{id}`, `/{proxy+}` or `$default`.
    pub path: String,
    /// The authorizer API Gateway runs first: the event's `Auth.Authorizer`, else the API's
    /// `DefaultAuthorizer`; `None` for `Authorizer: NONE`.
    pub authorizer: Option<String>,
}

/// A Lambda authorizer of the HttpApi's `Auth.Authorizers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizerSpec {
    pub name: String,
    /// The function's logical id (from `FunctionArn: !GetAtt X.Arn`).
    pub function: String,
    /// The identity sources: request headers, lower-cased. A request missing one is refused
    /// with 401 before the authorizer runs.
    pub identity_headers: Vec<String>,
    /// `ReauthorizeEvery`: how long an answer is cached per identity (0: not cached).
    pub cache_ttl: Duration,
    pub simple_responses: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMapping {
    pub event_name: String,
    pub queue: String,
    pub batch_size: i32,
    pub report_batch_item_failures: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub event_name: String,
    pub every: Duration,
}

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// The cargo binary (Metadata.BuildProperties.Binary).
    pub binary: String,
    /// The database role it connects as: the `username` of the secret its `DATABASE_SECRET_ARN`
    /// names (`None`: the owner).
    pub database_role: Option<String>,
    pub env: BTreeMap<String, EnvValue>,
    pub routes: Vec<HttpRoute>,
    pub queues: Vec<SqsMapping>,
    pub schedules: Vec<ScheduleSpec>,
}

/// The HttpApi's `CorsConfiguration`, which API Gateway applies before any function runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

#[derive(Debug, Clone)]
pub struct Template {
    /// The HTTP API's CORS settings, if it has any.
    pub cors: Option<Cors>,
    /// The HTTP API's Lambda authorizers, by name.
    pub authorizers: BTreeMap<String, AuthorizerSpec>,
    pub functions: Vec<FunctionSpec>,
    pub parameters: BTreeMap<String, String>,
    /// Database roles other than the owner's (their secrets' usernames).
    pub database_roles: Vec<String>,
}

impl Template {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self> {
        let doc: Value = serde_norway::from_str(text).context("template.yaml is not valid YAML")?;
        let parameters = doc
            .get("Parameters")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), scalar(v.get("Default")?)?))).collect()
            })
            .unwrap_or_default();
        let global_env =
            doc.get("Globals").and_then(|g| g.get("Function")).map(env_of).transpose()?.unwrap_or_default();
        let resources = doc.get("Resources").and_then(Value::as_mapping).ok_or_else(|| anyhow!("no Resources"))?;
        let secret_users = secret_usernames(resources);
        let owner_secret = resources
            .iter()
            .find(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::RDS::DBCluster"))
            .and_then(|(_, r)| match r.get("Properties")?.get("MasterUsername")? {
                Value::Tagged(t) => t.value.as_str().map(str::to_string),
                other => other.as_str().map(str::to_string),
            });

        let http_api = resources
            .iter()
            .find(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi"))
            .and_then(|(_, r)| r.get("Properties").cloned())
            .unwrap_or(Value::Null);
        let auth = http_api.get("Auth").cloned().unwrap_or(Value::Null);
        let default_authorizer = auth.get("DefaultAuthorizer").and_then(Value::as_str).map(str::to_string);
        let mut authorizers = BTreeMap::new();
        for (name, a) in auth.get("Authorizers").and_then(Value::as_mapping).into_iter().flatten() {
            let name = name.as_str().unwrap_or_default().to_string();
            let Some(function) = referenced_logical_id(a.get("FunctionArn")) else {
                bail!(
                    "authorizer {name}: only Lambda authorizers with FunctionArn: !GetAtt X.Arn are supported locally"
                )
            };
            if a.get("AuthorizerPayloadFormatVersion").and_then(scalar).as_deref() != Some("2.0") {
                bail!("authorizer {name}: only AuthorizerPayloadFormatVersion 2.0 is supported locally");
            }
            let identity = a.get("Identity").cloned().unwrap_or(Value::Null);
            authorizers.insert(
                name.clone(),
                AuthorizerSpec {
                    name,
                    function,
                    identity_headers: strings(identity.get("Headers"), &parameters)
                        .into_iter()
                        .map(|h| h.to_ascii_lowercase())
                        .collect(),
                    cache_ttl: Duration::from_secs(
                        identity.get("ReauthorizeEvery").and_then(Value::as_u64).unwrap_or(300),
                    ),
                    simple_responses: a.get("EnableSimpleResponses").and_then(Value::as_bool).unwrap_or(false),
                },
            );
        }

        let mut functions = Vec::new();
        for (id, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let logical_id = id.as_str().unwrap_or_default().to_string();
            let binary = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("{logical_id} has no Metadata.BuildProperties.Binary"))?
                .to_string();
            let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
            let mut env = global_env.clone();
            env.extend(env_of(&props)?);
            let database_role = match env.get("DATABASE_SECRET_ARN") {
                Some(EnvValue::Ref(secret)) => secret_users.get(secret).cloned(),
                _ => None,
            };
            let mut spec = FunctionSpec {
                logical_id: logical_id.clone(),
                binary,
                database_role,
                env,
                routes: vec![],
                queues: vec![],
                schedules: vec![],
            };
            if let Some(events) = props.get("Events").and_then(Value::as_mapping) {
                for (name, event) in events {
                    let name = name.as_str().unwrap_or_default().to_string();
                    let p = event.get("Properties").cloned().unwrap_or(Value::Null);
                    match event.get("Type").and_then(Value::as_str) {
                        Some("HttpApi") => spec.routes.push(HttpRoute {
                            method: p.get("Method").and_then(Value::as_str).unwrap_or("ANY").to_ascii_uppercase(),
                            path: p.get("Path").and_then(Value::as_str).unwrap_or("$default").to_string(),
                            authorizer: match p.get("Auth").and_then(|a| a.get("Authorizer")).and_then(Value::as_str) {
                                Some("NONE") => None,
                                Some(name) if authorizers.contains_key(name) => Some(name.to_string()),
                                Some(name) => bail!("{logical_id}.{name}: unknown authorizer {name}"),
                                None => default_authorizer.clone(),
                            },
                        }),
                        Some("SQS") => spec.queues.push(SqsMapping {
                            event_name: name.clone(),
                            queue: referenced_logical_id(p.get("Queue"))
                                .ok_or_else(|| anyhow!("{logical_id}.{name}: Queue must be !GetAtt X.Arn"))?,
                            batch_size: p.get("BatchSize").and_then(Value::as_i64).unwrap_or(10) as i32,
                            report_batch_item_failures: p
                                .get("FunctionResponseTypes")
                                .and_then(Value::as_sequence)
                                .is_some_and(|s| s.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))),
                        }),
                        Some("Schedule") => {
                            let expr = p.get("Schedule").and_then(Value::as_str).unwrap_or_default();
                            spec.schedules.push(ScheduleSpec {
                                event_name: name.clone(),
                                every: parse_rate(expr).with_context(|| format!("{logical_id}.{name}"))?,
                            });
                        }
                        other => {
                            bail!("{logical_id}.{name}: event type {other:?} is not supported by the local runner")
                        }
                    }
                }
            }
            functions.push(spec);
        }
        // The master user's secret is the owner; every other secret's username is a role.
        let mut database_roles: Vec<String> = secret_users
            .iter()
            .filter(|(id, _)| owner_secret.as_deref().is_none_or(|m| !m.contains(&format!("${{{id}}}"))))
            .map(|(_, user)| user.clone())
            .collect();
        database_roles.sort();
        for f in &mut functions {
            if f.database_role.as_ref().is_some_and(|r| !database_roles.contains(r)) {
                f.database_role = None; // the owner
            }
        }
        let cors = http_api.get("CorsConfiguration").cloned().map(|c| {
            let list = |key: &str| strings(c.get(key), &parameters);
            Cors {
                allow_origins: list("AllowOrigins"),
                allow_methods: list("AllowMethods"),
                allow_headers: list("AllowHeaders").into_iter().map(|h| h.to_ascii_lowercase()).collect(),
                expose_headers: list("ExposeHeaders"),
                max_age: c.get("MaxAge").and_then(Value::as_u64),
                allow_credentials: c.get("AllowCredentials").and_then(Value::as_bool).unwrap_or(false),
            }
        });
        Ok(Self { cors, authorizers, functions, parameters, database_roles })
    }

    pub fn function_by_binary(&self, binary: &str) -> Option<&FunctionSpec> {
        self.functions.iter().find(|f| f.binary == binary)
    }
}

/// A list of strings, or `!Ref` to a (comma-delimited) parameter's default.
fn strings(v: Option<&Value>, parameters: &BTreeMap<String, String>) -> Vec<String> {
    match v {
        Some(Value::Sequence(items)) => items.iter().filter_map(scalar).collect(),
        Some(Value::Tagged(t)) if t.tag == "!Ref" => t
            .value
            .as_str()
            .and_then(|p| parameters.get(p))
            .map(|list| list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default(),
        Some(other) => scalar(other).into_iter().collect(),
        None => vec![],
    }
}

/// Secrets Manager secrets whose generated JSON names a `username`: logical id → username.
fn secret_usernames(resources: &serde_norway::Mapping) -> BTreeMap<String, String> {
    resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some("AWS::SecretsManager::Secret"))
        .filter_map(|(id, r)| {
            let template = r.get("Properties")?.get("GenerateSecretString")?.get("SecretStringTemplate")?.as_str()?;
            let json: serde_json::Value = serde_json::from_str(template).ok()?;
            Some((id.as_str()?.to_string(), json.get("username")?.as_str()?.to_string()))
        })
        .collect()
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn env_of(props: &Value) -> Result<BTreeMap<String, EnvValue>> {
    let Some(vars) = props.get("Environment").and_then(|e| e.get("Variables")).and_then(Value::as_mapping) else {
        return Ok(BTreeMap::new());
    };
    Ok(vars
        .iter()
        .filter_map(|(k, v)| {
            let value = match v {
                Value::Tagged(t) if t.tag == "!Ref" => EnvValue::Ref(t.value.as_str().unwrap_or_default().to_string()),
                Value::Tagged(_) => EnvValue::CloudOnly,
                other => scalar(other).map(EnvValue::Literal).unwrap_or(EnvValue::CloudOnly),
            };
            Some((k.as_str()?.to_string(), value))
        })
        .collect())
}

/// `!GetAtt Queue.Arn` (short or long form) → `Queue`.
fn referenced_logical_id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Tagged(t) if t.tag == "!GetAtt" => t
            .value
            .as_str()
            .map(|s| s.split('.').next().unwrap_or(s).to_string())
            .or_else(|| t.value.as_sequence()?.first()?.as_str().map(str::to_string)),
        Value::Tagged(t) if t.tag == "!Ref" => t.value.as_str().map(str::to_string),
        Value::Mapping(m) => m.get("Fn::GetAtt").and_then(|v| v.as_sequence()?.first()?.as_str().map(str::to_string)),
        _ => None,
    }
}

/// EventBridge `rate(N minute|minutes|hour|hours|day|days)`.
pub fn parse_rate(expr: &str) -> Result<Duration> {
    let inner = expr
        .strip_prefix("rate(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| anyhow!("only rate(...) schedules run locally, got {expr:?}"))?;
    let (n, unit) = inner.trim().split_once(' ').ok_or_else(|| anyhow!("bad rate {expr:?}"))?;
    let n: u64 = n.parse().with_context(|| format!("bad rate {expr:?}"))?;
    let secs = match unit.trim() {
        "minute" | "minutes" => 60,
        "hour" | "hours" => 3600,
        "day" | "days" => 86400,
        other => bail!("unknown rate unit {other:?}"),
    };
    Ok(Duration::from_secs(n * secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_template() {
        let t = Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap();
        let api = t.function_by_binary("api").unwrap();
        let bearer = Some("BearerAuthorizer".to_string());
        let route = |method: &str, path: &str, authorizer: &Option<String>| HttpRoute {
            method: method.into(),
            path: path.into(),
            authorizer: authorizer.clone(),
        };
        assert!(api.routes.contains(&route("POST", "/v1/messages", &bearer)));
        assert!(api.routes.contains(&route("GET", "/health/live", &None)), "public routes say Authorizer: NONE");
        let authorizer = &t.authorizers["BearerAuthorizer"];
        assert_eq!(authorizer.function, "AuthorizerFunction");
        assert_eq!(authorizer.identity_headers, ["authorization"]);
        assert_eq!(authorizer.cache_ttl, Duration::from_secs(300));
        assert!(authorizer.simple_responses);
        assert_eq!(api.env.get("INBOUND_MESSAGES_QUEUE_URL"), Some(&EnvValue::Ref("InboundMessagesQueue".into())));
        let worker = t.function_by_binary("ai-worker").unwrap();
        assert_eq!(worker.queues[0].queue, "InboundMessagesQueue");
        assert!(worker.queues[0].report_batch_item_failures);
        let relay = t.function_by_binary("outbox-relay").unwrap();
        assert_eq!(relay.schedules[0].every, Duration::from_secs(60));
        assert_eq!(t.database_roles, ["helpdesk_app", "helpdesk_relay"]);
        let cors = t.cors.clone().unwrap();
        assert!(cors.allow_origins.contains(&"http://localhost:5173".to_string()), "{cors:?}");
        assert!(cors.allow_headers.contains(&"idempotency-key".to_string()));
        assert_eq!(api.database_role.as_deref(), Some("helpdesk_app"));
        assert_eq!(relay.database_role.as_deref(), Some("helpdesk_relay"));
        assert_eq!(t.function_by_binary("migrate").unwrap().database_role, None, "the owner migrates");
    }

    #[test]
    fn parses_rates() {
        assert_eq!(parse_rate("rate(5 minutes)").unwrap(), Duration::from_secs(300));
        assert!(parse_rate("cron(0 * * * ? *)").is_err());
    }
}
