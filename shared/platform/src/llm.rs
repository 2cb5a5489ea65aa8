//! The one way out to an external LLM. Every AI feature asks through [`LlmGateway::ask`], which
//! decides whether a call may go at all (the organisation allows external LLMs, a provider is
//! configured, the month's budget is not spent), redacts personal data from everything it sends
//! and restores it in the answer, tries the organisation's provider then the platform's, and
//! writes every provider tried to the ledger. When it answers [`LlmAnswer::Local`], the caller
//! runs the local engine instead: a provider's outage degrades a feature, never breaks it.

use crate::config::{ConfigError, SecretString};
use helpdesk_ai::pii::Redactor;
use helpdesk_domain::{OrgId, SecretSealer};
use helpdesk_llm::anthropic::AnthropicMessages;
use helpdesk_llm::openai::OpenAiChat;
use helpdesk_llm::pricing::PriceTable;
use helpdesk_llm::resilience::{Breakers, Fallback, Resilient, RetryPolicy};
use helpdesk_llm::{ApiKey, ChatRequest, LlmError, LlmProvider, OutputSchema, ProviderKind, Turn};
pub use helpdesk_outbound::Destinations;
use helpdesk_store::{AiSettings, LlmCall, PgStore};
use std::sync::Arc;

/// The uses of an LLM, as the ledger names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Draft,
    Classification,
    Summary,
    Translation,
}

impl Feature {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Classification => "classification",
            Self::Summary => "summary",
            Self::Translation => "translation",
        }
    }
}

/// A provider, model and where to reach it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub model: String,
    pub base_url: Option<String>,
    pub api_version: Option<String>,
    pub key: Option<ApiKey>,
}

/// The platform's default LLM and the price table: `LLM_PROVIDER` (`openai`, `anthropic`,
/// `openai_compatible`, `azure_openai`; unset: no default provider), `LLM_MODEL` (required with a
/// provider), `LLM_BASE_URL`, `LLM_API_VERSION` (Azure), the key as `LLM_API_KEY` (locally) or
/// the secret `LLM_API_KEY_SECRET_ARN`, and `LLM_PRICES` (JSON `{"model prefix": {"input": USD
/// per million tokens, "output": …}}`, over the shipped table).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "LlmVars")]
pub struct LlmConfig {
    /// The provider without its key (read at cold start from the value or the secret).
    pub platform_default: Option<ProviderConfig>,
    pub api_key: Option<SecretString>,
    pub api_key_secret_arn: Option<String>,
    pub prices: PriceTable,
}

#[derive(serde::Deserialize)]
struct LlmVars {
    llm_provider: Option<String>,
    llm_model: Option<String>,
    llm_base_url: Option<String>,
    llm_api_version: Option<String>,
    llm_api_key: Option<SecretString>,
    llm_api_key_secret_arn: Option<String>,
    llm_prices: Option<String>,
}

impl TryFrom<LlmVars> for LlmConfig {
    type Error = ConfigError;
    fn try_from(v: LlmVars) -> Result<Self, ConfigError> {
        let trimmed = |value: Option<String>| value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let (model, base_url, api_version) =
            (trimmed(v.llm_model), trimmed(v.llm_base_url), trimmed(v.llm_api_version));
        let platform_default = match trimmed(v.llm_provider) {
            None if model.is_some() || base_url.is_some() || api_version.is_some() => {
                return Err(ConfigError::variable(
                    "LLM_PROVIDER",
                    "is required with LLM_MODEL, LLM_BASE_URL or LLM_API_VERSION",
                ))
            }
            None => None,
            Some(kind) => Some(ProviderConfig {
                kind: kind.parse().map_err(|e| ConfigError::variable("LLM_PROVIDER", e))?,
                model: model.ok_or_else(|| ConfigError::variable("LLM_MODEL", "is required with LLM_PROVIDER"))?,
                base_url,
                api_version,
                key: None,
            }),
        };
        let prices = match v.llm_prices {
            Some(json) => PriceTable::shipped()
                .merged(PriceTable::from_json(&json).map_err(|e| ConfigError::variable("LLM_PRICES", e))?),
            None => PriceTable::shipped(),
        };
        let api_key_secret_arn = trimmed(v.llm_api_key_secret_arn);
        Ok(Self { platform_default, api_key: v.llm_api_key, api_key_secret_arn, prices })
    }
}

