//! Framework-neutral settings, as a Django project keeps them in `settings.py`: one
//! `Deserialize` type for the axum and actix extensions.

use std::sync::Arc;

use keycloak_client::policy_enforcer::PolicyEnforcerConfig;
use keycloak_client::ClientConfig;
use serde::Deserialize;

use crate::{MemoryStore, SessionStore, WebAuth, WebConfig};

/// Settings, as a Django project keeps them in `settings.py`: deserializable from any config
/// source (TOML, JSON, environment). Either `keycloak_json` (a path to Keycloak's adapter file)
/// or `server_url` + `realm` + `client_id` (+ `client_secret`).
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct KeycloakSettings {
    /// Path of `keycloak.json`.
    pub keycloak_json: Option<String>,
    /// Keycloak server URL.
    pub server_url: Option<String>,
    /// Realm.
    pub realm: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: Option<String>,
    /// The application's external origin (`KEYCLOAK_CALLBACK_URL`'s origin in the seed).
    pub app_url: String,
    /// Callback path (default `/kc/callback`).
    pub callback_path: Option<String>,
    /// `KEYCLOAK_LOGIN_REDIRECT_URI`.
    pub login_redirect_uri: String,
    /// Logout path (default `/kc/logout`).
    pub logout_path: Option<String>,
    /// `KEYCLOAK_LOGOUT_REDIRECT_URI`.
    pub logout_redirect_uri: Option<String>,
    /// Paths never authenticated.
    pub public_paths: Vec<String>,
    /// Audience bearer tokens must carry.
    pub api_audience: Option<String>,
    /// Refresh margin in seconds.
    pub refresh_margin_secs: Option<u64>,
    /// Push every authorization request (RFC 9126), for clients whose Keycloak configuration
    /// requires it (`pushed_authorization_requests`).
    pub pushed_authorization_requests: bool,
    /// Server-issued DPoP nonces on API routes (RFC 9449 §9): their lifetime in seconds
    /// (off when unset). See [`WebConfig::dpop_nonces`].
    pub dpop_nonce_lifetime_secs: Option<u64>,
    /// The nonces' key, 32 bytes in base64url, shared by every instance (default: a random
    /// key per instance, so instances do not accept each other's nonces).
    pub dpop_nonce_key: Option<String>,
    /// Keycloak's policy enforcer: a path to a JSON file holding the `policy-enforcer` object
    /// (or a whole `keycloak.json`). Without it, the `policy-enforcer` block of
    /// `keycloak_json` is used when there is one.
    pub policy_enforcer_json: Option<String>,
    /// Revocation-aware routes: how long an introspection answer is reused (seconds; default
    /// 30). See [`WebConfig::introspection_max_age_secs`].
    pub introspection_max_age_secs: Option<u64>,
    /// Let requests through when Keycloak cannot answer an introspection (default: 503).
    pub introspection_fail_open: bool,
}

impl KeycloakSettings {
    /// Builds the shared engine with in-memory sessions.
    pub fn into_web_auth(self) -> Result<Arc<WebAuth>, keycloak_client::Error> {
        self.into_web_auth_with_store(Arc::new(MemoryStore::default()))
    }

