//! The mysite example (the seed's Django example) behind the actix-web middleware, against the
//! real Keycloak: login, callback CSRF attempts, logout, refresh, bearer validation, UMA.

use actix_web::{web, App, HttpServer};
use keycloak_client_testkit::browser::{Browser, Page};
use keycloak_client_testkit::keycloak;

struct Site {
    base: String,
}

fn start(
    adjust: impl FnOnce(&mut keycloak_client_actix::KeycloakSettings) + Send + 'static,
) -> Site {
    start_with(adjust, mysite::configure)
}

/// mysite with adjusted settings, its routes from `configure`.
fn start_with(
    adjust: impl FnOnce(&mut keycloak_client_actix::KeycloakSettings) + Send + 'static,
    configure: fn(&mut web::ServiceConfig),
) -> Site {
    let env = keycloak::require();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
            let mut s = mysite::settings(&env.url, &base);
            s.keycloak_json = None;
            adjust(&mut s);
            let data = web::Data::from(s.into_web_auth().unwrap());
            let server =
                HttpServer::new(move || App::new().app_data(data.clone()).configure(configure))
                    .workers(2)
                    .listen(listener)
                    .unwrap()
                    .run();
            tx.send(base).unwrap();
            server.await.unwrap();
        })
    });
    Site {
        base: rx.recv().unwrap(),
    }
}

impl Site {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }
}

fn location(p: &Page) -> String {
    p.location
        .clone()
        .unwrap_or_else(|| panic!("expected a redirect, got {} {}", p.status, p.body))
}

fn login(site: &Site, b: &mut Browser, path: &str, user: &str) -> Page {
    let p = b.get(&site.url(path)).unwrap();
    assert_eq!(p.status, 302);
    let cb = b
        .login(&location(&p), user, &format!("{user}-pass"))
        .unwrap();
    assert!(cb.as_str().starts_with(&site.url("/kc/callback?")), "{cb}");
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302, "{}", p.body);
    assert!(p.headers_contain_no_referrer);
    b.get(&site.url(&location(&p))).unwrap()
}

fn token(user: &str) -> String {
    keycloak_client_testkit::api::password_token("rkc-rs", "rkc-rs-secret", user)
}

fn api(site: &Site, path: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    keycloak_client_testkit::api::get(&site.url(path), token)
}

#[test]
fn home_shows_the_user_and_logout_works() {
    let site = start(|_| {});
    let mut b = Browser::new();
    let p = login(&site, &mut b, "/home", "alice");
    assert_eq!(p.status, 200);
    assert!(
        // The JSON is escaped as HTML text (claims are data, not markup).
        p.body.contains("&quot;username&quot;:&quot;alice&quot;")
            && p.body.contains("alice@example.test")
            && !p.body.contains("\"username\""),
        "{}",
        p.body
    );
    let p = b.get(&site.url("/logout")).unwrap();
    let end = location(&p);
    assert!(end.contains("id_token_hint="), "{end}");
    let p = b.get(&end).unwrap();
    assert_eq!(location(&p), site.url("/public/bye"));
    assert_eq!(b.get(&site.url("/home")).unwrap().status, 302, "logged out");
    // logging out while logged out is harmless
    let p = Browser::new().get(&site.url("/logout")).unwrap();
    assert_eq!(location(&p), site.url("/public/bye"));
}

#[test]
fn callback_csrf_attempts_are_refused() {
    let site = start(|_| {});
    let mut b = Browser::new();
    for q in ["code=x&state=unknown", "code=x", ""] {
        assert_eq!(
            b.get(&site.url(&format!("/kc/callback?{q}")))
                .unwrap()
                .status,
            400,
            "{q}"
        );
    }
    let p = b.get(&site.url("/home")).unwrap();
    let cb = b.login(&location(&p), "carol", "carol-pass").unwrap();
    let forged = cb.as_str().replace("state=", "state=x");
    assert_eq!(b.get(&forged).unwrap().status, 400);
    // A forged callback takes nothing: the genuine login in progress still finishes.
    assert_eq!(
        b.get(cb.as_str()).unwrap().status,
        302,
        "a forged callback cancelled the login in progress"
    );
    assert_eq!(b.get(cb.as_str()).unwrap().status, 400, "replayed callback");
    assert_eq!(
        b.get(&site.url("/home")).unwrap().status,
        200,
        "a replayed callback does not end the session"
    );
}

