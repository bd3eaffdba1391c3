//! The howdy example behind the axum middleware, against the real Keycloak, driven by a
//! cookie-keeping HTTP client through Keycloak's real login pages.

use keycloak_client::{ClientConfig, Exchange, Password};
use keycloak_client_testkit::browser::{Browser, Page};
use keycloak_client_testkit::keycloak;
use keycloak_client_web::WebConfig;

struct App {
    base: String,
    rt: tokio::runtime::Runtime,
    auth: std::sync::Arc<keycloak_client_web::WebAuth>,
}

/// Starts howdy on `port` (0: any) with adjusted settings.
fn start(port: u16, adjust: impl FnOnce(&mut WebConfig)) -> App {
    let env = keycloak::require();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let auth = howdy::web_auth_with(&env.url, &base, None, adjust).unwrap();
    let app = howdy::app(auth.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    App { base, rt, auth }
}

impl App {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // the runtime (and the server task) go with the test
        let _ = &self.rt;
    }
}

fn location(p: &Page) -> String {
    p.location
        .clone()
        .unwrap_or_else(|| panic!("expected a redirect, got {} {}", p.status, p.body))
}

/// Logs in through the app: protected page → Keycloak → login form → callback → original page.
fn login(app: &App, b: &mut Browser, path: &str, user: &str) -> Page {
    let p = b.get(&app.url(path)).unwrap();
    assert_eq!(p.status, 302, "protected page redirects to Keycloak");
    let kc = location(&p);
    assert!(
        kc.contains("/realms/rkc/protocol/openid-connect/auth?"),
        "{kc}"
    );
    assert!(kc.contains("code_challenge_method=S256") && kc.contains("nonce="));
    let cb = b.login(&kc, user, &format!("{user}-pass")).unwrap();
    assert!(cb.as_str().starts_with(&app.url("/kc/callback?")), "{cb}");
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302, "callback redirects: {}", p.body);
    let back = location(&p);
    assert!(
        p.headers_contain_no_referrer,
        "callback sets Referrer-Policy: no-referrer"
    );
    b.get(&app.url(&back)).unwrap()
}

use keycloak_client_testkit::api::password_token;

fn api(app: &App, path: &str, token: Option<&str>) -> (u16, Option<String>, String) {
    keycloak_client_testkit::api::get(&app.url(path), token)
}

#[test]
fn full_login_with_return_to_and_no_referrer() {
    let app = start(0, |_| {});
    let mut b = Browser::new();
    let p = login(
        &app,
        &mut b,
        "/howdy/deep?tab=2&q=%2F%2Fevil.example",
        "alice",
    );
    assert_eq!(p.status, 200);
    assert_eq!(p.body, "deep page for alice");
    let p = b.get(&app.url("/howdy")).unwrap();
    assert!(p.body.contains("Howdy, Alice!"), "{}", p.body);
}

#[test]
fn callback_response_sets_no_referrer_and_rotates_session() {
    let app = start(0, |_| {});
    let mut b = Browser::new();
    // session fixation: the attacker plants a session id
    b.set_cookie("kc_session", "attacker-chosen-id");
    let p = b.get(&app.url("/howdy")).unwrap();
    let login_cookie = b.cookie("kc_login").unwrap().to_string();
    let cb = b.login(&location(&p), "carol", "carol-pass").unwrap();
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302);
    assert_eq!(p.location.as_deref(), Some("/howdy"));
    let after = b.cookie("kc_session").unwrap().to_string();
    assert_ne!(
        after, "attacker-chosen-id",
        "a login never adopts a planted id"
    );
    // the login cookie (seen by anyone who saw the redirect) authenticates nothing
    let mut other = Browser::new();
    other.set_cookie("kc_session", &login_cookie);
    assert_eq!(other.get(&app.url("/howdy")).unwrap().status, 302);
    let mut attacker = Browser::new();
    attacker.set_cookie("kc_session", "attacker-chosen-id");
    assert_eq!(attacker.get(&app.url("/howdy")).unwrap().status, 302);
    // the victim is logged in
    assert!(b
        .get(&app.url("/howdy"))
        .unwrap()
        .body
        .contains("Howdy, Carol!"));
    // replaying the callback fails
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 400, "replayed callback: {}", p.body);
}

#[test]
fn login_csrf_attempts_are_refused() {
    let app = start(0, |_| {});
    // no login in progress at all (the seed's Starlette accepted state=unknown)
    let mut b = Browser::new();
    for q in ["code=x&state=unknown", "code=x", ""] {
        let p = b.get(&app.url(&format!("/kc/callback?{q}"))).unwrap();
        assert_eq!(p.status, 400, "{q}: {}", p.body);
    }
    // a login in progress, but the response carries a forged or missing state
    for forged in ["state=forged&", "", "state=unknown&"] {
        let mut b = Browser::new();
        let p = b.get(&app.url("/howdy")).unwrap();
        let cb = b.login(&location(&p), "carol", "carol-pass").unwrap();
        let code = cb
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .to_string();
        let iss = cb
            .query_pairs()
            .find(|(k, _)| k == "iss")
            .unwrap()
            .1
            .to_string();
        let iss = url::form_urlencoded::byte_serialize(iss.as_bytes()).collect::<String>();
        let p = b
            .get(&app.url(&format!("/kc/callback?{forged}iss={iss}&code={code}")))
            .unwrap();
        assert_eq!(p.status, 400, "{forged}: {}", p.body);
        assert!(p.body.contains("login"), "{}", p.body);
        // A forged callback cancels nothing: the genuine one still finishes the login, once.
        assert_eq!(b.get(cb.as_str()).unwrap().status, 302, "{forged}");
        assert_eq!(b.get(cb.as_str()).unwrap().status, 400, "replayed");
        assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
    }
}

/// Whatever path a login starts from, the callback's raw `Location` stays on the app's
/// origin: asserted on the header as sent, never on a URL rebuilt with the app's origin.
#[test]
fn open_redirect_attempts_stay_same_origin() {
    // Every path is a page here (a catch-all route, as single-page apps have), so every
    // path below really starts a login that returns to it.
    let app = serve_with(
        |w| w.login_redirect_uri = "/home".into(),
        |auth| {
            axum::Router::new()
                .route("/", axum::routing::get(|| async { "home" }))
                .route("/{*any}", axum::routing::get(|| async { "a page" }))
                .layer(keycloak_client_axum::KeycloakLayer::browser(auth.clone()))
                .merge(keycloak_client_axum::endpoints(auth))
        },
    );
    let base = url::Url::parse(&app.base).unwrap();
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "alice").status, 200);
    for path in [
        "//evil.example/x",
        "///evil.example/x",
        "/%2F%2Fevil.example",
        "/%2f/evil.example",
        "/%5C%5Cevil.example",
        "/%5c/evil.example",
        "/.//evil.example",
        "/%09/evil.example",
        "/%0d%0a//evil.example",
        "/howdy/deep?next=https://evil.example/",
        "/howdy?x=%0d%0aLocation:%20https://evil.example",
    ] {
        // A new login from `path` (Keycloak's single sign-on answers at once).
        b.set_cookie("kc_session", "");
        let p = b.get(&app.url(path)).unwrap();
        assert_eq!(p.status, 302, "{path}: {}", p.body);
        let cb = b.login(&location(&p), "alice", "alice-pass").unwrap();
        let p = b.get(cb.as_str()).unwrap();
        assert_eq!(p.status, 302, "{path}: {}", p.body);
        let raw = p.location.clone().unwrap();
        assert!(
            raw.starts_with('/')
                && !raw.starts_with("//")
                && !raw.starts_with("/\\")
                && !raw.contains('\\')
                && !raw.chars().any(|c| c.is_control()),
            "{path}: raw Location {raw:?}"
        );
        assert_eq!(
            base.join(&raw).unwrap().origin(),
            base.origin(),
            "{path}: {raw:?}"
        );
    }
}

/// An app of the test's own routes behind the engine.
fn serve_with(
    adjust: impl FnOnce(&mut WebConfig),
    routes: impl FnOnce(std::sync::Arc<keycloak_client_web::WebAuth>) -> axum::Router,
) -> App {
    let env = keycloak::require();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let auth = howdy::web_auth_with(&env.url, &base, None, adjust).unwrap();
    let router = routes(auth.clone());
    rt.spawn(async move { axum::serve(listener, router).await });
    App { base, rt, auth }
}

