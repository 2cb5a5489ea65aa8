//! Plays API Gateway's HTTP API on loopback: matches the request against the template's routes,
//! turns it into the payload-format-2.0 event, invokes the function, and turns its answer back
//! into an HTTP response.

use crate::functions::LocalFunction;
use crate::template::{AuthorizerSpec, Cors, HttpRoute};
use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// API Gateway's own payload limit.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// A route of the template, the function it invokes and the authorizer that runs first.
pub struct RouteEntry {
    pub route: HttpRoute,
    pub function: Arc<LocalFunction>,
    pub authorizer: Option<Arc<LocalAuthorizer>>,
}

/// A Lambda authorizer as API Gateway runs it: identity sources checked first (401 when one is
/// missing), the function's answer cached per identity for `ReauthorizeEvery` (allow and deny
/// alike), 403 on deny, 500 when the function fails, and the context of an allow passed to the
/// route's function as `requestContext.authorizer.lambda`.
pub struct LocalAuthorizer {
    pub spec: AuthorizerSpec,
    pub function: Arc<LocalFunction>,
    cache: Mutex<HashMap<String, (Instant, Option<Value>)>>,
}

impl LocalAuthorizer {
    pub fn new(spec: AuthorizerSpec, function: Arc<LocalFunction>) -> Self {
        Self { spec, function, cache: Default::default() }
    }

    /// The context to pass on, or API Gateway's refusal.
    async fn authorize(&self, route_event: &Value, headers: &axum::http::HeaderMap) -> Result<Value, Response<Body>> {
        let mut identity = Vec::new();
        for name in &self.spec.identity_headers {
            match headers.get(name.as_str()).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()) {
                Some(value) => identity.push(value.to_string()),
                None => return Err(plain(StatusCode::UNAUTHORIZED, "Unauthorized")),
            }
        }
        let key = identity.join(",");
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
        let decision = match cached {
            Some((at, decision)) if at.elapsed() < self.spec.cache_ttl => decision,
            _ => {
                let mut event = route_event.clone();
                let obj = event.as_object_mut().expect("event is an object");
                obj.remove("body");
                obj.remove("isBase64Encoded");
                let method = route_event["requestContext"]["http"]["method"].as_str().unwrap_or("GET");
                let path = route_event["rawPath"].as_str().unwrap_or("/");
                obj.insert("type".into(), json!("REQUEST"));
                obj.insert("identitySource".into(), json!(identity));
                obj.insert(
                    "routeArn".into(),
                    json!(format!("arn:aws:execute-api:local:123456789012:local/$default/{method}{path}")),
                );
                let answer = match self.function.invoke("authorizer", event).await {
                    Ok(answer) => answer,
                    Err(_) => return Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")),
                };
                let decision = match (self.spec.simple_responses, answer["isAuthorized"].as_bool()) {
                    (true, Some(true)) => Some(answer.get("context").cloned().unwrap_or_else(|| json!({}))),
                    (true, Some(false)) => None,
                    // An IAM-policy answer (or garbage): the local runner does not evaluate policies.
                    _ => return Err(plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")),
                };
                if !self.spec.cache_ttl.is_zero() {
                    self.cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(key, (Instant::now(), decision.clone()));
                }
                decision
            }
        };
        decision.ok_or_else(|| plain(StatusCode::FORBIDDEN, "Forbidden"))
    }
}

/// Picks the route API Gateway would: exact paths over parameters over greedy paths, a method
/// over `ANY`, and `$default` only when nothing else matches.
pub fn match_route<'a>(
    routes: &'a [RouteEntry],
    method: &str,
    path: &str,
) -> Option<(&'a RouteEntry, BTreeMap<String, String>)> {
    let mut best: Option<(u32, &RouteEntry, BTreeMap<String, String>)> = None;
    for entry in routes {
        let method_score = match entry.route.method.as_str() {
            m if m == method => 1,
            "ANY" => 0,
            _ => continue,
        };
        let (score, params) = if entry.route.path == "$default" {
            (0, BTreeMap::new())
        } else {
            match match_path(&entry.route.path, path) {
                Some((score, params)) => (score * 2 + method_score + 1, params),
                None => continue,
            }
        };
        if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
            best = Some((score, entry, params));
        }
    }
    best.map(|(_, e, p)| (e, p))
}

