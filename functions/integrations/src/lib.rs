//! The `integrations` function: mailboxes (where email comes in) and raw MIME import. The
//! router is built here so that Lambda (`main.rs`), the local runner and the tests all run the
//! same code.

pub mod oauth;
pub mod openapi;
pub mod routes;

use helpdesk_aws::SqsPublisher;
use helpdesk_domain::SecretSealer;
use helpdesk_mail::threading::ThreadingKeys;
use helpdesk_platform::config::{
    ConfigError, DataBucketConfig, DataKeyConfig, DatabaseConfig, Environment, FromEnvironment, JwtConfig, MailConfig,
    OutboundConfig, QueuesConfig, RedisConfig,
};
use helpdesk_platform::email_in::EmailIngest;
use helpdesk_platform::{Deps, Function, Gateway, HttpFunction, RateLimits};
use helpdesk_store::PgStore;
use std::sync::Arc;

/// The function's dependencies, built once per container and shared by every request.
#[derive(Clone)]
pub struct IntegrationsState {
    pub store: PgStore,
    pub gateway: Gateway,
    /// Seals mailboxes' passwords and tokens with KMS.
    pub sealer: Arc<dyn SecretSealer>,
    pub ingest: EmailIngest<SqsPublisher>,
    /// The data bucket, for presigned downloads of attachments and raw mail.
    pub bucket: helpdesk_aws::S3Blobs,
    /// The domain of mailboxes' inbound addresses.
    pub inbound_domain: String,
    /// Where mailboxes' servers may be: public addresses in AWS; anywhere locally
    /// (`LLM_ALLOW_PRIVATE_BASE_URLS`, the one switch for organisations' destinations).
    pub destinations: helpdesk_outbound::Destinations,
    /// The Google and Microsoft apps mailboxes consent to.
    pub oauth: helpdesk_platform::oauth::OAuthApps,
    /// Consent flows between their start and their callback live here.
    pub redis: helpdesk_platform::RedisHandle,
    pub redis_prefix: String,
    /// Where the dashboard runs: the browser returns there after a consent.
    pub app_url: String,
}

/// The `integrations` function's settings (README, "Configuration").
#[derive(Debug)]
pub struct Config {
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub limits: RateLimits,
    pub queues: QueuesConfig,
    pub data_key: DataKeyConfig,
    pub bucket: DataBucketConfig,
    /// The master signing secret the threading keys are derived from.
    pub jwt: JwtConfig,
    pub mail: MailConfig,
    pub outbound: OutboundConfig,
    pub oauth: helpdesk_platform::oauth::OAuthConfig,
    pub app: helpdesk_platform::config::AppUrlConfig,
}

impl FromEnvironment for Config {
    fn from_environment(env: &Environment) -> Result<Self, ConfigError> {
        Ok(Self {
            database: env.section()?,
            redis: env.section()?,
            limits: env.section()?,
            queues: env.section()?,
            data_key: env.section()?,
            bucket: env.section()?,
            jwt: env.section()?,
            mail: env.section()?,
            outbound: env.section()?,
            oauth: env.section()?,
            app: env.section()?,
        })
    }
}

impl Function for IntegrationsState {
    const NAME: &'static str = "integrations";
    type Config = Config;

    async fn build(config: Config, deps: &Deps) -> anyhow::Result<Self> {
        let store = deps.database(&config.database).await?;
        let redis = deps.redis(&config.redis)?;
        let master = deps.secrets.jwt_secret(&config.jwt).await?;
        let bucket = deps.blobs(&config.bucket);
        let destinations =
            helpdesk_outbound::Destinations::allowing_private(config.outbound.llm_allow_private_base_urls);
        Ok(Self {
            gateway: Gateway::new(store.clone(), redis.clone(), &config.redis, config.limits, &[]),
            oauth: helpdesk_platform::oauth::OAuthApps::from_config(&config.oauth, &deps.secrets, destinations).await?,
            redis,
            redis_prefix: config.redis.redis_key_prefix.clone(),
            app_url: config.app.app_url.clone(),
            sealer: deps.sealer(&config.data_key),
            ingest: EmailIngest {
                store: store.clone(),
                blobs: Arc::new(bucket.clone()),
                publisher: deps.publisher(&config.queues),
                keys: ThreadingKeys::derived(&master),
                inbound_domain: config.mail.inbound_mail_domain.trim().to_ascii_lowercase(),
            },
            store,
            bucket,
            inbound_domain: config.mail.inbound_mail_domain.trim().to_ascii_lowercase(),
            destinations,
        })
    }
}

impl HttpFunction for IntegrationsState {
    fn router(&self) -> axum::Router {
        router(self.clone())
    }
}

/// Every route of the function, with its OpenAPI description (the `api` function serves the
/// whole document; template.yaml routes these paths here). Raw messages may be larger than
/// JSON requests: up to [`routes::MAX_RAW_MESSAGE_BYTES`].
pub fn router(state: IntegrationsState) -> axum::Router {
    let (routes, document) = openapi::documented_routes().split_for_parts();
    let own =
        helpdesk_http::RouteTable::from_openapi(&serde_json::to_value(document).expect("the document serialises"));
    helpdesk_platform::gateway::http_function_with_body_limit(
        routes,
        "integrations",
        state.gateway.clone(),
        own,
        state,
        routes::MAX_RAW_MESSAGE_BYTES,
    )
}
