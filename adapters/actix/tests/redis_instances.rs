//! Two mysite (actix-web) instances sharing sessions in Redis, against the real Keycloak, on
//! a single node and on the cluster: a login started on one finishes on the other, the
//! session works on both, the callback cannot be replayed, and a logout on one ends it on both.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};
use keycloak_client_redis::{RedisConfig, RedisStore, SealingKeys};
use keycloak_client_testkit::browser::{Browser, Page};
use keycloak_client_testkit::{keycloak, redis_env};

fn instance(redis_url: &str, keys: &str) -> String {
    instance_with(redis_url, keys, |_| {})
}

fn instance_with(
    redis_url: &str,
    keys: &str,
    adjust: impl FnOnce(&mut keycloak_client_actix::KeycloakSettings) + Send + 'static,
) -> String {
    let env = keycloak::require();
    let (redis_url, keys) = (redis_url.to_string(), keys.to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
            let mut s = mysite::settings(&env.url, &base);
            s.keycloak_json = None;
            adjust(&mut s);
            let mut cfg = RedisConfig::from_url(&redis_url).unwrap();
            cfg.timeout = Duration::from_millis(500);
            let store = Arc::new(
                RedisStore::new(&cfg, SealingKeys::from_base64url_list(&keys).unwrap()).unwrap(),
            );
            let data = web::Data::from(s.into_web_auth_with_store(store).unwrap());
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(data.clone())
                    .configure(mysite::configure)
            })
            .workers(1)
            .listen(listener)
            .unwrap()
            .run();
            tx.send(base).unwrap();
            server.await.unwrap();
        })
    });
    rx.recv().unwrap()
}

fn location(p: &Page) -> String {
    p.location
        .clone()
        .unwrap_or_else(|| panic!("expected a redirect, got {} {}", p.status, p.body))
}

fn shared_sessions(redis_url: &str) {
    let keys = redis_env::sealing_key();
    let (a, b_base) = (instance(redis_url, &keys), instance(redis_url, &keys));
    let mut b = Browser::new();
    let p = b.get(&format!("{a}/home")).unwrap();
    assert_eq!(p.status, 302);
    let cb = b.login(&location(&p), "carol", "carol-pass").unwrap();
    let mut on_b = cb.clone();
    on_b.set_port(url::Url::parse(&b_base).unwrap().port())
        .unwrap();
    assert_eq!(
        b.get(on_b.as_str()).unwrap().status,
        302,
        "B finishes A's login"
    );
    assert_eq!(
        b.get(cb.as_str()).unwrap().status,
        400,
        "the callback is not replayed on A"
    );
    for base in [&a, &b_base] {
        let p = b.get(&format!("{base}/home")).unwrap();
        assert_eq!(p.status, 200, "{base}: {}", p.body);
        assert!(p.body.contains("carol"), "{}", p.body);
    }
    assert_eq!(b.get(&format!("{b_base}/logout")).unwrap().status, 302);
    assert_eq!(
        b.get(&format!("{a}/home")).unwrap().status,
        302,
        "a logout on B ends the session on A"
    );

    // a back-channel logout delivered to A ends the session on B
    let guard = tee().lock().unwrap_or_else(|e| e.into_inner());
    guard.retarget(&format!("{a}/kc/backchannel-logout"));
    let mut d = Browser::new();
    let p = d.get(&format!("{b_base}/home")).unwrap();
    let cb = d.login(&location(&p), "dave", "dave-pass").unwrap();
    assert_eq!(d.get(cb.as_str()).unwrap().status, 302);
    assert_eq!(
        d.get(&format!("{a}/home")).unwrap().status,
        200,
        "the session is shared"
    );
    let before = guard.bodies().len();
    keycloak_client_testkit::api::admin_logout_user("dave");
    let t = std::time::Instant::now();
    while guard.bodies().len() == before && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        guard.bodies().len() > before,
        "Keycloak posted a logout token"
    );
    drop(guard);
    assert_eq!(
        d.get(&format!("{b_base}/home")).unwrap().status,
        302,
        "the back-channel logout on A ended B's session"
    );
}

/// One back-channel tee for the whole binary (Keycloak posts to a fixed port).
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

#[test]
fn two_instances_share_sessions_on_a_single_node() {
    shared_sessions(&redis_env::single());
}

#[test]
fn two_instances_share_sessions_on_the_cluster() {
    shared_sessions(&redis_env::cluster());
}

/// Refresh-token rotation on (`rkc-refresh`), every request refreshing, rounds of concurrent
/// requests alternating between two mysite instances: one refresh per session across
/// instances, so the session never ends.
fn one_refresh_across_instances(redis_url: &str) {
    use keycloak_client_testkit::api::{
        refresh_token_reuse_error, ROTATION_CLIENT, ROTATION_REALM, ROTATION_SECRET,
    };
    let err = refresh_token_reuse_error("remy");
    assert!(
        err.to_string().contains("invalid_grant"),
        "the realm rotates: {err}"
    );
    let keys = redis_env::sealing_key();
    let rotation = |s: &mut keycloak_client_actix::KeycloakSettings| {
        s.realm = Some(ROTATION_REALM.into());
        s.client_id = Some(ROTATION_CLIENT.into());
        s.client_secret = Some(ROTATION_SECRET.into());
        s.api_audience = None;
        s.refresh_margin_secs = Some(300);
    };
    let (a, b_base) = (
        instance_with(redis_url, &keys, rotation),
        instance_with(redis_url, &keys, rotation),
    );
    let mut b = Browser::new();
    let p = b.get(&format!("{a}/home")).unwrap();
    let cb = b.login(&location(&p), "rita", "rita-pass").unwrap();
    assert_eq!(b.get(cb.as_str()).unwrap().status, 302);
    let cookie = b.cookie("kc_session").unwrap().to_string();
    let urls = [format!("{a}/home"), format!("{b_base}/home")];
    let mut seen = std::collections::HashSet::new();
    for round in 0..4 {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (c, urls) = (cookie.clone(), urls.clone());
                std::thread::spawn(move || {
                    let mut b = Browser::new();
                    b.set_cookie("kc_session", &c);
                    (0..3)
                        .map(|j| b.get(&urls[(i + j) % 2]).unwrap())
                        .collect::<Vec<_>>()
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
        "several refreshes happened ({} tokens)",
        seen.len()
    );
}

#[test]
fn one_refresh_per_session_across_instances_on_a_single_node() {
    one_refresh_across_instances(&redis_env::single());
}

#[test]
fn one_refresh_per_session_across_instances_on_the_cluster() {
    one_refresh_across_instances(&redis_env::cluster());
}
