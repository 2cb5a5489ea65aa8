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
