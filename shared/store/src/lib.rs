//! Postgres adapter: the system of record. Every function takes the caller's organisation, puts
//! it in the `WHERE` clause and runs in a transaction whose `app.organization_id` row-level
//! security checks again, so a query can only ever see one tenant's rows.

mod ai;
mod classifications;
mod drafts;
mod email;
mod identity;
mod kb;
mod llm;
mod mailboxes;
mod messages;
mod organizations;
mod outbox;
mod records;

pub use ai::{
    AiMetrics, CategoryFigures, ModelFigures, ModelRecord, RunEnd, TrainingExample, TrainingRunRecord, VerdictOutcome,
    VerdictRecord,
};
pub use classifications::{ActiveModelRef, MessageToClassify, SaveClassificationOutcome};
pub use drafts::{
    DraftMetrics, DraftOutcome, DraftProviderFigures, DraftRecord, FeedbackOutcome, NewDraft, NewReply, ReplyOutcome,
    ReplyPassage, ReplyRecord, ResolvedReplies,
};
pub use email::{AttachmentFile, EmailAccepted};
pub use identity::{
    ApiKeyRecord, ApiKeySecret, AuditEntry, AuditRecord, InvitationRecord, NewApiKey, NewInvitation,
    OrganizationRecord, PendingInvitation, Refusal, RoleRecord, SignupOutcome, UserCredentials, UserRecord,
};
pub use kb::{ArticleInput, ArticleRecord, IndexOutcome, PassageInput, RetrievedPassage};
pub use llm::{
    budget_status, month_start, AiSettings, AiSettingsRecord, AiSettingsUpdate, AiUsage, BudgetStatus, KeyChange,
    LlmCall, UsageFigures,
};
pub use mailboxes::{CreateMailbox, MailboxAccess, MailboxRecord, MailboxUpdate, FAILURE_LASTS_MINUTES};
pub use messages::{AcceptOutcome, AcceptedMessage, ConversationFilter, IdempotencyKey};
pub use outbox::PendingOutbox;
pub use records::{AttachmentRecord, ClassificationRecord, ConversationRecord, ConversationSummary, MessageRecord};

use helpdesk_domain::OrgId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

/// Every store failure the callers need to tell apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("invalid database URL: {0}")]
    Config(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The migrations in `migrations/`, embedded in the binary that applies them. Migrations that
/// the database has and this binary does not are accepted: the schema only moves forward, and an
/// older binary (a CloudFormation rollback) must be able to run against a newer schema.
fn migrator() -> sqlx::migrate::Migrator {
    let mut migrator = sqlx::migrate!("../../migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Where the database is, when it is not given as a URL.
#[derive(Clone)]
pub struct DbParts {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub database: String,
    pub require_tls: bool,
}

/// A handle on the database; cheap to clone (it wraps the connection pool).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects lazily: a Lambda container that never touches the database opens no connection,
    /// and a cold start does not wait for Aurora.
    pub fn connect_lazy(database_url: &str, max_connections: u32) -> Result<Self> {
        Ok(Self::lazy(url_options(database_url)?, max_connections))
    }

    /// Connects lazily to a database described by parts (from a Secrets Manager secret).
    pub fn connect_lazy_parts(parts: &DbParts, max_connections: u32) -> Self {
        let ssl = if parts.require_tls { PgSslMode::Require } else { PgSslMode::Prefer };
        let options = PgConnectOptions::new()
            .host(&parts.host)
            .port(parts.port)
            .username(&parts.username)
            .password(&parts.password)
            .database(&parts.database)
            .ssl_mode(ssl);
        Self::lazy(options, max_connections)
    }

    fn lazy(options: PgConnectOptions, max_connections: u32) -> Self {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies every pending migration. Safe to run concurrently: sqlx takes an advisory lock.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let before = self.applied_versions().await.unwrap_or_default();
        migrator().run(&self.pool).await?;
        let after = self.applied_versions().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    async fn applied_versions(&self) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(&self.pool)
            .await?)
    }

    /// The same database as another role (the functions' roles own nothing and cannot bypass
    /// row-level security). Locally the roles share the owner's password, if it has one.
    pub fn connect_lazy_as(database_url: &str, role: &str, max_connections: u32) -> Result<Self> {
        Ok(Self::lazy(url_options(database_url)?.username(role), max_connections))
    }

    /// A transaction that sees one organisation: the store's queries say `organization_id = $1`,
    /// and row-level security enforces it again from this setting.
    pub(crate) async fn tenant(
        &self,
        org: OrgId,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT set_config('app.organization_id', $1, true)")
            .bind(org.0.to_string())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// Sets a role's password (the migrate function does it from the role's secret).
    pub async fn set_role_password(&self, role: &str, password: &str) -> Result<()> {
        let statement: String =
            sqlx::query_scalar("SELECT format('ALTER ROLE %I WITH PASSWORD %L', $1::text, $2::text)")
                .bind(role)
                .bind(password)
                .fetch_one(&self.pool)
                .await?;
        sqlx::raw_sql(&statement).execute(&self.pool).await?;
        Ok(())
    }

    /// A round trip to the server, for health checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

fn url_options(database_url: &str) -> Result<PgConnectOptions> {
    PgConnectOptions::from_str(database_url).map_err(|e| StoreError::Config(e.to_string()))
}