#[test]
fn tokens_are_refreshed() {
    let site = start(|s| s.refresh_margin_secs = Some(300));
    let mut b = Browser::new();
    let first = login(&site, &mut b, "/home", "carol");
    assert_eq!(first.status, 200);
    let jti = |p: &Page| {
        p.body
            .split("token id ")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    // every request refreshes (margin >= lifetime): a new access token each time
    let mut seen = vec![jti(&first)];
    for _ in 0..3 {
        let p = b.get(&site.url("/home")).unwrap();
        assert_eq!(p.status, 200);
        seen.push(jti(&p));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4, "each request carried a refreshed token");
}

/// One refresh per session under refresh-token rotation (realm `rkc-refresh`: a reused refresh
/// token gets `invalid_grant`): concurrent requests across several refreshes keep the session.
#[test]
fn concurrent_refreshes_under_token_rotation_keep_the_session() {
    use keycloak_client_testkit::api::{
        refresh_token_reuse_error, ROTATION_CLIENT, ROTATION_REALM, ROTATION_SECRET,
    };
    let err = refresh_token_reuse_error("remy");
    assert!(
        err.to_string().contains("invalid_grant"),
        "the realm rotates: {err}"
    );
    let site = start(|s| {
        s.realm = Some(ROTATION_REALM.into());
        s.client_id = Some(ROTATION_CLIENT.into());
        s.client_secret = Some(ROTATION_SECRET.into());
        s.api_audience = None;
        s.refresh_margin_secs = Some(300);
    });
    let mut b = Browser::new();
    let p = b.get(&site.url("/home")).unwrap();
    let kc = location(&p);
    assert!(kc.contains("/realms/rkc-refresh/"), "{kc}");
    let cb = b.login(&kc, "rita", "rita-pass").unwrap();
    assert_eq!(b.get(cb.as_str()).unwrap().status, 302);
    let cookie = b.cookie("kc_session").unwrap().to_string();
    let mut seen = std::collections::HashSet::new();
    for round in 0..4 {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (url, c) = (site.url("/home"), cookie.clone());
                std::thread::spawn(move || {
                    let mut b = Browser::new();
                    b.set_cookie("kc_session", &c);
                    (0..3).map(|_| b.get(&url).unwrap()).collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for p in h.join().unwrap() {
                assert_eq!(
                    p.status, 200,
                    "round {round}: a request lost the session: {}",
                    p.body
                );
                seen.extend(
                    p.body
                        .split("token id ")
                        .nth(1)
                        .and_then(|t| t.split('<').next())
                        .map(str::to_string),
                );
            }
        }
    }
    assert!(
        seen.len() >= 4,
        "several refreshes happened ({} tokens seen)",
        seen.len()
    );
}

#[test]
fn bearer_validation_roles_and_uma() {
    let site = start(|_| {});
    let alice = token("alice");
    let (s, _, body) = api(&site, "/api/me", Some(&alice));
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"username\":\"alice\""));
    let (s, www, _) = api(&site, "/api/me", None);
    assert_eq!(s, 401);
    assert!(www.unwrap().starts_with("Bearer realm=\"rkc\""));
    let last = if alice.ends_with('A') { "B" } else { "A" };
    let (s, www, _) = api(
        &site,
        "/api/me",
        Some(&format!("{}{last}", &alice[..alice.len() - 1])),
    );
    assert_eq!(s, 401);
    assert!(www.unwrap().contains("invalid_token"));
    let other = start(|s| s.api_audience = Some("another-api".into()));
    assert_eq!(
        api(&other, "/api/me", Some(&alice)).0,
        401,
        "wrong audience"
    );
    let bob = token("bob");
    let carol = token("carol");
    assert_eq!(api(&site, "/api/admin", Some(&alice)).0, 200);
    assert_eq!(api(&site, "/api/admin", Some(&carol)).0, 403);
    assert_eq!(api(&site, "/api/docs/1", Some(&carol)).0, 200);
    assert_eq!(api(&site, "/api/docs/1", Some(&bob)).0, 403);
    let (s, www, _) = api(&site, "/api/docs/1/edit", Some(&carol));
    assert_eq!(s, 401);
    assert!(keycloak_client::UmaChallenge::parse(&www.unwrap()).is_ok());
    assert_eq!(api(&site, "/api/docs/1/edit", Some(&alice)).0, 200);
}