/// Matches `/v1/messages/{id}` or `/{proxy+}` against a path; the score prefers literal segments.
fn match_path(template: &str, path: &str) -> Option<(u32, BTreeMap<String, String>)> {
    let t: Vec<&str> = template.trim_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut params = BTreeMap::new();
    let mut score = 0;
    for (i, seg) in t.iter().enumerate() {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
            if i >= p.len() || p[i].is_empty() {
                return None;
            }
            params.insert(name.to_string(), p[i..].join("/"));
            return Some((score, params));
        }
        let actual = p.get(i)?;
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if actual.is_empty() {
                return None;
            }
            params.insert(name.to_string(), percent_decode(actual));
            score += 1;
        } else if seg == actual {
            score += 3;
        } else {
            return None;
        }
    }
    (t.len() == p.len()).then_some((score, params))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Builds the payload-format-2.0 event API Gateway sends for this request.
pub fn to_event(
    route: &HttpRoute,
    path_params: &BTreeMap<String, String>,
    request: &axum::http::request::Parts,
    body: &[u8],
    peer: SocketAddr,
    request_id: &str,
) -> Value {
    let (method, path, query, headers) =
        (request.method.as_str(), request.uri.path(), request.uri.query(), &request.headers);
    let mut joined: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == axum::http::header::COOKIE {
            cookies.extend(value.split("; ").map(str::to_string));
            continue;
        }
        joined.entry(name.as_str().to_string()).and_modify(|v| *v = format!("{v},{value}")).or_insert(value);
    }
    let mut query_params: BTreeMap<String, String> = BTreeMap::new();
    for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")));
        query_params.entry(k).and_modify(|e| *e = format!("{e},{v}")).or_insert(v);
    }
    let route_key =
        if route.path == "$default" { "$default".to_string() } else { format!("{} {}", route.method, route.path) };
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (B64.encode(body), true),
    };
    let now = chrono::Utc::now();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query.unwrap_or_default(),
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": joined.get("host").cloned().unwrap_or_else(|| "127.0.0.1".into()),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": joined.get("user-agent").cloned().unwrap_or_default(),
            },
            "requestId": request_id,
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": is_base64,
    });
    let obj = event.as_object_mut().expect("event is an object");
    if !body.is_empty() {
        obj.insert("body".into(), Value::String(body));
    }
    if !cookies.is_empty() {
        obj.insert("cookies".into(), json!(cookies));
    }
    if !query_params.is_empty() {
        obj.insert("queryStringParameters".into(), json!(query_params));
    }
    if !path_params.is_empty() {
        obj.insert("pathParameters".into(), json!(path_params));
    }
    event
}

/// Turns the function's answer (an HTTP API response object) into an HTTP response.
pub fn from_response(value: Value) -> Response<Body> {
    let obj: Map<String, Value> = match value {
        Value::Object(o) => o,
        other => return plain(StatusCode::BAD_GATEWAY, &format!("function returned a non-object: {other}")),
    };
    let status = obj.get("statusCode").and_then(Value::as_u64).unwrap_or(200) as u16;
    let body = obj.get("body").and_then(Value::as_str).unwrap_or_default();
    let body = if obj.get("isBase64Encoded").and_then(Value::as_bool).unwrap_or(false) {
        B64.decode(body).unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let headers = response.headers_mut();
    if let Some(map) = obj.get("headers").and_then(Value::as_object) {
        for (k, v) in map {
            if let (Ok(name), Some(Ok(value))) = (k.parse::<HeaderName>(), v.as_str().map(HeaderValue::from_str)) {
                headers.append(name, value);
            }
        }
    }
    if let Some(map) = obj.get("multiValueHeaders").and_then(Value::as_object) {
        for (k, values) in map {
            let Ok(name) = k.parse::<HeaderName>() else {
                continue;
            };
            if headers.contains_key(&name) {
                continue;
            }
            for v in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                if let Ok(value) = HeaderValue::from_str(v) {
                    headers.append(name.clone(), value);
                }
            }
        }
    }
    for cookie in obj.get("cookies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(axum::http::header::SET_COOKIE, value);
        }
    }
    response
}

