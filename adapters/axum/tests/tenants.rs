//! Multi-tenancy end to end with two realms of the local Keycloak (`rkc` as tenant `a`,
//! `rkc-pe` as tenant `b`), sharing one session store: tenants picked by path prefix and by the
//! token's `iss` from an allow-list; each realm's tokens and sessions refused by the other, in
//! both directions.

use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::Router;
use keycloak_client::ClientConfig;
use keycloak_client_axum::{
    tenant_bearer_auth, tenant_browser_auth, CurrentTenant, TenantRule, Tenants, User, WebAuth,
    WebConfig,
};
use keycloak_client_testkit::api::password_token;
use keycloak_client_testkit::browser::Browser;
use keycloak_client_testkit::tenants::{engine, two_realms};
use keycloak_client_testkit::{keycloak, policy};
use keycloak_client_web::MemoryStore;

struct App {
    base: String,
    _rt: tokio::runtime::Runtime,
}

fn serve() -> App {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let tenants = Arc::new(two_realms(&base));
    let who = |CurrentTenant { name, .. }: CurrentTenant, User(u): User| async move {
        format!("{name}:{}", u.username.as_deref().unwrap_or_default())
    };
    let noop = || async { "" };
    let browser = Router::new()
        .route("/a/web/me", get(who))
        .route("/b/web/me", get(who))
        .route("/a/kc/callback", get(noop))
        .route("/b/kc/callback", get(noop))
        .route("/a/logout", get(noop))
        .route("/b/logout", get(noop))
        .layer(from_fn_with_state(tenants.clone(), tenant_browser_auth));
    let api = Router::new()
        .route("/api/me", get(who))
        .route("/a/api/me", get(who))
        .route("/b/api/me", get(who))
        .layer(from_fn_with_state(tenants, tenant_bearer_auth));
    let app = browser.merge(api);
    rt.spawn(async move { axum::serve(listener, app).await });
    App { base, _rt: rt }
}

fn call(url: &str, token: &str) -> (u16, String) {
    let (s, _, body) = keycloak_client_testkit::api::get(url, Some(token));
    (s, body)
}

/// Bearer tokens: the issuer allow-list picks the tenant; a path-picked tenant refuses the
/// other realm's token; a token whose `iss` was edited to the other realm fails that realm's
/// signature check; an issuer not on the list has no tenant.
#[test]
fn each_realm_accepts_only_its_own_tokens() {
    let app = serve();
    let u = |p: &str| format!("{}{p}", app.base);
    let rkc = password_token("rkc-rs", "rkc-rs-secret", "carol");
    let pe = policy::token("bob");
    assert_eq!(call(&u("/api/me"), &rkc), (200, "a:carol".into()));
    assert_eq!(call(&u("/api/me"), &pe), (200, "b:bob".into()));
    assert_eq!(call(&u("/a/api/me"), &rkc).0, 200);
    assert_eq!(call(&u("/b/api/me"), &pe).0, 200);
    assert_eq!(
        call(&u("/a/api/me"), &pe).0,
        401,
        "realm b's token on tenant a"
    );
    // an escaped prefix is still tenant a's (the router decodes it), never the issuer's pick
    assert_eq!(call(&u("/%61/api/me"), &pe).0, 401, "escaped prefix");
    assert_eq!(
        call(&u("/b/api/me"), &rkc).0,
        401,
        "realm a's token on tenant b"
    );
    // `iss` edited to point at the other realm: picked by the allow-list, refused by the keys
    let forge = |token: &str, iss: &str| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        claims["iss"] = iss.into();
        format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(claims.to_string()),
            parts[2]
        )
    };
    let env = keycloak::require();
    let as_a = forge(&pe, &format!("{}/realms/rkc", env.url));
    assert_eq!(call(&u("/api/me"), &as_a).0, 401, "b's token claiming a");
    let as_b = forge(&rkc, &format!("{}/realms/{}", env.url, policy::REALM));
    assert_eq!(call(&u("/api/me"), &as_b).0, 401, "a's token claiming b");
    let elsewhere = forge(&rkc, "http://127.0.0.1:9/realms/evil");
    assert_eq!(
        call(&u("/api/me"), &elsewhere).0,
        401,
        "an issuer not on the list"
    );
}

