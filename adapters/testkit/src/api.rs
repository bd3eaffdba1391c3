//! Small helpers for tests of protected APIs.

use keycloak_client::{Client, ClientConfig, DiscoverFlow, Password};

use crate::keycloak;

/// `GET url` as an API client would (`Accept: application/json`, optional bearer, no redirects
/// followed): status, `WWW-Authenticate` and body.
pub fn get(url: &str, bearer: Option<&str>) -> (u16, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut r = agent.get(url).header("accept", "application/json");
    if let Some(t) = bearer {
        r = r.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = r.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let www = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or("").to_string());
    (
        resp.status().as_u16(),
        www,
        resp.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// An access token of `user` (password `<user>-pass`) from a client of the test realm with
/// direct access grants, via the password grant (tests only).
pub fn password_token(client_id: &str, secret: &str, user: &str) -> String {
    let env = keycloak::require();
    let cfg = ClientConfig::keycloak(&env.url, &env.realm, client_id)
        .client_secret(secret)
        .build()
        .unwrap();
    let d = crate::e2e::run(&crate::e2e::UreqLess, DiscoverFlow::new(&cfg, false)).unwrap();
    let c = Client::new(cfg, d);
    let t = crate::e2e::exec(
        &crate::e2e::UreqLess,
        c.danger_password_grant(
            user,
            &Password::new(format!("{user}-pass")),
            "openid profile",
        ),
    )
    .unwrap();
    t.access_token.secret().to_string()
}

/// Revokes `token` (an access token of the test realm's `client_id`) at Keycloak (RFC 7009).
pub fn revoke_access_token(client_id: &str, secret: &str, token: &str) {
    let env = keycloak::require();
    let cfg = ClientConfig::keycloak(&env.url, &env.realm, client_id)
        .client_secret(secret)
        .build()
        .unwrap();
    let d = crate::e2e::run(&crate::e2e::UreqLess, DiscoverFlow::new(&cfg, false)).unwrap();
    let c = Client::new(cfg, d);
    crate::e2e::exec(
        &crate::e2e::UreqLess,
        c.revoke(token, Some(keycloak_client::TokenTypeHint::AccessToken))
            .unwrap(),
    )
    .unwrap();
}

/// An HTTP agent and the `Authorization` value of Keycloak's administrator (master realm).
fn admin() -> (ureq::Agent, String) {
    let env = keycloak::require();
    let cfg = ClientConfig::keycloak(&env.url, "master", "admin-cli")
        .build()
        .unwrap();
    let d = crate::e2e::run(&crate::e2e::UreqLess, DiscoverFlow::new(&cfg, false)).unwrap();
    let c = Client::new(cfg, d);
    let adm = crate::e2e::exec(
        &crate::e2e::UreqLess,
        c.danger_password_grant("admin", &Password::new("admin"), "openid"),
    )
    .unwrap()
    .access_token;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    (agent, format!("Bearer {}", adm.secret()))
}

/// `GET url` of the admin API, as JSON.
fn admin_get(agent: &ureq::Agent, bearer: &str, url: &str) -> serde_json::Value {
    let body = agent
        .get(url)
        .header("authorization", bearer)
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: {e}: {body}"))
}

/// An administrator deletes the key providers of `realm` that sign with `alg`; Keycloak then
/// creates a new key for `alg` the next time it signs with it. Returns how many were deleted.
pub fn admin_delete_signing_keys(realm: &str, alg: &str) -> usize {
    let env = keycloak::require();
    let (agent, bearer) = admin();
    let keys = admin_get(
        &agent,
        &bearer,
        &format!("{}/admin/realms/{realm}/keys", env.url),
    );
    let mut providers: Vec<String> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["algorithm"] == alg)
        .filter_map(|k| k["providerId"].as_str().map(str::to_owned))
        .collect();
    providers.sort();
    providers.dedup();
    for id in &providers {
        let r = agent
            .delete(&format!("{}/admin/realms/{realm}/components/{id}", env.url))
            .header("authorization", &bearer)
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "delete key provider {id}");
    }
    providers.len()
}

/// An administrator ends every Keycloak session of `username` in the test realm (Keycloak then
/// posts one back-channel logout token per session).
pub fn admin_logout_user(username: &str) {
    let env = keycloak::require();
    let (agent, bearer) = admin();
    let users = admin_get(
        &agent,
        &bearer,
        &format!(
            "{}/admin/realms/{}/users?username={username}&exact=true",
            env.url, env.realm
        ),
    );
    let id = users[0]["id"].as_str().unwrap();
    let r = agent
        .post(&format!(
            "{}/admin/realms/{}/users/{id}/logout",
            env.url, env.realm
        ))
        .header("authorization", &bearer)
        .send_empty()
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

/// The rotation realm: every refresh token is single-use ("revoke refresh token", reuse 0).
pub const ROTATION_REALM: &str = "rkc-refresh";
/// Its confidential client.
pub const ROTATION_CLIENT: &str = "refresh-rs";
/// Its secret.
pub const ROTATION_SECRET: &str = "refresh-rs-secret";

/// `keycloak.json` of the rotation realm's client, for the middleware.
pub fn rotation_keycloak_json() -> String {
    let env = keycloak::require();
    serde_json::json!({
        "realm": ROTATION_REALM,
        "auth-server-url": env.url,
        "resource": ROTATION_CLIENT,
        "credentials": { "secret": ROTATION_SECRET },
    })
    .to_string()
}

/// Proves the rotation realm refuses a second use of a refresh token: the password grant for
/// `user`, one refresh (accepted), then the same refresh token again. Returns Keycloak's error
/// for the second use; panics if Keycloak accepted it (the realm would not rotate, and a test
/// relying on rotation could not fail).
pub fn refresh_token_reuse_error(user: &str) -> keycloak_client::Error {
    let env = keycloak::require();
    let cfg = ClientConfig::keycloak(&env.url, ROTATION_REALM, ROTATION_CLIENT)
        .client_secret(ROTATION_SECRET)
        .build()
        .unwrap();
    let d = crate::e2e::run(&crate::e2e::UreqLess, DiscoverFlow::new(&cfg, false)).unwrap();
    let c = Client::new(cfg, d);
    let first = crate::e2e::exec(
        &crate::e2e::UreqLess,
        c.danger_password_grant(user, &Password::new(format!("{user}-pass")), "openid"),
    )
    .unwrap();
    crate::e2e::exec(&crate::e2e::UreqLess, c.refresh(&first).unwrap())
        .expect("the first use of a refresh token is accepted");
    match crate::e2e::exec(&crate::e2e::UreqLess, c.refresh(&first).unwrap()) {
        Ok(_) => panic!("realm {ROTATION_REALM} accepted a refresh token twice"),
        Err(e) => e,
    }
}
