//! Invitations: an admin invites by email (the token travels only in the email), the invitee
//! accepts with a password and is signed in.

use crate::routes::session::{hash, optional_name};
use crate::{permissions_of, role_and_permissions, AuthState, ClientInfo, Tokens, INVITATION_TTL_DAYS};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use helpdesk_domain::identity::field;
use helpdesk_domain::{
    may_grant, EmailAddress, InvitationId, OrgId, OutgoingEmail, Password, Permission, RoleName, UserId,
};
use helpdesk_http::{parse_id, ApiError, ApiJson, AuthContext, Problem};
use helpdesk_platform::credentials::{Credential, Kind};
use helpdesk_store::{InvitationRecord, NewInvitation, Refusal};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationRequest {
    pub email: String,
    /// `admin`, `agent`, `viewer`, `owner` (owners only) or a custom role's name.
    pub role: String,
}

/// `POST /v1/invitations`: invites someone by email with a role no stronger than the caller's.
/// The email carries a single-use link valid for seven days.
#[utoipa::path(
    post, path = "/v1/invitations", tag = "users",
    request_body = InvitationRequest,
    responses(
        (status = 201, description = "Invitation sent", body = InvitationRecord),
        (status = 409, description = "The email already belongs to a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields or unknown role", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:invite"]))
)]
pub async fn create(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    ApiJson(body): ApiJson<InvitationRequest>,
) -> Result<Response, ApiError> {
    auth.require(Permission::UsersInvite)?;
    let mut errors = Vec::new();
    let email = field("email", EmailAddress::parse(&body.email), &mut errors);
    let role = field("role", RoleName::parse(&body.role), &mut errors);
    let (Some(email), Some(role), true) = (email, role, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let grants = permissions_of(&state.store, auth.org, &role).await?;
    if !may_grant(&auth.role, auth.permissions, &role, grants) {
        return Err(ApiError::Forbidden(format!("you cannot invite as '{role}': it allows more than your role")));
    }
    let id = InvitationId::new();
    let token = Credential::generate(Kind::Invitation, &[auth.org.0, id.0]);
    let expires_at = chrono::Utc::now() + chrono::Duration::days(INVITATION_TTL_DAYS);
    let inviter = auth.principal.user();
    let secret_hash = token.secret_hash();
    let invitation =
        NewInvitation { id, email: &email, role: &role, secret_hash: &secret_hash, invited_by: inviter, expires_at };
    let created = state.store.create_invitation(auth.org, invitation).await?;
    let invitation = match created {
        Ok(invitation) => invitation,
        Err(_) => return Err(ApiError::Conflict(format!("{email} is already a member of your organisation"))),
    };
    let organization = state.store.organization(auth.org).await?;
    let org_name = organization.map(|o| o.name).unwrap_or_else(|| "your team".into());
    let email_message = OutgoingEmail {
        to: email.clone(),
        subject: format!("You are invited to join {org_name} on Helpdesk"),
        text: format!(
            "You have been invited to join {org_name} as {role}.\n\n\
             Accept the invitation (valid for {INVITATION_TTL_DAYS} days, once):\n\
             {}/accept-invitation?token={}\n\n\
             If you did not expect this, ignore this email.\n",
            state.app_url.trim_end_matches('/'),
            token.encode()
        ),
    };
    if let Err(e) = state.mailer.send(email_message).await {
        // Not sent, so not pending: withdraw it and let the caller retry.
        tracing::error!(error = %e, "invitation email not sent");
        state.store.revoke_invitation(auth.org, id).await?;
        return Err(ApiError::Unavailable("the invitation email could not be sent; retry shortly".into()));
    }
    let mut entry = client.entry_by("invitation.created", &auth);
    entry.target_type = Some("invitation");
    entry.target_id = Some(id.to_string());
    entry.details = json!({ "email": email.as_str(), "role": role.as_str() });
    state.audit(auth.org, entry).await?;
    Ok((StatusCode::CREATED, Json(invitation)).into_response())
}

/// `GET /v1/invitations`: the organisation's invitations, newest first.
#[utoipa::path(
    get, path = "/v1/invitations", tag = "users",
    responses((status = 200, description = "Invitations", body = [InvitationRecord])),
    security(("bearer" = ["users:read"]))
)]
pub async fn list(State(state): State<AuthState>, auth: AuthContext) -> Result<Json<Vec<InvitationRecord>>, ApiError> {
    auth.require(Permission::UsersRead)?;
    Ok(Json(state.store.list_invitations(auth.org).await?))
}

