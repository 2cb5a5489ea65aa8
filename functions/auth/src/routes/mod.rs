pub mod api_keys;
pub mod audit;
pub mod invitations;
pub mod roles;
pub mod session;
pub mod users;

use helpdesk_domain::{Permission, PermissionSet, ValidationError};
use helpdesk_http::ApiError;

/// Parses a list of permission names, or reports the unknown one against `field`.
pub(crate) fn parse_permissions(field: &str, names: &[String]) -> Result<PermissionSet, ApiError> {
    PermissionSet::parse_names(names).map_err(|message| {
        ApiError::Validation(vec![ValidationError::new(
            field,
            format!("{message}; known: {}", Permission::ALL.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")),
        )])
    })
}