/// Several logins in progress in one browser (tabs, prefetch): each keeps its own entry under
/// the browser's one login cookie, finishing any logs the user in, and a forged, stale or
/// stolen callback cancels none of them.
#[test]
fn several_logins_in_one_browser_and_forged_callbacks_cancel_nothing() {
    let app = start(0, |_| {});
    let mut b = Browser::new();
    let tab1 = location(&b.get(&app.url("/howdy")).unwrap());
    let cookie = b.cookie("kc_login").unwrap().to_string();
    let tab2 = location(&b.get(&app.url("/howdy/deep")).unwrap());
    assert_eq!(
        b.cookie("kc_login"),
        Some(cookie.as_str()),
        "one cookie for every tab"
    );
    assert_ne!(tab1, tab2);
    let forged = b.get(&app.url("/kc/callback?state=forged&code=x")).unwrap();
    assert_eq!(forged.status, 400);
    let cb2 = b.login(&tab2, "carol", "carol-pass").unwrap();
    // the callback URL stolen by another browser: refused, and it takes nothing
    assert_eq!(Browser::new().get(cb2.as_str()).unwrap().status, 400);
    let p = b.get(cb2.as_str()).unwrap();
    assert_eq!(p.status, 302, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/howdy/deep"));
    // the other tab finishes too (single sign-on: no form)
    let cb1 = b.login(&tab1, "carol", "carol-pass").unwrap();
    let p = b.get(cb1.as_str()).unwrap();
    assert_eq!(p.status, 302, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/howdy"));
    // a stale (replayed) callback is refused and leaves the session alone
    assert_eq!(b.get(cb2.as_str()).unwrap().status, 400);
    assert!(b
        .get(&app.url("/howdy"))
        .unwrap()
        .body
        .contains("Howdy, Carol!"));
}

/// The raw `Set-Cookie` attributes of the login, session and logout answers.
#[test]
fn cookies_carry_their_attributes() {
    let app = start(0, |_| {});
    let mut b = Browser::new();
    let p = b.get(&app.url("/howdy")).unwrap();
    let login_cookie = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kc_login="))
        .unwrap();
    let attrs = |c: &str| c.split("; ").skip(1).map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        attrs(login_cookie),
        ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=600"],
        "plain http on loopback: no Secure (browsers would drop it)"
    );
    let cb = b.login(&location(&p), "carol", "carol-pass").unwrap();
    let p = b.get(cb.as_str()).unwrap();
    let session = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kc_session="))
        .unwrap();
    let value = session
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("kc_session=");
    assert_eq!(value.len(), 43, "256 random bits: {session}");
    assert_eq!(
        attrs(session),
        ["Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=28800"]
    );
    let p = b.get(&app.url("/logout")).unwrap();
    let cleared = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kc_session="))
        .unwrap();
    assert_eq!(
        cleared,
        "kc_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"
    );
}

/// The browser layer inside `Router::nest`: the configured paths are the external ones.
#[test]
fn the_layer_works_under_router_nest() {
    use axum::routing::get;
    let app = serve_with(
        |w| {
            w.callback_path = "/app/kc/callback".into();
            w.login_redirect_uri = "/app/page".into();
            w.logout_path = "/app/bye".into();
            w.public_paths = vec!["/app/open".into()];
        },
        |auth| {
            let inner = axum::Router::new()
                .route(
                    "/page",
                    get(
                        |keycloak_client_axum::User(u): keycloak_client_axum::User| async move {
                            format!(
                                "nested page for {}",
                                u.username.as_deref().unwrap_or_default()
                            )
                        },
                    ),
                )
                .route("/open", get(|| async { "open" }))
                .layer(keycloak_client_axum::KeycloakLayer::browser(auth.clone()));
            axum::Router::new()
                .nest("/app", inner)
                .merge(keycloak_client_axum::endpoints(auth))
        },
    );
    let mut b = Browser::new();
    assert_eq!(b.get(&app.url("/app/open")).unwrap().status, 200);
    let p = b.get(&app.url("/app/page")).unwrap();
    assert_eq!(p.status, 302);
    let cb = b.login(&location(&p), "carol", "carol-pass").unwrap();
    assert!(
        cb.as_str().starts_with(&app.url("/app/kc/callback?")),
        "{cb}"
    );
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302, "{}", p.body);
    assert_eq!(p.location.as_deref(), Some("/app/page"));
    let p = b.get(&app.url("/app/page")).unwrap();
    assert_eq!(p.body, "nested page for carol");
    let p = b.get(&app.url("/app/bye")).unwrap();
    assert_eq!(p.status, 302);
    assert!(
        location(&p).contains("/protocol/openid-connect/logout"),
        "{:?}",
        p.location
    );
}

#[test]
fn non_navigation_requests_get_401() {
    let app = start(0, |_| {});
    let (status, www, _) = api(&app, "/howdy", None);
    assert_eq!(status, 401);
    assert!(www.unwrap().starts_with("Bearer realm="));
    let mut b = Browser::new();
    let p = b
        .get_with(
            &app.url("/howdy"),
            &[
                ("accept", "text/html"),
                ("x-requested-with", "XMLHttpRequest"),
            ],
        )
        .unwrap();
    assert_eq!(p.status, 401);
}

#[test]
fn logout_ends_both_sessions_and_is_harmless_twice() {
    let app = start(0, |_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "alice").status, 200);
    let p = b.get(&app.url("/logout")).unwrap();
    let end = location(&p);
    assert!(
        end.contains("/protocol/openid-connect/logout?")
            && end.contains("id_token_hint=")
            && end.contains("post_logout_redirect_uri="),
        "{end}"
    );
    let p = b.get(&end).unwrap();
    assert_eq!(
        location(&p),
        app.url("/public/bye"),
        "Keycloak accepts the RP-initiated logout"
    );
    assert!(b
        .get(&app.url("/public/bye"))
        .unwrap()
        .body
        .contains("Logged out."));
    // local session gone: back to Keycloak, whose SSO session is gone too (login form shown)
    let p = b.get(&app.url("/howdy")).unwrap();
    let kc = b.get(&location(&p)).unwrap();
    assert_eq!(kc.status, 200, "Keycloak shows the login form again");
    // logging out while logged out
    let p = Browser::new().get(&app.url("/logout")).unwrap();
    assert_eq!(p.status, 302);
    assert_eq!(location(&p), app.url("/public/bye"));
}

#[test]
fn expired_access_token_is_refreshed_and_failed_refresh_restarts_login() {
    // A refresh margin larger than the token lifetime: every request refreshes.
    let app = start(0, |w| w.refresh_margin_secs = 300);
    let mut b = Browser::new();
    let p1 = login(&app, &mut b, "/howdy", "grace");
    let fp = |p: &Page| {
        p.body
            .split("token ")
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap()
            .to_string()
    };
    let p2 = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p2.status, 200);
    assert_ne!(
        fp(&p1),
        fp(&p2),
        "the access token was refreshed transparently"
    );
    // Concurrent requests share one refresh per session.
    let cookie = b.cookie("kc_session").unwrap().to_string();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = app.url("/howdy");
            let c = cookie.clone();
            std::thread::spawn(move || {
                let mut b = Browser::new();
                b.set_cookie("kc_session", &c);
                b.get(&url).unwrap().status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 200);
    }
    // End the Keycloak session behind the app's back (an administrator logs grace out): the
    // next refresh fails, the local session ends and a new login starts.
    admin_logout_user("grace");
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 302, "failed refresh ends the session: {}", p.body);
    assert!(location(&p).contains("/protocol/openid-connect/auth?"));
}

use keycloak_client_testkit::api::admin_logout_user;

