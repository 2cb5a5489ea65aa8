//! The security audit log, for admins.

use crate::AuthState;
use axum::extract::State;
use axum::Json;
use helpdesk_domain::Permission;
use helpdesk_http::{ApiError, ApiQuery, AuthContext, Problem};
use helpdesk_store::AuditRecord;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action, e.g. `login.failure`.
    pub action: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<uuid::Uuid>,
    /// 1 to 200; 50 when left out.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditRecord>,
    /// Pass as `cursor` for older entries; absent on the last page.
    pub next_cursor: Option<uuid::Uuid>,
}

/// `GET /v1/audit-log`: security events, newest first (sign-ins, refresh-token reuse, role and
/// permission changes, keys, invitations, deactivations).
#[utoipa::path(
    get, path = "/v1/audit-log", tag = "users",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 400, description = "Malformed query, or a limit out of range", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["audit:read"]))
)]
pub async fn list(
    State(state): State<AuthState>,
    auth: AuthContext,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    auth.require(Permission::AuditRead)?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be between 1 and 200".into()));
    }
    let action = query.action.as_deref().filter(|a| !a.is_empty());
    let mut items = state.store.list_audit(auth.org, action, query.cursor, limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|i| i.id)
    } else {
        None
    };
    Ok(Json(AuditPage { items, next_cursor }))
}
