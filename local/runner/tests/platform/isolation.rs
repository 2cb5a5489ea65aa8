//! Row-level security, the second wall behind the store's `WHERE organization_id = $1`.

use crate::helpers::spawn_app;
use sqlx::Connection;

#[tokio::test]
async fn a_query_with_no_organisation_set_sees_nothing() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let token = owner.token.clone();
    app.accept(&token, "v@customer.example", "hello").await;
    app.owned_ids(&owner, "every kind of row").await;

    // As the functions' role, without `app.organization_id`: no rows, whatever the query says.
    let pool = app.store.pool();
    let tables = [
        "organizations",
        "users",
        "contacts",
        "conversations",
        "messages",
        "events",
        "outbox",
        "audit_log",
        "roles",
        "invitations",
        "api_keys",
        "classifications",
        "training_data",
        "ai_training_runs",
        "ai_settings",
        "ai_llm_calls",
        "kb_articles",
        "kb_chunks",
        "responses",
    ];
    for table in tables {
        let count: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(pool).await.unwrap();
        assert_eq!(count, 0, "{table} is visible without an organisation");
    }
    // The owner sees that the rows are there.
    for table in tables {
        let count: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(app.owner.pool()).await.unwrap();
        assert!(count > 0, "{table} has rows for the owner");
    }
}

#[tokio::test]
async fn one_organisation_set_sees_and_writes_only_its_own_rows() {
    let app = spawn_app().await;
    let (ours, our_token) = app.org().await;
    let (theirs, their_token) = app.org().await;
    app.accept(&our_token, "w@customer.example", "ours").await;
    app.accept(&their_token, "w@customer.example", "theirs").await;

    let mut tx = app.store.pool().begin().await.unwrap();
    sqlx::query("SELECT set_config('app.organization_id', $1, true)")
        .bind(ours.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    // Even a query that forgets its WHERE clause sees one organisation.
    let bodies: Vec<String> = sqlx::query_scalar("SELECT body FROM messages").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(bodies, ["ours"]);
    // And cannot write into another.
    let write = sqlx::query("INSERT INTO contacts (id, organization_id, email) VALUES ($1, $2, 'x@y.example')")
        .bind(uuid::Uuid::now_v7())
        .bind(theirs.0)
        .execute(&mut *tx)
        .await;
    let error = write.unwrap_err().to_string();
    assert!(error.contains("row-level security"), "{error}");
}

#[tokio::test]
async fn the_functions_roles_own_nothing_and_cannot_bypass_security() {
    let app = spawn_app().await;
    for role in ["helpdesk_app", "helpdesk_relay"] {
        let (superuser, bypass): (bool, bool) =
            sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
                .bind(role)
                .fetch_one(app.owner.pool())
                .await
                .unwrap();
        assert!(!superuser && !bypass, "{role}");
        let owned: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'public' AND c.relowner = $1::regrole",
        )
        .bind(role)
        .fetch_one(app.owner.pool())
        .await
        .unwrap();
        assert_eq!(owned, 0, "{role} owns tables");
    }

    // The relay role reaches the outbox and nothing else.
    let mut relay = sqlx::PgConnection::connect_with(
        &app.database_url.parse::<sqlx::postgres::PgConnectOptions>().unwrap().username("helpdesk_relay"),
    )
    .await
    .unwrap();
    sqlx::query("SELECT count(*) FROM outbox").execute(&mut relay).await.expect("the relay reads the outbox");
    let denied = sqlx::query("SELECT count(*) FROM messages").execute(&mut relay).await.unwrap_err().to_string();
    assert!(denied.contains("permission denied"), "{denied}");
}
