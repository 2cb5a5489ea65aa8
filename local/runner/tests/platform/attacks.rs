//! Faults an attacker's probe of the running platform found (issue 18), each kind driven through
//! the runner as a client would send it. The refresh forgery is in `identity`, the redirect and
//! connect-time checks in `llm`.

use crate::helpers::{spawn_app, TestApp};
use serde_json::{json, Value};

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    assert_eq!(response.headers()["content-type"], "application/problem+json", "status {status}");
    (status, response.json().await.unwrap())
}

/// Zero-width and bidirectional characters make one address look like another, or a name read
/// backwards; every spelling of one address is one address.
#[tokio::test]
async fn look_alike_addresses_and_names_are_refused_or_recognised() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let invite = |email: String| {
        let app: &TestApp = &app;
        let token = owner.token.clone();
        async move { app.post(Some(&token), "/v1/invitations", &json!({"email": email, "role": "agent"})).await }
    };
    let domain = format!("{}.example", owner.slug);
    for hidden in [
        format!("ag\u{200B}ent@{domain}"),
        format!("agent\u{202E}@{domain}"),
        format!("\u{FEFF}agent@{domain}"),
        format!("agent@{domain}\u{2066}"),
        format!("john..doe@{domain}"),
    ] {
        let (status, body) = problem(invite(hidden.clone()).await).await;
        assert_eq!(status, 422, "{hidden:?}: {body}");
        assert_eq!(body["errors"][0]["field"], "email", "{hidden:?}");
    }
    // One address in any case, composed or decomposed, Unicode or ASCII domain: once José is a
    // member, every other spelling of the address is José.
    let jose = format!("josé@bücher-{domain}");
    assert_eq!(invite(jose.clone()).await.status(), 201);
    let canonical = helpdesk_domain::EmailAddress::parse(&jose).unwrap().to_string();
    assert_eq!(canonical, jose, "already canonical: lower case, NFC, the domain as IDNA gives it back");
    let accept = json!({"token": app.invitation_token(&canonical), "password": crate::helpers::PASSWORD});
    assert_eq!(app.post(None, "/v1/invitations/accept", &accept).await.status(), 201);
    for same in [jose.to_uppercase(), format!("jose\u{301}@bücher-{domain}"), canonical.to_uppercase()] {
        let (status, body) = problem(invite(same.clone()).await).await;
        assert_eq!(status, 409, "{same}: {body}");
    }
    let (status, _) = problem(invite(owner.email.to_uppercase()).await).await;
    assert_eq!(status, 409, "a member in capitals");

    // Names: an override reverses what follows it; a NUL is named as a NUL.
    let signup = |name: &str| {
        json!({"organization_name": name, "organization_slug": format!("x{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
               "email": "owner@names.example", "password": crate::helpers::PASSWORD})
    };
    let (status, body) = problem(app.post(None, "/v1/auth/signup", &signup("Acme\u{202E}gnp.exe")).await).await;
    assert_eq!((status, body["errors"][0]["field"].clone()), (422, json!("organization_name")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("U+202E"), "{body}");
    let (_, body) = problem(app.post(None, "/v1/auth/signup", &signup("Ac\u{0}me")).await).await;
    assert!(body["detail"].as_str().unwrap().contains("NUL"), "the real reason: {body}");
    let key = json!({"name": "ci\u{200B}", "permissions": ["messages:write"]});
    let (status, body) = problem(app.post(Some(&owner.token), "/v1/api-keys", &key).await).await;
    assert_eq!(status, 422, "{body}");
}

/// `api_keys:write` lets a member manage keys, not the keys that allow more than they hold.
#[tokio::test]
async fn a_key_is_revoked_only_by_someone_who_holds_all_it_allows() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    app.post(
        Some(&owner.token),
        "/v1/roles",
        &json!({"name": "integrator", "permissions": ["api_keys:write", "messages:write", "messages:read"]}),
    )
    .await;
    let integrator = app.invite(&owner, "integrator").await;
    let created = |token: &str, permissions: Value| {
        let body = json!({"name": "k", "permissions": permissions});
        let (app, token) = (&app, token.to_string());
        async move {
            let key: Value = app.post(Some(&token), "/v1/api-keys", &body).await.json().await.unwrap();
            (key["id"].as_str().unwrap().to_string(), key["key"].as_str().unwrap().to_string())
        }
    };
    let (owners_id, owners_key) = created(&owner.token, json!(["messages:write", "users:write"])).await;
    let (small_id, _) = created(&owner.token, json!(["messages:read"])).await;
    let revoke =
        |token: &str, id: &str| app.http.delete(format!("{}/v1/api-keys/{id}", app.base)).bearer_auth(token).send();

    let (status, _) = problem(revoke(&integrator.token, &owners_id).await.unwrap()).await;
    assert_eq!(status, 403, "the owner's key allows users:write");
    let message = crate::helpers::sample_message("k@customer.example", "still works");
    assert_eq!(app.post(Some(&owners_key), "/v1/messages", &message).await.status(), 202, "and it still works");
    assert_eq!(revoke(&integrator.token, &small_id).await.unwrap().status(), 204, "a key within their permissions");
    assert_eq!(revoke(&owner.token, &owners_id).await.unwrap().status(), 204);
}

