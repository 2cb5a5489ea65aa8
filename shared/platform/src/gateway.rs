//! What runs around every route of every HTTP function, after API Gateway and its authorizer:
//! rate limits (a bucket per client IP — a tighter one on the credential routes — and one per
//! caller sized by the organisation's plan) and the caller's identity, read from the authorizer's
//! context and checked against the live session state in Redis. Every answer carries
//! `RateLimit-Limit`, `-Remaining` and `-Reset` for the tightest bucket; a refusal is a 429
//! problem with `Retry-After`.

use crate::config::ConfigError;
use crate::ratelimit::Decision;
use crate::sessions::Sessions;
use crate::{Limit, RateLimiter};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use helpdesk_domain::OrgId;
use helpdesk_http::{ApiError, AuthContext};
use helpdesk_store::PgStore;
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a container trusts the plan it read for an organisation.
const PLAN_TTL: Duration = Duration::from_secs(60);

/// The limits: `RATE_LIMIT_IP` (default `1200/300`) and `RATE_LIMIT_CREDENTIALS` (default
/// `20/10`) as `per_minute/burst`, and `RATE_LIMIT_PLANS` as `name=per_minute/burst,…` over the
/// defaults `free=600/200,pro=3000/600,enterprise=12000/2000` (a plan it lists replaces its
/// default; organisations' plans are free text in the database, so any name is accepted).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(try_from = "RateLimitVars")]
pub struct RateLimits {
    pub per_ip: Limit,
    /// Per IP on the routes that take a password or a secret (sign-in, sign-up, refresh,
    /// accepting an invitation): guessing is what they invite.
    pub credentials_per_ip: Limit,
    /// Per caller, by plan; `free` is used for an unknown plan.
    pub per_principal: BTreeMap<String, Limit>,
}

#[derive(serde::Deserialize)]
struct RateLimitVars {
    rate_limit_ip: Option<String>,
    rate_limit_credentials: Option<String>,
    rate_limit_plans: Option<String>,
}

impl TryFrom<RateLimitVars> for RateLimits {
    type Error = ConfigError;
    fn try_from(v: RateLimitVars) -> Result<Self, ConfigError> {
        fn limit(name: &str, text: &str) -> Result<Limit, ConfigError> {
            let parsed = text.trim().split_once('/').and_then(|(per_minute, burst)| {
                Some(Limit::new(per_minute.trim().parse().ok()?, burst.trim().parse().ok()?))
            });
            parsed.filter(|l| l.per_minute > 0 && l.burst > 0).ok_or_else(|| {
                ConfigError::variable(name, format!("expected per_minute/burst such as 1200/300, found {text:?}"))
            })
        }
        // Listed plans replace their defaults; the others keep theirs.
        let mut per_principal: BTreeMap<String, Limit> =
            [("free", Limit::new(600, 200)), ("pro", Limit::new(3000, 600)), ("enterprise", Limit::new(12000, 2000))]
                .into_iter()
                .map(|(plan, limit)| (plan.to_string(), limit))
                .collect();
        if let Some(plans) = v.rate_limit_plans.as_deref() {
            let entries: Vec<&str> = plans.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
            if entries.is_empty() {
                return Err(ConfigError::variable("RATE_LIMIT_PLANS", "expected plan=per_minute/burst,…, found none"));
            }
            for entry in entries {
                let (plan, text) = entry.split_once('=').ok_or_else(|| {
                    ConfigError::variable(
                        "RATE_LIMIT_PLANS",
                        format!("expected plan=per_minute/burst, found {entry:?}"),
                    )
                })?;
                per_principal.insert(plan.trim().to_string(), limit("RATE_LIMIT_PLANS", text)?);
            }
        }
        Ok(Self {
            per_ip: v
                .rate_limit_ip
                .as_deref()
                .map(|t| limit("RATE_LIMIT_IP", t))
                .transpose()?
                .unwrap_or(Limit::new(1200, 300)),
            credentials_per_ip: v
                .rate_limit_credentials
                .as_deref()
                .map(|t| limit("RATE_LIMIT_CREDENTIALS", t))
                .transpose()?
                .unwrap_or(Limit::new(20, 10)),
            per_principal,
        })
    }
}

impl RateLimits {
    fn for_plan(&self, plan: &str) -> Limit {
        self.per_principal.get(plan).or_else(|| self.per_principal.get("free")).copied().unwrap_or(Limit::new(600, 200))
    }
}

