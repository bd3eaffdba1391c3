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
