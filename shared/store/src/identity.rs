//! Identity rows: organisations' sign-in names, team members and their credentials, custom
//! roles, invitations, API keys and the security audit log. Sessions live in Redis, not here.

use crate::{PgStore, Result};
use chrono::{DateTime, Utc};
use helpdesk_domain::{ApiKeyId, EmailAddress, InvitationId, OrgId, RoleId, RoleName, Slug, UserId};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

/// A team member as the API shows them.
#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserRecord {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// What sign-in and refresh need to know about a user.
#[derive(Debug, Clone, FromRow)]
pub struct UserCredentials {
    pub id: Uuid,
    pub password_hash: Option<String>,
    pub role: String,
    /// The custom role's permissions (`None` for a built-in role).
    pub custom_permissions: Option<Vec<String>>,
    pub active: bool,
    pub authz_version: i64,
}

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoleRecord {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub permissions: Vec<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitationRecord {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// An invitation with its secret's hash (never shown).
#[derive(Debug, Clone, FromRow)]
pub struct PendingInvitation {
    pub invited_by: Option<Uuid>,
    pub email: String,
    pub role: String,
    pub secret_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub name: String,
    pub permissions: Vec<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What the authorizer needs to check an API key (and revocation, to know whose it is).
#[derive(Debug, Clone, FromRow)]
pub struct ApiKeySecret {
    pub secret_hash: Vec<u8>,
    pub permissions: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditRecord {
    pub id: Uuid,
    pub action: String,
    pub actor_user_id: Option<Uuid>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
}

/// A security event to record.
#[derive(Debug, Clone, Default)]
pub struct AuditEntry {
    pub action: &'static str,
    pub actor: Option<UserId>,
    /// When an API key acted (recorded in `details` as `actor_api_key`).
    pub actor_key: Option<ApiKeyId>,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
}

/// An invitation to store (its token's secret only as a hash).
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub id: InvitationId,
    pub email: &'a EmailAddress,
    pub role: &'a RoleName,
    pub secret_hash: &'a [u8],
    pub invited_by: Option<UserId>,
    pub expires_at: DateTime<Utc>,
}

/// An API key to store (its secret only as a hash).
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub id: ApiKeyId,
    pub name: &'a str,
    pub secret_hash: &'a [u8],
    pub permissions: &'a [&'a str],
    pub created_by: Option<UserId>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a sign-up did not create an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupOutcome {
    Created { org: OrgId, owner: UserId },
    SlugTaken,
}

/// Why a change was refused by the data (not by permissions, which the caller checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotFound,
    /// The change would leave the organisation without an active owner.
    LastOwner,
    /// A name or email that must be unique is taken.
    Taken,
    /// The role is still given to someone.
    InUse,
}

const USER_COLUMNS: &str = "id, email, name, role, active, created_at, last_login_at";
const ROLE_COLUMNS: &str = "id, name, description, permissions, created_at";
const INVITATION_COLUMNS: &str = "id, email, role, invited_by, expires_at, accepted_at, revoked_at, created_at";
const KEY_COLUMNS: &str = "id, name, permissions, created_by, created_at, expires_at, revoked_at, last_used_at";

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl PgStore {
    /// A new organisation and its owner, in one transaction.
    pub async fn signup(
        &self,
        name: &str,
        slug: &Slug,
        email: &EmailAddress,
        owner_name: Option<&str>,
        password_hash: &str,
    ) -> Result<SignupOutcome> {
        let (org, owner) = (OrgId::new(), UserId::new());
        let mut tx = self.tenant(org).await?;
        let inserted = sqlx::query("INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)")
            .bind(org.0)
            .bind(name)
            .bind(slug.as_str())
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if unique_violation(&e) => return Ok(SignupOutcome::SlugTaken),
            other => other?,
        };
        sqlx::query(
            "INSERT INTO users (id, organization_id, email, name, role, password_hash) \
             VALUES ($1, $2, $3, $4, 'owner', $5)",
        )
        .bind(owner.0)
        .bind(org.0)
        .bind(email.as_str())
        .bind(owner_name)
        .bind(password_hash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(SignupOutcome::Created { org, owner })
    }

    /// The organisation with this sign-in name (the one look-up that crosses organisations, made
    /// through a database function that answers nothing else).
    pub async fn organization_by_slug(&self, slug: &str) -> Result<Option<OrgId>> {
        let id: Option<Uuid> =
            sqlx::query_scalar("SELECT organization_id_by_slug($1)").bind(slug).fetch_one(&self.pool).await?;
        Ok(id.map(OrgId))
    }

    async fn credentials_where(
        &self,
        org: OrgId,
        clause: &str,
        value: impl ToString,
    ) -> Result<Option<UserCredentials>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as::<_, UserCredentials>(&format!(
            "SELECT u.id, u.password_hash, u.role, r.permissions AS custom_permissions, u.active, u.authz_version \
             FROM users u LEFT JOIN roles r ON r.organization_id = u.organization_id AND r.name = u.role \
             WHERE u.organization_id = $1 AND {clause}"
        ))
        .bind(org.0)
        .bind(value.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Sign-in: the user with this email in the organisation.
    pub async fn credentials_by_email(&self, org: OrgId, email: &EmailAddress) -> Result<Option<UserCredentials>> {
        self.credentials_where(org, "u.email = $2", email.as_str()).await
    }

    /// Refresh: the user as they are now (role, permissions, active).
    pub async fn credentials_by_id(&self, org: OrgId, user: UserId) -> Result<Option<UserCredentials>> {
        self.credentials_where(org, "u.id = $2::uuid", user).await
    }

    pub async fn record_login(&self, org: OrgId, user: UserId, rehash: Option<&str>) -> Result<()> {
        let mut tx = self.tenant(org).await?;
        sqlx::query(
            "UPDATE users SET last_login_at = now(), password_hash = COALESCE($3, password_hash) \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(user.0)
        .bind(rehash)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user(&self, org: OrgId, user: UserId) -> Result<Option<UserRecord>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE organization_id = $1 AND id = $2"))
            .bind(org.0)
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn list_users(&self, org: OrgId) -> Result<Vec<UserRecord>> {
        let mut tx = self.tenant(org).await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE organization_id = $1 ORDER BY created_at, id"
        ))
        .bind(org.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Changes a user's role and bumps their authorisation version (returned).
    pub async fn set_user_role(&self, org: OrgId, user: UserId, role: &RoleName) -> Result<Result<i64, Refusal>> {
        let mut tx = self.tenant(org).await?;
        self.lock_members(&mut tx, org).await?;
        if let RoleName::Custom(name) = role {
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM roles WHERE organization_id = $1 AND name = $2)")
                    .bind(org.0)
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?;
            if !exists {
                return Ok(Err(Refusal::NotFound));
            }
        }
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET role = $3, authz_version = authz_version + 1, updated_at = now() \
             WHERE organization_id = $1 AND id = $2 RETURNING authz_version",
        )
        .bind(org.0)
        .bind(user.0)
        .bind(role.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(version) = version else { return Ok(Err(Refusal::NotFound)) };
        if !self.has_active_owner(&mut tx, org).await? {
            return Ok(Err(Refusal::LastOwner));
        }
        tx.commit().await?;
        Ok(Ok(version))
    }

    /// Deactivates a user (they can no longer sign in or refresh), revokes the API keys they
    /// made and withdraws their pending invitations; returns the revoked keys.
    pub async fn deactivate_user(&self, org: OrgId, user: UserId) -> Result<Result<Vec<ApiKeyId>, Refusal>> {
        let mut tx = self.tenant(org).await?;
        self.lock_members(&mut tx, org).await?;
        let version: Option<i64> = sqlx::query_scalar(
            "UPDATE users SET active = false, deactivated_at = COALESCE(deactivated_at, now()), \
             authz_version = authz_version + 1, updated_at = now() \
             WHERE organization_id = $1 AND id = $2 RETURNING authz_version",
        )
        .bind(org.0)
        .bind(user.0)
        .fetch_optional(&mut *tx)
        .await?;
        if version.is_none() {
            return Ok(Err(Refusal::NotFound));
        }
        if !self.has_active_owner(&mut tx, org).await? {
            return Ok(Err(Refusal::LastOwner));
        }
        let keys: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE api_keys SET revoked_at = now() WHERE organization_id = $1 AND created_by = $2 \
             AND revoked_at IS NULL RETURNING id",
        )
        .bind(org.0)
        .bind(user.0)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE invitations SET revoked_at = now() WHERE organization_id = $1 AND invited_by = $2 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(org.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(keys.into_iter().map(ApiKeyId).collect()))
    }

    /// Serialises changes to an organisation's members: two owners demoting each other at the
    /// same moment must not both see the other as the remaining owner.
    async fn lock_members(&self, tx: &mut sqlx::PgConnection, org: OrgId) -> Result<()> {
        sqlx::query("SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE").bind(org.0).execute(tx).await?;
        Ok(())
    }

    async fn has_active_owner(&self, tx: &mut sqlx::PgConnection, org: OrgId) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users WHERE organization_id = $1 AND role = 'owner' AND active)",
        )
        .bind(org.0)
        .fetch_one(tx)
        .await?)
    }

    pub async fn list_roles(&self, org: OrgId) -> Result<Vec<RoleRecord>> {
        let mut tx = self.tenant(org).await?;
        let rows =
            sqlx::query_as(&format!("SELECT {ROLE_COLUMNS} FROM roles WHERE organization_id = $1 ORDER BY name"))
                .bind(org.0)
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn create_role(
        &self,
        org: OrgId,
        name: &str,
        description: Option<&str>,
        permissions: &[&str],
    ) -> Result<Result<RoleRecord, Refusal>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as(&format!(
            "INSERT INTO roles (id, organization_id, name, description, permissions) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {ROLE_COLUMNS}"
        ))
        .bind(RoleId::new().0)
        .bind(org.0)
        .bind(name)
        .bind(description)
        .bind(permissions)
        .fetch_one(&mut *tx)
        .await;
        match row {
            Err(e) if unique_violation(&e) => Ok(Err(Refusal::Taken)),
            Err(e) => Err(e.into()),
            Ok(row) => {
                tx.commit().await?;
                Ok(Ok(row))
            }
        }
    }

    pub async fn role(&self, org: OrgId, role: RoleId) -> Result<Option<RoleRecord>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as(&format!("SELECT {ROLE_COLUMNS} FROM roles WHERE organization_id = $1 AND id = $2"))
            .bind(org.0)
            .bind(role.0)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Replaces a custom role's permissions; returns the role and, for each user who has it, the
    /// new authorisation version (their tokens must be refreshed).
    pub async fn update_role_permissions(
        &self,
        org: OrgId,
        role: RoleId,
        permissions: &[&str],
    ) -> Result<Option<(RoleRecord, Vec<(UserId, i64)>)>> {
        let mut tx = self.tenant(org).await?;
        let row: Option<RoleRecord> = sqlx::query_as(&format!(
            "UPDATE roles SET permissions = $3, updated_at = now() WHERE organization_id = $1 AND id = $2 \
             RETURNING {ROLE_COLUMNS}"
        ))
        .bind(org.0)
        .bind(role.0)
        .bind(permissions)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let holders: Vec<(Uuid, i64)> = sqlx::query_as(
            "UPDATE users SET authz_version = authz_version + 1 WHERE organization_id = $1 AND role = $2 \
             RETURNING id, authz_version",
        )
        .bind(org.0)
        .bind(&row.name)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some((row, holders.into_iter().map(|(id, v)| (UserId(id), v)).collect())))
    }

    pub async fn delete_role(&self, org: OrgId, role: RoleId) -> Result<Result<(), Refusal>> {
        let mut tx = self.tenant(org).await?;
        let in_use: Option<bool> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM users u WHERE u.organization_id = r.organization_id AND u.role = r.name) \
             FROM roles r WHERE r.organization_id = $1 AND r.id = $2",
        )
        .bind(org.0)
        .bind(role.0)
        .fetch_optional(&mut *tx)
        .await?;
        match in_use {
            None => return Ok(Err(Refusal::NotFound)),
            Some(true) => return Ok(Err(Refusal::InUse)),
            Some(false) => {}
        }
        sqlx::query("DELETE FROM roles WHERE organization_id = $1 AND id = $2")
            .bind(org.0)
            .bind(role.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The permissions of a custom role (for granting checks).
    pub async fn custom_role_permissions(&self, org: OrgId, name: &str) -> Result<Option<Vec<String>>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_scalar("SELECT permissions FROM roles WHERE organization_id = $1 AND name = $2")
            .bind(org.0)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// A new invitation; refused when the email already belongs to a member.
    pub async fn create_invitation(
        &self,
        org: OrgId,
        invitation: NewInvitation<'_>,
    ) -> Result<Result<InvitationRecord, Refusal>> {
        let NewInvitation { id, email, role, secret_hash, invited_by, expires_at } = invitation;
        let mut tx = self.tenant(org).await?;
        let member: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE organization_id = $1 AND email = $2)")
                .bind(org.0)
                .bind(email.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if member {
            return Ok(Err(Refusal::Taken));
        }
        let row = sqlx::query_as(&format!(
            "INSERT INTO invitations (id, organization_id, email, role, secret_hash, invited_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {INVITATION_COLUMNS}"
        ))
        .bind(id.0)
        .bind(org.0)
        .bind(email.as_str())
        .bind(role.as_str())
        .bind(secret_hash)
        .bind(invited_by.map(|u| u.0))
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Ok(row))
    }

    pub async fn list_invitations(&self, org: OrgId) -> Result<Vec<InvitationRecord>> {
        let mut tx = self.tenant(org).await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {INVITATION_COLUMNS} FROM invitations WHERE organization_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(org.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    pub async fn invitation(&self, org: OrgId, id: InvitationId) -> Result<Option<PendingInvitation>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as(
            "SELECT invited_by, email, role, secret_hash, expires_at, accepted_at, revoked_at FROM invitations \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Accepts a pending invitation: creates the user and spends the invitation in one
    /// transaction, so a token works once even when presented twice at the same moment.
    pub async fn accept_invitation(
        &self,
        org: OrgId,
        id: InvitationId,
        name: Option<&str>,
        password_hash: &str,
    ) -> Result<Result<UserId, Refusal>> {
        let mut tx = self.tenant(org).await?;
        let spent: Option<(String, String)> = sqlx::query_as(
            "UPDATE invitations SET accepted_at = now() WHERE organization_id = $1 AND id = $2 \
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now() RETURNING email, role",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((email, role)) = spent else { return Ok(Err(Refusal::NotFound)) };
        let user = UserId::new();
        let inserted = sqlx::query(
            "INSERT INTO users (id, organization_id, email, name, role, password_hash) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(user.0)
        .bind(org.0)
        .bind(&email)
        .bind(name)
        .bind(&role)
        .bind(password_hash)
        .execute(&mut *tx)
        .await;
        match inserted {
            Err(e) if unique_violation(&e) => return Ok(Err(Refusal::Taken)),
            other => other?,
        };
        tx.commit().await?;
        Ok(Ok(user))
    }

    pub async fn revoke_invitation(&self, org: OrgId, id: InvitationId) -> Result<bool> {
        let mut tx = self.tenant(org).await?;
        let done = sqlx::query(
            "UPDATE invitations SET revoked_at = now() WHERE organization_id = $1 AND id = $2 \
             AND accepted_at IS NULL AND revoked_at IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    pub async fn create_api_key(&self, org: OrgId, key: NewApiKey<'_>) -> Result<ApiKeyRecord> {
        let NewApiKey { id, name, secret_hash, permissions, created_by, expires_at } = key;
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as(&format!(
            "INSERT INTO api_keys (id, organization_id, name, secret_hash, permissions, created_by, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLUMNS}"
        ))
        .bind(id.0)
        .bind(org.0)
        .bind(name)
        .bind(secret_hash)
        .bind(permissions)
        .bind(created_by.map(|u| u.0))
        .bind(expires_at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn list_api_keys(&self, org: OrgId) -> Result<Vec<ApiKeyRecord>> {
        let mut tx = self.tenant(org).await?;
        let rows = sqlx::query_as(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE organization_id = $1 ORDER BY created_at DESC, id DESC"
        ))
        .bind(org.0)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Revokes a key; false when there is no such live key.
    pub async fn revoke_api_key(&self, org: OrgId, id: ApiKeyId) -> Result<bool> {
        let mut tx = self.tenant(org).await?;
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = now() WHERE organization_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(org.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// The key's hash and scope, for the authorizer.
    pub async fn api_key_secret(&self, org: OrgId, id: ApiKeyId) -> Result<Option<ApiKeySecret>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as(
            "SELECT secret_hash, permissions, expires_at, revoked_at, created_by FROM api_keys \
             WHERE organization_id = $1 AND id = $2",
        )
        .bind(org.0)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn audit(&self, org: OrgId, entry: AuditEntry) -> Result<()> {
        let mut details = if entry.details.is_object() { entry.details.clone() } else { serde_json::json!({}) };
        if let Some(key) = entry.actor_key {
            details["actor_api_key"] = key.to_string().into();
        }
        let mut tx = self.tenant(org).await?;
        sqlx::query(
            "INSERT INTO audit_log (id, organization_id, actor_user_id, action, target_type, target_id, ip, \
             user_agent, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(Uuid::now_v7())
        .bind(org.0)
        .bind(entry.actor.map(|u| u.0))
        .bind(entry.action)
        .bind(entry.target_type)
        .bind(entry.target_id)
        .bind(entry.ip)
        .bind(entry.user_agent)
        .bind(details)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Newest first; `before` is the id of the last entry of the previous page (ids are UUIDv7,
    /// so they sort by time).
    pub async fn list_audit(
        &self,
        org: OrgId,
        action: Option<&str>,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<AuditRecord>> {
        let mut tx = self.tenant(org).await?;
        let rows = sqlx::query_as(
            "SELECT id, action, actor_user_id, target_type, target_id, ip, user_agent, details, occurred_at \
             FROM audit_log WHERE organization_id = $1 AND ($2::text IS NULL OR action = $2) \
             AND ($3::uuid IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(org.0)
        .bind(action)
        .bind(before)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }
}

#[derive(Debug, Clone, Serialize, FromRow)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrganizationRecord {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub plan: String,
}

impl PgStore {
    pub async fn organization(&self, org: OrgId) -> Result<Option<OrganizationRecord>> {
        let mut tx = self.tenant(org).await?;
        let row = sqlx::query_as("SELECT id, name, slug, plan FROM organizations WHERE id = $1")
            .bind(org.0)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }
}