/// Keycloak's logout tokens reach the actix middleware (no route of its own) and end every
/// session of the user, nobody else's; a replayed token is refused by its `jti`.
#[test]
fn backchannel_logout_through_the_actix_middleware() {
    use keycloak_client_testkit::api::admin_logout_user;
    use keycloak_client_testkit::logout_tee::{post_form, LogoutTee};
    let site = start(|_| {});
    let endpoint = site.url("/kc/backchannel-logout");
    let tee = LogoutTee::start(18090, &endpoint);
    let (mut dave, mut carol) = (Browser::new(), Browser::new());
    assert_eq!(login(&site, &mut dave, "/home", "dave").status, 200);
    assert_eq!(login(&site, &mut carol, "/home", "carol").status, 200);
    admin_logout_user("dave");
    let mut ended = false;
    for _ in 0..20 {
        if dave.get(&site.url("/home")).unwrap().status == 302 {
            ended = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(ended, "dave's session ended");
    assert_eq!(
        carol.get(&site.url("/home")).unwrap().status,
        200,
        "carol's survives"
    );
    let bodies = tee.bodies();
    assert!(!bodies.is_empty());
    assert_eq!(post_form(&endpoint, &bodies[0]), 400, "replayed jti");
    assert_eq!(
        post_form(&endpoint, b"logout_token=eyJhbGciOiJub25lIn0.e30."),
        400
    );
}

/// DPoP on an API route, through actix (the same checks as axum's).
#[test]
fn dpop_bound_tokens_need_their_proof() {
    use keycloak_client_testkit::{client_auth, dpop};
    let site = start(|s| {
        s.realm = Some(client_auth::REALM.into());
        s.client_id = Some(dpop::DPOP_CLIENT.into());
        s.client_secret = Some(dpop::DPOP_SECRET.into());
        s.api_audience = None;
    });
    dpop::resource_server_checks(&site.url("/api/me"));
}

/// Server-issued DPoP nonces through actix, with a key shared in the settings.
#[test]
fn dpop_server_nonces() {
    use keycloak_client_testkit::{client_auth, dpop};
    let site = start(|s| {
        s.realm = Some(client_auth::REALM.into());
        s.client_id = Some(dpop::DPOP_CLIENT.into());
        s.client_secret = Some(dpop::DPOP_SECRET.into());
        s.api_audience = None;
        s.dpop_nonce_lifetime_secs = Some(dpop::NONCE_LIFETIME_SECS);
        s.dpop_nonce_key = Some("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".into());
    });
    dpop::resource_server_nonces(&site.url("/api/me"));
}

/// mysite under Keycloak's policy enforcer (the `rkc-pe` realm), `changes` merged into its
/// `policy-enforcer` block.
fn start_policy(changes: serde_json::Value) -> Site {
    use keycloak_client_testkit::policy;
    let file = policy::enforcer_file(changes);
    start_with(
        move |s| {
            s.realm = Some(policy::REALM.into());
            s.client_id = Some(policy::CLIENT.into());
            s.client_secret = Some(policy::SECRET.into());
            s.api_audience = None;
            s.policy_enforcer_json = Some(file);
        },
        mysite::configure_enforced,
    )
}

/// Keycloak's policy enforcer through actix: the same API scenarios as axum's.
#[test]
fn policy_enforcer_on_api_routes() {
    let site = start_policy(serde_json::json!({}));
    keycloak_client_testkit::policy::api_scenarios(&site.base);
}

/// The enforcer on browser pages through actix.
#[test]
fn policy_enforcer_on_browser_pages() {
    let site = start_policy(serde_json::json!({}));
    keycloak_client_testkit::policy::browser_scenario(&site.base);
}

/// Each global enforcement mode and the UMA ticket challenge, through actix.
#[test]
fn policy_enforcer_modes_and_uma_tickets() {
    use keycloak_client_testkit::policy;
    policy::permissive_scenario(
        &start_policy(serde_json::json!({"enforcement-mode": "PERMISSIVE"})).base,
    );
    policy::disabled_scenario(
        &start_policy(serde_json::json!({"enforcement-mode": "DISABLED"})).base,
    );
    policy::uma_ticket_scenario(&start_policy(serde_json::json!({"user-managed-access": {}})).base);
}

/// Revocation-aware routes through actix: a token revoked at Keycloak is refused once the
/// cached introspection answer ages out, while plain bearer routes still take it.
#[test]
fn revocation_aware_routes_notice_a_revoked_token() {
    let site = start(|s| s.introspection_max_age_secs = Some(5));
    let carol = keycloak_client_testkit::api::password_token("rkc-rs", "rkc-rs-secret", "carol");
    let get = |p: &str| keycloak_client_testkit::api::get(&site.url(p), Some(&carol));
    assert_eq!(get("/api/strict/me").0, 200);
    keycloak_client_testkit::api::revoke_access_token("rkc-rs", "rkc-rs-secret", &carol);
    assert_eq!(get("/api/me").0, 200, "plain bearer route");
    std::thread::sleep(std::time::Duration::from_secs(6));
    assert_eq!(get("/api/strict/me").0, 401, "revoked");
}
