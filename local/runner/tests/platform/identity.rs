//! Identity end to end through the runner, the authorizer included: sign-up, sign-in, refresh
//! rotation, logout, deactivation, invitations, custom roles, API keys, the audit log, and the
//! attacks that must fail.

use crate::helpers::{spawn_app, Member, TestApp, PASSWORD};
use helpdesk_domain::{Role, SessionId};
use helpdesk_http::Claims;
use serde_json::{json, Value};

async fn login(app: &TestApp, slug: &str, email: &str, password: &str) -> reqwest::Response {
    app.post(None, "/v1/auth/login", &json!({"organization": slug, "email": email, "password": password})).await
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post(None, "/v1/auth/refresh", &json!({"refresh_token": token})).await
}

async fn audit_actions(app: &TestApp, owner: &Member) -> Vec<String> {
    let page = app.get_json(&owner.token, "/v1/audit-log?limit=200").await;
    page["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn sign_up_sign_in_and_see_yourself() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let me = app.get_json(&owner.token, "/v1/me").await;
    assert_eq!(me["user"]["email"], owner.email);
    assert_eq!(me["user"]["role"], "owner");
    assert_eq!(me["organization"]["slug"], owner.slug);
    assert!(me["permissions"].as_array().unwrap().contains(&json!("audit:read")));

    let response = login(&app, &owner.slug, &owner.email.to_uppercase(), PASSWORD).await;
    assert_eq!(response.status(), 200, "emails are matched case-insensitively");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900, "access tokens live fifteen minutes");
    assert_eq!(app.get_json(tokens["access_token"].as_str().unwrap(), "/v1/me").await["user"]["id"], json!(owner.user));

    // The same answer whether the organisation, the account or only the password is wrong.
    let mut details = Vec::new();
    for (slug, email, password) in [
        (owner.slug.as_str(), owner.email.as_str(), "wrong password!"),
        (owner.slug.as_str(), "nobody@team.example", PASSWORD),
        ("no-such-organisation", owner.email.as_str(), PASSWORD),
    ] {
        let response = login(&app, slug, email, password).await;
        assert_eq!(response.status(), 401);
        details.push(response.json::<Value>().await.unwrap()["detail"].clone());
    }
    assert!(details.windows(2).all(|w| w[0] == w[1]), "{details:?}");

    let taken = app
        .post(None, "/v1/auth/signup", &json!({"organization_name": "Again", "organization_slug": owner.slug, "email": "x@y.example", "password": PASSWORD}))
        .await;
    assert_eq!(taken.status(), 409);
    let weak = app
        .post(
            None,
            "/v1/auth/signup",
            &json!({"organization_name": "Weak", "email": "not-an-email", "password": "short"}),
        )
        .await;
    assert_eq!(weak.status(), 422);
    let fields: Vec<Value> =
        weak.json::<Value>().await.unwrap()["errors"].as_array().unwrap().iter().map(|e| e["field"].clone()).collect();
    assert_eq!(fields, [json!("email"), json!("password")]);

    let actions = audit_actions(&app, &owner).await;
    assert!(actions.contains(&"login.success".to_string()) && actions.contains(&"login.failure".to_string()));
    assert!(actions.contains(&"organization.created".to_string()));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let first: Value = refresh(&app, &owner.refresh).await.json().await.unwrap();
    let second = first["refresh_token"].as_str().unwrap();
    assert_ne!(second, owner.refresh, "each refresh returns a new refresh token");
    assert_eq!(first["session_id"].as_str(), Some(owner_session(&app, &owner).as_str()));
    assert_eq!(app.get(first["access_token"].as_str().unwrap(), "/v1/me").await.status(), 200);

    // The spent token comes back (stolen, say): refused, and the whole family is revoked.
    assert_eq!(refresh(&app, &owner.refresh).await.status(), 401);
    assert_eq!(refresh(&app, second).await.status(), 401, "the newest token of the family is dead too");
    assert_eq!(app.get(first["access_token"].as_str().unwrap(), "/v1/me").await.status(), 401);
    assert_eq!(app.get(&owner.token, "/v1/me").await.status(), 401);

    let other = login(&app, &owner.slug, &owner.email, PASSWORD).await.json::<Value>().await.unwrap();
    let token = other["access_token"].as_str().unwrap();
    let reuse = app.get_json(token, "/v1/audit-log?action=refresh.reuse").await;
    assert_eq!(reuse["items"].as_array().unwrap().len(), 1);
    assert_eq!(reuse["items"][0]["target_type"], "session");
    assert_eq!(refresh(&app, "hdr_garbage").await.status(), 401);
}

