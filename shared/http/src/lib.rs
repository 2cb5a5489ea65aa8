//! HTTP glue shared by the HTTP functions: RFC 9457 problem responses, the bearer-token auth
//! context, JSON extraction that answers bad input with a problem, cursors, request ids.

pub mod auth;
pub mod cursor;
pub mod extract;
pub mod headers;
pub mod problem;
pub mod request_id;
pub mod routes;

pub use auth::{AuthContext, Claims, JwtKeys};
pub use cursor::Cursor;
pub use extract::{parse_id, ApiJson, ApiQuery, NoBody};
pub use problem::{ApiError, Problem};
pub use request_id::RequestId;
pub use routes::RouteTable;

/// The largest request body any route accepts (API Gateway allows more; we do not need it).
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