/// API Gateway's own answers (no route, no credential, a refused one, a body too large, a failed
/// integration), written the way the platform writes every answer: problem+json with the
/// security headers.
fn plain(status: StatusCode, message: &str) -> Response<Body> {
    use helpdesk_http::ApiError;
    let error = match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(format!("{message}: send a bearer token or an API key")),
        StatusCode::FORBIDDEN => ApiError::Forbidden(format!("{message}: the credential was refused")),
        StatusCode::NOT_FOUND => ApiError::NotFound(message.into()),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!("{message}: over {MAX_PAYLOAD} bytes")),
        _ => ApiError::bug(message.to_string()),
    };
    let mut problem = error.to_problem();
    problem.status = status.as_u16();
    let mut response = helpdesk_http::problem::problem_response(status, &problem);
    helpdesk_http::headers::add_security_headers(response.headers_mut());
    response
}

/// Serves one request the way API Gateway would: CORS first (a preflight never reaches a
/// function), then the route.
pub async fn serve(
    routes: Arc<Vec<RouteEntry>>,
    cors: Option<Arc<Cors>>,
    peer: SocketAddr,
    request: Request<Body>,
) -> Response<Body> {
    let origin = request.headers().get(axum::http::header::ORIGIN).and_then(|o| o.to_str().ok()).map(str::to_string);
    let allowed_origin = match (&cors, &origin) {
        (Some(cors), Some(origin)) if cors.allow_origins.iter().any(|o| o == "*" || o == origin) => {
            Some(origin.clone())
        }
        _ => None,
    };
    let is_preflight = request.method() == axum::http::Method::OPTIONS
        && request.headers().contains_key(axum::http::header::ACCESS_CONTROL_REQUEST_METHOD);
    if let (true, Some(cors)) = (is_preflight, &cors) {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        helpdesk_http::headers::add_security_headers(response.headers_mut());
        if let Some(origin) = &allowed_origin {
            let h = response.headers_mut();
            set(h, "access-control-allow-origin", origin);
            set(h, "access-control-allow-methods", &cors.allow_methods.join(","));
            set(h, "access-control-allow-headers", &cors.allow_headers.join(","));
            if let Some(age) = cors.max_age {
                set(h, "access-control-max-age", &age.to_string());
            }
            if cors.allow_credentials {
                set(h, "access-control-allow-credentials", "true");
            }
        }
        return response;
    }
    let mut response = route(routes, peer, request).await;
    helpdesk_http::headers::add_security_headers(response.headers_mut());
    if let (Some(origin), Some(cors)) = (&allowed_origin, &cors) {
        let h = response.headers_mut();
        set(h, "access-control-allow-origin", origin);
        if !cors.expose_headers.is_empty() {
            set(h, "access-control-expose-headers", &cors.expose_headers.join(","));
        }
        if cors.allow_credentials {
            set(h, "access-control-allow-credentials", "true");
        }
    }
    response
}

fn set(headers: &mut axum::http::HeaderMap, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

async fn route(routes: Arc<Vec<RouteEntry>>, peer: SocketAddr, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body: Bytes = match axum::body::to_bytes(body, MAX_PAYLOAD).await {
        Ok(b) => b,
        Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let Some((entry, params)) = match_route(&routes, parts.method.as_str(), parts.uri.path()) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    let mut event = to_event(&entry.route, &params, &parts, &body, peer, &request_id);
    if let Some(authorizer) = &entry.authorizer {
        match authorizer.authorize(&event, &parts.headers).await {
            Ok(context) => event["requestContext"]["authorizer"] = json!({ "lambda": context }),
            Err(refusal) => return refusal,
        }
    }
    match entry.function.invoke("http", event).await {
        Ok(answer) => {
            let mut response = from_response(answer);
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("apigw-requestid", v);
            }
            response
        }
        // What API Gateway answers when the integration fails.
        Err(_) => plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_paths_like_api_gateway() {
        assert_eq!(match_path("/v1/messages", "/v1/messages").map(|m| m.1.len()), Some(0));
        let (_, p) = match_path("/v1/messages/{id}", "/v1/messages/abc").unwrap();
        assert_eq!(p["id"], "abc");
        assert!(match_path("/v1/messages/{id}", "/v1/messages").is_none());
        assert!(match_path("/v1/messages/{id}", "/v1/messages/a/b").is_none());
        let (_, p) = match_path("/{proxy+}", "/a/b/c").unwrap();
        assert_eq!(p["proxy"], "a/b/c");
    }

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b%2Fc"), "a b/c");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