/// One refresh per session, proven with refresh-token rotation on (realm `rkc-refresh`: a
/// refresh token is single-use, so a second concurrent refresh with the same token would get
/// `invalid_grant` and end the session). Every request refreshes (margin above the lifetime);
/// rounds of concurrent requests go through several refreshes and none may end the session.
#[test]
fn concurrent_requests_refresh_once_per_session_under_token_rotation() {
    let err = refresh_token_reuse_error("remy");
    assert!(
        err.to_string().contains("invalid_grant"),
        "the realm rotates refresh tokens: {err}"
    );
    let env = keycloak::require();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let json = rotation_keycloak_json();
    let auth = howdy::web_auth_with(&env.url, &base, Some(&json), |w| {
        w.refresh_margin_secs = 300
    })
    .unwrap();
    let router = howdy::app(auth.clone());
    rt.spawn(async move { axum::serve(listener, router).await });
    let app = App { base, rt, auth };

    let mut b = Browser::new();
    let p = b.get(&app.url("/howdy")).unwrap();
    let kc = location(&p);
    assert!(
        kc.contains("/realms/rkc-refresh/protocol/openid-connect/auth?"),
        "{kc}"
    );
    let cb = b.login(&kc, "rita", "rita-pass").unwrap();
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302, "callback: {}", p.body);
    let cookie = b.cookie("kc_session").unwrap().to_string();
    let token_of = |body: &str| {
        body.split("token ")
            .nth(1)
            .and_then(|t| t.split('<').next())
            .map(str::to_string)
    };
    let mut seen = std::collections::HashSet::new();
    for round in 0..4 {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let url = app.url("/howdy");
                let c = cookie.clone();
                std::thread::spawn(move || {
                    let mut b = Browser::new();
                    b.set_cookie("kc_session", &c);
                    (0..3)
                        .map(|_| {
                            let p = b.get(&url).unwrap();
                            (p.status, p.body)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            for (status, body) in h.join().unwrap() {
                assert_eq!(
                    status, 200,
                    "round {round}: a request lost the session: {body}"
                );
                seen.extend(token_of(&body));
            }
        }
    }
    assert!(
        seen.len() >= 4,
        "several refreshes happened across the rounds ({} access tokens seen)",
        seen.len()
    );
    assert_eq!(
        b.get(&app.url("/howdy")).unwrap().status,
        200,
        "still logged in"
    );
}

use keycloak_client_testkit::api::{refresh_token_reuse_error, rotation_keycloak_json};

#[test]
fn bearer_api_valid_wrong_audience_bad_signature_expired() {
    let app = start(0, |_| {});
    let alice = password_token("rkc-rs", "rkc-rs-secret", "alice");
    let (s, _, body) = api(&app, "/api/me", Some(&alice));
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["username"], "alice");
    // again: served from the verified-token cache, observed on its counters
    let before = app.auth.bearer_cache_stats();
    assert_eq!(api(&app, "/api/me", Some(&alice)).0, 200);
    let after = app.auth.bearer_cache_stats();
    assert_eq!(after.hits, before.hits + 1, "{before:?} -> {after:?}");
    assert_eq!(
        after.verifications, before.verifications,
        "no second verification"
    );
    let (s, www, _) = api(&app, "/api/me", None);
    assert_eq!(s, 401);
    assert_eq!(www.as_deref(), Some("Bearer realm=\"rkc\""));
    let last = if alice.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{}{last}", &alice[..alice.len() - 1]);
    let (s, www, _) = api(&app, "/api/me", Some(&tampered));
    assert_eq!(s, 401);
    let www = www.unwrap();
    assert!(
        www.contains("error=\"invalid_token\"") && www.contains("signature"),
        "{www}"
    );
    // a different payload under alice's (cached) signature: the cache is keyed by the signature,
    // so this must fall through to verification and fail, never be served alice's identity
    let (head, rest) = alice.split_once('.').unwrap();
    let (_, sig) = rest.rsplit_once('.').unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(rest.split('.').next().unwrap()).unwrap()).unwrap();
    claims["preferred_username"] = "mallory".into();
    let spliced = format!("{head}.{}.{sig}", b64.encode(claims.to_string()));
    let (s, www, _) = api(&app, "/api/me", Some(&spliced));
    assert_eq!(s, 401);
    assert!(www.unwrap().contains("signature"));
    // wrong audience: an app that expects another audience rejects the same valid token
    let other = start(0, |w| w.api_audience = Some("another-api".into()));
    let (s, www, _) = api(&other, "/api/me", Some(&alice));
    assert_eq!(s, 401);
    assert!(www.unwrap().contains("aud"));
    // a token of another issuer (the rotation realm)
    let env = keycloak::require();
    let http = keycloak_client_ureq::HttpClient::default();
    let cfg = ClientConfig::keycloak(&env.url, "rkc-rotate", "rotate-rs")
        .client_secret("rotate-rs-secret")
        .build()
        .unwrap();
    let c = keycloak_client::Client::new(
        cfg.clone(),
        http.run(keycloak_client::DiscoverFlow::new(&cfg, false))
            .unwrap(),
    );
    let foreign = http
        .exec(c.danger_password_grant("dora", &Password::new("dora-pass"), "openid"))
        .unwrap();
    let (s, www, _) = api(&app, "/api/me", Some(foreign.access_token.secret()));
    assert_eq!(s, 401, "{www:?}");
    // refused on `iss` (checked before any key lookup), not on its unknown key
    assert!(
        www.as_deref().is_some_and(|w| w.contains("`iss` is")),
        "{www:?}"
    );
    // expired: with no leeway, a token whose exp has passed is refused
    let strict = start(0, |w| w.leeway_secs = 0);
    let short = {
        // rkc-short issues 2-second access tokens
        password_token("rkc-short", "rkc-short-secret", "alice")
    };
    assert_eq!(api(&strict, "/api/me", Some(&short)).0, 200);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (s, www, _) = api(&strict, "/api/hello", Some(&short));
    assert_eq!(s, 200);
    let _ = www;
    let (s, www, _) = api(&strict, "/api/me", Some(&short));
    assert_eq!(s, 401);
    assert!(www.unwrap().contains("expired"));
}

#[test]
fn pass_through_and_role_guard() {
    let app = start(0, |_| {});
    assert_eq!(api(&app, "/api/hello", None).2, "hello anonymous");
    let alice = password_token("rkc-rs", "rkc-rs-secret", "alice");
    assert_eq!(api(&app, "/api/hello", Some(&alice)).2, "hello alice");
    assert!(api(&app, "/api/hello", Some("not.a.token"))
        .2
        .contains("ignored an invalid token"));
    assert_eq!(api(&app, "/api/admin", Some(&alice)).0, 200);
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    assert_eq!(api(&app, "/api/admin", Some(&carol)).0, 403);
}

#[test]
fn uma_enforcement_allowed_denied_and_ticket_challenge() {
    let app = start(0, |_| {});
    let alice = password_token("rkc-rs", "rkc-rs-secret", "alice");
    let bob = password_token("rkc-rs", "rkc-rs-secret", "bob");
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    assert_eq!(api(&app, "/api/docs/1", Some(&alice)).0, 200);
    assert_eq!(api(&app, "/api/docs/1", Some(&carol)).0, 200);
    assert_eq!(api(&app, "/api/docs/1", Some(&bob)).0, 403);
    assert_eq!(api(&app, "/api/docs/1/edit", Some(&alice)).0, 200);
    let (s, www, _) = api(&app, "/api/docs/1/edit", Some(&carol));
    assert_eq!(s, 401);
    let ch = keycloak_client::UmaChallenge::parse(&www.unwrap()).unwrap();
    assert_eq!(ch.as_uri.as_str(), keycloak::require().issuer());
    // the ticket works at Keycloak: carol is still denied write, with Keycloak's answer
    let env = keycloak::require();
    let http = keycloak_client_ureq::HttpClient::default();
    let cfg = ClientConfig::keycloak(&env.url, &env.realm, "rkc-rs")
        .client_secret("rkc-rs-secret")
        .build()
        .unwrap();
    let c = keycloak_client::Client::new(
        cfg.clone(),
        http.run(keycloak_client::DiscoverFlow::new(&cfg, true))
            .unwrap(),
    );
    let r = http.exec(c.rpt_for_ticket(
        &keycloak_client::AccessToken::new(carol.as_str()),
        &ch.ticket,
    ));
    let e = r.unwrap_err();
    assert!(e.keycloak().unwrap().is_access_denied(), "{e}");
    let pat = c.pat().unwrap().request();
    assert!(pat.url.as_str().ends_with("/token"));
}

