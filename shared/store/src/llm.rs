//! External LLMs' records: each organisation's settings (its own provider, its sealed key, its
//! budget) and the ledger of calls that the usage figures and the budget cap read.

use crate::{PgStore, Result};
use chrono::{DateTime, Datelike, TimeZone, Utc};
use helpdesk_domain::{OrgId, SealedSecret, UserId};
use serde::Serialize;
use uuid::Uuid;

/// An organisation's AI settings as the API shows them: never the key, only whether one is set
/// and its last characters.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiSettingsRecord {
    /// `false`: nothing is sent to an external LLM; every AI feature runs on the local engine.
    pub external_llm_allowed: bool,
    /// `openai`, `anthropic`, `openai_compatible` or `azure_openai`; `null`: the platform's default.
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    /// Azure OpenAI's `api-version`.
    pub api_version: Option<String>,
    pub api_key_set: bool,
    /// The key's last four characters, to tell which one is set.
    pub api_key_hint: Option<String>,
    /// Below this confidence of the local model, an allowed LLM is asked too.
    pub hybrid_threshold: f32,
    /// USD per calendar month (UTC); `null`: no cap.
    pub monthly_budget_usd: Option<f64>,
    /// Share of the budget at which usage reports an alert.
    pub budget_alert_percent: i16,
    /// How drafts should sound (e.g. "friendly, concise, uses the customer's first name").
    pub tone: String,
    /// Phrases a draft must never contain.
    pub blocked_phrases: Vec<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl Default for AiSettingsRecord {
    fn default() -> Self {
        Self {
            external_llm_allowed: true,
            provider: None,
            model: None,
            base_url: None,
            api_version: None,
            api_key_set: false,
            api_key_hint: None,
            hybrid_threshold: 0.5,
            monthly_budget_usd: None,
            budget_alert_percent: 80,
            tone: String::new(),
            blocked_phrases: Vec::new(),
            updated_at: None,
        }
    }
}

/// What the functions that call LLMs read: the settings and the sealed key.
#[derive(Debug, Clone)]
pub struct AiSettings {
    pub record: AiSettingsRecord,
    pub api_key: Option<SealedSecret>,
}

/// What a settings update does to the stored key.
#[derive(Debug, Clone)]
pub enum KeyChange {
    Keep,
    Remove,
    Set { sealed: SealedSecret, hint: String },
}

/// A settings update: every field but the key replaces what was stored.
#[derive(Debug, Clone)]
pub struct AiSettingsUpdate {
    pub external_llm_allowed: bool,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub api_version: Option<String>,
    pub api_key: KeyChange,
    pub hybrid_threshold: f32,
    pub monthly_budget_micro_usd: Option<i64>,
    pub budget_alert_percent: i16,
    pub tone: String,
    pub blocked_phrases: Vec<String>,
}

/// One provider tried for one use of an LLM.
#[derive(Debug, Clone)]
pub struct LlmCall {
    pub feature: &'static str,
    pub provider: String,
    pub model: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub cost_micro_usd: u64,
    pub priced: bool,
    pub latency_ms: u32,
    pub attempts: u32,
    /// `ok`, `retried`, `fell_back`, `refused` or `refused_by_budget`.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageFigures {
    /// What the rows are grouped by (a feature, `provider/model`, or a day); empty for the total.
    pub key: String,
    pub calls: i64,
    pub failed_calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    pub latency_ms_p50: Option<f64>,
    pub latency_ms_p95: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BudgetStatus {
    /// This calendar month (UTC), so far.
    pub month_to_date_usd: f64,
    pub monthly_budget_usd: Option<f64>,
    pub alert_percent: i16,
    /// Spending has reached the alert share of the budget.
    pub alert: bool,
    /// Spending has reached the budget: external calls are refused until next month.
    pub capped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AiUsage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total: UsageFigures,
    pub by_feature: Vec<UsageFigures>,
    pub by_model: Vec<UsageFigures>,
    pub by_day: Vec<UsageFigures>,
    pub budget: BudgetStatus,
}

const SETTINGS_COLUMNS: &str = "external_llm_allowed, provider, model, base_url, api_version, \
    api_key_ciphertext, api_key_encrypted_key, api_key_nonce, api_key_hint, hybrid_threshold, \
    monthly_budget_micro_usd, budget_alert_percent, tone, blocked_phrases, updated_at";

type SettingsRow = (
    bool,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
    f32,
    Option<i64>,
    i16,
    String,
    Vec<String>,
    DateTime<Utc>,
);

fn settings_from_row(row: SettingsRow) -> AiSettings {
    let (
        allowed,
        provider,
        model,
        base_url,
        api_version,
        ciphertext,
        encrypted_key,
        nonce,
        hint,
        threshold,
        budget,
        alert,
        tone,
        blocked,
        updated_at,
    ) = row;
    let api_key = match (ciphertext, encrypted_key, nonce) {
        (Some(ciphertext), Some(encrypted_key), Some(nonce)) => Some(SealedSecret { encrypted_key, nonce, ciphertext }),
        _ => None,
    };
    AiSettings {
        record: AiSettingsRecord {
            external_llm_allowed: allowed,
            provider,
            model,
            base_url,
            api_version,
            api_key_set: api_key.is_some(),
            api_key_hint: hint.filter(|_| api_key.is_some()),
            hybrid_threshold: threshold,
            monthly_budget_usd: budget.map(micro_to_usd),
            budget_alert_percent: alert,
            tone,
            blocked_phrases: blocked,
            updated_at: Some(updated_at),
        },
        api_key,
    }
}

fn micro_to_usd(micro: i64) -> f64 {
    micro as f64 / 1_000_000.0
}

/// The first instant of the calendar month (UTC) that `at` is in.
pub fn month_start(at: DateTime<Utc>) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0).single().unwrap_or(at)
}

