//! Two howdy instances sharing sessions in Redis, as behind a load balancer, against the real
//! Keycloak: on a single node and on the 3-master cluster. Each instance has its own
//! `WebAuth` (caches, lease name, replay cache) and its own Redis connection.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use keycloak_client_redis::{RedisConfig, RedisStore, SealingKeys};
use keycloak_client_testkit::browser::{Browser, Page};
use keycloak_client_testkit::logout_tee::LogoutTee;
use keycloak_client_testkit::{api, keycloak, redis_env};

struct Instance {
    base: String,
    _rt: tokio::runtime::Runtime,
}

impl Instance {
    fn url(&self, p: &str) -> String {
        format!("{}{p}", self.base)
    }
}

fn instance(
    redis_url: &str,
    keys: &str,
    keycloak_json: Option<&str>,
    refresh_margin: u64,
) -> Instance {
    instance_at(redis_url, keys, keycloak_json, None, |w| {
        w.refresh_margin_secs = refresh_margin
    })
}

/// An instance whose public URL is `public` (default: where it listens), configured further by
/// `adjust`.
fn instance_at(
    redis_url: &str,
    keys: &str,
    keycloak_json: Option<&str>,
    public: Option<&str>,
    adjust: impl FnOnce(&mut keycloak_client_web::WebConfig),
) -> Instance {
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
    let mut cfg = RedisConfig::from_url(redis_url).unwrap();
    cfg.timeout = Duration::from_millis(500);
    let store =
        Arc::new(RedisStore::new(&cfg, SealingKeys::from_base64url_list(keys).unwrap()).unwrap());
    let auth = howdy::web_auth_with_store(
        &env.url,
        public.unwrap_or(&base),
        keycloak_json,
        store,
        adjust,
    )
    .unwrap();
    let app = howdy::app(auth);
    rt.spawn(async move { axum::serve(listener, app).await });
    Instance { base, _rt: rt }
}

fn location(p: &Page) -> String {
    p.location
        .clone()
        .unwrap_or_else(|| panic!("expected a redirect, got {} {}", p.status, p.body))
}

/// The same URL on the other instance.
fn on(other: &Instance, url: &url::Url) -> String {
    let mut u = url.clone();
    let port = url::Url::parse(&other.base).unwrap().port();
    u.set_port(port).unwrap();
    u.to_string()
}

/// One back-channel tee for the whole binary (Keycloak posts to a fixed port).
fn tee() -> &'static Mutex<LogoutTee> {
    static TEE: OnceLock<Mutex<LogoutTee>> = OnceLock::new();
    TEE.get_or_init(|| Mutex::new(LogoutTee::start(18090, "http://127.0.0.1:9/unset")))
}

/// Logs `user` in: the login starts on `start` and its callback lands on `finish`; the same
/// callback replayed on `start` is refused.
fn login_across(b: &mut Browser, start: &Instance, finish: &Instance, user: &str) {
    let p = b.get(&start.url("/howdy")).unwrap();
    assert_eq!(p.status, 302);
    let cb = b
        .login(&location(&p), user, &format!("{user}-pass"))
        .unwrap();
    let p = b.get(&on(finish, &cb)).unwrap();
    assert_eq!(
        p.status, 302,
        "the other instance finishes the login: {}",
        p.body
    );
    let replay = b.get(cb.as_str()).unwrap();
    assert_eq!(
        replay.status, 400,
        "a callback replayed across instances is refused"
    );
}

fn shared_sessions(redis_url: &str) {
    let keys = redis_env::sealing_key();
    let (a, b_inst) = (
        instance(redis_url, &keys, None, 30),
        instance(redis_url, &keys, None, 30),
    );
    // log in on A (finished on B), use the session on both
    let mut b = Browser::new();
    login_across(&mut b, &a, &b_inst, "alice");
    for i in [&a, &b_inst] {
        let p = b.get(&i.url("/howdy")).unwrap();
        assert_eq!(p.status, 200, "{}: {}", i.base, p.body);
        assert!(p.body.contains("Alice"), "{}", p.body);
    }
    // log out on B: A is logged out too
    let p = b.get(&b_inst.url("/logout")).unwrap();
    assert_eq!(p.status, 302);
    let p = b.get(&a.url("/howdy")).unwrap();
    assert_eq!(p.status, 302, "logged out everywhere: {}", p.body);

    // a back-channel logout delivered to A ends the session on B
    let guard = tee().lock().unwrap_or_else(|e| e.into_inner());
    guard.retarget(&a.url("/kc/backchannel-logout"));
    let mut d = Browser::new();
    login_across(&mut d, &b_inst, &a, "dave");
    assert_eq!(d.get(&b_inst.url("/howdy")).unwrap().status, 200);
    let before = guard.bodies().len();
    api::admin_logout_user("dave");
    let t = Instant::now();
    while guard.bodies().len() == before && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        guard.bodies().len() > before,
        "Keycloak posted a logout token"
    );
    drop(guard);
    let p = d.get(&b_inst.url("/howdy")).unwrap();
    assert_eq!(
        p.status, 302,
        "the back-channel logout on A ended B's session: {}",
        p.body
    );
}