/// Keycloak's own logout tokens (caught on their way by a tee on the realm's back-channel
/// URL) end every session of the logged-out user and nobody else's; a token delivered twice is
/// refused by its `jti`; a forged one is refused.
#[test]
fn backchannel_logout_token_ends_the_local_session() {
    use keycloak_client_testkit::logout_tee::post_form;
    let tee = tee().lock().unwrap_or_else(|p| p.into_inner());
    let app = start(0, |_| {});
    let endpoint = app.url("/kc/backchannel-logout");
    tee.retarget(&endpoint);
    let seen_before = tee.bodies().len();
    let (mut dave1, mut dave2, mut carol) = (Browser::new(), Browser::new(), Browser::new());
    assert_eq!(login(&app, &mut dave1, "/howdy", "dave").status, 200);
    assert_eq!(login(&app, &mut dave2, "/howdy", "dave").status, 200);
    assert_eq!(login(&app, &mut carol, "/howdy", "carol").status, 200);
    // An administrator ends dave's Keycloak sessions: one logout token per session.
    admin_logout_user("dave");
    let ended = |b: &mut Browser| b.get(&app.url("/howdy")).unwrap().status == 302;
    let mut ok = false;
    for _ in 0..20 {
        if ended(&mut dave1) && ended(&mut dave2) {
            ok = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(
        ok,
        "both of dave's sessions ended after Keycloak's back-channel logout"
    );
    assert_eq!(
        carol.get(&app.url("/howdy")).unwrap().status,
        200,
        "carol's session survives"
    );
    let bodies = tee.bodies()[seen_before..].to_vec();
    assert!(bodies.len() >= 2, "{} logout tokens", bodies.len());
    // The same token again: a replay, refused.
    assert_eq!(post_form(&endpoint, &bodies[0]), 400, "replayed jti");
    // A forged token is refused.
    assert_eq!(
        post_form(&endpoint, b"logout_token=eyJhbGciOiJub25lIn0.e30."),
        400
    );
    assert_eq!(post_form(&endpoint, b"nothing=here"), 400);
}

/// UMA decisions fail closed: Keycloak answering errors or unreachable gives 503, never the
/// resource.
#[test]
fn uma_fails_closed_when_keycloak_errors() {
    use keycloak_client_testkit::proxy::Fault;
    let (app, proxy, _store) = start_through_proxy(|w| w.api_audience = Some("rkc-api".into()));
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    assert_eq!(
        api(&app, "/api/docs/1", Some(&carol)).0,
        200,
        "granted while Keycloak answers"
    );
    let bob = password_token("rkc-rs", "rkc-rs-secret", "bob");
    for fault in [
        Fault::Answer(500, "text/html", "<html>oops</html>"),
        Fault::Answer(200, "text/html", "<html>a portal</html>"),
        Fault::Down,
    ] {
        proxy.set(fault);
        let (s, _, body) = api(&app, "/api/docs/1", Some(&bob));
        assert_eq!(s, 503, "{body}");
    }
    proxy.set(Fault::Pass);
    assert_eq!(
        api(&app, "/api/docs/1", Some(&bob)).0,
        403,
        "bob is denied once Keycloak answers"
    );
}

/// Keycloak unreachable, answering 503, or cutting its answers short while sessions need a
/// refresh: nobody is logged out, pages keep working on the still-valid access tokens, and the
/// sessions refresh again once Keycloak is back. Only its definitive answer ends a session
/// (`expired_access_token_is_refreshed_and_failed_refresh_restarts_login`).
#[test]
fn a_keycloak_outage_logs_nobody_out() {
    use keycloak_client_testkit::proxy::Fault;
    let (app, proxy, store) = start_through_proxy(|w| w.refresh_margin_secs = 300);
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    for fault in [
        Fault::Down,
        Fault::ServiceUnavailable(1000),
        Fault::Truncate(40),
        Fault::Answer(
            500,
            "text/html",
            "<html><body>Internal Server Error</body></html>",
        ),
        Fault::Answer(502, "text/html", "<html><body>Bad Gateway</body></html>"),
        Fault::Answer(500, "application/json", r#"{"error":"unknown_error"}"#),
        Fault::Answer(200, "application/json", r#"{"access_token":"#),
    ] {
        proxy.set(fault.clone());
        let p = b.get(&app.url("/howdy")).unwrap();
        assert_eq!(p.status, 200, "{fault:?}: the session survives: {}", p.body);
        // Each fault on its own refresh attempt, not on the back-off of the previous one.
        end_backoff(&app, &store, b.cookie("kc_session").unwrap());
    }
    // A session whose access token has expired cannot be served during the outage: a clear
    // 503, and the session is kept for when Keycloak is back.
    use keycloak_client_web::SessionStore as _;
    let id = b.cookie("kc_session").unwrap().to_string();
    let now = keycloak_client_ureq::now();
    expire_in(&app, &store, &id, -1);
    proxy.set(Fault::Down);
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 503, "{}", p.body);
    assert!(p.body.contains("session is kept"), "{}", p.body);
    assert!(
        app.rt.block_on(store.load(&id, now)).unwrap().is_some(),
        "the session is kept"
    );
    proxy.set(Fault::Pass);
    end_backoff(&app, &store, &id);
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 200, "back to normal: {}", p.body);
}

/// howdy behind the middleware with its back channel through a fault proxy; the store is
/// shared with the test.
fn start_through_proxy(
    adjust: impl FnOnce(&mut WebConfig),
) -> (
    App,
    keycloak_client_testkit::proxy::FaultProxy,
    std::sync::Arc<keycloak_client_web::MemoryStore>,
) {
    let store = std::sync::Arc::new(keycloak_client_web::MemoryStore::with_limits(100, 50));
    let (app, proxy) = start_through_proxy_with(store.clone(), adjust);
    (app, proxy, store)
}

/// [`start_through_proxy`] on any store.
fn start_through_proxy_with(
    store: std::sync::Arc<dyn keycloak_client_web::SessionStore>,
    adjust: impl FnOnce(&mut WebConfig),
) -> (App, keycloak_client_testkit::proxy::FaultProxy) {
    let env = keycloak::require();
    let proxy =
        keycloak_client_testkit::proxy::FaultProxy::start(env.url.trim_start_matches("http://"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut web = WebConfig::new(&base).unwrap();
    web.callback_path = "/kc/callback".into();
    web.login_redirect_uri = "/howdy".into();
    web.logout_path = "/logout".into();
    web.public_paths = vec!["/public".into()];
    adjust(&mut web);
    let kc = ClientConfig::keycloak(&proxy.base, "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret")
        .expected_issuer(&env.issuer())
        .browser_server_url(&env.url);
    let auth = std::sync::Arc::new(keycloak_client_web::WebAuth::new(kc, web, store).unwrap());
    let app = howdy::app(auth.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    (App { base, rt, auth }, proxy)
}

/// Ends a session's refresh back-off (as if its pause had passed).
fn end_backoff(app: &App, store: &keycloak_client_web::MemoryStore, id: &str) {
    use keycloak_client_web::SessionStore as _;
    let now = keycloak_client_ureq::now();
    let mut session =
        std::sync::Arc::unwrap_or_clone(app.rt.block_on(store.load(id, now)).unwrap().unwrap());
    assert!(
        session.refresh_retry_at.is_some(),
        "a failed refresh backs off"
    );
    session.refresh_retry_at = None;
    app.rt
        .block_on(store.store(id, session, now, now.plus(3600)))
        .unwrap();
}

/// Makes the session's access token expire within `secs`.
fn expire_in(app: &App, store: &keycloak_client_web::MemoryStore, id: &str, secs: i64) {
    use keycloak_client_web::SessionStore as _;
    let now = keycloak_client_ureq::now();
    let mut session =
        std::sync::Arc::unwrap_or_clone(app.rt.block_on(store.load(id, now)).unwrap().unwrap());
    let at = if secs < 0 {
        now.minus(secs.unsigned_abs())
    } else {
        now.plus(secs as u64)
    };
    session.tokens.as_mut().unwrap().expires_at = Some(at);
    app.rt
        .block_on(store.store(id, session, now, now.plus(3600)))
        .unwrap();
}

#[test]
fn refreshes_back_off_per_session_while_keycloak_is_down() {
    use keycloak_client_testkit::proxy::Fault;
    let (app, proxy, store) = start_through_proxy(|w| w.refresh_margin_secs = 300);
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    proxy.set(Fault::Down);
    let before = proxy.connections();
    for _ in 0..6 {
        assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
    }
    // One refresh attempt (its connect retries included), not one per request.
    let attempts = proxy.connections() - before;
    assert!(attempts <= 3, "{attempts} connections for 6 requests");
    // An expired token during the back-off: 503 at once, without queueing on Keycloak.
    let id = b.cookie("kc_session").unwrap().to_string();
    expire_in(&app, &store, &id, -1);
    let before = proxy.connections();
    assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 503);
    assert_eq!(
        proxy.connections(),
        before,
        "backing off: no request to Keycloak"
    );
}

/// A session older than its login lifetime whose refresh meets an outage is kept until its
/// next attempt and backs off like any other: no Keycloak call per request, no logout.
#[test]
fn an_old_session_backs_off_during_an_outage_instead_of_ending() {
    use keycloak_client_testkit::proxy::Fault;
    use keycloak_client_web::SessionStore as _;
    let (app, proxy, store) = start_through_proxy(|w| w.refresh_margin_secs = 300);
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    let id = b.cookie("kc_session").unwrap().to_string();
    let now = keycloak_client_ureq::now();
    let mut s =
        std::sync::Arc::unwrap_or_clone(app.rt.block_on(store.load(&id, now)).unwrap().unwrap());
    s.created_at = keycloak_client::UnixTime(1); // logged in long before its lifetime allows
    app.rt
        .block_on(store.store(&id, s, now, now.plus(3600)))
        .unwrap();
    proxy.set(Fault::Down);
    assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
    let kept = app.rt.block_on(store.load(&id, now)).unwrap();
    assert!(
        kept.as_ref().is_some_and(|s| s.refresh_retry_at.is_some()),
        "kept, backing off"
    );
    let before = proxy.connections();
    for _ in 0..3 {
        assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
    }
    assert_eq!(
        proxy.connections(),
        before,
        "no Keycloak call during the back-off"
    );
}

/// `session_identity_cache_size = 0` turns identity caching off everywhere, the copy kept
/// with an in-memory session included; the default keeps it.
#[test]
fn identity_cache_size_zero_keeps_no_identity_with_the_session() {
    use keycloak_client_web::SessionStore as _;
    for (size, kept) in [(0usize, false), (10_000, true)] {
        let (app, _proxy, store) = start_through_proxy(|w| w.session_identity_cache_size = size);
        let mut b = Browser::new();
        assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
        assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
        let id = b.cookie("kc_session").unwrap().to_string();
        let now = keycloak_client_ureq::now();
        let s = app.rt.block_on(store.load(&id, now)).unwrap().unwrap();
        assert_eq!(
            format!("{:?}", s.identity_memo) == "IdentityMemo(set)",
            kept,
            "cache size {size}"
        );
    }
}

#[test]
fn a_refresh_racing_a_logout_never_brings_the_session_back() {
    use keycloak_client_testkit::proxy::Fault;
    let (app, proxy, store) = start_through_proxy(|_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    let id = b.cookie("kc_session").unwrap().to_string();
    expire_in(&app, &store, &id, 10); // inside the 30 s margin: the next page refreshes
    proxy.set(Fault::Delay(std::time::Duration::from_millis(1500)));
    let page = app.url("/howdy");
    let cookie = id.clone();
    let refreshing = std::thread::spawn(move || {
        let mut b = Browser::new();
        b.set_cookie("kc_session", &cookie);
        b.get(&page).unwrap().status
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = b.get(&app.url("/logout")).unwrap();
    assert_eq!(out.status, 302, "{}", out.body);
    let _ = refreshing.join().unwrap();
    proxy.set(Fault::Pass);
    let mut again = Browser::new();
    again.set_cookie("kc_session", &id);
    let p = again.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 302, "logged out stays logged out: {}", p.body);
}

/// A store that lets the test act as another instance writing at the worst moment.
struct RacingStore {
    inner: keycloak_client_web::MemoryStore,
    /// Before the next compare-and-set, another instance stores a newer version whose access
    /// token lives an hour.
    other_writer_first: std::sync::atomic::AtomicBool,
    /// The next compare-and-set is applied, but its answer is lost (a timeout).
    lose_next_answer: std::sync::atomic::AtomicBool,
    /// The next compare-and-set fails before reaching the store.
    fail_next: std::sync::atomic::AtomicBool,
}

impl RacingStore {
    fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(RacingStore {
            inner: keycloak_client_web::MemoryStore::with_limits(100, 50),
            other_writer_first: Default::default(),
            lose_next_answer: Default::default(),
            fail_next: Default::default(),
        })
    }
}

impl keycloak_client_web::SessionStore for RacingStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
        now: keycloak_client::UnixTime,
    ) -> keycloak_client_web::BoxFuture<
        'a,
        keycloak_client_web::StoreResult<Option<std::sync::Arc<keycloak_client_web::Session>>>,
    > {
        self.inner.load(id, now)
    }
    fn store<'a>(
        &'a self,
        id: &'a str,
        session: keycloak_client_web::Session,
        now: keycloak_client::UnixTime,
        expires_at: keycloak_client::UnixTime,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<()>> {
        self.inner.store(id, session, now, expires_at)
    }
    fn compare_and_set<'a>(
        &'a self,
        id: &'a str,
        expected_version: u64,
        session: keycloak_client_web::Session,
        now: keycloak_client::UnixTime,
        expires_at: keycloak_client::UnixTime,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<bool>> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            if self.fail_next.swap(false, SeqCst) {
                return Err(keycloak_client_web::StoreError::Timeout(300));
            }
            if self.other_writer_first.swap(false, SeqCst) {
                let current = self.inner.load(id, now).await?.unwrap();
                let mut other = std::sync::Arc::unwrap_or_clone(current);
                other.version += 1;
                let t = other.tokens.as_mut().unwrap();
                t.expires_at = Some(now.plus(3600));
                self.inner.store(id, other, now, now.plus(3600)).await?;
            }
            let r = self
                .inner
                .compare_and_set(id, expected_version, session, now, expires_at)
                .await;
            if self.lose_next_answer.swap(false, SeqCst) {
                return Err(keycloak_client_web::StoreError::Timeout(300));
            }
            r
        })
    }
    fn delete<'a>(
        &'a self,
        id: &'a str,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<()>> {
        self.inner.delete(id)
    }
    fn delete_by_sid<'a>(
        &'a self,
        sid: &'a str,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<usize>> {
        self.inner.delete_by_sid(sid)
    }
    fn delete_by_sub<'a>(
        &'a self,
        sub: &'a str,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<usize>> {
        self.inner.delete_by_sub(sub)
    }
    fn save_pending<'a>(
        &'a self,
        key: &'a str,
        login: keycloak_client::PendingLogin,
        now: keycloak_client::UnixTime,
        expires_at: keycloak_client::UnixTime,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<()>> {
        self.inner.save_pending(key, login, now, expires_at)
    }
    fn take_pending<'a>(
        &'a self,
        key: &'a str,
        now: keycloak_client::UnixTime,
    ) -> keycloak_client_web::BoxFuture<
        'a,
        keycloak_client_web::StoreResult<Option<keycloak_client::PendingLogin>>,
    > {
        self.inner.take_pending(key, now)
    }
    fn try_lease<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
        now: keycloak_client::UnixTime,
        until: keycloak_client::UnixTime,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<bool>> {
        self.inner.try_lease(id, holder, now, until)
    }
    fn release_lease<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<()>> {
        self.inner.release_lease(id, holder)
    }

    fn remember_once<'a>(
        &'a self,
        key: &'a str,
        now: keycloak_client::UnixTime,
        until: keycloak_client::UnixTime,
    ) -> keycloak_client_web::BoxFuture<'a, keycloak_client_web::StoreResult<bool>> {
        self.inner.remember_once(key, now, until)
    }

    fn spans_instances(&self) -> bool {
        self.inner.spans_instances()
    }
}

