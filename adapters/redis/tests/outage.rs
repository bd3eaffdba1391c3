//! Redis going away and coming back, on a private server this test owns (so the shared ones
//! stay up): operations fail fast with a typed error (the middleware's 503), nothing hangs,
//! and once Redis is back the store answers again with the session intact.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use keycloak_client::UnixTime;
use keycloak_client_redis::{RedisConfig, RedisStore, SealingKeys};
use keycloak_client_testkit::redis_env;
use keycloak_client_web::{store_contract, SessionStore as _, StoreError};

const PORT: u16 = 16391;

struct Server {
    child: Child,
}

fn start(dir: &std::path::Path) -> Server {
    let child = Command::new("redis-server")
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
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (scripts/redis up installs it)");
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", PORT)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "private redis did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fails_fast_and_service_resumes_with_the_session() {
    redis_env::single(); // the package is installed and the shared servers run
    let dir = std::env::temp_dir().join(format!("kc-redis-outage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = start(&dir);
    let mut cfg = RedisConfig::from_url(&format!("redis://127.0.0.1:{PORT}")).unwrap();
    cfg.timeout = Duration::from_millis(300);
    let keys = SealingKeys::from_base64url_list(&redis_env::sealing_key()).unwrap();
    let store = RedisStore::new(&cfg, keys).unwrap();
    let now = UnixTime(1_900_000_000);
    store
        .store(
            "outage",
            store_contract::session("sid-o", "sub-o", "at-o"),
            now,
            now.plus(3600),
        )
        .await
        .unwrap();

    drop(server); // Redis is gone
    for _ in 0..5 {
        let t = Instant::now();
        let r = store.load("outage", now.plus(1)).await;
        let took = t.elapsed();
        assert!(
            matches!(r, Err(StoreError::Unavailable(_) | StoreError::Timeout(_))),
            "a typed error, not a logout: {r:?}"
        );
        assert!(took < Duration::from_millis(1500), "answered in {took:?}");
    }

    let _server = start(&dir); // back, with its data
    let t = Instant::now();
    let session = loop {
        match store.load("outage", now.plus(2)).await {
            Ok(s) => break s,
            Err(_) if t.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("no recovery after Redis came back: {e}"),
        }
    };
    let session = session.expect("the session survived the outage");
    assert_eq!(session.sid.as_deref(), Some("sid-o"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// More operations than the store allows in flight: the excess waits within the time limit
/// and then gets `Busy`, never an unbounded queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturation_is_bounded_and_reported() {
    let dir = std::env::temp_dir().join(format!("kc-redis-busy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A server that accepts connections but never answers: every operation holds its slot.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    let mut cfg = RedisConfig::from_url(&format!("redis://127.0.0.1:{port}")).unwrap();
    cfg.timeout = Duration::from_millis(300);
    cfg.max_in_flight = 2;
    let store = std::sync::Arc::new(
        RedisStore::new(
            &cfg,
            SealingKeys::from_base64url_list(&redis_env::sealing_key()).unwrap(),
        )
        .unwrap(),
    );
    let t = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|i| {
            let s = store.clone();
            tokio::spawn(async move { s.load(&format!("busy-{i}"), UnixTime(1)).await })
        })
        .collect();
    let mut busy = 0;
    for task in tasks {
        match task.await.unwrap() {
            Err(StoreError::Busy(2)) => busy += 1,
            Err(StoreError::Timeout(_) | StoreError::Unavailable(_)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(busy >= 1, "the excess was refused as busy");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "all answered in {:?}",
        t.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A loopback proxy to the shared single node whose connections can be frozen: bytes stop
/// flowing but nothing is closed (a peer that vanished without a FIN or RST). Connections
/// accepted after the freeze forward normally.
struct FreezingProxy {
    port: u16,
    freeze: tokio::sync::watch::Sender<u64>,
    epoch: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl FreezingProxy {
    async fn start(upstream: &str) -> FreezingProxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (freeze, rx) = tokio::sync::watch::channel(0u64);
        let epoch = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
        let (upstream, epochs) = (upstream.to_string(), epoch.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut a, _)) = listener.accept().await else {
                    return;
                };
                let mine = epochs.load(std::sync::atomic::Ordering::SeqCst);
                let mut rx = rx.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut b) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut a, &mut b) => {}
                        _ = async { rx.wait_for(|f| *f >= mine).await.is_ok() } => {
                            // Frozen: hold both sockets open, move nothing.
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });
        FreezingProxy {
            port,
            freeze,
            epoch,
        }
    }

    /// Freezes every connection made so far.
    fn freeze(&self) {
        let e = self.epoch.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.freeze.send_replace(e);
    }
}

/// A connection that goes silent (no RST: a dead peer, a dropped NAT entry) is not trusted
/// forever: after a few timeouts the store connects again and answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_dead_connection_is_replaced_after_a_few_timeouts() {
    let single = redis_env::single();
    let upstream = single
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_string();
    let proxy = FreezingProxy::start(&upstream).await;
    let mut cfg = RedisConfig::from_url(&format!("redis://127.0.0.1:{}", proxy.port)).unwrap();
    cfg.timeout = Duration::from_millis(300);
    let keys = SealingKeys::from_base64url_list(&redis_env::sealing_key()).unwrap();
    let store = RedisStore::new(&cfg, keys).unwrap();
    let now = UnixTime(1_900_000_000);
    let id = format!("silent-{}", std::process::id());
    store
        .store(
            &id,
            store_contract::session("sid-s", "sub-s", "at-s"),
            now,
            now.plus(3600),
        )
        .await
        .unwrap();
    proxy.freeze();
    let mut timeouts = 0;
    let mut answered = false;
    for _ in 0..10 {
        match store.load(&id, now.plus(1)).await {
            Ok(s) => {
                assert!(s.is_some(), "the session is intact");
                answered = true;
                break;
            }
            Err(StoreError::Timeout(_)) => timeouts += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert!(timeouts >= 1, "the frozen connection did time out");
    assert!(
        answered,
        "still no answer after {timeouts} timeouts: the dead connection was kept"
    );
}
