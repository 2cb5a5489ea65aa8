//! External LLMs as an admin sees them: whether they may be used at all, the organisation's own
//! provider and key (sealed with KMS, never shown again), its budget and drafting preferences;
//! and what the calls cost.

use crate::AppState;
use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use helpdesk_domain::{Permission, ValidationError};
use helpdesk_http::{ApiError, ApiJson, ApiQuery, AuthContext, Problem};
use helpdesk_outbound::{parse_url, Destinations};
use helpdesk_store::{AiSettingsRecord, AiSettingsUpdate, AiUsage, KeyChange};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiSettingsInput {
    /// `false` keeps every AI feature on the local engine: nothing is sent out.
    pub external_llm_allowed: bool,
    /// `openai`, `anthropic`, `openai_compatible` (Ollama, vLLM, …) or `azure_openai`;
    /// `null` uses the platform's default provider, if it has one.
    #[schema(example = "openai")]
    pub provider: Option<String>,
    /// The model (for Azure, the deployment's name).
    #[schema(example = "gpt-4o-mini")]
    pub model: Option<String>,
    /// Required for `openai_compatible` and `azure_openai`; optional otherwise. HTTPS, and not
    /// an address on a private network.
    pub base_url: Option<String>,
    /// Azure OpenAI's `api-version`.
    #[schema(example = "2024-10-21")]
    pub api_version: Option<String>,
    /// Absent: keep the stored key; `null`: remove it; a string: store it (sealed with KMS;
    /// never returned, only its last four characters).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, write_only)]
    pub api_key: Option<Option<String>>,
    /// Below this confidence of the local model, an allowed LLM is asked too (0–1).
    #[schema(example = 0.5)]
    pub hybrid_threshold: f32,
    /// USD per calendar month (UTC); past it, no external call is made until the next month.
    /// `null`: no cap.
    pub monthly_budget_usd: Option<f64>,
    /// Share of the budget (1–100) at which usage reports an alert.
    #[schema(example = 80)]
    pub budget_alert_percent: i16,
    /// How drafts should sound (up to 500 characters).
    #[serde(default)]
    pub tone: String,
    /// Phrases a draft must never contain (up to 100, each up to 200 characters).
    #[serde(default)]
    pub blocked_phrases: Vec<String>,
}

/// `Some(None)` for an explicit `null`, `None` (by `default`) when the field is absent.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `GET /v1/ai/settings`: the organisation's AI settings (the key only as set or not, and its
/// last four characters).
#[utoipa::path(
    get, path = "/v1/ai/settings", tag = "ai",
    responses((status = 200, description = "The settings (defaults until saved)", body = AiSettingsRecord)),
    security(("bearer" = ["ai:configure"]))
)]
pub async fn settings(State(state): State<AppState>, auth: AuthContext) -> Result<Json<AiSettingsRecord>, ApiError> {
    auth.require(Permission::AiConfigure)?;
    Ok(Json(state.store.ai_settings(auth.org).await?.record))
}

/// `PUT /v1/ai/settings`: replaces the settings (the key only when `api_key` is given).
#[utoipa::path(
    put, path = "/v1/ai/settings", tag = "ai",
    request_body = AiSettingsInput,
    responses(
        (status = 200, description = "Saved", body = AiSettingsRecord),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 256 KB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid settings (each field's error listed)", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["ai:configure"]))
)]
pub async fn put_settings(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiJson(input): ApiJson<AiSettingsInput>,
) -> Result<Json<AiSettingsRecord>, ApiError> {
    auth.require(Permission::AiConfigure)?;
    let base_url = validate(&input, state.llm_destinations).map_err(ApiError::Validation)?;
    let api_key = match &input.api_key {
        None => KeyChange::Keep,
        Some(None) => KeyChange::Remove,
        Some(Some(key)) => {
            let key = key.trim();
            let sealed = state
                .sealer
                .seal(auth.org, helpdesk_domain::LLM_API_KEY_PURPOSE, key.as_bytes())
                .await
                .map_err(ApiError::bug)?;
            let hint: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
            KeyChange::Set { sealed, hint }
        }
    };
    let update = AiSettingsUpdate {
        external_llm_allowed: input.external_llm_allowed,
        provider: input.provider.clone(),
        model: trimmed(&input.model),
        base_url,
        api_version: trimmed(&input.api_version),
        api_key,
        hybrid_threshold: input.hybrid_threshold,
        monthly_budget_micro_usd: input.monthly_budget_usd.map(|usd| (usd * 1_000_000.0).round() as i64),
        budget_alert_percent: input.budget_alert_percent,
        tone: input.tone.trim().to_string(),
        blocked_phrases: input.blocked_phrases.iter().map(|p| p.trim().to_string()).collect(),
    };
    let saved = state.store.put_ai_settings(auth.org, auth.user_id().ok(), &update).await?;
    Ok(Json(saved.record))
}

