//! Configuration from the environment, secrets from Secrets Manager. Locally the plain
//! variables (`DATABASE_URL`, `JWT_SECRET`) are set; in AWS template.yaml passes secret ARNs and
//! the values are fetched once per container, never written to the function's configuration.

use anyhow::{anyhow, Context};
use helpdesk_store::{DbParts, PgStore};

/// Plain settings, read from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub redis_url: String,
    pub db_max_connections: u32,
}

impl Settings {
    pub fn from_env() -> Self {
        Self {
            redis_url: env("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".to_string()),
            // A Lambda container serves one request at a time; RDS Proxy does the pooling.
            db_max_connections: env("DB_MAX_CONNECTIONS").and_then(|v| v.parse().ok()).unwrap_or(2),
        }
    }
}

/// Resolves secrets from the environment or Secrets Manager.
pub struct Secrets {
    client: aws_sdk_secretsmanager::Client,
}

impl Secrets {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self { client: aws_sdk_secretsmanager::Client::new(sdk) }
    }

    /// The database: `DATABASE_URL`, or the RDS-managed secret `DATABASE_SECRET_ARN` (JSON with
    /// username, password, host, port, dbname) reached through `DATABASE_HOST` (the RDS Proxy
    /// endpoint) over TLS.
    pub async fn database(&self, settings: &Settings) -> anyhow::Result<PgStore> {
        if let Some(url) = env("DATABASE_URL") {
            return PgStore::connect_lazy(&url, settings.db_max_connections).context("DATABASE_URL");
        }
        let arn = env("DATABASE_SECRET_ARN").ok_or_else(|| anyhow!("set DATABASE_URL or DATABASE_SECRET_ARN"))?;
        let secret: serde_json::Value =
            serde_json::from_str(&self.fetch(&arn).await?).context("database secret is not JSON")?;
        let field = |name: &str| secret.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let parts = DbParts {
            host: env("DATABASE_HOST")
                .or_else(|| field("host"))
                .ok_or_else(|| anyhow!("database secret has no host"))?,
            port: secret.get("port").and_then(|p| p.as_u64()).unwrap_or(5432) as u16,
            username: field("username").ok_or_else(|| anyhow!("database secret has no username"))?,
            password: field("password").ok_or_else(|| anyhow!("database secret has no password"))?,
            database: env("DATABASE_NAME").or_else(|| field("dbname")).unwrap_or_else(|| "helpdesk".to_string()),
            require_tls: true,
        };
        Ok(PgStore::connect_lazy_parts(&parts, settings.db_max_connections))
    }

    /// The HS256 signing secret: `JWT_SECRET`, or the secret `JWT_SECRET_ARN`.
    pub async fn jwt_secret(&self) -> anyhow::Result<Vec<u8>> {
        let secret = match env("JWT_SECRET") {
            Some(value) => value,
            None => {
                let arn = env("JWT_SECRET_ARN").ok_or_else(|| anyhow!("set JWT_SECRET or JWT_SECRET_ARN"))?;
                self.fetch(&arn).await?
            }
        };
        if secret.len() < 32 {
            return Err(anyhow!("the JWT secret must be at least 32 bytes"));
        }
        Ok(secret.into_bytes())
    }

    /// The platform's default LLM key: `LLM_API_KEY`, or the secret `LLM_API_KEY_SECRET_ARN`;
    /// `None` when neither is set (no default provider, or one that needs no key).
    pub async fn llm_api_key(&self) -> anyhow::Result<Option<String>> {
        if let Some(key) = env("LLM_API_KEY") {
            return Ok(Some(key));
        }
        match env("LLM_API_KEY_SECRET_ARN") {
            Some(arn) => Ok(Some(self.fetch(&arn).await?.trim().to_string())),
            None => Ok(None),
        }
    }

    /// The `username` and `password` of each secret whose ARN the comma-separated variable
    /// `list_var` names (none when it is unset).
    pub async fn role_credentials(&self, list_var: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut roles = Vec::new();
        for arn in env(list_var).unwrap_or_default().split(',').map(str::trim).filter(|a| !a.is_empty()) {
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

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
