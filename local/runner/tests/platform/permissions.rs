//! Each role × each route of the OpenAPI document against the permission matrix: a route answers
//! 403 exactly when the caller's role lacks the permission the route declares.

use crate::helpers::{call, spawn_app};
use helpdesk_domain::{Permission, Role};

#[tokio::test]
async fn every_role_meets_every_route_as_the_matrix_says() {
    let app = spawn_app().await;
    let owner = app.signup().await;
    let ours = app.owned_ids(&owner, "for the matrix").await;
    let operations = app.documented_operations().await;

    let mut checked = 0;
    for role in [Role::Owner, Role::Admin, Role::Agent, Role::Viewer] {
        let member = if role == Role::Owner { owner.clone() } else { app.invite(&owner, role.as_str()).await };
        for (method, path, needs, _) in &operations {
            let Some(needs) = needs else { continue };
            let needs = Permission::parse(needs).unwrap();
            let url = match ours.by_path.iter().find(|(p, _)| p == path) {
                Some((_, id)) => crate::helpers::with_ids(path, id),
                None => path.clone(),
            };
            let unique = format!("{}-{checked}", role.as_str());
            let status = call(&app, &member.token, method, path, &url, &unique).await.status().as_u16();
            let allowed = role.permissions().contains(needs);
            let what =
                format!("{} on {} {path} (needs {}): {status}", role.as_str(), method.to_uppercase(), needs.as_str());
            assert_eq!(status == 403, !allowed, "{what}");
            assert!(status < 500, "{what}");
            checked += 1;
        }
    }
    assert!(checked >= 4 * 18, "checked {checked} role × route pairs");
}