/// Bodies where none belongs, bodies over the limit on routes that never read them, and JSON in
/// another charset: each refused with a problem naming it.
#[tokio::test]
async fn bodies_are_refused_where_none_belongs_and_held_to_the_limit_everywhere() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let big = vec![b'x'; 300 * 1024];
    let url = |path: &str| format!("{}{path}", app.base);
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "GET with a body",
            app.http.get(url("/v1/conversations")).bearer_auth(&owner.token).body(r#"{"status":"open"}"#),
            400,
            "no request body",
        ),
        (
            "GET with 300 KB",
            app.http.get(url("/v1/me")).bearer_auth(&owner.token).body(big.clone()),
            413,
            "larger than",
        ),
        (
            "DELETE with a body",
            app.http.delete(url(&format!("/v1/api-keys/{}", uuid::Uuid::new_v4()))).bearer_auth(&owner.token).body("x"),
            400,
            "no request body",
        ),
        (
            "deactivation with junk",
            app.http
                .post(url(&format!("/v1/users/{}/deactivate", uuid::Uuid::new_v4())))
                .bearer_auth(&owner.token)
                .body("not json"),
            400,
            "no request body",
        ),
        (
            "training run with 300 KB",
            app.http.post(url("/v1/ai/training-runs")).bearer_auth(&owner.token).body(big),
            413,
            "larger than",
        ),
        (
            "latin1 JSON",
            app.http
                .post(url("/v1/messages"))
                .bearer_auth(&owner.token)
                .header("content-type", "application/json; charset=latin1")
                .body(r#"{"channel":"api","from":{"email":"a@b.example"},"body":"hi"}"#),
            415,
            "UTF-8",
        ),
    ];
    for (what, request, status, detail) in cases {
        let (got, body) = problem(request.send().await.unwrap()).await;
        assert_eq!(got, status, "{what}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(detail), "{what}: {body}");
    }
    // Logout ignores a body rather than leave the session alive.
    let out = app.http.post(url("/v1/auth/logout")).bearer_auth(&owner.token).body("junk").send().await.unwrap();
    assert_eq!(out.status(), 204);
    assert_eq!(app.get(&owner.token, "/v1/me").await.status(), 401, "signed out");
    assert_eq!(app.store.message_count(owner.org).await.unwrap(), 0);
}

/// A known path with a method it does not take is a 405 naming the methods it does, whichever
/// function owns the path (API Gateway sends unrouted methods to the `$default` route).
#[tokio::test]
async fn a_wrong_method_is_405_with_allow_on_every_functions_routes() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let conversation = uuid::Uuid::new_v4();
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/v1/messages".to_string(), "POST"),
        (reqwest::Method::GET, "/v1/auth/login".to_string(), "POST"),
        (reqwest::Method::PUT, "/v1/api-keys".to_string(), "GET, POST"),
        (reqwest::Method::GET, format!("/v1/conversations/{conversation}/draft"), "POST"),
        (reqwest::Method::PATCH, "/v1/ai/settings".to_string(), "GET, PUT"),
    ] {
        let response = app
            .http
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&owner.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().unwrap().to_string()),
            Some(allow.into()),
            "{method} {path}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{method} {path}");
        let (status, _) = problem(response).await;
        assert_eq!(status, 405, "{method} {path}");
    }
}