/// Keycloak down while this instance refreshes, and another instance refreshed the session
/// meanwhile: the lost compare-and-set is not a logout; the other instance's tokens serve.
#[test]
fn a_refresh_that_fails_while_another_instance_succeeds_keeps_the_session() {
    use keycloak_client_testkit::proxy::Fault;
    use std::sync::atomic::Ordering::SeqCst;
    let store = RacingStore::new();
    let (app, proxy) = start_through_proxy_with(store.clone(), |_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    let id = b.cookie("kc_session").unwrap().to_string();
    expire_in(&app, &store.inner, &id, 10); // inside the refresh margin
    proxy.set(Fault::Down);
    store.other_writer_first.store(true, SeqCst);
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 200, "served, not logged out: {}", p.body);
    assert!(!store.other_writer_first.load(SeqCst), "the race happened");
    proxy.set(Fault::Pass);
    assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
}

/// A refresh succeeded at Keycloak (its refresh token is now spent) but writing the new
/// tokens failed or its answer was lost: the write is retried or confirmed, so the session
/// keeps the new tokens instead of dying on the spent refresh token later.
#[test]
fn a_failed_or_unclear_write_after_a_successful_refresh_is_retried() {
    use keycloak_client_web::SessionStore as _;
    use std::sync::atomic::Ordering::SeqCst;
    let store = RacingStore::new();
    let (app, _proxy) = start_through_proxy_with(store.clone(), |_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    let id = b.cookie("kc_session").unwrap().to_string();
    for (what, flag) in [
        ("lost answer", &store.lose_next_answer),
        ("failed write", &store.fail_next),
    ] {
        let now = keycloak_client_ureq::now();
        let before = app.rt.block_on(store.load(&id, now)).unwrap().unwrap();
        expire_in(&app, &store.inner, &id, 10);
        flag.store(true, SeqCst);
        let p = b.get(&app.url("/howdy")).unwrap();
        assert_eq!(p.status, 200, "{what}: {}", p.body);
        assert!(!flag.load(SeqCst), "{what}: the fault happened");
        let after = app.rt.block_on(store.load(&id, now)).unwrap().unwrap();
        let (old_rt, new_rt) = (
            before
                .tokens
                .as_ref()
                .unwrap()
                .refresh_token
                .as_ref()
                .unwrap()
                .secret()
                .to_string(),
            after
                .tokens
                .as_ref()
                .unwrap()
                .refresh_token
                .as_ref()
                .unwrap()
                .secret()
                .to_string(),
        );
        assert_ne!(old_rt, new_rt, "{what}: the new tokens were stored");
    }
}

/// The browser goes away while its request refreshes the session (Keycloak slow): the refresh
/// still completes and its tokens are written, so the spent refresh token is never the one
/// left in the store.
#[test]
fn a_request_dropped_mid_refresh_still_stores_the_new_tokens() {
    use keycloak_client_testkit::proxy::Fault;
    use keycloak_client_web::SessionStore as _;
    use std::io::Write as _;
    let (app, proxy, store) = start_through_proxy(|_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    let id = b.cookie("kc_session").unwrap().to_string();
    let now = keycloak_client_ureq::now();
    let before = app.rt.block_on(store.load(&id, now)).unwrap().unwrap();
    let old_rt = before
        .tokens
        .as_ref()
        .unwrap()
        .refresh_token
        .as_ref()
        .unwrap()
        .secret()
        .to_string();
    expire_in(&app, &store, &id, 10); // inside the refresh margin
    proxy.set(Fault::Delay(std::time::Duration::from_millis(1500)));
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET /howdy HTTP/1.1\r\nHost: {addr}\r\nCookie: kc_session={id}\r\nSec-Fetch-Site: same-origin\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(conn); // the browser gives up while Keycloak is still answering
    std::thread::sleep(std::time::Duration::from_millis(2500));
    proxy.set(Fault::Pass);
    let after = app
        .rt
        .block_on(store.load(&id, keycloak_client_ureq::now()))
        .unwrap()
        .unwrap();
    let new_rt = after
        .tokens
        .as_ref()
        .unwrap()
        .refresh_token
        .as_ref()
        .unwrap()
        .secret()
        .to_string();
    assert_ne!(
        old_rt, new_rt,
        "the refresh finished and its tokens were stored"
    );
    assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
}

/// A name from Keycloak is data, not markup: howdy escapes it.
#[test]
fn user_controlled_names_are_escaped_in_pages() {
    use keycloak_client_web::SessionStore as _;
    let (app, _proxy, store) = start_through_proxy(|_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "erin").status, 200);
    let id = b.cookie("kc_session").unwrap().to_string();
    let now = keycloak_client_ureq::now();
    let mut session =
        std::sync::Arc::unwrap_or_clone(app.rt.block_on(store.load(&id, now)).unwrap().unwrap());
    // The page reads the session's access token: give it a hostile `given_name`.
    let b64 = |v: serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let claims = serde_json::json!({"sub":"erin-id","preferred_username":"erin",
        "given_name":"<img src=x onerror=alert(1)>","exp": now.0 + 300});
    let token = format!(
        "{}.{}.c2ln",
        b64(serde_json::json!({"alg":"RS256"})),
        b64(claims)
    );
    let tokens = session.tokens.as_mut().unwrap();
    tokens.access_token = keycloak_client::AccessToken::new(&token);
    tokens.expires_at = Some(now.plus(300));
    app.rt
        .block_on(store.store(&id, session, now, now.plus(3600)))
        .unwrap();
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        !p.body.contains("<img"),
        "markup from a claim reached the page: {}",
        p.body
    );
    assert!(
        p.body
            .contains("Howdy, &lt;img src=x onerror=alert(1)&gt;!"),
        "{}",
        p.body
    );
}

