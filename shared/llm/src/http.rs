//! What both wire formats share: posting JSON, and reading an HTTP failure as an [`LlmError`].

use crate::LlmError;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// Posts `body` and returns the response's JSON, or the error its status means. The caller's
/// `request` already carries the URL and the authentication headers.
pub(crate) async fn post_json(
    request: reqwest::RequestBuilder,
    body: &serde_json::Value,
) -> Result<serde_json::Value, LlmError> {
    let response = request.json(body).send().await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.map_err(transport)?;
    if !status.is_success() {
        return Err(status_error(status.as_u16(), &headers, &text));
    }
    serde_json::from_str(&text).map_err(|e| LlmError::Malformed(format!("not JSON: {e}")))
}

fn transport(e: reqwest::Error) -> LlmError {
    if e.is_timeout() {
        LlmError::Timeout
    } else {
        // Without the URL: a compatible endpoint's URL may carry a token in its query.
        LlmError::Transport(e.without_url().to_string())
    }
}

/// 429 is a rate limit; 408, 409 (OpenAI's "try again"), 5xx and Anthropic's 529 "overloaded"
/// are the provider being unavailable; any other 4xx is a request it will not take, and so is a
/// 3xx: redirects are never followed (the URL followed would not have been checked).
pub(crate) fn status_error(status: u16, headers: &HeaderMap, body: &str) -> LlmError {
    let retry_after = retry_after(headers);
    match status {
        429 => LlmError::RateLimited { retry_after },
        408 | 409 | 500..=599 => LlmError::Unavailable { status, retry_after },
        300..=399 => LlmError::Rejected { status, message: "redirected; redirects are not followed".into() },
        _ => LlmError::Rejected { status, message: error_message(body) },
    }
}

/// Both providers answer `{"error": {"message": …}}` (Anthropic adds `"type": "error"`).
fn error_message(body: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message").and_then(|m| m.as_str()).map(str::to_string));
    let mut message = message.unwrap_or_else(|| "no error message".to_string());
    message.truncate(300);
    message
}

/// `retry-after-ms` (OpenAI), else `Retry-After` in seconds or as an HTTP date (RFC 9110).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return (ms.is_finite() && ms >= 0.0).then(|| Duration::from_secs_f64(ms / 1000.0));
    }
    let value = header("retry-after")?;
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_dates() {
        assert_eq!(retry_after(&headers(&[("retry-after", "2")])), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&headers(&[("retry-after", "0.5")])), Some(Duration::from_millis(500)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "20"), ("retry-after-ms", "1500")])),
            Some(Duration::from_millis(1500))
        );
        let soon = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = retry_after(&headers(&[("retry-after", &soon)])).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(retry_after(&headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")])), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
        assert_eq!(retry_after(&headers(&[])), None);
    }

    #[test]
    fn statuses_map_to_what_a_retry_can_cure() {
        let none = HeaderMap::new();
        assert!(status_error(429, &none, "").is_retryable());
        assert!(status_error(529, &none, "").is_retryable());
        assert!(status_error(503, &none, "").is_retryable());
        let rejected = status_error(401, &none, r#"{"error":{"message":"Incorrect API key provided"}}"#);
        assert_eq!(rejected, LlmError::Rejected { status: 401, message: "Incorrect API key provided".into() });
        assert!(!rejected.is_retryable());
    }
}
