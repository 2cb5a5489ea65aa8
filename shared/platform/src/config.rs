//! Configuration: each function's settings are typed structs, parsed once at cold start from
//! its environment with `envy`, and secrets from Secrets Manager. Locally the plain variables
//! (`DATABASE_URL`, `JWT_SECRET`) are set; in AWS template.yaml passes secret ARNs and the values
//! are fetched once per container, never written to the function's configuration.
//!
//! Settings come in sections (the database, Redis, rate limits, …): a serde struct whose fields
//! are the variables' names in lower case. A function's configuration is made of the sections it
//! reads ([`FromEnvironment`]), so a variable is described, defaulted and checked in one place,
//! and a malformed value stops the cold start with an error that names the variable and the
//! form it expects — it never quietly becomes a default.

use anyhow::{anyhow, Context};
use helpdesk_store::{DbParts, PgStore};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// The variables a function starts with: the process's environment in Lambda, the template's
/// resolved variables in the local runner. Empty values count as unset (CloudFormation passes
/// an empty string for an optional parameter left blank).
#[derive(Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
    /// Every variable a section asked for, for the README's table and its test.
    read: Mutex<BTreeSet<String>>,
}

/// Names only: the values include secrets (`DATABASE_URL`, `JWT_SECRET`, the AWS keys).
impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Environment").field("variables", &self.vars.keys().collect::<Vec<_>>()).finish()
    }
}

impl Environment {
    /// The process's variables (a name or value that is not UTF-8 is left out: no setting is).
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))))
    }

    pub fn from_vars<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        let vars = vars.into_iter().map(|(k, v)| (k.into(), v.into())).filter(|(_, v)| !v.trim().is_empty()).collect();
        Self { vars, read: Mutex::default() }
    }

    /// One section, parsed. Errors name the variable and what it should look like.
    pub fn section<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let names = variables_of::<T>();
        self.read.lock().unwrap_or_else(|p| p.into_inner()).extend(names.iter().cloned());
        envy::from_iter(self.vars.iter().map(|(k, v)| (k.clone(), v.clone())))
            .map_err(|e| ConfigError::from_envy(e, &names))
    }

    /// The value of one variable, for what is not a setting of the function (e.g. `RUST_LOG`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The variables the sections parsed so far asked for (set or not), sorted.
    pub fn variables_read(&self) -> Vec<String> {
        self.read.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// A function's configuration, read from its environment once at cold start.
pub trait FromEnvironment: Sized {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError>;
}

/// What a missing required variable's error says.
const NOT_SET: &str = "is not set";

/// A setting the function cannot start with: which variable, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl ConfigError {
    /// An error about one variable: `NAME: problem`.
    pub fn variable(name: &str, problem: impl std::fmt::Display) -> Self {
        Self(format!("{name}: {problem}"))
    }

    /// The variable this error says is missing, if that is what it says.
    pub fn missing_variable(&self) -> Option<&str> {
        self.0.strip_suffix(&format!(": {NOT_SET}"))
    }

    fn from_envy(error: envy::Error, names: &[String]) -> Self {
        match error {
            envy::Error::MissingValue(field) => Self::variable(&field.to_uppercase(), NOT_SET),
            // envy names the variable for what it parses itself (numbers, booleans: "invalid
            // digit found in string while parsing value 'x' provided by DB_MAX_CONNECTIONS");
            // a section's own checks name it in their message.
            envy::Error::Custom(message) if message.contains(" provided by ") => {
                let (problem, name) = message.rsplit_once(" provided by ").expect("checked above");
                Self::variable(name, expected_form(problem))
            }
            // A section's own check (`try_from`) wrote "NAME: problem" already.
            envy::Error::Custom(message) if names.iter().any(|n| message.starts_with(&format!("{n}: "))) => {
                Self(message)
            }
            envy::Error::Custom(message) => Self(format!("{message} (one of {})", names.join(", "))),
        }
    }
}

/// envy's "invalid digit found in string while parsing value 'x'" as what the reader should write.
fn expected_form(problem: &str) -> String {
    let (why, value) = problem.split_once(" while parsing value ").unwrap_or((problem, ""));
    let expected = if why.contains("digit") || why.contains("number") || why.contains("too large") {
        "expected a whole number"
    } else if why.contains("bool") || why.contains("`true` or `false`") {
        "expected true or false"
    } else {
        why
    };
    format!("{expected}, found {value}")
}