/// A page on another site cannot log a user out, nor send cookie-authenticated unsafe
/// requests; the app's own pages, direct navigation and CORS preflights are unaffected.
#[test]
fn cross_site_requests_cannot_act_with_the_session() {
    let app = start(0, |_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "carol").status, 200);
    let evil = [
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
    ];
    let p = b.get_with(&app.url("/logout"), &evil).unwrap();
    assert_eq!(p.status, 403, "cross-site logout: {}", p.body);
    let sibling = [("sec-fetch-site", "same-site")];
    assert_eq!(
        b.get_with(&app.url("/logout"), &sibling).unwrap().status,
        403
    );
    // Browsers without Fetch Metadata: the Origin header decides.
    let p = b
        .send_with(
            "POST",
            &app.url("/howdy"),
            &[("origin", "https://evil.example")],
        )
        .unwrap();
    assert_eq!(
        p.status, 403,
        "cross-origin POST with the session cookie: {}",
        p.body
    );
    let p = b.send_with("DELETE", &app.url("/howdy"), &evil).unwrap();
    assert_eq!(p.status, 403);
    assert_eq!(
        b.get(&app.url("/howdy")).unwrap().status,
        200,
        "still logged in"
    );
    // The app's own pages may post; the router answers (405 here), not the CSRF check.
    let own = [("sec-fetch-site", "same-origin")];
    assert_ne!(
        b.send_with("POST", &app.url("/howdy"), &own)
            .unwrap()
            .status,
        403
    );
    // A CORS preflight carries no credentials: it passes through unauthenticated.
    let preflight = [
        ("origin", "https://spa.example"),
        ("access-control-request-method", "GET"),
    ];
    let p = Browser::new()
        .send_with("OPTIONS", &app.url("/howdy"), &preflight)
        .unwrap();
    assert!(
        p.status != 302 && p.status != 401,
        "preflight: {} {}",
        p.status,
        p.body
    );
    // The seed's logout link on the app's own page, and a typed URL, still log out.
    let p = b
        .get_with(&app.url("/logout"), &[("sec-fetch-site", "same-origin")])
        .unwrap();
    assert_eq!(p.status, 302);
    assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 302, "logged out");
}

/// Anonymous visits start logins that live only as long as a login may take (the
/// configuration's `login_ttl_secs`, 10 minutes), in the store and in the browser; they are
/// bounded apart from sessions, so a flood of them evicts no logged-in user.
#[test]
fn a_pending_login_lives_minutes_and_anonymous_floods_evict_no_session() {
    let (app, _proxy, store) = start_through_proxy(|_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "carol").status, 200);
    let mut anon = Browser::new();
    let p = anon.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 302);
    let cookie = p
        .set_cookies
        .iter()
        .find(|c| c.starts_with("kc_login="))
        .unwrap_or_else(|| panic!("{:?}", p.set_cookies));
    assert!(
        cookie.split("; ").any(|a| a == "Max-Age=600"),
        "raw Set-Cookie: {cookie}"
    );
    assert!(
        !p.set_cookies.iter().any(|c| c.starts_with("kc_session=")),
        "an anonymous visit creates no session: {:?}",
        p.set_cookies
    );
    // 1,000 anonymous navigations against a store of 100 sessions and 50 pending logins
    for i in 0..1_000 {
        let p = Browser::new()
            .get(&app.url(&format!("/howdy?visit={i}")))
            .unwrap();
        assert_eq!(p.status, 302);
    }
    assert!(store.pending_len() <= 50, "{}", store.pending_len());
    assert_eq!(store.len(), 1, "only carol's session is stored");
    assert_eq!(
        b.get(&app.url("/howdy")).unwrap().status,
        200,
        "carol is still logged in"
    );
}