/// Organisation plans read recently, so a request does not cost a database round trip for it.
#[derive(Clone, Default)]
pub struct PlanCache(Arc<Mutex<HashMap<OrgId, (String, Instant)>>>);

impl PlanCache {
    async fn plan(&self, store: &PgStore, org: OrgId) -> String {
        if let Some((plan, at)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&org) {
            if at.elapsed() < PLAN_TTL {
                return plan.clone();
            }
        }
        let plan = store.organization_plan(org).await.ok().flatten().unwrap_or_else(|| "free".to_string());
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(org, (plan.clone(), Instant::now()));
        plan
    }
}

/// The gateway layer's dependencies.
#[derive(Clone)]
pub struct Gateway {
    pub limiter: RateLimiter,
    pub limits: RateLimits,
    pub plans: PlanCache,
    pub sessions: Sessions,
    pub store: PgStore,
    /// Routes (as declared, e.g. `/v1/auth/login`) that get the credentials bucket.
    pub credential_routes: &'static [&'static str],
}

impl Gateway {
    /// The layer of a function whose credential routes (if any) are `credential_routes`.
    pub fn new(
        store: PgStore,
        redis: crate::RedisHandle,
        redis_config: &crate::config::RedisConfig,
        limits: RateLimits,
        credential_routes: &'static [&'static str],
    ) -> Self {
        let prefix = redis_config.redis_key_prefix.clone();
        Self {
            limiter: RateLimiter::new(redis.clone(), prefix.clone()),
            limits,
            plans: PlanCache::default(),
            sessions: Sessions::new(redis, prefix),
            store,
            credential_routes,
        }
    }
}

/// Middleware: limits, then the caller. Put it on a router with `from_fn_with_state`.
pub async fn guard(State(gw): State<Gateway>, mut request: Request, next: Next) -> Response {
    let context = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => Some(ctx.clone()),
        _ => None,
    };
    let ip = context.as_ref().and_then(|c| c.http.source_ip.clone()).unwrap_or_else(|| "unknown".to_string());
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let mut decision = gw.limiter.check(&format!("ip:{ip}"), gw.limits.per_ip).await;
    if decision.allowed && route.as_deref().is_some_and(|r| gw.credential_routes.contains(&r)) {
        tighter(&mut decision, gw.limiter.check(&format!("credentials-ip:{ip}"), gw.limits.credentials_per_ip).await);
    }
    // The caller, as API Gateway's authorizer described it (absent on public routes).
    let caller = context
        .as_ref()
        .and_then(|c| c.authorizer.as_ref())
        .filter(|a| !a.fields.is_empty())
        .map(|a| AuthContext::from_authorizer_context(&a.fields));
    if decision.allowed {
        match caller {
            None => {}
            Some(None) => return refuse(ApiError::Unauthorized("the authorizer's context is malformed".into())),
            Some(Some(caller)) if caller.expired(chrono::Utc::now().timestamp()) => {
                return refuse(ApiError::Unauthorized("this credential has expired".into()))
            }
            Some(Some(caller)) => {
                match gw.sessions.is_live(&caller).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return refuse(ApiError::Unauthorized(
                            "this token's session has ended or its permissions changed: refresh or sign in again"
                                .into(),
                        ))
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "session store unreachable");
                        return refuse(ApiError::Unavailable("the session store is unavailable; retry shortly".into()));
                    }
                }
                let plan = gw.plans.plan(&gw.store, caller.org).await;
                tighter(&mut decision, gw.limiter.check(&caller.principal.key(), gw.limits.for_plan(&plan)).await);
                request.extensions_mut().insert(caller);
            }
        }
    }
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        ApiError::TooManyRequests {
            detail: format!("rate limit reached; retry in {} s", decision.retry_after_secs),
            retry_after_secs: decision.retry_after_secs,
        }
        .into_response()
    };
    report(response.headers_mut(), &decision);
    response
}

/// Keeps the decision that refuses, or else the one with fewer requests left.
fn tighter(current: &mut Decision, other: Decision) {
    if current.allowed && (!other.allowed || other.remaining < current.remaining) {
        *current = other;
    }
}