fn owner_session(app: &TestApp, member: &Member) -> String {
    app.keys.verify(&member.token).unwrap().session.unwrap().to_string()
}

#[tokio::test]
async fn logout_ends_the_session_at_the_next_call() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    assert_eq!(app.get(&owner.token, "/v1/conversations").await.status(), 200); // the authorizer caches this
    let out = app.http.post(format!("{}/v1/auth/logout", app.base)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(out.status(), 204);
    let after = app.get(&owner.token, "/v1/conversations").await;
    assert_eq!(after.status(), 401, "not at the token's expiry: now");
    assert_eq!(after.headers()["content-type"], "application/problem+json");
    assert_eq!(refresh(&app, &owner.refresh).await.status(), 401);
}

#[tokio::test]
async fn a_deactivated_user_is_refused_at_the_next_call() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let agent = app.invite(&owner, "agent").await;
    assert_eq!(app.get(&agent.token, "/v1/conversations").await.status(), 200);

    let path = format!("/v1/users/{}/deactivate", agent.user);
    let response = app.http.post(format!("{}{path}", app.base)).bearer_auth(&owner.token).send().await.unwrap();
    assert_eq!(response.status(), 204);

    assert_eq!(app.get(&agent.token, "/v1/conversations").await.status(), 401);
    assert_eq!(refresh(&app, &agent.refresh).await.status(), 401);
    assert_eq!(login(&app, &agent.slug, &agent.email, PASSWORD).await.status(), 401);
    let users = app.get_json(&owner.token, "/v1/users").await;
    let listed = users.as_array().unwrap().iter().find(|u| u["id"] == json!(agent.user)).unwrap();
    assert_eq!(listed["active"], false);
    assert!(audit_actions(&app, &owner).await.contains(&"user.deactivated".to_string()));

    // Nobody deactivates themselves, and the last owner stays.
    let own = format!("{}/v1/users/{}/deactivate", app.base, owner.user);
    assert_eq!(app.http.post(own).bearer_auth(&owner.token).send().await.unwrap().status(), 403);
}

#[tokio::test]
async fn brute_force_on_one_account_is_throttled_then_locked() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    for attempt in 1..=5 {
        assert_eq!(login(&app, &owner.slug, &owner.email, "not the password").await.status(), 401, "attempt {attempt}");
    }
    // Locked now: even the right password waits, and says for how long.
    let locked = login(&app, &owner.slug, &owner.email, PASSWORD).await;
    assert_eq!(locked.status(), 429);
    let retry: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&retry), "the first lock is 30 s: {retry}");
    // An account that does not exist locks the same way: a lock reveals nothing.
    for _ in 1..=5 {
        login(&app, &owner.slug, "ghost@team.example", "not the password").await;
    }
    assert_eq!(login(&app, &owner.slug, "ghost@team.example", PASSWORD).await.status(), 429);
    // Other accounts are not affected.
    let agent = app.invite(&owner, "agent").await;
    assert_eq!(login(&app, &agent.slug, &agent.email, PASSWORD).await.status(), 200);
    let failures = app.get_json(&agent.token, "/v1/me").await;
    assert_eq!(failures["user"]["role"], "agent");
    let audit = app.get_json(&owner.token, "/v1/audit-log?action=login.failure").await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items.last().unwrap()["details"]["reason"], "wrong_password");
    assert!(items.iter().any(|i| i["details"]["locked_for_secs"] == 30));
    assert!(items[0]["ip"].as_str().is_some_and(|ip| ip == "127.0.0.1"));
    assert!(items[0]["user_agent"].is_string());
}