/// Logs `user` in on tenant `prefix` and returns the browser and its session cookie value.
fn login(app: &App, prefix: &str, user: &str) -> (Browser, String) {
    let mut b = Browser::new();
    let p = b.get(&format!("{}{prefix}/web/me", app.base)).unwrap();
    assert_eq!(p.status, 302, "{}", p.body);
    let cb = b
        .login(
            p.location.as_deref().unwrap(),
            user,
            &format!("{user}-pass"),
        )
        .unwrap();
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302, "callback: {}", p.body);
    let page = b
        .get(&format!("{}{}", app.base, p.location.as_deref().unwrap()))
        .unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = b
        .cookie(&format!("kc_session_{}", &prefix[1..]))
        .expect("a session cookie")
        .to_string();
    (b, cookie)
}

/// Sessions: a session of realm a, offered to tenant b under b's cookie name (one shared
/// store), is not a session there, and the other way round.
#[test]
fn a_session_of_one_realm_never_authenticates_on_the_other() {
    let app = serve();
    let env = keycloak::require();
    let (_, a_session) = login(&app, "/a", "carol");
    let (_, b_session) = login(&app, "/b", "bob");
    for (prefix, cookie, value, realm) in [
        ("/b", "kc_session_b", &a_session, policy::REALM),
        ("/a", "kc_session_a", &b_session, "rkc"),
    ] {
        let mut thief = Browser::new();
        thief.set_cookie(cookie, value);
        let p = thief.get(&format!("{}{prefix}/web/me", app.base)).unwrap();
        assert_eq!(p.status, 302, "{prefix}: {}", p.body);
        let to = p.location.unwrap_or_default();
        assert!(
            to.starts_with(&format!(
                "{}/realms/{realm}/protocol/openid-connect/auth?",
                env.url
            )),
            "{prefix}: a fresh login at its own realm: {to}"
        );
    }
    // nor can tenant b's logout end tenant a's session
    let mut thief = Browser::new();
    thief.set_cookie("kc_session_b", &a_session);
    thief.get(&format!("{}/b/logout", app.base)).unwrap();
    // each session still works on its own tenant
    let mut own = Browser::new();
    own.set_cookie("kc_session_a", &a_session);
    let p = own.get(&format!("{}/a/web/me", app.base)).unwrap();
    assert_eq!((p.status, p.body.as_str()), (200, "a:carol"));
}

/// Tenants that would share a session cookie, or rules naming unknown tenants, are refused.
#[test]
fn misconfigured_tenants_are_refused() {
    let env = keycloak::require();
    let store = Arc::new(MemoryStore::default());
    let base = "http://127.0.0.1:1";
    let kc = || ClientConfig::keycloak(&env.url, "rkc", "rkc-rs").client_secret("rkc-rs-secret");
    let same = |p: &str| {
        let mut w = WebConfig::new(base).unwrap();
        w.callback_path = format!("{p}/kc/callback");
        Arc::new(WebAuth::new(kc(), w, store.clone()).unwrap())
    };
    let e = Tenants::new(
        vec![("a".into(), same("/a")), ("b".into(), same("/b"))],
        vec![],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("share the session cookie"), "{e}");
    let a = engine(base, "/a", kc(), None, store.clone());
    let e = Tenants::new(
        vec![("a".into(), a.clone())],
        vec![TenantRule::Host {
            host: "x".into(),
            tenant: "zzz".into(),
        }],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown tenant `zzz`"), "{e}");
    let e = Tenants::new(
        vec![
            ("a".into(), a.clone()),
            ("a".into(), engine(base, "/b", kc(), None, store)),
        ],
        vec![],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("named twice"), "{e}");
    let e = Tenants::new(
        vec![("a".into(), a.clone())],
        vec![
            TenantRule::Issuer {
                issuer: "http://127.0.0.1:1/realms/x".into(),
                tenant: "a".into(),
            },
            TenantRule::PathPrefix {
                prefix: "/a".into(),
                tenant: "a".into(),
            },
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("must come after"), "{e}");
    for bad in ["/%61", "/a//b", "a"] {
        let r = Tenants::new(
            vec![("a".into(), a.clone())],
            vec![TenantRule::PathPrefix {
                prefix: bad.into(),
                tenant: "a".into(),
            }],
        );
        assert!(r.is_err(), "{bad}");
    }
    assert!(Tenants::new(vec![], vec![]).is_err());
}
