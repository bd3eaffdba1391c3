//! The local Keycloak started by `scripts/keycloak up`.

use std::time::Duration;

/// Connection facts of the test realm (see `tests/keycloak/rkc-realm.json`).
#[derive(Clone, Debug)]
pub struct Env {
    /// Server URL, e.g. `http://127.0.0.1:18080`.
    pub url: String,
    /// Realm name.
    pub realm: String,
}

impl Env {
    /// The issuer of the test realm.
    pub fn issuer(&self) -> String {
        format!("{}/realms/{}", self.url, self.realm)
    }
}

/// Returns the test Keycloak, panicking with instructions when it does not answer.
/// End-to-end suites never skip silently: a missing server is a failure.
pub fn require() -> Env {
    let url = std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let realm = std::env::var("KEYCLOAK_REALM").unwrap_or_else(|_| "rkc".into());
    let host = url::Url::parse(&url).expect("KEYCLOAK_URL is a URL");
    let h = host.host_str().unwrap_or("");
    assert!(
        h == "127.0.0.1" || h == "localhost" || h == "[::1]",
        "KEYCLOAK_URL must be a loopback address, got {url}"
    );
    let disco = format!("{url}/realms/{realm}/.well-known/openid-configuration");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    match agent.get(&disco).call() {
        Ok(r) if r.status() == 200 => Env { url, realm },
        Ok(r) => panic!(
            "end-to-end tests need the local Keycloak: {disco} answered {}; run `scripts/keycloak up` (or `scripts/test`)",
            r.status()
        ),
        Err(e) => panic!(
            "end-to-end tests need the local Keycloak: {disco} is unreachable ({e}); run `scripts/keycloak up` (or `scripts/test`)"
        ),
    }
}

/// Confidential resource-server client of the test realm.
pub const RS_CLIENT: &str = "rkc-rs";
/// Its secret.
pub const RS_SECRET: &str = "rkc-rs-secret";
/// Public PKCE client.
pub const SPA_CLIENT: &str = "rkc-spa";
/// Public device-grant client.
pub const DEVICE_CLIENT: &str = "rkc-device";
/// Audience-only API client.
pub const API_CLIENT: &str = "rkc-api";
/// Redirect URI registered for the test clients (never fetched).
pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