#[tokio::test]
async fn nobody_grants_more_than_they_hold() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let admin = app.invite(&owner, "admin").await;
    let agent = app.invite(&owner, "agent").await;
    let viewer = app.invite(&owner, "viewer").await;
    let put_role = |who: &Member, target: &Member, role: &str| {
        let request = app
            .http
            .put(format!("{}/v1/users/{}/role", app.base, target.user))
            .bearer_auth(&who.token)
            .json(&json!({"role": role}));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(put_role(&agent, &agent, "admin").await, 403, "an agent making itself admin");
    assert_eq!(put_role(&admin, &admin, "owner").await, 403, "an admin promoting itself");
    assert_eq!(put_role(&admin, &viewer, "owner").await, 403, "only owners make owners");
    assert_eq!(put_role(&admin, &owner, "viewer").await, 403, "an admin demoting the owner");
    let invite = |who: &Member, role: &str| {
        let body = json!({"email": format!("{role}-{}@x.example", uuid::Uuid::new_v4().simple()), "role": role});
        let request = app.http.post(format!("{}/v1/invitations", app.base)).bearer_auth(&who.token).json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(invite(&admin, "owner").await, 403, "inviting above one's own role");
    assert_eq!(invite(&agent, "viewer").await, 403, "agents do not invite");
    assert_eq!(invite(&admin, "agent").await, 201);
    let key = json!({"name": "too much", "permissions": ["users:delete"]});
    let response = app.post(Some(&agent.token), "/v1/api-keys", &key).await;
    assert_eq!(response.status(), 403);

    // An owner promotes the viewer: the old token stops working, the refreshed one can write.
    // (The viewer calls first, so the authorizer's cache holds an allow for the old token and
    // it is the function's own check that refuses it.)
    assert_eq!(app.get(&viewer.token, "/v1/conversations").await.status(), 200);
    assert_eq!(put_role(&owner, &viewer, "agent").await, 200);
    let message = crate::helpers::sample_message("p@customer.example", "promoted");
    assert_eq!(app.post(Some(&viewer.token), "/v1/messages", &message).await.status(), 401);
    let tokens: Value = refresh(&app, &viewer.refresh).await.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.post(Some(token), "/v1/messages", &message).await.status(), 202);
    let changes = app.get_json(&owner.token, "/v1/audit-log?action=user.role_changed").await;
    assert_eq!(changes["items"][0]["details"], json!({"from": "viewer", "to": "agent"}));
}

