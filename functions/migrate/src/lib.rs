//! The `migrate` function: applies the sqlx migrations. CloudFormation calls it as a custom
//! resource on every deploy (Create and Update migrate; Delete never drops data), and an
//! operator can invoke it by hand with any other event (`{}`).
//!
//! CloudFormation waits for an answer at the request's response URL, not for the function's
//! return value, so every path that can fail — no database at cold start, a malformed request, a
//! failed migration — still reports FAILED there with the reason.

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceResponse, CloudFormationCustomResourceResponseStatus,
};
use helpdesk_platform::config::{ConfigError, DatabaseConfig, Environment, FromEnvironment};
use helpdesk_platform::{Deps, EventFunction, Function};
use helpdesk_store::PgStore;
use serde_json::{json, Value};

const PHYSICAL_ID: &str = "helpdesk-database-schema";

/// What the function works on, built at cold start.
pub struct Schema {
    /// The database as its owner, or why it could not be reached.
    pub store: Result<PgStore, String>,
    /// The functions' roles (created by the migrations) and the passwords to give them.
    pub role_passwords: Vec<(String, String)>,
}

/// The function: the schema to migrate and the client that answers CloudFormation.
pub struct Migrator {
    pub schema: Schema,
    /// The response URL is CloudFormation's pre-signed S3 URL: reached as given, no redirects.
    pub http: reqwest::Client,
}

/// The functions' database roles whose passwords the migration sets: `ROLE_SECRET_ARNS`, the
/// comma-separated ARNs of their secrets (`username`, `password`); none when unset.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct RolesConfig {
    pub role_secret_arns: Option<String>,
}

impl RolesConfig {
    pub fn arns(&self) -> Vec<String> {
        let list = self.role_secret_arns.as_deref().unwrap_or_default();
        list.split(',').map(str::trim).filter(|a| !a.is_empty()).map(str::to_string).collect()
    }
}

/// The `migrate` function's settings (README, "Configuration"). Parsing them never fails the
/// cold start: a bad database setting is reported to CloudFormation by the handler, like an
/// unreachable database, instead of leaving the stack waiting for an answer.
#[derive(Debug)]
pub struct Config {
    /// The owner's connection, or what is wrong with its settings.
    pub database: Result<DatabaseConfig, ConfigError>,
    pub roles: Result<RolesConfig, ConfigError>,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self { database: env.section(), roles: env.section() })
    }
}

impl Function for Migrator {
    const NAME: &'static str = "migrate";
    type Config = Config;

    /// A database or secret that cannot be reached is reported to CloudFormation by the
    /// handler, instead of failing the cold start and leaving the stack waiting for an answer.
    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let store = match &config.database {
            Ok(database) => deps.database(database).await,
            Err(e) => Err(anyhow::anyhow!("{e}")),
        };
        let roles = match &config.roles {
            Ok(roles) => deps.secrets.role_credentials(&roles.arns()).await,
            Err(e) => Err(anyhow::anyhow!("{e}")),
        };
        let (store, role_passwords) = match (store, roles) {
            (Ok(store), Ok(roles)) => (Ok(store), roles),
            (Err(e), _) | (_, Err(e)) => (Err(format!("{e:#}")), vec![]),
        };
        let http = helpdesk_outbound::client(helpdesk_outbound::Destinations::Any);
        Ok(Self { schema: Schema { store, role_passwords }, http })
    }
}

impl EventFunction for Migrator {
    /// A CloudFormation custom-resource request, or any other event (by hand).
    type Event = Value;
    type Response = Value;

    async fn handle(&self, event: Value) -> anyhow::Result<Value> {
        handle(&self.schema, &self.http, event).await.map_err(anyhow::Error::msg)
    }
}

/// Runs the migrations and sets the roles' passwords, or reports why it cannot.
pub async fn handle(schema: &Schema, http: &reqwest::Client, event: Value) -> Result<Value, String> {
    let Some(request_type) = event.get("RequestType").and_then(Value::as_str) else {
        let applied = migrate(schema).await?;
        tracing::info!(applied = ?applied, "migrations applied by hand");
        return Ok(json!({ "applied": applied }));
    };
    let field = |name: &str| event.get(name).and_then(Value::as_str).unwrap_or_default().to_string();
    let response_url = field("ResponseURL");
    if response_url.is_empty() {
        return Err("CloudFormation request without a ResponseURL".into());
    }

    let outcome = match request_type {
        "Create" | "Update" => migrate(schema).await,
        // Deleting the stack must not drop a tenant's data; Aurora's own deletion policy decides.
        "Delete" => Ok(vec![]),
        other => Err(format!("unknown RequestType {other:?}")),
    };

    let mut response = CloudFormationCustomResourceResponse::default();
    response.physical_resource_id = PHYSICAL_ID.to_string();
    response.stack_id = field("StackId");
    response.request_id = field("RequestId");
    response.logical_resource_id = field("LogicalResourceId");
    match &outcome {
        Ok(applied) => {
            response.status = CloudFormationCustomResourceResponseStatus::Success;
            response.data.insert("Applied".into(), applied.len().to_string());
        }
        Err(e) => {
            response.status = CloudFormationCustomResourceResponseStatus::Failed;
            response.reason = Some(format!("migration failed: {e}"));
        }
    }
    let sent = http
        .put(&response_url)
        // The pre-signed S3 URL is signed without a content type.
        .header(reqwest::header::CONTENT_TYPE, "")
        .body(serde_json::to_vec(&response).map_err(|e| e.to_string())?)
        .send()
        .await
        .and_then(|r| r.error_for_status());
    if let Err(e) = sent {
        return Err(format!("could not report to CloudFormation: {e}"));
    }
    tracing::info!(status = ?response.status, request_type, "reported to CloudFormation");
    outcome.map(|applied| json!({ "applied": applied }))
}

async fn migrate(schema: &Schema) -> Result<Vec<i64>, String> {
    let store = schema.store.as_ref().map_err(Clone::clone)?;
    let applied = store.migrate().await.map_err(|e| e.to_string())?;
    for (role, password) in &schema.role_passwords {
        store.set_role_password(role, password).await.map_err(|e| format!("setting the password of {role}: {e}"))?;
    }
    Ok(applied)
}
