//! Roles: the four built-ins and the organisation's custom roles (named permission sets).

use crate::routes::parse_permissions;
use crate::{session_store_down, AuthState, ClientInfo};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_domain::{Permission, Role, RoleId, RoleName, ValidationError};
use helpdesk_http::{parse_id, ApiError, ApiJson, AuthContext, Problem};
use helpdesk_store::{Refusal, RoleRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RoleView {
    /// Set for custom roles.
    pub id: Option<uuid::Uuid>,
    pub name: String,
    pub builtin: bool,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

/// `GET /v1/roles`: the built-in roles, then the organisation's own.
#[utoipa::path(
    get, path = "/v1/roles", tag = "users",
    responses((status = 200, description = "Roles and their permissions", body = [RoleView])),
    security(("bearer" = ["users:read"]))
)]
pub async fn list(State(state): State<AuthState>, auth: AuthContext) -> Result<Json<Vec<RoleView>>, ApiError> {
    auth.require(Permission::UsersRead)?;
    let builtin = Role::ALL.into_iter().map(|role| RoleView {
        id: None,
        name: role.as_str().into(),
        builtin: true,
        description: None,
        permissions: role.permissions().names().into_iter().map(String::from).collect(),
    });
    let custom = state.store.list_roles(auth.org).await?.into_iter().map(|r| RoleView {
        id: Some(r.id),
        name: r.name,
        builtin: false,
        description: r.description,
        permissions: r.permissions,
    });
    Ok(Json(builtin.chain(custom).collect()))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Lower-case letters, digits, `_` or `-`; not a built-in role's name.
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
}

fn description(d: Option<&str>) -> Result<Option<&str>, ApiError> {
    match d.map(str::trim).filter(|d| !d.is_empty()) {
        // Shown beside the role's name wherever roles are listed: a name's rules.
        Some(d) => match helpdesk_domain::text::display_name(d, 500) {
            Ok(_) => Ok(Some(d)),
            Err(e) => Err(ApiError::Validation(vec![ValidationError::new("description", e)])),
        },
        None => Ok(None),
    }
}

/// `POST /v1/roles`: a custom role, with permissions the caller holds.
#[utoipa::path(
    post, path = "/v1/roles", tag = "users",
    request_body = RoleRequest,
    responses(
        (status = 201, description = "Created", body = RoleRecord),
        (status = 409, description = "A role with this name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or unknown permission", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub async fn create(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    ApiJson(body): ApiJson<RoleRequest>,
) -> Result<Response, ApiError> {
    auth.require(Permission::UsersWrite)?;
    let name = match RoleName::parse(&body.name) {
        Ok(RoleName::Custom(name)) => name,
        Ok(RoleName::Builtin(_)) => {
            return Err(ApiError::Validation(vec![ValidationError::new("name", "is a built-in role's name")]))
        }
        Err(m) => return Err(ApiError::Validation(vec![ValidationError::new("name", m)])),
    };
    let description = description(body.description.as_deref())?;
    let permissions = parse_permissions("permissions", &body.permissions)?;
    if !permissions.is_subset_of(auth.permissions) {
        return Err(ApiError::Forbidden("a role can only carry permissions you hold".into()));
    }
    let created = state
        .store
        .create_role(auth.org, &name, description, &permissions.names())
        .await?
        .map_err(|_| ApiError::Conflict(format!("a role named '{name}' exists")))?;
    let mut entry = client.entry_by("role.created", &auth);
    entry.target_type = Some("role");
    entry.target_id = Some(created.id.to_string());
    entry.details = json!({ "name": name, "permissions": permissions.names() });
    state.audit(auth.org, entry).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePermissions {
    pub permissions: Vec<String>,
}

/// `PUT /v1/roles/{id}/permissions`: replaces a custom role's permissions. Members with the
/// role must refresh their tokens to act under the new set (their old tokens stop working).
#[utoipa::path(
    put, path = "/v1/roles/{id}/permissions", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "Custom role id")),
    request_body = RolePermissions,
    responses(
        (status = 200, description = "The role", body = RoleRecord),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such custom role in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown permission", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub async fn update(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RolePermissions>,
) -> Result<Json<RoleRecord>, ApiError> {
    auth.require(Permission::UsersWrite)?;
    let id: RoleId = parse_id(&id, "role")?;
    let permissions = parse_permissions("permissions", &body.permissions)?;
    let missing = || ApiError::NotFound("no such custom role in your organisation".into());
    let before = state.store.role(auth.org, id).await?.ok_or_else(missing)?;
    // Neither adding nor taking away what one does not hold oneself.
    let before_set = helpdesk_domain::PermissionSet::from_known_names(&before.permissions);
    if !permissions.is_subset_of(auth.permissions) || !before_set.is_subset_of(auth.permissions) {
        return Err(ApiError::Forbidden("you can only manage roles whose permissions you hold".into()));
    }
    let (role, holders) =
        state.store.update_role_permissions(auth.org, id, &permissions.names()).await?.ok_or_else(missing)?;
    for (user, version) in &holders {
        state.sessions.set_user_version(*user, *version).await.map_err(session_store_down)?;
    }
    let mut entry = client.entry_by("role.permissions_changed", &auth);
    entry.target_type = Some("role");
    entry.target_id = Some(id.to_string());
    entry.details =
        json!({ "name": role.name, "from": before.permissions, "to": role.permissions, "members": holders.len() });
    state.audit(auth.org, entry).await?;
    Ok(Json(role))
}

/// `DELETE /v1/roles/{id}`: deletes a custom role nobody has.
#[utoipa::path(
    delete, path = "/v1/roles/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "Custom role id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such custom role in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Members still have this role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub async fn delete(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Permission::UsersWrite)?;
    let id: RoleId = parse_id(&id, "role")?;
    let missing = || ApiError::NotFound("no such custom role in your organisation".into());
    let role = state.store.role(auth.org, id).await?.ok_or_else(missing)?;
    // As for changing it: nobody manages a role that allows more than they hold.
    if !helpdesk_domain::PermissionSet::from_known_names(&role.permissions).is_subset_of(auth.permissions) {
        return Err(ApiError::Forbidden("you can only manage roles whose permissions you hold".into()));
    }
    match state.store.delete_role(auth.org, id).await? {
        Ok(()) => {}
        Err(Refusal::InUse) => return Err(ApiError::Conflict("members still have this role".into())),
        Err(_) => return Err(ApiError::NotFound("no such custom role in your organisation".into())),
    }
    let mut entry = client.entry_by("role.deleted", &auth);
    entry.target_type = Some("role");
    entry.target_id = Some(id.to_string());
    state.audit(auth.org, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}