impl PgStore {
    /// The organisation's settings; the defaults until it saves some.
    pub async fn ai_settings(&self, org: OrgId) -> Result<AiSettings> {
        let mut tx = self.tenant(org).await?;
        let row: Option<SettingsRow> =
            sqlx::query_as(&format!("SELECT {SETTINGS_COLUMNS} FROM ai_settings WHERE organization_id = $1"))
                .bind(org.0)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(row.map(settings_from_row).unwrap_or(AiSettings { record: AiSettingsRecord::default(), api_key: None }))
    }

    pub async fn put_ai_settings(
        &self,
        org: OrgId,
        by: Option<UserId>,
        update: &AiSettingsUpdate,
    ) -> Result<AiSettings> {
        let (set_key, ciphertext, encrypted_key, nonce, hint) = match &update.api_key {
            KeyChange::Keep => (false, None, None, None, None),
            KeyChange::Remove => (true, None, None, None, None),
            KeyChange::Set { sealed, hint } => (
                true,
                Some(sealed.ciphertext.clone()),
                Some(sealed.encrypted_key.clone()),
                Some(sealed.nonce.clone()),
                Some(hint.clone()),
            ),
        };
        let mut tx = self.tenant(org).await?;
        let row: SettingsRow = sqlx::query_as(&format!(
            "INSERT INTO ai_settings (organization_id, external_llm_allowed, provider, model, base_url, api_version, \
                 api_key_ciphertext, api_key_encrypted_key, api_key_nonce, api_key_hint, hybrid_threshold, \
                 monthly_budget_micro_usd, budget_alert_percent, tone, blocked_phrases, updated_at, updated_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $8, $9, $10, $11, $12, $13, $14, $15, $16, now(), $17) \
             ON CONFLICT (organization_id) DO UPDATE SET \
                 external_llm_allowed = EXCLUDED.external_llm_allowed, provider = EXCLUDED.provider, \
                 model = EXCLUDED.model, base_url = EXCLUDED.base_url, api_version = EXCLUDED.api_version, \
                 api_key_ciphertext = CASE WHEN $7 THEN EXCLUDED.api_key_ciphertext ELSE ai_settings.api_key_ciphertext END, \
                 api_key_encrypted_key = CASE WHEN $7 THEN EXCLUDED.api_key_encrypted_key ELSE ai_settings.api_key_encrypted_key END, \
                 api_key_nonce = CASE WHEN $7 THEN EXCLUDED.api_key_nonce ELSE ai_settings.api_key_nonce END, \
                 api_key_hint = CASE WHEN $7 THEN EXCLUDED.api_key_hint ELSE ai_settings.api_key_hint END, \
                 hybrid_threshold = EXCLUDED.hybrid_threshold, \
                 monthly_budget_micro_usd = EXCLUDED.monthly_budget_micro_usd, \
                 budget_alert_percent = EXCLUDED.budget_alert_percent, tone = EXCLUDED.tone, \
                 blocked_phrases = EXCLUDED.blocked_phrases, updated_at = now(), updated_by = EXCLUDED.updated_by \
             RETURNING {SETTINGS_COLUMNS}"
        ))
        .bind(org.0)
        .bind(update.external_llm_allowed)
        .bind(&update.provider)
        .bind(&update.model)
        .bind(&update.base_url)
        .bind(&update.api_version)
        .bind(set_key)
        .bind(ciphertext)
        .bind(encrypted_key)
        .bind(nonce)
        .bind(hint)
        .bind(update.hybrid_threshold)
        .bind(update.monthly_budget_micro_usd)
        .bind(update.budget_alert_percent)
        .bind(&update.tone)
        .bind(&update.blocked_phrases)
        .bind(by.map(|u| u.0))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(settings_from_row(row))
    }