/// A session that cannot be refreshed (no refresh token) ends and starts a login instead of
/// answering 503 forever; a failed callback leaves no entry behind in the store.
#[test]
fn unrefreshable_sessions_end_and_failed_callbacks_leave_nothing() {
    use keycloak_client_web::SessionStore as _;
    let (app, _proxy, store) = start_through_proxy(|_| {});
    let mut b = Browser::new();
    assert_eq!(login(&app, &mut b, "/howdy", "carol").status, 200);
    let id = b.cookie("kc_session").unwrap().to_string();
    let now = keycloak_client_ureq::now();
    let mut session =
        std::sync::Arc::unwrap_or_clone(app.rt.block_on(store.load(&id, now)).unwrap().unwrap());
    let tokens = session.tokens.as_mut().unwrap();
    tokens.refresh_token = None;
    tokens.expires_at = Some(now.minus(1));
    app.rt
        .block_on(store.store(&id, session, now, now.plus(3600)))
        .unwrap();
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 302, "a new login, not a 503: {}", p.body);
    assert!(app.rt.block_on(store.load(&id, now)).unwrap().is_none());
    // A failed callback of the login just started leaves no entry behind.
    assert_eq!(store.pending_len(), 1);
    let kc = location(&p);
    let state = url::Url::parse(&kc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let p = b
        .get(&app.url(&format!("/kc/callback?state={state}&code=forged")))
        .unwrap();
    assert_eq!(p.status, 400, "{}", p.body);
    assert_eq!(store.pending_len(), 0, "no entry left behind");
}

/// The middleware setting `pushed_authorization_requests`: a login through howdy is pushed
/// (the raw `Location` holds only `client_id` and `request_uri`) for a Keycloak client that
/// requires PAR, and completes.
#[test]
fn logins_are_pushed_when_the_setting_asks() {
    use keycloak_client_testkit::{client_auth, par};
    let app = serve_settings(|s| {
        s.realm = Some(client_auth::REALM.into());
        s.client_id = Some(par::PAR_CLIENT.into());
        s.client_secret = Some(par::PAR_SECRET.into());
        s.callback_path = Some("/kc/callback".into());
        s.login_redirect_uri = "/howdy".into();
        s.pushed_authorization_requests = true;
    });
    let mut b = Browser::new();
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 302);
    let raw = location(&p);
    let (path, query) = raw.split_once('?').unwrap();
    assert!(
        path.ends_with("/realms/rkc-fapi/protocol/openid-connect/auth"),
        "{raw}"
    );
    let names: Vec<&str> = query
        .split('&')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["client_id", "request_uri"], "raw Location: {raw}");
    let cb = b.login(&raw, client_auth::USER, "fiona-pass").unwrap();
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302, "callback: {}", p.body);
    let back = location(&p);
    let page = b.get(&app.url(&back)).unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
}

/// DPoP on an API route (RFC 9449 §7): a bound token with its proof passes; as Bearer, with a
/// replayed proof, another key's, another URL's or method's, or none, it is refused with
/// `WWW-Authenticate: DPoP`.
#[test]
fn dpop_bound_tokens_need_their_proof() {
    use keycloak_client_testkit::{client_auth, dpop};
    let app = serve_settings(|s| {
        s.realm = Some(client_auth::REALM.into());
        s.client_id = Some(dpop::DPOP_CLIENT.into());
        s.client_secret = Some(dpop::DPOP_SECRET.into());
    });
    dpop::resource_server_checks(&app.url("/api/me"));
}

/// Server-issued DPoP nonces (RFC 9449 §9) on API routes.
#[test]
fn dpop_server_nonces() {
    use keycloak_client_testkit::{client_auth, dpop};
    let app = serve_settings(|s| {
        s.realm = Some(client_auth::REALM.into());
        s.client_id = Some(dpop::DPOP_CLIENT.into());
        s.client_secret = Some(dpop::DPOP_SECRET.into());
        s.dpop_nonce_lifetime_secs = Some(dpop::NONCE_LIFETIME_SECS);
    });
    dpop::resource_server_nonces(&app.url("/api/me"));
}

/// howdy on any port, configured from [`KeycloakSettings`](keycloak_client_web::KeycloakSettings)
/// (the local Keycloak and the app's URL filled in, the rest by `adjust`).
fn serve_settings(adjust: impl FnOnce(&mut keycloak_client_web::KeycloakSettings)) -> App {
    let env = keycloak::require();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let mut settings = keycloak_client_web::KeycloakSettings {
        server_url: Some(env.url.clone()),
        app_url: base.clone(),
        ..Default::default()
    };
    adjust(&mut settings);
    let auth = settings.into_web_auth().unwrap();
    let app = howdy::app(auth.clone());
    rt.spawn(async move { axum::serve(listener, app).await });
    App { base, rt, auth }
}

/// howdy with a `policy-enforcer` block (the `rkc-pe` realm), `changes` merged in.
fn serve_policy(changes: serde_json::Value) -> App {
    use keycloak_client_testkit::policy;
    serve_settings(|s| {
        s.realm = Some(policy::REALM.into());
        s.client_id = Some(policy::CLIENT.into());
        s.client_secret = Some(policy::SECRET.into());
        s.policy_enforcer_json = Some(policy::enforcer_file(changes));
    })
}

/// Keycloak's policy enforcer on API routes: by path, method and scope, by resource name,
/// lazy-loaded, owner-only albums, a resource created after start-up, the claim-information-
/// point deciding, DISABLED and PERMISSIVE paths, ambiguous paths refused.
#[test]
fn policy_enforcer_on_api_routes() {
    let app = serve_policy(serde_json::json!({}));
    keycloak_client_testkit::policy::api_scenarios(&app.base);
}

/// The enforcer on browser pages: allowed, or sent to `on-deny-redirect-to`.
#[test]
fn policy_enforcer_on_browser_pages() {
    let app = serve_policy(serde_json::json!({}));
    keycloak_client_testkit::policy::browser_scenario(&app.base);
}

/// Each global enforcement mode, and the UMA ticket challenge of `user-managed-access`.
#[test]
fn policy_enforcer_modes_and_uma_tickets() {
    use keycloak_client_testkit::policy;
    let permissive = serve_policy(serde_json::json!({"enforcement-mode": "PERMISSIVE"}));
    policy::permissive_scenario(&permissive.base);
    let disabled = serve_policy(serde_json::json!({"enforcement-mode": "DISABLED"}));
    policy::disabled_scenario(&disabled.base);
    let uma = serve_policy(serde_json::json!({"user-managed-access": {}}));
    policy::uma_ticket_scenario(&uma.base);
}

/// Keycloak posts the realm's back-channel logouts to port 18090: one tee for the binary, one
/// test at a time.
fn tee() -> &'static std::sync::Mutex<keycloak_client_testkit::logout_tee::LogoutTee> {
    static TEE: std::sync::OnceLock<
        std::sync::Mutex<keycloak_client_testkit::logout_tee::LogoutTee>,
    > = std::sync::OnceLock::new();
    TEE.get_or_init(|| {
        std::sync::Mutex::new(keycloak_client_testkit::logout_tee::LogoutTee::start(
            18090,
            "http://127.0.0.1:9/unset",
        ))
    })
}

/// Revocation-aware routes notice a token revoked at Keycloak once the cached introspection
/// answer ages out (`introspection_max_age_secs`), long before the token expires.
#[test]
fn revocation_aware_routes_notice_a_revoked_token() {
    let app = start(0, |w| w.introspection_max_age_secs = 5);
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    assert_eq!(api(&app, "/api/strict/me", Some(&carol)).0, 200, "active");
    keycloak_client_testkit::api::revoke_access_token("rkc-rs", "rkc-rs-secret", &carol);
    // the plain bearer route still accepts the (unexpired, well-signed) token
    assert_eq!(api(&app, "/api/me", Some(&carol)).0, 200);
    std::thread::sleep(std::time::Duration::from_secs(6));
    let (status, www, _) = api(&app, "/api/strict/me", Some(&carol));
    assert_eq!(status, 401, "revoked");
    assert!(www.unwrap_or_default().contains("no longer active"));
}

