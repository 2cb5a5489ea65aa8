//! Rate limits: a bucket per client IP, and one per signed-in user sized by the organisation's
//! plan. Every answer carries `RateLimit-Limit`, `-Remaining` and `-Reset` for the tighter of the
//! two; a refusal is a 429 problem with `Retry-After`.

use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use helpdesk_domain::OrgId;
use helpdesk_http::ApiError;
use helpdesk_platform::ratelimit::Decision;
use helpdesk_platform::Limit;
use lambda_http::RequestExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a container trusts the plan it read for an organisation.
const PLAN_TTL: Duration = Duration::from_secs(60);

/// The limits, from the function's environment.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub per_ip: Limit,
    /// By plan; `free` is used for an unknown plan.
    pub per_user: BTreeMap<String, Limit>,
}

impl RateLimits {
    /// `RATE_LIMIT_IP` and `RATE_LIMIT_PLANS`, as `per_minute/burst` (plans: `name=per_minute/burst,…`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let parse = |s: &str| {
            let (per_minute, burst) = s.trim().split_once('/')?;
            Some(Limit::new(per_minute.trim().parse().ok()?, burst.trim().parse().ok()?))
        };
        let per_ip = lookup("RATE_LIMIT_IP").and_then(|v| parse(&v)).unwrap_or(Limit::new(1200, 300));
        let plans =
            lookup("RATE_LIMIT_PLANS").unwrap_or_else(|| "free=600/200,pro=3000/600,enterprise=12000/2000".into());
        let per_user = plans
            .split(',')
            .filter_map(|entry| {
                let (plan, limit) = entry.split_once('=')?;
                Some((plan.trim().to_string(), parse(limit)?))
            })
            .collect();
        Self { per_ip, per_user }
    }

    fn for_plan(&self, plan: &str) -> Limit {
        self.per_user.get(plan).or_else(|| self.per_user.get("free")).copied().unwrap_or(Limit::new(600, 200))
    }
}

/// Organisation plans read recently, so a request does not cost a database round trip for it.
#[derive(Clone, Default)]
pub struct PlanCache(Arc<Mutex<HashMap<OrgId, (String, Instant)>>>);

impl PlanCache {
    async fn plan(&self, state: &AppState, org: OrgId) -> String {
        if let Some((plan, at)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&org) {
            if at.elapsed() < PLAN_TTL {
                return plan.clone();
            }
        }
        let plan = state.store.organization_plan(org).await.ok().flatten().unwrap_or_else(|| "free".to_string());
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(org, (plan.clone(), Instant::now()));
        plan
    }
}

/// Middleware: refuse over-limit requests, report the limit on every answer.
pub async fn limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let ip = match request.request_context_ref() {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .unwrap_or_else(|| "unknown".to_string());
    let mut decision = state.limiter.check(&format!("ip:{ip}"), state.limits.per_ip).await;
    // The user's bucket, when the request carries a valid token (an invalid one is refused later).
    if decision.allowed {
        if let Ok(caller) = state.jwt.authenticate(request.headers()) {
            // Verified once: the handler's `AuthContext` extractor takes it from here.
            request.extensions_mut().insert(caller);
            let plan = state.plans.plan(&state, caller.org).await;
            let user = state.limiter.check(&format!("user:{}", caller.user), state.limits.for_plan(&plan)).await;
            if !user.allowed || user.remaining < decision.remaining {
                decision = user;
            }
        }
    }
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        let mut refused =
            ApiError::TooManyRequests(format!("rate limit reached; retry in {} s", decision.retry_after_secs))
                .into_response();
        insert(refused.headers_mut(), "retry-after", decision.retry_after_secs.to_string());
        refused
    };
    report(response.headers_mut(), &decision);
    response
}

fn report(headers: &mut HeaderMap, d: &Decision) {
    insert(headers, "ratelimit-limit", d.limit.to_string());
    insert(headers, "ratelimit-remaining", d.remaining.to_string());
    insert(headers, "ratelimit-reset", d.reset_secs.to_string());
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: String) {
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(name, value);
    }
}