    pub async fn record_llm_call(&self, org: OrgId, call: &LlmCall) -> Result<()> {
        let mut tx = self.tenant(org).await?;
        sqlx::query(
            "INSERT INTO ai_llm_calls (id, organization_id, feature, provider, model, input_tokens, output_tokens, \
                 cost_micro_usd, priced, latency_ms, attempts, outcome, error, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(call.feature)
        .bind(&call.provider)
        .bind(&call.model)
        .bind(call.input_tokens.min(i32::MAX as u32) as i32)
        .bind(call.output_tokens.min(i32::MAX as u32) as i32)
        .bind(call.cost_micro_usd.min(i64::MAX as u64) as i64)
        .bind(call.priced)
        .bind(call.latency_ms.min(i32::MAX as u32) as i32)
        .bind(call.attempts.min(i16::MAX as u32) as i16)
        .bind(call.outcome)
        .bind(&call.error)
        .bind(&call.request_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Millionths of a USD spent on LLMs since the start of this calendar month (UTC).
    pub async fn month_to_date_spend(&self, org: OrgId, now: DateTime<Utc>) -> Result<i64> {
        let mut tx = self.tenant(org).await?;
        let spent: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(cost_micro_usd), 0)::bigint FROM ai_llm_calls \
             WHERE organization_id = $1 AND created_at >= $2",
        )
        .bind(org.0)
        .bind(month_start(now))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(spent)
    }

    /// Calls, tokens, cost and latency in [from, to): in total, by feature, by model and by day
    /// (UTC), with this month's budget status.
    pub async fn llm_usage(
        &self,
        org: OrgId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<AiUsage> {
        let mut tx = self.tenant(org).await?;
        let total = usage_by(&mut tx, org, from, to, "''::text").await?.pop().unwrap_or_default();
        let by_feature = usage_by(&mut tx, org, from, to, "feature").await?;
        let by_model = usage_by(&mut tx, org, from, to, "provider || '/' || model").await?;
        let by_day = usage_by(&mut tx, org, from, to, "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')").await?;
        let settings: Option<(Option<i64>, i16)> = sqlx::query_as(
            "SELECT monthly_budget_micro_usd, budget_alert_percent FROM ai_settings WHERE organization_id = $1",
        )
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await?;
        let spent: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(cost_micro_usd), 0)::bigint FROM ai_llm_calls \
             WHERE organization_id = $1 AND created_at >= $2",
        )
        .bind(org.0)
        .bind(month_start(now))
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let (budget, alert_percent) = settings.unwrap_or((None, 80));
        Ok(AiUsage {
            from,
            to,
            total,
            by_feature,
            by_model,
            by_day,
            budget: budget_status(spent, budget, alert_percent),
        })
    }
}

/// The ledger's figures grouped by `key` (a trusted SQL expression, not input).
async fn usage_by(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    org: OrgId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    key: &str,
) -> Result<Vec<UsageFigures>> {
    type Row = (String, i64, i64, i64, i64, i64, Option<f64>, Option<f64>);
    // Latency percentiles leave out budget refusals: no call was made.
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {key}, count(*), count(*) FILTER (WHERE outcome NOT IN ('ok', 'retried')), \
            coalesce(sum(input_tokens), 0)::bigint, coalesce(sum(output_tokens), 0)::bigint, \
            coalesce(sum(cost_micro_usd), 0)::bigint, \
            (percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome <> 'refused_by_budget'))::float8, \
            (percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE outcome <> 'refused_by_budget'))::float8 \
         FROM ai_llm_calls WHERE organization_id = $1 AND created_at >= $2 AND created_at < $3 \
         GROUP BY 1 ORDER BY 1"
    ))
    .bind(org.0)
    .bind(from)
    .bind(to)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(key, calls, failed_calls, input_tokens, output_tokens, cost, p50, p95)| UsageFigures {
            key,
            calls,
            failed_calls,
            input_tokens,
            output_tokens,
            cost_usd: micro_to_usd(cost),
            latency_ms_p50: p50,
            latency_ms_p95: p95,
        })
        .collect())
}

pub fn budget_status(spent_micro_usd: i64, budget_micro_usd: Option<i64>, alert_percent: i16) -> BudgetStatus {
    let (alert, capped) = match budget_micro_usd {
        Some(budget) => (spent_micro_usd * 100 >= budget * alert_percent as i64, spent_micro_usd >= budget),
        None => (false, false),
    };
    BudgetStatus {
        month_to_date_usd: micro_to_usd(spent_micro_usd),
        monthly_budget_usd: budget_micro_usd.map(micro_to_usd),
        alert_percent,
        alert,
        capped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_alerts_at_its_share_and_caps_at_its_amount() {
        assert_eq!(
            budget_status(0, None, 80),
            BudgetStatus {
                month_to_date_usd: 0.0,
                monthly_budget_usd: None,
                alert_percent: 80,
                alert: false,
                capped: false
            }
        );
        let s = budget_status(8_000_000, Some(10_000_000), 80);
        assert!(s.alert && !s.capped && s.month_to_date_usd == 8.0);
        assert!(budget_status(10_000_000, Some(10_000_000), 80).capped);
        assert!(budget_status(0, Some(0), 80).capped, "a zero budget allows nothing");
        assert_eq!(
            month_start(Utc.with_ymd_and_hms(2026, 11, 24, 9, 30, 0).unwrap()),
            Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap()
        );
    }
}
