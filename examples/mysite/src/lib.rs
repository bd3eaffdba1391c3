//! The seed's Django example (`mysite`) on actix-web: `/home` shows the logged-in user,
//! `/logout` logs out; plus bearer, role and UMA API routes like howdy.

use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use keycloak_client_actix::{
    bearer_auth, browser_auth, policy_enforcer, require_active_token, require_permission,
    require_realm_role, KeycloakSettings, User,
};

/// Settings as the Django example's `settings.py` has them.
pub fn settings(keycloak_url: &str, app_url: &str) -> KeycloakSettings {
    KeycloakSettings {
        keycloak_json: std::env::var("KEYCLOAK_SETTINGS").ok(),
        server_url: Some(keycloak_url.into()),
        realm: Some("rkc".into()),
        client_id: Some("rkc-rs".into()),
        client_secret: Some("rkc-rs-secret".into()),
        app_url: app_url.into(),
        callback_path: Some("/kc/callback".into()),
        login_redirect_uri: "/home".into(),
        logout_path: Some("/logout".into()),
        logout_redirect_uri: Some("/public/bye".into()),
        public_paths: vec!["/public".into()],
        api_audience: Some("rkc-api".into()),
        refresh_margin_secs: None,
        // Keycloak's policy enforcer: a file with the `policy-enforcer` block (or a
        // `keycloak.json` holding one); then `configure_enforced` serves the routes.
        policy_enforcer_json: std::env::var("KEYCLOAK_POLICY_ENFORCER").ok(),
        // `pushed_authorization_requests: true` for a client that requires PAR.
        ..Default::default()
    }
}

/// Routes; the `WebAuth` must be in `app_data`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api")
            .wrap(from_fn(bearer_auth))
            .route("/me", web::get().to(|User(u): User| async move {
                HttpResponse::Ok().json(serde_json::json!({"sub": u.subject, "username": u.username}))
            }))
            .service(
                // Revocation-aware: the token is introspected.
                web::resource("/strict/me")
                    .wrap(from_fn(require_active_token))
                    .route(web::get().to(|User(u): User| async move {
                        format!("still active: {}", u.subject)
                    })),
            )
            .service(
                web::resource("/admin")
                    .wrap(from_fn(|r, n| require_realm_role("admin", r, n)))
                    .route(web::get().to(|| async { "admin area" })),
            )
            .service(
                web::resource("/docs/1")
                    .wrap(from_fn(|r, n| require_permission("doc-1", &["read"], false, r, n)))
                    .route(web::get().to(|| async { "doc-1 content" })),
            )
            .service(
                web::resource("/docs/1/edit")
                    .wrap(from_fn(|r, n| require_permission("doc-1", &["write"], true, r, n)))
                    .route(web::get().to(|| async { "doc-1 editor" })),
            ),
    )
    .service(
        web::scope("")
            .wrap(from_fn(browser_auth))
            .route("/home", web::get().to(|User(u): User| async move {
                let user = serde_json::json!({
                    "username": u.username, "email": u.claims.str("email"), "name": u.claims.str("name"),
                });
                // Claims are data, not markup.
                let user = keycloak_client_actix::escape_html(&user.to_string());
                let jti = keycloak_client_actix::escape_html(u.claims.str("jti").unwrap_or(""));
                HttpResponse::Ok().content_type("text/html").body(format!(
                    "<!DOCTYPE html><html><head><title>Home</title></head><body><pre id=\"user\">{user}</pre>\
                     <p id=\"jti\">token id {jti}</p><a href=\"/logout\">Log out</a></body></html>"
                ))
            }))
            .route("/public/bye", web::get().to(|| async { "Logged out." })),
    );
}

/// The answer of every path the policy enforcer let through.
async fn enforced(req: actix_web::HttpRequest, User(u): User) -> String {
    format!(
        "allowed {} for {}",
        req.path(),
        u.username.as_deref().unwrap_or_default()
    )
}

/// Routes under Keycloak's policy enforcer (the settings' `policy-enforcer` block): pages
/// under `/web` for logged-in browsers, every other path an API for bearer tokens. The
/// enforcer runs after authentication (actix runs the last `wrap` first).
pub fn configure_enforced(cfg: &mut web::ServiceConfig) {
    // The page `on-deny-redirect-to` names is public.
    cfg.route(
        "/public/denied",
        web::get().to(|| async { "access denied" }),
    );
    // The login callback and logout belong to the browser layer, which answers them itself.
    cfg.service(
        web::scope("/kc")
            .wrap(from_fn(browser_auth))
            .default_service(web::to(HttpResponse::NotFound)),
    )
    .service(
        web::resource("/logout")
            .wrap(from_fn(browser_auth))
            .to(HttpResponse::NotFound),
    )
    .service(
        web::scope("/web")
            .wrap(from_fn(policy_enforcer))
            .wrap(from_fn(browser_auth))
            .default_service(web::to(enforced)),
    )
    .service(
        web::scope("")
            .wrap(from_fn(policy_enforcer))
            .wrap(from_fn(bearer_auth))
            .default_service(web::to(enforced)),
    );
}