/// Two API clients of one organisation that pick the same `Idempotency-Key` each get their own
/// message; a retry by either is still a replay of its own.
#[tokio::test]
async fn idempotency_keys_belong_to_the_caller() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let key = |name: &str| {
        let body = json!({"name": name, "permissions": ["messages:write"]});
        let (app, token) = (&app, owner.token.clone());
        async move {
            let created: Value = app.post(Some(&token), "/v1/api-keys", &body).await.json().await.unwrap();
            created["key"].as_str().unwrap().to_string()
        }
    };
    let (shop, crm) = (key("shop").await, key("crm").await);
    let from_shop = crate::helpers::sample_message("a@customer.example", "from the shop");
    let from_crm = crate::helpers::sample_message("b@customer.example", "from the CRM");
    let first = app.post_message(&shop, &from_shop, Some("order-1")).await;
    assert_eq!(first.status(), 202);
    let second = app.post_message(&crm, &from_crm, Some("order-1")).await;
    assert_eq!(second.status(), 202, "another caller's key is not a reuse: {}", second.text().await.unwrap());
    let replay = app.post_message(&shop, &from_shop, Some("order-1")).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    let first: Value = first.json().await.unwrap();
    assert_eq!(replay.json::<Value>().await.unwrap()["id"], first["id"]);
    assert_eq!(app.store.message_count(owner.org).await.unwrap(), 2);
}

/// What goes into a provider's URL or headers is checked on save: a model or api-version that
/// would change the path or query, invisible characters a URL parser would silently drop, a key
/// that is not header-safe.
#[tokio::test]
async fn provider_settings_cannot_steer_the_request() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let azure = |extra: Value| {
        let mut body = json!({
            "external_llm_allowed": true, "provider": "azure_openai", "model": "dep",
            "base_url": "http://127.0.0.1:9/openai", "api_version": "2024-10-21",
            "hybrid_threshold": 0.5, "budget_alert_percent": 80
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (extra, field) in [
        (json!({"model": "../../evil?x=1#"}), "model"),
        (json!({"model": "dep\r\nX-Injected: 1"}), "model"),
        (json!({"api_version": "2024-10-21&evil=1"}), "api_version"),
        (json!({"base_url": "https://ex\u{200B}ample.com/openai"}), "base_url"),
        (json!({"base_url": "https://example..com/openai"}), "base_url"),
        (json!({"api_key": "sk-abcé\u{200B}"}), "api_key"),
    ] {
        let response = app
            .http
            .put(format!("{}/v1/ai/settings", app.base))
            .bearer_auth(&owner.token)
            .json(&azure(extra.clone()))
            .send()
            .await
            .unwrap();
        let (status, body) = problem(response).await;
        assert_eq!(status, 422, "{extra}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{extra}: {body}");
    }
    let saved = app
        .http
        .put(format!("{}/v1/ai/settings", app.base))
        .bearer_auth(&owner.token)
        .json(&azure(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200, "the same settings, well formed");
}

/// Deleting a custom role follows the rule for changing it: only by someone who holds all it allows.
#[tokio::test]
async fn a_role_is_deleted_only_by_someone_who_holds_all_it_allows() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let role = |name: &str, permissions: Value| {
        let body = json!({"name": name, "permissions": permissions});
        let (app, token) = (&app, owner.token.clone());
        async move {
            let created: Value = app.post(Some(&token), "/v1/roles", &body).await.json().await.unwrap();
            created["id"].as_str().unwrap().to_string()
        }
    };
    role("usermgr", json!(["users:read", "users:write", "users:invite", "users:delete"])).await;
    let big = role("bigrole", json!(["api_keys:write", "audit:read"])).await;
    let small = role("smallrole", json!(["users:read"])).await;
    let manager = app.invite(&owner, "usermgr").await;
    let delete = |id: &str| app.http.delete(format!("{}/v1/roles/{id}", app.base)).bearer_auth(&manager.token).send();
    let (status, _) = problem(delete(&big).await.unwrap()).await;
    assert_eq!(status, 403, "bigrole allows what usermgr lacks");
    assert_eq!(delete(&small).await.unwrap().status(), 204);
    let roles = app.get_json(&owner.token, "/v1/roles").await;
    assert!(roles.to_string().contains("bigrole"), "still there: {roles}");
}