    /// Builds the shared engine with sessions in `store`.
    pub fn into_web_auth_with_store(
        self,
        store: Arc<dyn SessionStore>,
    ) -> Result<Arc<WebAuth>, keycloak_client::Error> {
        let mut web = WebConfig::new(&self.app_url)?;
        if let Some(p) = self.callback_path {
            web.callback_path = p;
        }
        if !self.login_redirect_uri.is_empty() {
            web.login_redirect_uri = self.login_redirect_uri;
        }
        if let Some(p) = self.logout_path {
            web.logout_path = p;
        }
        if let Some(p) = self.logout_redirect_uri {
            web.logout_redirect_uri = p;
        }
        web.public_paths = self.public_paths;
        web.api_audience = self.api_audience;
        if let Some(m) = self.refresh_margin_secs {
            web.refresh_margin_secs = m;
        }
        match (self.dpop_nonce_lifetime_secs, &self.dpop_nonce_key) {
            (Some(lifetime), key) => {
                let key = match key {
                    Some(k) => nonce_key(k)?,
                    None => {
                        tracing::warn!(target: "keycloak_client::web",
                            "DPoP nonces with a random key: instances behind one load balancer \
                             refuse each other's nonces (set dpop_nonce_key)");
                        rand::random()
                    }
                };
                let audience = web.app_url.origin().ascii_serialization();
                web.dpop_nonces = Some(keycloak_client::dpop_nonce::NonceIssuer::new(
                    key, &audience, lifetime,
                )?);
            }
            (None, Some(_)) => {
                return Err(keycloak_client::Error::Config(
                    "dpop_nonce_key is set but dpop_nonce_lifetime_secs is not: \
                     set both to issue DPoP nonces"
                        .into(),
                ))
            }
            (None, None) => {}
        }
        if let Some(secs) = self.introspection_max_age_secs {
            web.introspection_max_age_secs = secs;
        }
        web.introspection_fail_open = self.introspection_fail_open;
        if let Some(path) = &self.policy_enforcer_json {
            let json = std::fs::read_to_string(path)
                .map_err(|e| keycloak_client::Error::Config(format!("{path}: {e}")))?;
            web.policy_enforcer = Some(match PolicyEnforcerConfig::from_keycloak_json(&json)? {
                Some(c) => c,
                None => PolicyEnforcerConfig::from_json(&json)?,
            });
        }
        let auth = match (&self.keycloak_json, &self.server_url) {
            (Some(path), _) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|e| keycloak_client::Error::Config(format!("{path}: {e}")))?;
                if web.policy_enforcer.is_none() {
                    web.policy_enforcer = PolicyEnforcerConfig::from_keycloak_json(&json)?;
                }
                let b = keycloak_client_ring::client_assertion_from_keycloak_json(
                    ClientConfig::keycloak_json_builder(&json)?,
                )?
                .pushed_authorization_requests(self.pushed_authorization_requests);
                WebAuth::new(b, web, store)?
            }
            (None, Some(server)) => {
                let realm = self
                    .realm
                    .as_deref()
                    .ok_or_else(|| keycloak_client::Error::Config("realm is required".into()))?;
                let client = self.client_id.as_deref().ok_or_else(|| {
                    keycloak_client::Error::Config("client_id is required".into())
                })?;
                let mut b = ClientConfig::keycloak(server, realm, client);
                if let Some(s) = &self.client_secret {
                    b = b.client_secret(s);
                }
                b = b.pushed_authorization_requests(self.pushed_authorization_requests);
                WebAuth::new(b, web, store)?
            }
            (None, None) => {
                return Err(keycloak_client::Error::Config(
                    "set keycloak_json or server_url".into(),
                ))
            }
        };
        Ok(Arc::new(auth))
    }
}

/// A 32-byte key in base64url (padding optional).
fn nonce_key(text: &str) -> Result<[u8; 32], keycloak_client::Error> {
    use base64::Engine as _;
    let bad =
        || keycloak_client::Error::Config("dpop_nonce_key must be 32 bytes in base64url".into());
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| bad())?;
    raw.try_into().map_err(|_| bad())
}

impl std::fmt::Debug for KeycloakSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeycloakSettings")
            .field("keycloak_json", &self.keycloak_json)
            .field("server_url", &self.server_url)
            .field("realm", &self.realm)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("app_url", &self.app_url)
            .field("callback_path", &self.callback_path)
            .field("login_redirect_uri", &self.login_redirect_uri)
            .field("logout_path", &self.logout_path)
            .field("logout_redirect_uri", &self.logout_redirect_uri)
            .field("public_paths", &self.public_paths)
            .field("api_audience", &self.api_audience)
            .field("refresh_margin_secs", &self.refresh_margin_secs)
            .field(
                "pushed_authorization_requests",
                &self.pushed_authorization_requests,
            )
            .field("dpop_nonce_lifetime_secs", &self.dpop_nonce_lifetime_secs)
            .field(
                "dpop_nonce_key",
                &self.dpop_nonce_key.as_ref().map(|_| "[redacted]"),
            )
            .field("policy_enforcer_json", &self.policy_enforcer_json)
            .field(
                "introspection_max_age_secs",
                &self.introspection_max_age_secs,
            )
            .field("introspection_fail_open", &self.introspection_fail_open)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_the_secret_and_json_settings_load() {
        let s: KeycloakSettings = serde_json::from_str(
            r#"{"server_url":"http://127.0.0.1:1","realm":"r","client_id":"c",
                "client_secret":"hunter2-secret","app_url":"http://127.0.0.1:2"}"#,
        )
        .unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("[redacted]"), "{d}");
        assert!(s.into_web_auth().is_ok());
        let none = KeycloakSettings {
            app_url: "http://127.0.0.1:2".into(),
            ..Default::default()
        };
        let e = none.into_web_auth().err().expect("no server refused");
        assert!(e.to_string().contains("server_url"), "{e}");
    }
}
