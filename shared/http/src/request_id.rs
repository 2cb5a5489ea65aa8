//! The id that ties a request's log lines and the queue records it causes together.

use axum::http::HeaderMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

impl RequestId {
    /// API Gateway's request id when the request came through it, else the client's
    /// `X-Request-Id` (when sane), else a new one.
    pub fn from_parts(gateway_request_id: Option<&str>, headers: &HeaderMap) -> Self {
        if let Some(id) = gateway_request_id.filter(|id| !id.is_empty()) {
            return Self(id.to_string());
        }
        let client = headers.get("x-request-id").and_then(|v| v.to_str().ok()).filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        });
        Self(client.map(str::to_string).unwrap_or_else(|| uuid::Uuid::now_v7().to_string()))
    }
}
