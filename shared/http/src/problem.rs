//! One error format for the whole API: `application/problem+json` (RFC 9457).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use helpdesk_domain::ValidationError;
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
const TYPE_BASE: &str = "https://docs.helpdesk.dev/problems/";

/// The problem document (RFC 9457), served as `application/problem+json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Field-level errors of a validation problem.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ValidationError>,
}

/// Every way a request can fail, each mapped to one status and problem type.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("the request has invalid fields")]
    Validation(Vec<ValidationError>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    /// Answered with `Retry-After`.
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    #[error("{0}")]
    Unavailable(String),
    /// The cause (with its chain of sources) is logged, never shown to the client.
    #[error("internal error: {}", helpdesk_domain::error::describe(.0.as_ref()))]
    Internal(anyhow::Error),
}

/// A store failure is the server's: handlers use a bare `?` on the store's calls.
impl From<helpdesk_store::StoreError> for ApiError {
    fn from(e: helpdesk_store::StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl ApiError {
    /// An error of ours, its source chain kept for the log.
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    /// A state that should not happen, described for the log.
    pub fn bug(what: impl std::fmt::Display + std::fmt::Debug + Send + Sync + 'static) -> Self {
        Self::Internal(anyhow::Error::msg(what))
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        use ApiError::*;
        match self {
            BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation", "Invalid request fields"),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required"),
            Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
            NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed"),
            Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large", "Payload too large"),
            UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type")
            }
            Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", "Unprocessable request"),
            TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests"),
            Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    pub fn to_problem(&self) -> Problem {
        let (status, slug, title) = self.parts();
        let (detail, errors) = match self {
            ApiError::Validation(errors) => (Some(validation_summary(errors)), errors.clone()),
            ApiError::Internal(_) => (Some("something went wrong on our side; it has been logged".into()), vec![]),
            other => (Some(bounded(other.to_string())), vec![]),
        };
        Problem {
            problem_type: format!("{TYPE_BASE}{slug}"),
            title: title.into(),
            status: status.as_u16(),
            detail,
            errors,
        }
    }
}

/// The most of a detail shown, in characters: details may quote the request (an unknown query
/// field, a bad value), and a 20,000-character value is not worth sending back.
const MAX_DETAIL_CHARS: usize = 500;

fn bounded(detail: String) -> String {
    match detail.char_indices().nth(MAX_DETAIL_CHARS) {
        Some((end, _)) => format!("{}…", &detail[..end]),
        None => detail,
    }
}

fn validation_summary(errors: &[ValidationError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = helpdesk_domain::error::describe(cause.as_ref()), "internal error");
        }
        let problem = self.to_problem();
        let mut response = problem_response(self.status(), &problem);
        if let ApiError::TooManyRequests { retry_after_secs, .. } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_CONTENT_TYPE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store failure is a 500 whose body says nothing of it; its whole chain is what the log gets.
    #[test]
    fn a_store_errors_text_never_reaches_the_client() {
        let secret = "password authentication failed for user \"helpdesk_app\" at db.internal:5432";
        let error: ApiError = helpdesk_store::StoreError::Config(secret.into()).into();
        assert!(format!("{error}").contains("db.internal"), "the cause is kept for the log");
        let problem = error.to_problem();
        assert_eq!(problem.status, 500);
        let body = serde_json::to_string(&problem).unwrap();
        assert!(!body.contains("db.internal") && !body.contains("password"), "{body}");
    }

    #[test]
    fn a_quoted_detail_is_bounded() {
        let problem = ApiError::BadRequest(format!("'{}' is not allowed", "a".repeat(20_000))).to_problem();
        assert!(problem.detail.unwrap().chars().count() <= MAX_DETAIL_CHARS + 1);
    }
}
