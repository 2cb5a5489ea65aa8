//! A JSON body extractor whose every rejection is a problem document naming what is wrong.

use crate::problem::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde::de::DeserializeOwned;

/// `Json<T>` with problem+json rejections: 415 for a wrong content type or a charset other than
/// UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8), 413 for a body over the limit,
/// 400 for malformed JSON, 422 for missing or wrongly typed fields.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        if !is_json(content_type) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "expected 'Content-Type: application/json', got '{}'",
                if content_type.is_empty() { "nothing" } else { content_type }
            )));
        }
        if let Some(charset) = charset(content_type).filter(|c| !c.eq_ignore_ascii_case("utf-8")) {
            return Err(ApiError::UnsupportedMediaType(format!(
                "the body must be UTF-8 JSON; charset '{charset}' is not accepted"
            )));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge(format!("the request body is larger than {} bytes", crate::MAX_REQUEST_BYTES))
            } else {
                ApiError::BadRequest(format!("could not read the request body: {rejection}"))
            }
        })?;
        // A function whose other routes take larger bodies (raw email) still holds JSON here.
        if bytes.len() > crate::MAX_REQUEST_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "the request body is larger than {} bytes",
                crate::MAX_REQUEST_BYTES
            )));
        }
        parse(&bytes).map(ApiJson)
    }
}

/// For routes that take no request body (`POST …/deactivate`, logout): a body sent anyway is
/// refused (400) rather than silently ignored — but for nothing at all, or an empty JSON object
/// `{}`, which many HTTP clients send with every POST. Put it last among the extractors.
#[derive(Debug, Clone, Copy)]
pub struct NoBody;

impl<S: Send + Sync> FromRequest<S> for NoBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(format!("could not read the request body: {rejection}")))?;
        if is_empty_body(&bytes) {
            Ok(NoBody)
        } else {
            Err(ApiError::BadRequest("this route takes no request body".into()))
        }
    }
}

/// Whether a body says nothing: no bytes, white space, or an empty JSON object.
pub fn is_empty_body(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    let squeezed: String = text.split_whitespace().collect();
    squeezed.is_empty() || squeezed == "{}"
}

/// Parses a JSON body, telling malformed JSON (400) from a wrong shape (422).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::Unprocessable(format!("the JSON body does not fit: {e}")),
        _ => ApiError::BadRequest(format!("malformed JSON: {e}")),
    })
}

/// Parses a path id; a malformed one is a 400 naming it, so it is never confused with a miss.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    // Quoted back only in part: an id is 36 characters, a path segment can be thousands.
    let shown: String = raw.chars().take(64).collect();
    let more = if shown.len() < raw.len() { "…" } else { "" };
    raw.parse().map_err(|_| ApiError::BadRequest(format!("'{shown}{more}' is not a valid {what} id")))
}

/// The `charset` parameter of a media type, unquoted (RFC 9110 §8.3.1), if there is one.
fn charset(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"'))
    })
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Body {
        name: String,
    }

    #[test]
    fn tells_malformed_from_misshapen() {
        assert!(matches!(parse::<Body>(b"{\"name\": "), Err(ApiError::BadRequest(_))));
        assert!(matches!(parse::<Body>(b"{\"name\": 3}"), Err(ApiError::Unprocessable(_))));
        assert!(matches!(parse::<Body>(b"{}"), Err(ApiError::Unprocessable(m)) if m.contains("missing field `name`")));
    }

    #[test]
    fn accepts_json_content_types_only() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert_eq!(charset("application/json; charset=latin1"), Some("latin1"));
        assert_eq!(charset("application/json;CHARSET=\"UTF-8\""), Some("UTF-8"));
        assert_eq!(charset("application/json"), None);
        assert!(!is_json(""));
    }
}

/// `Query<T>` whose rejection is a 400 problem naming the bad parameter.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}
