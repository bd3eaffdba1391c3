//! Two tenants for the multi-tenancy tests: realm `rkc` as tenant `a` (paths under `/a`) and
//! realm `rkc-pe` as tenant `b` (under `/b`), sharing one session store, each with its own
//! cookies and callback; picked by path prefix, then by the token's `iss`.

use std::sync::Arc;

use keycloak_client::ClientConfig;
use keycloak_client_web::{MemoryStore, TenantRule, Tenants, WebAuth, WebConfig};

use crate::{keycloak, policy};

/// One tenant's engine: its paths under `prefix` (`/a`), cookies `kc_session_a` and
/// `kc_login_a`.
pub fn engine(
    base: &str,
    prefix: &str,
    kc: keycloak_client::ClientConfigBuilder,
    audience: Option<&str>,
    store: Arc<MemoryStore>,
) -> Arc<WebAuth> {
    let mut w = WebConfig::new(base).unwrap();
    w.callback_path = format!("{prefix}/kc/callback");
    w.logout_path = format!("{prefix}/logout");
    w.backchannel_logout_path = format!("{prefix}/kc/backchannel-logout");
    w.cookie_name = format!("kc_session_{}", &prefix[1..]);
    w.login_cookie_name = format!("kc_login_{}", &prefix[1..]);
    w.api_audience = audience.map(str::to_owned);
    Arc::new(WebAuth::new(kc, w, store).unwrap())
}

/// Tenants `a` (`rkc`, client `rkc-rs`) and `b` (`rkc-pe`, client `pe-app`) of an app at
/// `base`, with one shared store.
pub fn two_realms(base: &str) -> Tenants {
    let env = keycloak::require();
    let store = Arc::new(MemoryStore::default());
    let a = engine(
        base,
        "/a",
        ClientConfig::keycloak(&env.url, "rkc", "rkc-rs").client_secret("rkc-rs-secret"),
        Some("rkc-api"),
        store.clone(),
    );
    let b = engine(
        base,
        "/b",
        ClientConfig::keycloak(&env.url, policy::REALM, policy::CLIENT)
            .client_secret(policy::SECRET),
        None,
        store,
    );
    let rules = vec![
        TenantRule::PathPrefix {
            prefix: "/a".into(),
            tenant: "a".into(),
        },
        TenantRule::PathPrefix {
            prefix: "/b".into(),
            tenant: "b".into(),
        },
        TenantRule::Issuer {
            issuer: format!("{}/realms/rkc", env.url),
            tenant: "a".into(),
        },
        TenantRule::Issuer {
            issuer: format!("{}/realms/{}", env.url, policy::REALM),
            tenant: "b".into(),
        },
    ];
    Tenants::new(vec![("a".into(), a), ("b".into(), b)], rules).unwrap()
}