fn trimmed(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

/// Checks every field and lists each broken rule; on success, the base URL as it is stored
/// (normalised by [`parse_url`]).
fn validate(input: &AiSettingsInput, destinations: Destinations) -> Result<Option<String>, Vec<ValidationError>> {
    let mut errors = Vec::new();
    let mut error = |field: &str, message: &str| errors.push(ValidationError::new(field, message));
    // Postgres text cannot hold NUL: refuse it here rather than fail there.
    let texts = [
        ("provider", input.provider.as_deref()),
        ("model", input.model.as_deref()),
        ("base_url", input.base_url.as_deref()),
        ("api_version", input.api_version.as_deref()),
        ("tone", Some(input.tone.as_str())),
    ];
    for (field, text) in texts {
        if text.is_some_and(|t| t.contains('\0')) {
            error(field, "must not contain NUL characters");
        }
    }
    if input.blocked_phrases.iter().any(|p| p.contains('\0')) {
        error("blocked_phrases", "must not contain NUL characters");
    }
    let provider = input.provider.as_deref().map(|p| p.parse::<helpdesk_llm::ProviderKind>());
    let (model, base_url, api_version) = (trimmed(&input.model), trimmed(&input.base_url), trimmed(&input.api_version));
    use helpdesk_llm::ProviderKind as Kind;
    match provider {
        Some(Err(e)) => error("provider", &e),
        Some(Ok(kind)) => {
            if model.is_none() {
                error("model", "a provider needs a model (for Azure, the deployment's name)");
            }
            if matches!(kind, Kind::OpenAiCompatible | Kind::AzureOpenAi) && base_url.is_none() {
                error("base_url", "this provider needs its base URL");
            }
            if kind == Kind::AzureOpenAi && api_version.is_none() {
                error("api_version", "Azure OpenAI needs an api-version");
            }
            // Both end up in the provider's URL (Azure's deployment path and its query): nothing
            // that could change where the request goes or what it asks.
            let azure = kind == Kind::AzureOpenAi;
            let model_char = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c) || (!azure && ":/@+".contains(c));
            let model_ok = |m: &str| m.starts_with(|c: char| c.is_ascii_alphanumeric()) && m.chars().all(model_char);
            if model.as_deref().is_some_and(|m| !model_ok(m)) {
                error(
                    "model",
                    if azure {
                        "a deployment name: letters, digits, '.', '_' and '-', starting with a letter or digit"
                    } else {
                        "a model name: letters, digits and . _ - : / @ +, starting with a letter or digit"
                    },
                );
            }
            if api_version.as_deref().is_some_and(|v| !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')) {
                error("api_version", "a version such as 2024-10-21 or 2025-01-01-preview");
            }
        }
        None => {
            if model.is_some() || base_url.is_some() || api_version.is_some() {
                error("provider", "model, base_url and api_version belong to a provider: name it");
            }
            if matches!(input.api_key, Some(Some(_))) {
                error("api_key", "a key belongs to a provider: name it");
            }
        }
    }
    let base_url = match base_url.as_deref().map(|url| parse_url(url, destinations)) {
        Some(Ok(url)) => Some(url.to_string()),
        Some(Err(why)) => {
            error("base_url", &why.to_string());
            None
        }
        None => None,
    };
    if let Some(Some(key)) = &input.api_key {
        let key = key.trim();
        // It travels in an HTTP header: visible ASCII only.
        if key.is_empty() || key.len() > 500 || !key.chars().all(|c| c.is_ascii_graphic()) {
            error("api_key", "a key is 1 to 500 visible ASCII characters, no spaces");
        }
    }
    if !(0.0..=1.0).contains(&input.hybrid_threshold) {
        error("hybrid_threshold", "between 0 and 1");
    }
    if let Some(usd) = input.monthly_budget_usd {
        if !(0.0..=1_000_000_000.0).contains(&usd) {
            error("monthly_budget_usd", "between 0 and 1,000,000,000");
        }
    }
    if !(1..=100).contains(&input.budget_alert_percent) {
        error("budget_alert_percent", "between 1 and 100");
    }
    let too_long = |v: &Option<String>| v.as_deref().is_some_and(|v| v.chars().count() > 200);
    if too_long(&input.model) || too_long(&input.api_version) {
        error("model", "model and api_version are at most 200 characters");
    }
    if input.base_url.as_deref().is_some_and(|v| v.len() > 2_000) {
        error("base_url", "at most 2,000 characters");
    }
    if input.tone.chars().count() > 500 {
        error("tone", "at most 500 characters");
    }
    if input.blocked_phrases.len() > 100
        || input.blocked_phrases.iter().any(|p| p.trim().is_empty() || p.chars().count() > 200)
    {
        error("blocked_phrases", "up to 100 phrases of 1 to 200 characters");
    }
    if errors.is_empty() {
        Ok(base_url)
    } else {
        Err(errors)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageParams {
    /// First day (UTC, `YYYY-MM-DD`); the first of this month by default.
    from: Option<String>,
    /// Last day, included (UTC, `YYYY-MM-DD`); today by default.
    to: Option<String>,
}

/// `GET /v1/ai/usage`: LLM calls, tokens, cost and latency over a period — in total, by feature,
/// by model and by day — and this month's budget status.
#[utoipa::path(
    get, path = "/v1/ai/usage", tag = "ai",
    params(UsageParams),
    responses(
        (status = 200, description = "The figures of the period", body = AiUsage),
        (status = 400, description = "A bad date or period", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["analytics:read"]))
)]
pub async fn usage(
    State(state): State<AppState>,
    auth: AuthContext,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> Result<Json<AiUsage>, ApiError> {
    auth.require(Permission::AnalyticsRead)?;
    let now = Utc::now();
    let day = |value: &Option<String>, name: &str, default: NaiveDate| -> Result<NaiveDate, ApiError> {
        match value {
            None => Ok(default),
            Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| ApiError::BadRequest(format!("{name} must be a date, YYYY-MM-DD"))),
        }
    };
    let from = day(&params.from, "from", helpdesk_store::month_start(now).date_naive())?;
    let to = day(&params.to, "to", now.date_naive())?;
    if to < from || (to - from).num_days() > 366 {
        return Err(ApiError::BadRequest("to must not be before from, and the period at most 366 days".into()));
    }
    let start = |d: NaiveDate| -> DateTime<Utc> { d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc() };
    let usage = state.store.llm_usage(auth.org, start(from), start(to + chrono::Duration::days(1)), now).await?;
    Ok(Json(usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_stored_normalised() {
        let input = |base_url: &str| {
            serde_json::from_value::<AiSettingsInput>(serde_json::json!({
                "external_llm_allowed": true, "provider": "openai_compatible", "model": "m",
                "base_url": base_url, "hybrid_threshold": 0.5, "budget_alert_percent": 80
            }))
            .unwrap()
        };
        let stored = validate(&input(" HTTPS://LLM.Example.com:443/v1 "), Destinations::PublicOnly).unwrap();
        assert_eq!(stored.as_deref(), Some("https://llm.example.com/v1"));
        for bad in ["http:///v1", "https://llm.example.com/v1\r\nX: y", "https://[::ffff:10.0.0.1]/v1"] {
            let errors = validate(&input(bad), Destinations::PublicOnly).unwrap_err();
            assert_eq!(errors[0].field, "base_url", "{bad}");
        }
    }
}