/// The variables a section reads: its fields' names, upper-cased (serde's own list of them).
pub fn variables_of<T: DeserializeOwned>() -> Vec<String> {
    struct Fields(Option<&'static [&'static str]>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("fields listed")
        }
    }
    impl std::error::Error for Stop {}
    impl serde::de::Error for Stop {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Stop
        }
    }
    impl<'de> serde::Deserializer<'de> for &mut Fields {
        type Error = Stop;
        fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: serde::de::Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0 = Some(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
            unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields = Fields(None);
    let _ = T::deserialize(&mut fields);
    fields.0.unwrap_or_default().iter().map(|f| f.to_uppercase()).collect()
}

/// A value that must not reach a log: its `Debug` shows that it is set, not what it is.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString(***)")
    }
}

/// The database: `DATABASE_URL` (locally), or the RDS-managed secret `DATABASE_SECRET_ARN` (JSON
/// with username, password, host, port, dbname) reached through `DATABASE_HOST` (the RDS Proxy
/// endpoint) over TLS, in `DATABASE_NAME` (default `helpdesk` when the secret names none).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "DatabaseVars")]
pub struct DatabaseConfig {
    pub source: DatabaseSource,
    /// Connections per container (`DB_MAX_CONNECTIONS`, default 2): a Lambda container serves
    /// one request at a time and RDS Proxy does the pooling.
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub enum DatabaseSource {
    Url(SecretString),
    Secret { arn: String, host: Option<String>, database: Option<String> },
}

#[derive(Deserialize)]
struct DatabaseVars {
    database_url: Option<SecretString>,
    database_secret_arn: Option<String>,
    database_host: Option<String>,
    database_name: Option<String>,
    #[serde(default = "default_db_max_connections")]
    db_max_connections: u32,
}

fn default_db_max_connections() -> u32 {
    2
}

impl TryFrom<DatabaseVars> for DatabaseConfig {
    type Error = ConfigError;
    fn try_from(v: DatabaseVars) -> Result<Self, ConfigError> {
        if v.db_max_connections == 0 {
            return Err(ConfigError::variable("DB_MAX_CONNECTIONS", "expected at least 1, found 0"));
        }
        let source = match (v.database_url, v.database_secret_arn) {
            (Some(url), _) => DatabaseSource::Url(url),
            (None, Some(arn)) => DatabaseSource::Secret { arn, host: v.database_host, database: v.database_name },
            (None, None) => return Err(ConfigError::variable("DATABASE_URL", "set it or DATABASE_SECRET_ARN")),
        };
        Ok(Self { source, max_connections: v.db_max_connections })
    }
}

/// Redis (`REDIS_URL`, default `redis://127.0.0.1:6379`; `rediss://` for ElastiCache with TLS)
/// and the prefix of every key (`REDIS_KEY_PREFIX`, default `helpdesk`: the stack's name in AWS).
#[derive(Debug, Clone, Deserialize)]
pub struct RedisConfig {
    #[serde(default = "default_redis_url")]
    pub redis_url: SecretString,
    #[serde(default = "default_key_prefix")]
    pub redis_key_prefix: String,
}

fn default_redis_url() -> SecretString {
    SecretString("redis://127.0.0.1:6379".into())
}

fn default_key_prefix() -> String {
    "helpdesk".into()
}

/// The HS256 signing secret of access tokens: `JWT_SECRET` (locally), or the secret
/// `JWT_SECRET_ARN`; at least 32 bytes.
#[derive(Debug, Clone, Deserialize)]
pub struct JwtConfig {
    pub jwt_secret: Option<SecretString>,
    pub jwt_secret_arn: Option<String>,
}

/// The KMS key that seals organisations' secrets (`DATA_KEY_ID`, envelope encryption).
#[derive(Debug, Clone, Deserialize)]
pub struct DataKeyConfig {
    pub data_key_id: String,
}

/// The bucket of the encoder's files and organisations' models (`DATA_BUCKET`).
#[derive(Debug, Clone, Deserialize)]
pub struct DataBucketConfig {
    pub data_bucket: String,
}

/// Email's own domain (`INBOUND_MAIL_DOMAIN`): mailboxes' inbound addresses are
/// `<token>@<domain>` (where SES receiving takes mail in) and reply addresses `reply+…@<domain>`.
#[derive(Debug, Clone, Deserialize)]
pub struct MailConfig {
    pub inbound_mail_domain: String,
}

/// Where the dashboard runs, for links in emails and where the browser returns after a
/// mailbox's consent (`APP_URL`, default `http://localhost:5173`).
#[derive(Debug, Clone, Deserialize)]
pub struct AppUrlConfig {
    #[serde(default = "default_app_url")]
    pub app_url: String,
}

fn default_app_url() -> String {
    "http://localhost:5173".into()
}

/// The DynamoDB table of mailboxes' sync cursors and leases (`MAIL_SYNC_TABLE`).
#[derive(Debug, Clone, Deserialize)]
pub struct MailSyncConfig {
    pub mail_sync_table: String,
}

/// The queues a function publishes to: each `*_QUEUE_URL` it is given.
#[derive(Debug, Clone, Deserialize)]
pub struct QueuesConfig {
    pub inbound_messages_queue_url: Option<String>,
    pub events_queue_url: Option<String>,
    pub training_requests_queue_url: Option<String>,
    pub kb_indexing_queue_url: Option<String>,
    pub mail_ingest_queue_url: Option<String>,
    pub mailbox_sync_queue_url: Option<String>,
}

impl QueuesConfig {
    pub fn urls(&self) -> helpdesk_aws::QueueUrls {
        use helpdesk_domain::Queue;
        helpdesk_aws::QueueUrls::from_lookup(|name| match name {
            n if n == Queue::InboundMessages.url_env_var() => self.inbound_messages_queue_url.clone(),
            n if n == Queue::Events.url_env_var() => self.events_queue_url.clone(),
            n if n == Queue::TrainingRequests.url_env_var() => self.training_requests_queue_url.clone(),
            n if n == Queue::KbIndexing.url_env_var() => self.kb_indexing_queue_url.clone(),
            n if n == Queue::MailIngest.url_env_var() => self.mail_ingest_queue_url.clone(),
            n if n == Queue::MailboxSync.url_env_var() => self.mailbox_sync_queue_url.clone(),
            _ => None,
        })
    }
}

/// Whether organisations' outbound URLs (their LLM provider) may point inside a private network
/// (`LLM_ALLOW_PRIVATE_BASE_URLS=true`, for local use only; default false: public HTTPS).
#[derive(Debug, Clone, Deserialize)]
pub struct OutboundConfig {
    #[serde(default)]
    pub llm_allow_private_base_urls: bool,
}

/// Resolves secrets from their configuration: the plain value when set, else Secrets Manager.
#[derive(Clone)]
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self { client: aws_sdk_secretsmanager::Client::new(sdk) }
    }

    /// A lazily connecting pool to the configured database.
    pub async fn database(&self, config: &DatabaseConfig) -> anyhow::Result<PgStore> {
        let (arn, host, database) = match &config.source {
            DatabaseSource::Url(url) => {
                return PgStore::connect_lazy(url.expose(), config.max_connections).context("DATABASE_URL")
            }
            DatabaseSource::Secret { arn, host, database } => (arn, host, database),
        };
        let secret: serde_json::Value =
            serde_json::from_str(&self.fetch(arn).await?).context("database secret is not JSON")?;
        let field = |name: &str| secret.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let parts = DbParts {
            host: host.clone().or_else(|| field("host")).ok_or_else(|| anyhow!("database secret has no host"))?,
            port: secret.get("port").and_then(|p| p.as_u64()).unwrap_or(5432) as u16,
            username: field("username").ok_or_else(|| anyhow!("database secret has no username"))?,
            password: field("password").ok_or_else(|| anyhow!("database secret has no password"))?,
            database: database.clone().or_else(|| field("dbname")).unwrap_or_else(|| "helpdesk".to_string()),
            require_tls: true,
        };
        Ok(PgStore::connect_lazy_parts(&parts, config.max_connections))
    }

    /// The HS256 signing secret.
    pub async fn jwt_secret(&self, config: &JwtConfig) -> anyhow::Result<Vec<u8>> {
        let secret = match (&config.jwt_secret, &config.jwt_secret_arn) {
            (Some(value), _) => value.expose().to_string(),
            (None, Some(arn)) => self.fetch(arn).await?,
            (None, None) => return Err(ConfigError::variable("JWT_SECRET", "set it or JWT_SECRET_ARN").into()),
        };
        if secret.len() < 32 {
            return Err(anyhow!("the JWT secret must be at least 32 bytes"));
        }
        Ok(secret.into_bytes())
    }

    /// The value of a secret given directly or by ARN; `None` when neither is set.
    pub async fn value(&self, value: Option<&SecretString>, arn: Option<&str>) -> anyhow::Result<Option<String>> {
        match (value, arn) {
            (Some(value), _) => Ok(Some(value.expose().to_string())),
            (None, Some(arn)) => Ok(Some(self.fetch(arn).await?.trim().to_string())),
            (None, None) => Ok(None),
        }
    }

    /// The `username` and `password` of each secret named.
    pub async fn role_credentials(&self, arns: &[String]) -> anyhow::Result<Vec<(String, String)>> {
        let mut roles = Vec::new();
        for arn in arns {
            let secret: serde_json::Value =
                serde_json::from_str(&self.fetch(arn).await?).context("role secret is not JSON")?;
            let field = |name: &str| secret.get(name).and_then(|v| v.as_str()).map(str::to_string);
            let username = field("username").ok_or_else(|| anyhow!("secret {arn} has no username"))?;
            let password = field("password").ok_or_else(|| anyhow!("secret {arn} has no password"))?;
            roles.push((username, password));
        }
        Ok(roles)
    }

    async fn fetch(&self, arn: &str) -> anyhow::Result<String> {
        let out =
            self.client.get_secret_value().secret_id(arn).send().await.map_err(|e| {
                anyhow!("reading secret {arn}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(e))
            })?;
        out.secret_string().map(str::to_string).ok_or_else(|| anyhow!("secret {arn} has no string value"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment::from_vars(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn a_malformed_number_names_the_variable_and_the_form() {
        let e = env(&[("DATABASE_URL", "postgres://x"), ("DB_MAX_CONNECTIONS", "x")])
            .section::<DatabaseConfig>()
            .unwrap_err();
        assert_eq!(e.0, "DB_MAX_CONNECTIONS: expected a whole number, found 'x'");
        let e = env(&[("DATABASE_URL", "postgres://x"), ("DB_MAX_CONNECTIONS", "0")])
            .section::<DatabaseConfig>()
            .unwrap_err();
        assert!(e.0.starts_with("DB_MAX_CONNECTIONS: expected at least 1"), "{e}");
        let e = env(&[("LLM_ALLOW_PRIVATE_BASE_URLS", "yes")]).section::<OutboundConfig>().unwrap_err();
        assert_eq!(e.0, "LLM_ALLOW_PRIVATE_BASE_URLS: expected true or false, found 'yes'");
    }

    #[test]
    fn missing_and_empty_values_are_unset_and_required_ones_are_named() {
        let e = env(&[("DATA_KEY_ID", "  ")]).section::<DataKeyConfig>().unwrap_err();
        assert_eq!(e.0, "DATA_KEY_ID: is not set");
        let e = env(&[]).section::<DatabaseConfig>().unwrap_err();
        assert_eq!(e.0, "DATABASE_URL: set it or DATABASE_SECRET_ARN");
        let redis = env(&[]).section::<RedisConfig>().unwrap();
        assert_eq!((redis.redis_url.expose(), redis.redis_key_prefix.as_str()), ("redis://127.0.0.1:6379", "helpdesk"));
    }

    #[test]
    fn the_variables_a_section_reads_are_listed_and_recorded() {
        assert_eq!(
            variables_of::<DatabaseConfig>(),
            ["DATABASE_URL", "DATABASE_SECRET_ARN", "DATABASE_HOST", "DATABASE_NAME", "DB_MAX_CONNECTIONS"]
        );
        let e = env(&[]);
        let _ = e.section::<RedisConfig>();
        assert_eq!(e.variables_read(), ["REDIS_KEY_PREFIX", "REDIS_URL"]);
    }

    #[test]
    fn listed_plans_replace_their_defaults_and_an_empty_list_is_refused() {
        let limits = env(&[("RATE_LIMIT_PLANS", "free=10/5")]).section::<crate::RateLimits>().unwrap();
        assert_eq!(limits.per_principal["free"], crate::Limit::new(10, 5));
        assert_eq!(limits.per_principal["pro"], crate::Limit::new(3000, 600), "pro keeps its default");
        let e = env(&[("RATE_LIMIT_PLANS", ",,,")]).section::<crate::RateLimits>().unwrap_err();
        assert!(e.0.starts_with("RATE_LIMIT_PLANS: expected plan=per_minute/burst"), "{e}");
    }

    #[test]
    fn every_queue_has_its_variable() {
        let names = variables_of::<QueuesConfig>();
        for queue in helpdesk_domain::Queue::ALL {
            assert!(names.iter().any(|n| n == queue.url_env_var()), "{}", queue.url_env_var());
        }
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let environment = env(&[("DATABASE_URL", "postgres://u:hunter2@h/db"), ("JWT_SECRET", "hunter3")]);
        let config = environment.section::<DatabaseConfig>().unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
        let jwt = environment.section::<JwtConfig>().unwrap();
        assert!(!format!("{jwt:?}").contains("hunter3"));
        let shown = format!("{environment:?}");
        assert!(shown.contains("JWT_SECRET") && !shown.contains("hunter"), "{shown}");
    }
}