impl LlmConfig {
    /// The gateway, with the default provider's key read (from the value or Secrets Manager),
    /// organisations' keys opened under `data_key`, and their providers where `outbound` allows.
    pub async fn gateway(
        &self,
        store: PgStore,
        deps: &crate::Deps,
        data_key: &crate::config::DataKeyConfig,
        outbound: &crate::config::OutboundConfig,
    ) -> anyhow::Result<LlmGateway> {
        let mut platform_default = self.platform_default.clone();
        if let Some(default) = &mut platform_default {
            let key = deps.secrets.value(self.api_key.as_ref(), self.api_key_secret_arn.as_deref()).await?;
            default.key = key.map(ApiKey::new);
        }
        let destinations = Destinations::allowing_private(outbound.llm_allow_private_base_urls);
        Ok(LlmGateway::new(store, deps.sealer(data_key), platform_default, destinations)
            .with_prices(self.prices.clone()))
    }
}

impl ProviderConfig {
    fn client(&self, http: &reqwest::Client) -> anyhow::Result<Arc<dyn LlmProvider>> {
        // Only what a provider answers is read: a redirect is a failure, never followed.
        let key = || self.key.clone().ok_or_else(|| anyhow::anyhow!("{} needs an API key", self.kind.as_str()));
        let base = self.base_url.as_deref();
        Ok(match self.kind {
            ProviderKind::OpenAi => Arc::new(OpenAiChat::openai(http.clone(), base, key()?, &self.model)),
            ProviderKind::Anthropic => Arc::new(AnthropicMessages::new(http.clone(), base, key()?, &self.model)),
            ProviderKind::OpenAiCompatible => {
                let base = base.ok_or_else(|| anyhow::anyhow!("openai_compatible needs a base URL"))?;
                Arc::new(OpenAiChat::compatible(http.clone(), base, self.key.clone(), &self.model))
            }
            ProviderKind::AzureOpenAi => {
                let base = base.ok_or_else(|| anyhow::anyhow!("azure_openai needs its endpoint"))?;
                let version =
                    self.api_version.as_deref().ok_or_else(|| anyhow::anyhow!("azure_openai needs an api-version"))?;
                Arc::new(OpenAiChat::azure(http.clone(), base, &self.model, version, key()?))
            }
        })
    }
}

/// The most of one prompt part that is redacted and sent, in characters: a whole 20,000-character
/// text to translate fits; a 200 KB message is cut (between words, so no personal data is cut
/// into a fragment redaction misses) rather than paid for and scanned whole.
pub const PROMPT_PART_CHARS: usize = 20_000;

/// What a feature wants to ask. `system` is the platform's own instructions (the organisation's
/// tone may be in it); `parts` carry the customer's words. All of it is redacted before it leaves.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub system: String,
    pub parts: Vec<String>,
    pub max_output_tokens: u32,
    pub temperature: Option<f32>,
    pub schema: Option<OutputSchema>,
}

/// Why the local engine answers instead.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalReason {
    /// The organisation forbids external LLMs.
    NotAllowed,
    /// Neither the organisation nor the platform has a provider.
    NoProvider,
    /// This month's budget is spent.
    OverBudget,
    /// Every provider failed; the last error.
    Failed(LlmError),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LlmAnswer {
    /// The provider's answer, personal data restored.
    Answered {
        text: String,
        structured: Option<serde_json::Value>,
        provider: ProviderKind,
        model: String,
        latency_ms: u32,
        /// Distinct personal values replaced before sending.
        redacted: usize,
    },
    Local(LocalReason),
}

/// How long an opened organisation key is kept in the container: a Decrypt per call would add a
/// KMS round trip to every draft; a changed key is a new ciphertext, so it is never served stale.
const OPENED_KEY_TTL: std::time::Duration = std::time::Duration::from_secs(300);

type OpenedKeys = std::sync::Mutex<std::collections::HashMap<(OrgId, Vec<u8>), (ApiKey, std::time::Instant)>>;

pub struct LlmGateway {
    store: PgStore,
    sealer: Arc<dyn SecretSealer>,
    opened: OpenedKeys,
    /// For the organisation's provider: its URL was chosen by a tenant, so every connection is
    /// checked (public addresses only, unless local development allows private ones).
    organisation_http: reqwest::Client,
    /// For the platform's default provider: the operator chose it (it may sit in the VPC).
    platform_http: reqwest::Client,
    breakers: Arc<Breakers>,
    platform_default: Option<ProviderConfig>,
    prices: PriceTable,
    policy: RetryPolicy,
}

