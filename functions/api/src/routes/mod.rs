pub mod conversations;
pub mod health;
pub mod messages;

use helpdesk_http::ApiError;
use std::str::FromStr;

/// Parses a path id; a malformed one is a 400 naming it, so it is never confused with a miss.
pub(crate) fn parse_id<T: FromStr>(raw: &str, what: &str) -> Result<T, ApiError> {
    raw.parse().map_err(|_| ApiError::BadRequest(format!("'{raw}' is not a valid {what} id")))
}