fn refuse(error: ApiError) -> Response {
    error.into_response()
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

/// Wraps an HTTP function's routes in what every HTTP function shares: problem+json answers for
/// unknown routes and methods (405 with `Allow` for any path in `api`: the function's own
/// routes, or for the function behind API Gateway's `$default` route — which gets every known
/// path asked with a method nobody routes — the whole API's),
/// the gateway guard, the body rules, the security headers and the request span with its log line.
pub fn http_function<S>(
    routes: axum::Router<S>,
    function: &'static str,
    gateway: Gateway,
    api: helpdesk_http::RouteTable,
    state: S,
) -> axum::Router
where
    S: Clone + Send + Sync + 'static,
{
    http_function_with_body_limit(routes, function, gateway, api, state, helpdesk_http::MAX_REQUEST_BYTES)
}

/// [`http_function`] for a function some of whose routes take bodies larger than JSON's
/// [`helpdesk_http::MAX_REQUEST_BYTES`] (raw email): `max_body` bytes at most. JSON bodies stay
/// held to the JSON limit by `ApiJson`.
pub fn http_function_with_body_limit<S>(
    routes: axum::Router<S>,
    function: &'static str,
    gateway: Gateway,
    api: helpdesk_http::RouteTable,
    state: S,
    max_body: usize,
) -> axum::Router
where
    S: Clone + Send + Sync + 'static,
{
    let for_fallback = api.clone();
    routes
        .fallback(move |req: Request| not_found(for_fallback.clone(), req))
        .layer(axum::middleware::from_fn_with_state(gateway, guard))
        .method_not_allowed_fallback(move |req: Request| method_not_allowed(api.clone(), req))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(max_body, body_rules))
        .layer(axum::middleware::from_fn(helpdesk_http::headers::security_headers))
        .layer(axum::middleware::from_fn_with_state(function, request_span))
        .with_state(state)
}

/// One log line per request (method, route, status, latency, request id, organisation — never
/// a body), and the request id echoed back to the client.
async fn request_span(State(function): State<&'static str>, mut req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let gateway_id = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    };
    let request_id = helpdesk_http::RequestId::from_parts(gateway_id.as_deref(), req.headers());
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id.0, function, org = tracing::field::Empty);
    req.extensions_mut().insert(request_id.clone());
    let started = Instant::now();
    async move {
        let mut response = next.run(req).await;
        tracing::info!(
            method = %method,
            route = route.as_deref().unwrap_or("unmatched"),
            status = response.status().as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            "request"
        );
        if let Ok(value) = request_id.0.parse() {
            response.headers_mut().insert("x-request-id", value);
        }
        response
    }
    .instrument(span)
    .await
}

/// Every request body is held to the size limit, whether or not its route reads it, and a
/// method that carries no body (GET, HEAD, DELETE, OPTIONS) is refused one (but for `{}`, as
/// [`helpdesk_http::NoBody`]). In Lambda the body is already in memory; this only measures it.
async fn body_rules(State(limit): State<usize>, request: Request, next: Next) -> Response {
    use axum::http::Method;
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError::PayloadTooLarge(format!("the request body is larger than {limit} bytes")).into_response();
    };
    let bodiless = matches!(parts.method, Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS);
    if bodiless && !helpdesk_http::extract::is_empty_body(&bytes) {
        return ApiError::BadRequest(format!("{} takes no request body", parts.method)).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

async fn not_found(api: helpdesk_http::RouteTable, req: Request) -> Response {
    // A path of the API this function does not serve, under a method it does not take.
    match api.allowed(req.uri().path()).filter(|allow| !allow.split(", ").any(|m| m == req.method().as_str())) {
        Some(allow) => not_allowed(&req, &allow),
        None => ApiError::NotFound(format!("no route for {} {}", req.method(), req.uri().path())).into_response(),
    }
}

async fn method_not_allowed(api: helpdesk_http::RouteTable, req: Request) -> Response {
    not_allowed(&req, &api.allowed(req.uri().path()).unwrap_or_default())
}

/// 405 with the `Allow` header RFC 9110 §15.5.6 requires.
fn not_allowed(req: &Request, allow: &str) -> Response {
    let detail = format!("{} is not allowed on {}; allowed: {allow}", req.method(), req.uri().path());
    let mut response = ApiError::MethodNotAllowed(detail).into_response();
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(axum::http::header::ALLOW, value);
    }
    response
}