#[test]
fn two_instances_share_sessions_on_a_single_node() {
    shared_sessions(&redis_env::single());
}

#[test]
fn two_instances_share_sessions_on_the_cluster() {
    shared_sessions(&redis_env::cluster());
}

/// Refresh-token rotation on (`rkc-refresh`: a refresh token is single-use), every request
/// refreshes, and rounds of concurrent requests alternate between the instances: one
/// refresh per session across instances, so none of them ever ends the session.
fn one_refresh_across_instances(redis_url: &str) {
    let err = api::refresh_token_reuse_error("remy");
    assert!(
        err.to_string().contains("invalid_grant"),
        "the realm rotates: {err}"
    );
    let keys = redis_env::sealing_key();
    let json = api::rotation_keycloak_json();
    let a = instance(redis_url, &keys, Some(&json), 300);
    let b_inst = instance(redis_url, &keys, Some(&json), 300);
    let mut b = Browser::new();
    let p = b.get(&a.url("/howdy")).unwrap();
    let cb = b.login(&location(&p), "rita", "rita-pass").unwrap();
    assert_eq!(b.get(cb.as_str()).unwrap().status, 302);
    let cookie = b.cookie("kc_session").unwrap().to_string();
    let urls = [a.url("/howdy"), b_inst.url("/howdy")];
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
                        .split("token ")
                        .nth(1)
                        .and_then(|t| t.split('<').next())
                        .map(str::to_string),
                );
            }
        }
    }
    assert!(
        seen.len() >= 4,
        "several refreshes happened ({} access tokens)",
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

/// Redis stops (a private server this test owns): pages answer 503 with the reason, quickly,
/// and nobody is logged out; when Redis is back the same session works again.
#[test]
fn redis_stopped_gives_503_and_the_session_comes_back_with_it() {
    const PORT: u16 = 16392;
    redis_env::single();
    let dir = std::env::temp_dir().join(format!("kc-redis-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let start = || {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &PORT.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let server = Server(child);
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    };
    let server = start();
    let app = instance(
        &format!("redis://127.0.0.1:{PORT}"),
        &redis_env::sealing_key(),
        None,
        30,
    );
    let mut b = Browser::new();
    login_across(&mut b, &app, &app, "bob");
    assert_eq!(b.get(&app.url("/howdy")).unwrap().status, 200);
    drop(server);
    let t = Instant::now();
    let p = b.get(&app.url("/howdy")).unwrap();
    assert_eq!(p.status, 503, "{}", p.body);
    assert!(p.body.contains("session store"), "says why: {}", p.body);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "answered in {:?}",
        t.elapsed()
    );
    let server = start();
    let t = Instant::now();
    let status = loop {
        let s = b.get(&app.url("/howdy")).unwrap().status;
        if s != 503 || t.elapsed() > Duration::from_secs(10) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200, "the session is back with Redis");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A DPoP proof is single-use across instances (RFC 9449 §11.1): two instances behind one
/// public URL share the replay check through Redis, so a proof accepted by one is refused by
/// the other; on the cluster too.
fn dpop_replay_across_instances(redis_url: &str) {
    use keycloak_client_testkit::{client_auth, dpop};
    let env = keycloak::require();
    let keys = redis_env::sealing_key();
    let json = serde_json::json!({
        "realm": client_auth::REALM,
        "auth-server-url": env.url,
        "resource": dpop::DPOP_CLIENT,
        "credentials": {"secret": dpop::DPOP_SECRET},
    })
    .to_string();
    let audience =
        |w: &mut keycloak_client_web::WebConfig| w.api_audience = Some(dpop::DPOP_CLIENT.into());
    let a = instance_at(redis_url, &keys, Some(&json), None, audience);
    let b = instance_at(redis_url, &keys, Some(&json), Some(&a.base), audience);
    dpop::replay_across_instances(&a.url("/api/me"), &a.url("/api/me"), &b.url("/api/me"));
}

#[test]
fn a_dpop_proof_is_single_use_across_instances_on_a_single_node() {
    dpop_replay_across_instances(&redis_env::single());
}

#[test]
fn a_dpop_proof_is_single_use_across_instances_on_the_cluster() {
    dpop_replay_across_instances(&redis_env::cluster());
}