impl LlmGateway {
    /// `destinations`: where an organisation's own provider may be ([`Destinations::allowing_private`]).
    /// Neither client follows redirects.
    pub fn new(
        store: PgStore,
        sealer: Arc<dyn SecretSealer>,
        platform_default: Option<ProviderConfig>,
        destinations: Destinations,
    ) -> Self {
        Self {
            store,
            sealer,
            opened: OpenedKeys::default(),
            organisation_http: helpdesk_outbound::client(destinations),
            platform_http: helpdesk_outbound::client(Destinations::Any),
            breakers: Arc::new(Breakers::default()),
            platform_default,
            prices: PriceTable::shipped(),
            policy: RetryPolicy::default(),
        }
    }

    pub fn with_prices(mut self, prices: PriceTable) -> Self {
        self.prices = prices;
        self
    }

    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The organisation's provider (its key opened with KMS), then the platform's.
    async fn providers(&self, org: OrgId, settings: &AiSettings) -> anyhow::Result<Vec<Arc<dyn LlmProvider>>> {
        let mut configs = Vec::new();
        let own = &settings.record;
        if let (Some(kind), Some(model)) = (&own.provider, &own.model) {
            let key = match &settings.api_key {
                Some(sealed) => Some(self.open_key(org, sealed).await?),
                None => None,
            };
            let config = ProviderConfig {
                kind: kind.parse().map_err(anyhow::Error::msg)?,
                model: model.clone(),
                base_url: own.base_url.clone(),
                api_version: own.api_version.clone(),
                key,
            };
            configs.push((config, &self.organisation_http));
        }
        configs.extend(self.platform_default.clone().map(|config| (config, &self.platform_http)));
        configs
            .iter()
            .map(|(config, http)| {
                let client = config.client(http)?;
                let breaker = self.breakers.for_provider(client.as_ref());
                Ok(Arc::new(Resilient::new(client, self.policy.clone(), breaker)) as Arc<dyn LlmProvider>)
            })
            .collect()
    }

    /// The organisation's key, opened with KMS at most every [`OPENED_KEY_TTL`] per container.
    async fn open_key(&self, org: OrgId, sealed: &helpdesk_domain::SealedSecret) -> anyhow::Result<ApiKey> {
        let id = (org, sealed.ciphertext.clone());
        {
            let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
            opened.retain(|_, (_, at)| at.elapsed() < OPENED_KEY_TTL);
            if let Some((key, _)) = opened.get(&id) {
                return Ok(key.clone());
            }
        }
        let bytes =
            self.sealer.open(org, helpdesk_domain::LLM_API_KEY_PURPOSE, sealed).await.map_err(anyhow::Error::msg)?;
        let key = ApiKey::new(String::from_utf8(bytes)?);
        self.opened.lock().unwrap_or_else(|e| e.into_inner()).insert(id, (key.clone(), std::time::Instant::now()));
        Ok(key)
    }

    pub async fn ask(
        &self,
        org: OrgId,
        feature: Feature,
        request_id: Option<&str>,
        prompt: Prompt,
    ) -> anyhow::Result<LlmAnswer> {
        let settings = self.store.ai_settings(org).await?;
        self.ask_with(org, &settings, feature, request_id, prompt).await
    }