/// `DELETE /v1/invitations/{id}`: withdraws a pending invitation.
#[utoipa::path(
    delete, path = "/v1/invitations/{id}", tag = "users",
    params(("id" = uuid::Uuid, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Withdrawn"),
        (status = 400, description = "Malformed id", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No pending invitation with this id in your organisation", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = ["users:invite"]))
)]
pub async fn revoke(
    State(state): State<AuthState>,
    auth: AuthContext,
    client: ClientInfo,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    auth.require(Permission::UsersInvite)?;
    let id: InvitationId = parse_id(&id, "invitation")?;
    if !state.store.revoke_invitation(auth.org, id).await? {
        return Err(ApiError::NotFound("no pending invitation with this id in your organisation".into()));
    }
    let mut entry = client.entry_by("invitation.revoked", &auth);
    entry.target_type = Some("invitation");
    entry.target_id = Some(id.to_string());
    state.audit(auth.org, entry).await?;
    Ok(StatusCode::NO_CONTENT)
}

// No Debug: it holds a password and a token.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token from the invitation email.
    pub token: String,
    /// At least 10 characters.
    pub password: String,
    pub name: Option<String>,
}

/// `POST /v1/invitations/accept`: joins the organisation and signs in. A token works once,
/// before it expires, unless it was withdrawn, and while its inviter may still grant its role.
#[utoipa::path(
    post, path = "/v1/invitations/accept", tag = "users",
    request_body = AcceptRequest,
    responses(
        (status = 201, description = "Joined and signed in", body = Tokens),
        (status = 404, description = "Unknown, used, withdrawn or expired invitation", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The email already belongs to a member", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn accept(
    State(state): State<AuthState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<AcceptRequest>,
) -> Result<Response, ApiError> {
    let mut errors = Vec::new();
    let password = field("password", Password::parse(&body.password), &mut errors);
    let name = optional_name(body.name.as_deref(), &mut errors);
    let (Some(password), true) = (password, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    let gone = || ApiError::NotFound("this invitation is unknown, used, withdrawn or expired".into());
    let token = Credential::decode(Kind::Invitation, &body.token).ok_or_else(gone)?;
    let (org, id) = (OrgId(token.ids[0]), InvitationId(token.ids[1]));
    let invitation = state.store.invitation(org, id).await?.ok_or_else(gone)?;
    let usable = invitation.accepted_at.is_none()
        && invitation.revoked_at.is_none()
        && invitation.expires_at > chrono::Utc::now()
        && token.matches(&invitation.secret_hash);
    if !usable {
        return Err(gone());
    }
    // The invitation grants what its inviter may still grant: not after they were deactivated
    // or demoted, nor a custom role that has since been widened or deleted.
    let role = RoleName::parse(&invitation.role).map_err(|_| gone())?;
    let inviter = match invitation.invited_by {
        Some(id) => state.store.credentials_by_id(org, UserId(id)).await?,
        None => None,
    };
    let Some(inviter) = inviter.filter(|i| i.active) else { return Err(gone()) };
    let (inviter_role, inviter_permissions) = role_and_permissions(&inviter)?;
    let grants = permissions_of(&state.store, org, &role).await.map_err(|_| gone())?;
    if !may_grant(&inviter_role, inviter_permissions, &role, grants) {
        return Err(gone());
    }
    let hash = hash(&state, password).await?;
    let user = match state.store.accept_invitation(org, id, name.as_deref(), &hash).await? {
        Ok(user) => user,
        Err(Refusal::Taken) => return Err(ApiError::Conflict("this email already belongs to a member".into())),
        Err(_) => return Err(gone()),
    };
    let mut entry = client.entry("invitation.accepted", Some(user));
    entry.target_type = Some("invitation");
    entry.target_id = Some(id.to_string());
    entry.details = json!({ "email": invitation.email, "role": invitation.role });
    state.audit(org, entry).await?;
    let credentials = state.store.credentials_by_id(org, user).await?;
    let credentials = credentials.ok_or_else(|| ApiError::bug("the member just created is missing"))?;
    let tokens = state.start_session(org, &credentials).await?;
    Ok((StatusCode::CREATED, Json(tokens)).into_response())
}
