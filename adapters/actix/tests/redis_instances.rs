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
    let env = keycloak::require();
    let (redis_url, keys) = (redis_url.to_string(), keys.to_string());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
            let mut s = mysite::settings(&env.url, &base);
            s.keycloak_json = None;
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
}

#[test]
fn two_instances_share_sessions_on_a_single_node() {
    shared_sessions(&redis_env::single());
}

#[test]
fn two_instances_share_sessions_on_the_cluster() {
    shared_sessions(&redis_env::cluster());
}
