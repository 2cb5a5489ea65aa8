use crate::{PgStore, Result};
use helpdesk_domain::{OrgId, Role, UserId};

impl PgStore {
    pub async fn create_organization(&self, name: &str) -> Result<OrgId> {
        let id = OrgId::new();
        let mut tx = self.tenant(id).await?;
        // A sign-in name nobody chose: the id itself (sign-up lets people pick one).
        sqlx::query("INSERT INTO organizations (id, name, slug) VALUES ($1, $2, $3)")
            .bind(id.0)
            .bind(name)
            .bind(id.0.simple().to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The organisation's plan (`free`, `pro`, `enterprise`), which sets its rate limits.
    pub async fn organization_plan(&self, org: OrgId) -> Result<Option<String>> {
        let mut tx = self.tenant(org).await?;
        let plan = sqlx::query_scalar("SELECT plan FROM organizations WHERE id = $1")
            .bind(org.0)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(plan)
    }

    /// The oldest organisation with this name. It looks across organisations, so only the owner
    /// role sees anything (the local demo finds its own organisation this way).
    pub async fn find_organization_by_name(&self, name: &str) -> Result<Option<OrgId>> {
        Ok(sqlx::query_scalar("SELECT id FROM organizations WHERE name = $1 ORDER BY created_at LIMIT 1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(OrgId))
    }

    /// The first owner or admin of an organisation.
    pub async fn find_admin(&self, org: OrgId) -> Result<Option<(UserId, Role)>> {
        let mut tx = self.tenant(org).await?;
        let row: Option<(uuid::Uuid, String)> = sqlx::query_as(
            "SELECT id, role FROM users WHERE organization_id = $1 AND role IN ('owner', 'admin') AND active \
             ORDER BY created_at LIMIT 1",
        )
        .bind(org.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.map(|(id, role)| (UserId(id), if role == "owner" { Role::Owner } else { Role::Admin })))
    }

    pub async fn create_user(&self, org: OrgId, email: &str, name: Option<&str>, role: Role) -> Result<UserId> {
        let id = UserId::new();
        let mut tx = self.tenant(org).await?;
        sqlx::query("INSERT INTO users (id, organization_id, email, name, role) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.0)
            .bind(org.0)
            .bind(email)
            .bind(name)
            .bind(role.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Whether the user exists and is active in the organisation.
    pub async fn user_is_active(&self, org: OrgId, user: UserId) -> Result<bool> {
        let mut tx = self.tenant(org).await?;
        let active = sqlx::query_scalar::<_, bool>("SELECT active FROM users WHERE organization_id = $1 AND id = $2")
            .bind(org.0)
            .bind(user.0)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(active.unwrap_or(false))
    }

    pub async fn contact_count(&self, org: OrgId) -> Result<i64> {
        let mut tx = self.tenant(org).await?;
        let count = sqlx::query_scalar("SELECT count(*) FROM contacts WHERE organization_id = $1")
            .bind(org.0)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(count)
    }
}