    /// [`Self::ask`] with the organisation's settings already read (a caller that decides on
    /// them first, as hybrid classification does, reads them once).
    pub async fn ask_with(
        &self,
        org: OrgId,
        settings: &AiSettings,
        feature: Feature,
        request_id: Option<&str>,
        prompt: Prompt,
    ) -> anyhow::Result<LlmAnswer> {
        if !settings.record.external_llm_allowed {
            return Ok(LlmAnswer::Local(LocalReason::NotAllowed));
        }
        let providers = self.providers(org, settings).await?;
        let Some(first) = providers.first() else {
            return Ok(LlmAnswer::Local(LocalReason::NoProvider));
        };
        let record = |provider: &str, model: &str| LlmCall {
            feature: feature.as_str(),
            provider: provider.to_string(),
            model: model.to_string(),
            input_tokens: 0,
            output_tokens: 0,
            cost_micro_usd: 0,
            priced: true,
            latency_ms: 0,
            attempts: 0,
            outcome: "refused_by_budget",
            error: None,
            request_id: request_id.map(str::to_string),
        };
        if let Some(budget_usd) = settings.record.monthly_budget_usd {
            let spent = self.store.month_to_date_spend(org, chrono::Utc::now()).await?;
            if spent as f64 >= budget_usd * 1_000_000.0 {
                self.store.record_llm_call(org, &record(first.kind().as_str(), first.model())).await?;
                return Ok(LlmAnswer::Local(LocalReason::OverBudget));
            }
        }

        let mut redactor = Redactor::default();
        let request = ChatRequest {
            system: redactor.redact(&prompt.system),
            turns: vec![Turn::user(
                prompt
                    .parts
                    .iter()
                    .map(|p| redactor.redact(helpdesk_ai::text::prefix_words(p, PROMPT_PART_CHARS)))
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            )],
            max_output_tokens: prompt.max_output_tokens,
            temperature: prompt.temperature,
            schema: prompt.schema,
        };
        let attempts = Fallback::new(providers).complete(&request).await;
        let mut last_error = None;
        for attempt in &attempts {
            let mut call = record(attempt.kind.as_str(), &attempt.model);
            call.latency_ms = attempt.latency.as_millis().min(u32::MAX as u128) as u32;
            match &attempt.result {
                Ok(completion) => {
                    let cost = self.prices.cost_micro_usd(&completion.model, completion.usage);
                    let cost = cost.or_else(|| self.prices.cost_micro_usd(&attempt.model, completion.usage));
                    call.input_tokens = completion.usage.input_tokens;
                    call.output_tokens = completion.usage.output_tokens;
                    call.cost_micro_usd = cost.unwrap_or(0);
                    call.priced = cost.is_some();
                    call.attempts = completion.attempts;
                    call.outcome = if completion.attempts > 1 { "retried" } else { "ok" };
                }
                Err(error) => {
                    call.attempts = 1;
                    call.outcome = if matches!(error, LlmError::Refused(_)) { "refused" } else { "fell_back" };
                    call.error = Some(error.kind().to_string());
                    last_error = Some(error.clone());
                }
            }
            self.store.record_llm_call(org, &call).await?;
        }
        match attempts.into_iter().last() {
            Some(helpdesk_llm::resilience::Attempt { result: Ok(completion), kind, latency, model }) => {
                Ok(LlmAnswer::Answered {
                    text: redactor.restore(&completion.text),
                    structured: completion.structured.map(|v| restore_json(&redactor, v)),
                    provider: kind,
                    model,
                    latency_ms: latency.as_millis().min(u32::MAX as u128) as u32,
                    redacted: redactor.replaced(),
                })
            }
            _ => Ok(LlmAnswer::Local(LocalReason::Failed(last_error.unwrap_or(LlmError::CircuitOpen)))),
        }
    }
}

/// Restores placeholders in every string of a structured answer.
fn restore_json(redactor: &Redactor, value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(redactor.restore(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| restore_json(redactor, v)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, restore_json(redactor, v))).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_platform_default_comes_from_the_environment() {
        let parse = |pairs: &[(&str, &str)]| {
            crate::config::Environment::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
                .section::<LlmConfig>()
        };
        assert_eq!(parse(&[]).unwrap().platform_default, None);
        let config =
            parse(&[("LLM_PROVIDER", "anthropic"), ("LLM_MODEL", "claude-haiku-4-5"), ("LLM_API_KEY", "k")]).unwrap();
        let default = config.platform_default.unwrap();
        assert_eq!((default.kind, default.model.as_str()), (ProviderKind::Anthropic, "claude-haiku-4-5"));
        assert!(!format!("{:?}", config.api_key).contains('k'), "the key is not in Debug");
        assert_eq!(parse(&[("LLM_PROVIDER", "openai")]).unwrap_err().0, "LLM_MODEL: is required with LLM_PROVIDER");
        let e = parse(&[("LLM_PROVIDER", "gemini"), ("LLM_MODEL", "x")]).unwrap_err();
        assert!(e.0.starts_with("LLM_PROVIDER: unknown LLM provider \"gemini\""), "{e}");
        let e = parse(&[("LLM_MODEL", "gpt-4o")]).unwrap_err();
        assert!(e.0.starts_with("LLM_PROVIDER: is required with LLM_MODEL"), "{e}");
        let e = parse(&[("LLM_PRICES", "{")]).unwrap_err();
        assert!(e.0.starts_with("LLM_PRICES: price table:"), "{e}");
    }

    #[test]
    fn structured_answers_get_their_personal_data_back() {
        let mut r = Redactor::default();
        r.redact("call +44 20 7946 0958");
        let v = restore_json(&r, serde_json::json!({"reply": "We will call [PHONE_1]", "n": 1, "list": ["[PHONE_1]"]}));
        assert_eq!(
            v,
            serde_json::json!({"reply": "We will call +44 20 7946 0958", "n": 1, "list": ["+44 20 7946 0958"]})
        );
    }
}
