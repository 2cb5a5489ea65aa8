//! The organisation's team: list, change a role, deactivate.

use crate::{is_owner, permissions_of, session_store_down, AuthState, ClientInfo};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use helpdesk_domain::{may_grant, Permission, PermissionSet, RoleName, UserId, ValidationError};
use helpdesk_http::{parse_id, ApiError, ApiJson, AuthContext, NoBody, Problem};
use helpdesk_store::{Refusal, UserRecord};
use serde::Deserialize;
use serde_json::json;

/// `GET /v1/users`: every member of the organisation, active or not.
#[utoipa::path(
    get, path = "/v1/users", tag = "users",
    responses((status = 200, description = "The team", body = [UserRecord])),
    security(("bearer" = ["users:read"]))
)]
pub async fn list(State(state): State<AuthState>, auth: AuthContext) -> Result<Json<Vec<UserRecord>>, ApiError> {
    auth.require(Permission::UsersRead)?;
    Ok(Json(state.store.list_users(auth.org).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// `owner`, `admin`, `agent`, `viewer` or a custom role's name.
    pub role: String,
}

/// Loads a member the caller may manage: not themselves, nobody whose role allows more than the
/// caller's, and an owner only by an owner.
async fn manageable(state: &AuthState, auth: &AuthContext, id: &str) -> Result<UserRecord, ApiError> {
    let target: UserId = parse_id(id, "user")?;
    let user = state
        .store
        .user(auth.org, target)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user in your organisation".into()))?;
    if auth.principal.user() == Some(target) {
        return Err(ApiError::Forbidden("you cannot change your own role or deactivate yourself".into()));
    }
    if user.role == "owner" && !is_owner(&auth.role) {
        return Err(ApiError::Forbidden("only an owner can change an owner".into()));
    }
    let role = RoleName::parse(&user.role).map_err(ApiError::bug)?;
    // A custom role deleted since grants nothing; so anyone who may manage members may manage them.
    // Any other failure is an error: an empty set would let the check below pass.
    let holds = match permissions_of(&state.store, auth.org, &role).await {
        Err(ApiError::Unprocessable(_)) => PermissionSet::default(),
        other => other?,
    };
    if !holds.is_subset_of(auth.permissions) {
        return Err(ApiError::Forbidden("this member's role allows more than yours".into()));
    }
    Ok(user)
}

/// `PUT /v1/users/{id}/role`: gives a member another role. Nobody grants a role with
/// permissions they lack themselves, and only owners make owners; the member's tokens stop
/// working at once and their next refresh carries the new role.
#[utoipa::path(
    put, path = "/v1/users/{id}/role", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    request_body = RoleChange,
    responses(
        (status = 200, description = "The member, with the new role", body = UserRecord),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organisation would have no owner left", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:write"]))
)]
pub async fn change_role(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleChange>,
) -> Result<Json<UserRecord>, ApiError> {
    auth.require(Permission::UsersWrite)?;
    let target = manageable(&state, &auth, &id).await?;
    let role = RoleName::parse(&body.role).map_err(|m| ApiError::Validation(vec![ValidationError::new("role", m)]))?;
    let grants = permissions_of(&state.store, auth.org, &role).await?;
    if !may_grant(&auth.role, auth.permissions, &role, grants) {
        return Err(ApiError::Forbidden(format!("you cannot grant the role '{role}': it allows more than yours")));
    }
    let user = UserId(target.id);
    let version = match state.store.set_user_role(auth.org, user, &role).await? {
        Ok(version) => version,
        Err(Refusal::LastOwner) => return Err(ApiError::Conflict("the organisation must keep an owner".into())),
        Err(_) => return Err(ApiError::NotFound("no such user or role in your organisation".into())),
    };
    let mut entry = client.entry_by("user.role_changed", &auth);
    entry.target_type = Some("user");
    entry.target_id = Some(user.to_string());
    entry.details = json!({ "from": target.role, "to": role.as_str() });
    state.audit(auth.org, entry).await?;
    state.sessions.set_user_version(user, version).await.map_err(session_store_down)?;
    let user = state.store.user(auth.org, user).await?;
    Ok(Json(user.ok_or_else(|| ApiError::NotFound("no such user in your organisation".into()))?))
}

/// `POST /v1/users/{id}/deactivate`: the member can no longer sign in; every session they have
/// ends, so their next call fails whatever their token's expiry; the API keys they made are
/// revoked and their pending invitations withdrawn.
#[utoipa::path(
    post, path = "/v1/users/{id}/deactivate", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "User id")),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user in your organisation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The organisation would have no owner left", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:delete"]))
)]
pub async fn deactivate(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    Path(id): Path<String>,
    _: NoBody,
) -> Result<StatusCode, ApiError> {
    auth.require(Permission::UsersDelete)?;
    let target = manageable(&state, &auth, &id).await?;
    let user = UserId(target.id);
    let keys = match state.store.deactivate_user(auth.org, user).await? {
        Ok(keys) => keys,
        Err(Refusal::LastOwner) => return Err(ApiError::Conflict("the organisation must keep an owner".into())),
        Err(_) => return Err(ApiError::NotFound("no such user in your organisation".into())),
    };
    // Audited before the sessions end: if Redis fails now, the event is on record and the
    // request can be repeated (it is idempotent); sign-in and refresh already refuse the user.
    let mut entry = client.entry_by("user.deactivated", &auth);
    entry.target_type = Some("user");
    entry.target_id = Some(user.to_string());
    entry.details = json!({ "api_keys_revoked": keys.len() });
    state.audit(auth.org, entry).await?;
    state.sessions.revoke_user(user).await.map_err(session_store_down)?;
    for key in keys {
        state.sessions.revoke_key(key).await.map_err(session_store_down)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