#[tokio::test]
async fn custom_roles_grant_their_permissions_and_follow_their_changes() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let role: Value = app
        .post(
            Some(&owner.token),
            "/v1/roles",
            &json!({"name": "triage", "permissions": ["messages:read", "messages:assign"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let member = app.invite(&owner, "triage").await;
    let me = app.get_json(&member.token, "/v1/me").await;
    assert_eq!(me["permissions"], json!(["messages:read", "messages:assign"]));
    assert_eq!(app.get(&member.token, "/v1/conversations").await.status(), 200);
    let message = crate::helpers::sample_message("c@customer.example", "custom");
    assert_eq!(app.post(Some(&member.token), "/v1/messages", &message).await.status(), 403);

    let update = app
        .http
        .put(format!("{}/v1/roles/{}/permissions", app.base, role["id"].as_str().unwrap()))
        .bearer_auth(&owner.token)
        .json(&json!({"permissions": ["messages:read", "messages:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(update.status(), 200);
    assert_eq!(app.get(&member.token, "/v1/conversations").await.status(), 401, "permissions changed: refresh");
    let tokens: Value = refresh(&app, &member.refresh).await.json().await.unwrap();
    assert_eq!(app.post(tokens["access_token"].as_str(), "/v1/messages", &message).await.status(), 202);

    let delete = app
        .http
        .delete(format!("{}/v1/roles/{}", app.base, role["id"].as_str().unwrap()))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 409, "a role someone has is not deleted");
    let builtin = app.post(Some(&owner.token), "/v1/roles", &json!({"name": "admin", "permissions": []})).await;
    assert_eq!(builtin.status(), 422);
}

#[tokio::test]
async fn an_invitation_works_once_and_not_after_it_expires() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let member = app.invite(&owner, "viewer").await;
    let mail = app.running.clients.mailer.sent().into_iter().find(|m| m.to.as_str() == member.email).unwrap();
    assert!(mail.subject.contains("Test org"), "{}", mail.subject);
    let token = app.invitation_token(&member.email);
    let again = app.post(None, "/v1/invitations/accept", &json!({"token": token, "password": PASSWORD})).await;
    assert_eq!(again.status(), 404, "an invitation is single-use");

    let email = "late@team.example";
    app.post(Some(&owner.token), "/v1/invitations", &json!({"email": email, "role": "agent"})).await;
    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = $1")
        .bind(email)
        .execute(app.owner.pool())
        .await
        .unwrap();
    let late = app
        .post(None, "/v1/invitations/accept", &json!({"token": app.invitation_token(email), "password": PASSWORD}))
        .await;
    assert_eq!(late.status(), 404);
    let taken = app.post(Some(&owner.token), "/v1/invitations", &json!({"email": member.email, "role": "agent"})).await;
    assert_eq!(taken.status(), 409, "members are not invited again");
}

#[tokio::test]
async fn api_keys_work_as_bearer_tokens_within_their_scope_until_revoked() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let created: Value = app
        .post(
            Some(&owner.token),
            "/v1/api-keys",
            &json!({"name": "shop integration", "permissions": ["messages:write"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("hdk_"));
    let listed = app.get(&owner.token, "/v1/api-keys").await.text().await.unwrap();
    assert!(!listed.contains(key), "a key is shown once");

    let message = crate::helpers::sample_message("k@customer.example", "from the shop");
    assert_eq!(app.post(Some(key), "/v1/messages", &message).await.status(), 202);
    assert_eq!(app.get(key, "/v1/conversations").await.status(), 403, "outside the key's scope");
    assert_eq!(app.get(key, "/v1/me").await.status(), 403, "a key is not a person");

    let revoke = app
        .http
        .delete(format!("{}/v1/api-keys/{}", app.base, created["id"].as_str().unwrap()))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 204);
    assert_eq!(app.post(Some(key), "/v1/messages", &message).await.status(), 401, "revoked: refused at once");
    let actions = audit_actions(&app, &owner).await;
    assert!(actions.contains(&"api_key.created".to_string()) && actions.contains(&"api_key.revoked".to_string()));
}

#[tokio::test]
async fn the_audit_log_is_for_admins_and_pages() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let viewer = app.invite(&owner, "viewer").await;
    let agent = app.invite(&owner, "agent").await;
    assert_eq!(app.get(&viewer.token, "/v1/audit-log").await.status(), 403);
    assert_eq!(app.get(&agent.token, "/v1/audit-log").await.status(), 403);
    let first = app.get_json(&owner.token, "/v1/audit-log?limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = app.get_json(&owner.token, &format!("/v1/audit-log?limit=2&cursor={cursor}")).await;
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert_eq!(app.get(&owner.token, "/v1/audit-log?limit=0").await.status(), 400, "as every list does");
}

/// Forged and mangled tokens never get past the authorizer (API Gateway's bare 403), and a
/// request with no credential is stopped before it (401).
#[tokio::test]
async fn forged_and_mangled_tokens_are_refused_at_the_gateway() {
    use base64::Engine;
    let app = spawn_app().await;
    let owner = app.signup().await;
    let claims = |f: &dyn Fn(&mut Claims)| {
        let caller = app.keys.verify(&owner.token).unwrap();
        let now = chrono::Utc::now().timestamp();
        let mut c = Claims {
            sub: owner.user,
            org: owner.org,
            role: "owner".into(),
            perms: Role::Owner.permissions().names().into_iter().map(String::from).collect(),
            sid: caller.session.unwrap_or_else(SessionId::new),
            ver: caller.authz_version,
            iss: "helpdesk".into(),
            aud: "helpdesk-api".into(),
            iat: now,
            nbf: now,
            exp: now + 600,
        };
        f(&mut c);
        c
    };
    // Signed with the real key, claims intact: accepted (the control).
    assert_eq!(app.get(&app.keys.sign(&claims(&|_| {})).unwrap(), "/v1/me").await.status(), 200);

    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let good = app.keys.sign(&claims(&|_| {})).unwrap();
    let payload = good.split('.').nth(1).unwrap().to_string();
    let forged = helpdesk_http::JwtKeys::hs256(b"someone-elses-secret-of-32-bytes!!").sign(&claims(&|_| {})).unwrap();
    let now = chrono::Utc::now().timestamp();
    let attacks = [
        ("forged signature", forged),
        ("alg none", format!("{}.{payload}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#))),
        (
            "RS256 header (HS/RS confusion)",
            format!("{}.{payload}.{}", b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#), good.split('.').nth(2).unwrap()),
        ),
        ("expired", app.keys.sign(&claims(&|c| c.exp = now - 3600)).unwrap()),
        ("not yet valid", app.keys.sign(&claims(&|c| c.nbf = now + 3600)).unwrap()),
        ("wrong issuer", app.keys.sign(&claims(&|c| c.iss = "elsewhere".into())).unwrap()),
        ("wrong audience", app.keys.sign(&claims(&|c| c.aud = "helpdesk-refresh".into())).unwrap()),
        ("unknown session", app.keys.sign(&claims(&|c| c.sid = SessionId::new())).unwrap()),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                good.split('.').next().unwrap(),
                b64.encode(b"{\"sub\":\"x\"}"),
                good.split('.').nth(2).unwrap()
            ),
        ),
        ("refresh token as bearer", owner.refresh.clone()),
        ("garbage", "not-a-token".into()),
    ];
    for (what, token) in attacks {
        let response = app.get(&token, "/v1/conversations").await;
        assert_eq!(response.status(), 403, "{what}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{what}");
        assert_eq!(response.json::<Value>().await.unwrap()["status"], 403, "{what}");
    }
    let bare = app.http.get(format!("{}/v1/conversations", app.base)).send().await.unwrap();
    assert_eq!(bare.status(), 401);
    assert_eq!(bare.headers()["x-content-type-options"], "nosniff");
    assert_eq!(bare.json::<Value>().await.unwrap()["status"], 401);
}

/// The lock's backoff, straight against Redis: the fifth attempt in a row sets a 30 s lock if it
/// fails, each further one (once a lock has run out) doubles it, never past an hour; a success
/// forgets them.
#[tokio::test]
async fn failed_sign_ins_lock_with_doubling_backoff() {
    use helpdesk_platform::sessions::Attempt;
    let env = crate::helpers::test_env();
    let redis = helpdesk_platform::RedisHandle::new(&env.redis_url).unwrap();
    let prefix = format!("t{}", uuid::Uuid::new_v4().simple());
    let sessions = helpdesk_platform::Sessions::new(redis.clone(), prefix.clone());
    let account = "acme:ana@acme.example";
    // Stands in for waiting out a lock.
    let lock_runs_out = || {
        let redis = redis.clone();
        let key = format!("{prefix}:{{login:{account}}}:lock");
        async move {
            let mut conn = redis.connection().await.unwrap();
            redis::cmd("DEL").arg(key).query_async::<()>(&mut conn).await.unwrap();
        }
    };
    let mut locks = Vec::new();
    for _ in 0..13 {
        match sessions.begin_attempt(account).await.unwrap() {
            Attempt::Allowed { lock_if_wrong } => locks.push(lock_if_wrong),
            Attempt::Locked(secs) => panic!("locked for {secs} s"),
        }
        if let Some(Some(secs)) = locks.last() {
            assert!(matches!(sessions.begin_attempt(account).await.unwrap(), Attempt::Locked(s) if s <= *secs));
            lock_runs_out().await;
        }
    }
    let expected: Vec<Option<u64>> =
        [None, None, None, None].into_iter().chain([30, 60, 120, 240, 480, 960, 1920, 3600, 3600].map(Some)).collect();
    assert_eq!(locks, expected);
    assert_eq!(
        sessions.begin_attempt("acme:ben@acme.example").await.unwrap(),
        Attempt::Allowed { lock_if_wrong: None },
        "per account"
    );
    sessions.clear_failures(account).await.unwrap();
    assert_eq!(
        sessions.begin_attempt(account).await.unwrap(),
        Attempt::Allowed { lock_if_wrong: None },
        "counting starts again"
    );
}

/// A refresh token's ids are not secret (they are in the access token too): a made-up secret
/// for a live session is refused without ending it. Only the secret spent last counts as reuse.
#[tokio::test]
async fn a_guessed_refresh_secret_ends_nothing() {
    use helpdesk_platform::credentials::{Credential, Kind};
    let app = spawn_app().await;
    let owner = app.signup().await;
    let ids = Credential::decode(Kind::Refresh, &owner.refresh).unwrap().ids;
    let guess = Credential::generate(Kind::Refresh, &ids).encode();
    assert_eq!(refresh(&app, &guess).await.status(), 401);
    assert_eq!(app.get(&owner.token, "/v1/me").await.status(), 200, "the session lives on");
    assert_eq!(refresh(&app, &owner.refresh).await.status(), 200);
    let token = login(&app, &owner.slug, &owner.email, PASSWORD).await.json::<Value>().await.unwrap();
    let reuse = app.get_json(token["access_token"].as_str().unwrap(), "/v1/audit-log?action=refresh.reuse").await;
    assert_eq!(reuse["items"], json!([]), "a guess is not a reuse");
}

/// The ids in a refresh token are the victim's and the organisation is the attacker's: the user
/// is not found there, and still nothing ends, because the secret is checked first (the fault:
/// a missing user revoked the (user, session) pair before any secret was looked at).
#[tokio::test]
async fn refresh_ids_under_another_organisation_end_nothing() {
    use helpdesk_platform::credentials::{Credential, Kind};
    let app = spawn_app().await;
    let victim = app.signup().await;
    let attacker = app.signup().await;
    let [_, user, session] = Credential::decode(Kind::Refresh, &victim.refresh).unwrap().ids[..] else { panic!() };
    let other_org = Credential::decode(Kind::Refresh, &attacker.refresh).unwrap().ids[0];
    for org in [other_org, uuid::Uuid::nil(), uuid::Uuid::new_v4()] {
        let forged = Credential::generate(Kind::Refresh, &[org, user, session]).encode();
        assert_eq!(refresh(&app, &forged).await.status(), 401);
    }
    assert_eq!(app.get(&victim.token, "/v1/me").await.status(), 200, "the victim's session lives on");
    assert_eq!(refresh(&app, &victim.refresh).await.status(), 200, "and its refresh token still works");
}

/// What a deactivated member set in motion stops with them: the keys they made are revoked and
/// their pending invitations can no longer be accepted. A member cannot manage someone whose
/// role allows more than theirs, and a key cannot mint keys.
#[tokio::test]
async fn deactivation_takes_keys_and_invitations_with_it_and_nobody_manages_up() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let admin = app.invite(&owner, "admin").await;
    let key: Value = app
        .post(
            Some(&admin.token),
            "/v1/api-keys",
            &json!({"name": "admin's", "permissions": ["messages:write", "api_keys:write"]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_string();
    let message = crate::helpers::sample_message("d@customer.example", "before");
    assert_eq!(app.post(Some(&key), "/v1/messages", &message).await.status(), 202);
    let minted =
        app.post(Some(&key), "/v1/api-keys", &json!({"name": "child", "permissions": ["messages:write"]})).await;
    assert_eq!(minted.status(), 403, "only people make keys");
    let invitee = "pending@team.example";
    let invited = app.post(Some(&admin.token), "/v1/invitations", &json!({"email": invitee, "role": "agent"})).await;
    assert_eq!(invited.status(), 201);

    // A custom role that may manage members, but holds less than an admin.
    app.post(
        Some(&owner.token),
        "/v1/roles",
        &json!({"name": "hr", "permissions": ["users:read", "users:write", "users:delete"]}),
    )
    .await;
    let hr = app.invite(&owner, "hr").await;
    let up = app
        .http
        .post(format!("{}/v1/users/{}/deactivate", app.base, admin.user))
        .bearer_auth(&hr.token)
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 403, "the admin's role allows more than hr's");

    let done = app
        .http
        .post(format!("{}/v1/users/{}/deactivate", app.base, admin.user))
        .bearer_auth(&owner.token)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 204);
    assert_ne!(app.post(Some(&key), "/v1/messages", &message).await.status(), 202, "the admin's key is revoked");
    let keys = app.get_json(&owner.token, "/v1/api-keys").await;
    assert!(keys[0]["revoked_at"].is_string());
    let accept = json!({"token": app.invitation_token(invitee), "password": PASSWORD});
    assert_eq!(app.post(None, "/v1/invitations/accept", &accept).await.status(), 404);
}
