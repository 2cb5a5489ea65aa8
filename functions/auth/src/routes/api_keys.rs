//! API keys for API consumers: scoped to permissions their creator holds, shown once, stored
//! as a hash, revocable at once.

use crate::routes::parse_permissions;
use crate::{session_store_down, AuthState, ClientInfo};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_domain::{ApiKeyId, Permission, PermissionSet, UserId, ValidationError};
use helpdesk_http::{parse_id, ApiError, ApiJson, AuthContext, Problem};
use helpdesk_platform::credentials::{Credential, Kind};
use helpdesk_store::{ApiKeyRecord, NewApiKey};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRequest {
    pub name: String,
    /// Permission names, e.g. `["messages:write"]`; each must be one the caller holds.
    pub permissions: Vec<String>,
    /// Days until the key stops working; never when left out.
    pub expires_in_days: Option<u32>,
}

// No Debug: it holds the key.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    /// The key itself, for `Authorization: Bearer`. Shown only in this answer.
    pub key: String,
    #[serde(flatten)]
    pub record: ApiKeyRecord,
}

/// `POST /v1/api-keys`: a new key, made by a signed-in member; the answer is the only time its
/// secret is shown. Deactivating the member revokes the keys they made.
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "api-keys",
    request_body = ApiKeyRequest,
    responses(
        (status = 201, description = "The key (shown once) and its record", body = CreatedApiKey),
        (status = 422, description = "Invalid fields or unknown permission", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["api_keys:write"]))
)]
pub async fn create(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    ApiJson(body): ApiJson<ApiKeyRequest>,
) -> Result<Response, ApiError> {
    auth.require(Permission::ApiKeysWrite)?;
    // Only a person makes keys: a key cannot mint keys that outlive its own revocation.
    let creator = auth.user_id()?;
    let name = helpdesk_domain::text::display_name(&body.name, 100)
        .map_err(|e| ApiError::Validation(vec![ValidationError::new("name", e)]))?;
    let name = name.as_str();
    let permissions = parse_permissions("permissions", &body.permissions)?;
    if permissions.iter().next().is_none() {
        return Err(ApiError::Validation(vec![ValidationError::new("permissions", "must name at least one")]));
    }
    if !permissions.is_subset_of(auth.permissions) {
        return Err(ApiError::Forbidden("an API key can only carry permissions you hold".into()));
    }
    if body.expires_in_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(ApiError::Validation(vec![ValidationError::new("expires_in_days", "must be 1 to 3650")]));
    }
    let id = ApiKeyId::new();
    let key = Credential::generate(Kind::ApiKey, &[auth.org.0, id.0]);
    let expires_at = body.expires_in_days.map(|d| chrono::Utc::now() + chrono::Duration::days(d.into()));
    let (secret_hash, names) = (key.secret_hash(), permissions.names());
    let new_key =
        NewApiKey { id, name, secret_hash: &secret_hash, permissions: &names, created_by: Some(creator), expires_at };
    let record = state.store.create_api_key(auth.org, new_key).await?;
    let mut entry = client.entry_by("api_key.created", &auth);
    entry.target_type = Some("api_key");
    entry.target_id = Some(id.to_string());
    entry.details = json!({ "name": name, "permissions": permissions.names() });
    state.audit(auth.org, entry).await?;
    Ok((StatusCode::CREATED, Json(CreatedApiKey { key: key.encode(), record })).into_response())
}

/// `GET /v1/api-keys`: the organisation's keys (never their secrets).
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "api-keys",
    responses((status = 200, description = "Keys", body = [ApiKeyRecord])),
    security(("bearer" = ["api_keys:write"]))
)]
pub async fn list(State(state): State<AuthState>, auth: AuthContext) -> Result<Json<Vec<ApiKeyRecord>>, ApiError> {
    auth.require(Permission::ApiKeysWrite)?;
    Ok(Json(state.store.list_api_keys(auth.org).await?))
}

/// `DELETE /v1/api-keys/{id}`: revokes a key; its next call fails. Only a key whose
/// permissions the caller holds all of (as with members: nobody manages what allows more than
/// they hold).
#[utoipa::path(
    delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = uuid::Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No live key with this id in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["api_keys:write"]))
)]
pub async fn revoke(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Permission::ApiKeysWrite)?;
    let id: ApiKeyId = parse_id(&id, "API key")?;
    let gone = || ApiError::NotFound("no live API key with this id in your organisation".into());
    let key = state.store.api_key_secret(auth.org, id).await?;
    let key = key.filter(|k| k.revoked_at.is_none()).ok_or_else(gone)?;
    // The rule for members holds for keys: nobody manages what allows more than they hold (an
    // agent's key with api_keys:write cannot revoke the owner's integration key). Its creator
    // always may: revoking only takes access away, and their role may have shrunk since.
    let own = key.created_by.is_some_and(|creator| auth.principal.user() == Some(UserId(creator)));
    if !own && !PermissionSet::from_known_names(&key.permissions).is_subset_of(auth.permissions) {
        return Err(ApiError::Forbidden("this key allows more than you hold".into()));
    }
    if !state.store.revoke_api_key(auth.org, id).await? {
        return Err(gone());
    }
    let mut entry = client.entry_by("api_key.revoked", &auth);
    entry.target_type = Some("api_key");
    entry.target_id = Some(id.to_string());
    state.audit(auth.org, entry).await?;
    state.sessions.revoke_key(id).await.map_err(session_store_down)?;
    Ok(StatusCode::NO_CONTENT)
}
