//! The howdy application: the seed's Flask/Starlette example (`/howdy` behind login,
//! `/logout`) plus an API with bearer, role and UMA routes.

use std::sync::Arc;

use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::Html;
use axum::routing::{any, get};
use axum::{Json, Router};
use keycloak_client_axum::{
    bearer_auth, endpoints, optional_bearer_auth, policy_enforcer, require_active_token,
    require_permission, require_realm_role, Auth, AuthStatus, KeycloakLayer, Permission, User,
};
use keycloak_client_web::{MemoryStore, SessionStore, WebAuth, WebConfig};
use sha2::Digest;

/// The authentication engine for howdy at `app_url`, against `keycloak_url` (realm `rkc`,
/// confidential client `rkc-rs`), or from `keycloak.json` when `settings` is given.
pub fn web_auth(
    keycloak_url: &str,
    app_url: &str,
    settings: Option<&str>,
) -> Result<Arc<WebAuth>, keycloak_client::Error> {
    web_auth_with(keycloak_url, app_url, settings, |_| {})
}

/// Like [`web_auth`], with a chance to adjust the settings (tests use it).
pub fn web_auth_with(
    keycloak_url: &str,
    app_url: &str,
    settings: Option<&str>,
    adjust: impl FnOnce(&mut WebConfig),
) -> Result<Arc<WebAuth>, keycloak_client::Error> {
    let store = Arc::new(MemoryStore::new(100_000));
    web_auth_with_store(keycloak_url, app_url, settings, store, adjust)
}

/// Like [`web_auth_with`], keeping sessions in `store` (a Redis-backed store, or a shared
/// [`MemoryStore`] the caller inspects; the benchmarks use it).
pub fn web_auth_with_store(
    keycloak_url: &str,
    app_url: &str,
    settings: Option<&str>,
    store: Arc<dyn SessionStore>,
    adjust: impl FnOnce(&mut WebConfig),
) -> Result<Arc<WebAuth>, keycloak_client::Error> {
    let mut web = WebConfig::new(app_url)?;
    web.callback_path = "/kc/callback".into();
    web.login_redirect_uri = "/howdy".into();
    web.logout_path = "/logout".into();
    web.logout_redirect_uri = "/public/bye".into();
    web.public_paths = vec!["/public".into()];
    web.api_audience = Some("rkc-api".into());
    if let Ok(m) = std::env::var("HOWDY_REFRESH_MARGIN") {
        web.refresh_margin_secs = m.parse().unwrap_or(30);
    }
    adjust(&mut web);
    let auth = match settings {
        Some(json) => WebAuth::from_keycloak_json(json, web, store)?,
        None => WebAuth::new(
            keycloak_client::ClientConfig::keycloak(keycloak_url, "rkc", "rkc-rs")
                .client_secret("rkc-rs-secret"),
            web,
            store,
        )?,
    };
    Ok(Arc::new(auth))
}

fn fingerprint(t: &str) -> String {
    let d = sha2::Sha256::digest(t.as_bytes());
    d[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The routes.
pub fn app(auth: Arc<WebAuth>) -> Router {
    let browser = Router::new()
        .route(
            "/howdy",
            get(|User(u): User| async move {
                let name = u.claims.str("given_name").or(u.username.as_deref()).unwrap_or("stranger");
                let name = keycloak_client_web::escape_html(name);
                Html(format!(
                    "<!DOCTYPE html><html><head><title>Howdy</title></head><body><h1 id=\"greeting\">Howdy, {name}!</h1>\
                     <p id=\"token\">token {}</p><a id=\"logout\" href=\"/logout\">Log out</a></body></html>",
                    fingerprint(u.access_token.secret())
                ))
            }),
        )
        .route("/howdy/deep", get(|User(u): User| async move { format!("deep page for {}", u.username.as_deref().unwrap_or_default()) }))
        .route("/public/bye", get(|| async { Html("<!DOCTYPE html><html><head><title>Bye</title></head><body><p id=\"bye\">Logged out.</p></body></html>") }))
        .route("/public", get(|| async { "public page" }))
        .route("/public/denied", get(|| async { "access denied" }))
        .layer(KeycloakLayer::browser(auth.clone()))
        .merge(endpoints(auth.clone()));

    let me = get(|User(u): User| async move {
        Json(
            serde_json::json!({"sub": u.subject, "username": u.username, "realm_roles": u.realm_roles}),
        )
    });
    let admin = Router::new()
        .route("/api/admin", get(|| async { "admin area" }))
        .layer(from_fn(|r, n| require_realm_role("admin", r, n)));
    let doc_read = Router::new()
        .route("/api/docs/1", get(|| async { "doc-1 content" }))
        .layer(from_fn_with_state(
            (
                auth.clone(),
                Permission {
                    resource: "doc-1",
                    scopes: &["read"],
                    uma_challenge: false,
                },
            ),
            require_permission,
        ));
    let doc_write = Router::new()
        .route("/api/docs/1/edit", get(|| async { "doc-1 editor" }))
        .layer(from_fn_with_state(
            (
                auth.clone(),
                Permission {
                    resource: "doc-1",
                    scopes: &["write"],
                    uma_challenge: true,
                },
            ),
            require_permission,
        ));
    // Revocation-aware: the token is introspected (a revoked token fails before it expires).
    let strict = Router::new()
        .route(
            "/api/strict/me",
            get(|User(u): User| async move { format!("still active: {}", u.subject) }),
        )
        .layer(from_fn_with_state(auth.clone(), require_active_token));
    let api = Router::new()
        .route("/api/me", me)
        .merge(strict)
        .merge(admin)
        .merge(doc_read)
        .merge(doc_write)
        .layer(from_fn_with_state(auth.clone(), bearer_auth));
    let optional = Router::new()
        .route(
            "/api/hello",
            get(|Auth(s): Auth| async move {
                match s {
                    AuthStatus::Authenticated(i) => {
                        format!("hello {}", i.username.as_deref().unwrap_or_default())
                    }
                    AuthStatus::Anonymous => "hello anonymous".to_string(),
                    AuthStatus::Invalid(r) => {
                        format!("hello anonymous (ignored an invalid token: {r})")
                    }
                    AuthStatus::Unavailable(r) => {
                        format!("hello anonymous (the token could not be checked: {r})")
                    }
                }
            }),
        )
        .layer(from_fn_with_state(auth.clone(), optional_bearer_auth));
    let app = browser.merge(api).merge(optional);
    if !auth.policy_enforced() {
        return app;
    }
    // Keycloak's policy enforcer (the `policy-enforcer` block): pages under /web for logged-in
    // browsers, every other path an API for bearer tokens. The enforcer runs after the
    // authentication layer (axum runs the last layer first).
    let enforced = |uri: axum::http::Uri, User(u): User| async move {
        format!(
            "allowed {} for {}",
            uri.path(),
            u.username.as_deref().unwrap_or_default()
        )
    };
    let web = Router::new()
        .route("/web/{*rest}", any(enforced))
        .layer(from_fn_with_state(auth.clone(), policy_enforcer))
        .layer(KeycloakLayer::browser(auth.clone()));
    let api = Router::new()
        .fallback(enforced)
        .layer(from_fn_with_state(auth.clone(), policy_enforcer))
        .layer(from_fn_with_state(auth, bearer_auth));
    app.merge(web).fallback_service(api)
}