/// A back-channel logout of the token's session drops the cached introspection answer at
/// once: the next request is refused although the answer could have been reused for minutes.
#[test]
fn a_backchannel_logout_drops_cached_introspection_answers() {
    use keycloak_client_testkit::api::admin_logout_user;
    let tee = tee().lock().unwrap_or_else(|p| p.into_inner());
    let app = start(0, |w| w.introspection_max_age_secs = 600);
    tee.retarget(&app.url("/kc/backchannel-logout"));
    let frank = password_token("rkc-rs", "rkc-rs-secret", "frank");
    assert_eq!(
        api(&app, "/api/strict/me", Some(&frank)).0,
        200,
        "active, now cached"
    );
    admin_logout_user("frank");
    let mut refused = false;
    for _ in 0..40 {
        if api(&app, "/api/strict/me", Some(&frank)).0 == 401 {
            refused = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert!(refused, "the logout reached the cached answer");
}

/// Keycloak unreachable: revocation-aware routes answer 503, or let the request through with
/// `introspection_fail_open`.
#[test]
fn introspection_fails_closed_unless_configured_open() {
    use keycloak_client_testkit::proxy::Fault;
    for open in [false, true] {
        let (app, proxy, _store) = start_through_proxy(|w| {
            w.api_audience = Some("rkc-api".into());
            w.introspection_fail_open = open;
        });
        let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
        // keys fetched while Keycloak answers; then it goes away
        assert_eq!(api(&app, "/api/me", Some(&carol)).0, 200);
        proxy.set(Fault::Down);
        let (s, _, body) = api(&app, "/api/strict/me", Some(&carol));
        assert_eq!(s, if open { 200 } else { 503 }, "fail open: {open}: {body}");
        proxy.set(Fault::Pass);
        assert_eq!(api(&app, "/api/strict/me", Some(&carol)).0, 200);
    }
}

/// The policy enforcer fails closed when Keycloak cannot decide (503), except on a
/// `PERMISSIVE` path, where the request is let through.
#[test]
fn policy_enforcer_fails_closed_when_keycloak_is_down() {
    use keycloak_client_testkit::proxy::Fault;
    let (app, proxy) = enforced_through_proxy(serde_json::json!({"paths": [
        {"path": "/docs/{id}", "methods": [{"method": "GET", "scopes": ["read"]}]},
        {"path": "/lenient/{id}", "enforcement-mode": "PERMISSIVE"}
    ]}));
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    let bob = password_token("rkc-rs", "rkc-rs-secret", "bob");
    assert_eq!(
        api(&app, "/docs/1", Some(&carol)).0,
        200,
        "granted while Keycloak answers"
    );
    proxy.set(Fault::Down);
    let (s, _, body) = api(&app, "/docs/1", Some(&bob));
    assert_eq!(s, 503, "{body}");
    assert_eq!(
        api(&app, "/lenient/1", Some(&bob)).0,
        200,
        "PERMISSIVE path"
    );
    proxy.set(Fault::Pass);
    assert_eq!(
        api(&app, "/docs/1", Some(&bob)).0,
        403,
        "bob is denied once Keycloak answers"
    );
    // a global PERMISSIVE does not open a configured path when Keycloak cannot decide
    let (app, proxy) = enforced_through_proxy(
        serde_json::json!({"enforcement-mode": "PERMISSIVE", "paths": [
            {"path": "/docs/{id}", "methods": [{"method": "GET", "scopes": ["read"]}]}
        ]}),
    );
    assert_eq!(api(&app, "/docs/1", Some(&carol)).0, 200);
    proxy.set(Fault::Down);
    assert_eq!(
        api(&app, "/docs/1", Some(&bob)).0,
        503,
        "global PERMISSIVE, Keycloak down"
    );
    proxy.set(Fault::Pass);
    assert_eq!(api(&app, "/docs/1", Some(&bob)).0, 403);
}

/// A burst of first requests to one path asks Keycloak's protection API once (the lookups are
/// single-flight per path); the answer then serves them all.
#[test]
fn a_burst_of_first_requests_looks_a_path_up_once() {
    let (app, proxy) = enforced_through_proxy(serde_json::json!({"lazy-load-paths": true}));
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    // keys, the PAT and the token are fetched and verified once beforehand
    assert_eq!(api(&app, "/warm/up", Some(&carol)).0, 403);
    let path = format!("/burst/{}", rand::random::<u32>());
    let before = proxy.connections();
    for status in burst(&app, &path, &carol, 8) {
        assert_eq!(status, 403, "no resource at this path");
    }
    assert_eq!(proxy.connections() - before, 1, "one lookup for the burst");
}

/// A burst of requests with one token to a path Keycloak must decide asks Keycloak once (the
/// decisions are coalesced per token, resource, scopes and claims); the answer then serves
/// them all.
#[test]
fn a_burst_of_requests_with_one_token_asks_keycloak_for_a_decision_once() {
    let (app, proxy) = docs_enforced_through_proxy();
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    let before = proxy.connections();
    for status in burst(&app, "/docs/1", &carol, 8) {
        assert_eq!(status, 200, "carol may read the documents");
    }
    assert_eq!(
        proxy.connections() - before,
        1,
        "one decision for the burst"
    );
}

/// Requests with one token that wait behind a decision Keycloak could not give share that
/// answer (503) instead of each asking in turn (a struggling Keycloak would cost the last of N
/// waiters N slow answers); the next request after the outage asks again and is served.
#[test]
fn requests_waiting_behind_a_failed_decision_share_its_answer() {
    use keycloak_client_testkit::proxy::Fault;
    let (app, proxy) = docs_enforced_through_proxy();
    let carol = password_token("rkc-rs", "rkc-rs-secret", "carol");
    proxy.set(Fault::SlowUnavailable(std::time::Duration::from_millis(
        800,
    )));
    let before = proxy.connections();
    let started = std::time::Instant::now();
    for status in burst(&app, "/docs/1", &carol, 6) {
        assert_eq!(status, 503, "Keycloak cannot decide");
    }
    let asked = proxy.connections() - before;
    assert_eq!(asked, 1, "the waiters shared the failed answer");
    proxy.set(Fault::Pass);
    assert_eq!(
        api(&app, "/docs/1", Some(&carol)).0,
        200,
        "asked again after the outage"
    );
    // (not a timing assertion: the count above is the check; this only reports)
    eprintln!("burst answered in {:?}", started.elapsed());
}

/// A bearer token whose keys cannot be fetched because Keycloak is unreachable is not
/// "invalid": the API answers 503 with a reason (a client that took a 401 at its word would
/// throw a good token away and send its user to a login page that is down), and serves the
/// token once Keycloak is back.
#[test]
fn bearer_tokens_get_503_while_the_keys_cannot_be_fetched_and_recover() {
    use keycloak_client_testkit::proxy::Fault;
    let (app, proxy, _store) = start_through_proxy(|w| {
        w.api_audience = Some("rkc-api".into());
        w.jwks_policy = keycloak_client::JwksPolicy {
            max_age_secs: 3600,
            cooldown_secs: 2,
        };
    });
    let alice = password_token("rkc-rs", "rkc-rs-secret", "alice");
    // a cold start during the outage: nothing of the realm is loaded yet
    for fault in [
        Fault::Down,
        Fault::Answer(503, "text/html", "<html>maintenance</html>"),
    ] {
        proxy.set(fault.clone());
        // the request that tries, and one right after that failure
        for attempt in ["first", "right after"] {
            let (s, www, body) = api(&app, "/api/me", Some(&alice));
            assert_eq!(s, 503, "{fault:?}, {attempt}: {body}");
            assert!(www.is_none(), "no challenge: the token was not refused");
            assert!(body.contains("unavailable"), "{body}");
        }
        std::thread::sleep(std::time::Duration::from_millis(2100));
    }
    proxy.set(Fault::Pass);
    let (s, _, body) = api(&app, "/api/me", Some(&alice));
    assert_eq!(s, 200, "served once Keycloak is back: {body}");
}

/// howdy with its back channel through a fault proxy, API audience `rkc-api`, under the
/// policy enforcer configured by `config` (a `policy-enforcer` block).
fn enforced_through_proxy(
    config: serde_json::Value,
) -> (App, keycloak_client_testkit::proxy::FaultProxy) {
    let config =
        keycloak_client::policy_enforcer::PolicyEnforcerConfig::from_json(&config.to_string())
            .unwrap();
    let (app, proxy, _store) = start_through_proxy(|w| {
        w.api_audience = Some("rkc-api".into());
        w.policy_enforcer = Some(config);
    });
    (app, proxy)
}

/// howdy with its back channel through a fault proxy and `/docs/{id}` (GET: scope `read`)
/// under the policy enforcer; keys, the PAT and the path's resource already fetched (with a
/// token of carol's that no test reuses).
fn docs_enforced_through_proxy() -> (App, keycloak_client_testkit::proxy::FaultProxy) {
    let (app, proxy) = enforced_through_proxy(serde_json::json!({"paths": [
        {"path": "/docs/{id}", "methods": [{"method": "GET", "scopes": ["read"]}]}
    ]}));
    let warm = password_token("rkc-rs", "rkc-rs-secret", "carol");
    assert_eq!(api(&app, "/docs/1", Some(&warm)).0, 200);
    (app, proxy)
}

/// `n` GETs of `path` with `token`, released together; their statuses.
fn burst(app: &App, path: &str, token: &str, n: usize) -> Vec<u16> {
    let start = std::sync::Arc::new(std::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (url, token, start) = (app.url(path), token.to_string(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                keycloak_client_testkit::api::get(&url, Some(&token)).0
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}
