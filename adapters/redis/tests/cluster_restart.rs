//! A cluster node restarts (scripts/redis restart-node): while it is down, operations on its
//! slots fail fast with a typed error; afterwards the cluster client finds it again by itself
//! and every session is still there.

use std::time::{Duration, Instant};

use keycloak_client::UnixTime;
use keycloak_client_redis::{RedisConfig, RedisStore, SealingKeys};
use keycloak_client_testkit::redis_env;
use keycloak_client_web::{store_contract, SessionStore as _};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_node_restart_and_the_client_recovers_by_itself() {
    let url = redis_env::cluster();
    let mut cfg = RedisConfig::from_url(&url).unwrap();
    cfg.timeout = Duration::from_millis(500);
    let store = RedisStore::new(
        &cfg,
        SealingKeys::from_base64url_list(&redis_env::sealing_key()).unwrap(),
    )
    .unwrap();
    let now = UnixTime(1_900_000_000);
    // enough sessions that every master holds some
    let ids: Vec<String> = (0..30)
        .map(|i| format!("restart-{i}-{}", redis_env::sealing_key()))
        .collect();
    for id in &ids {
        let s = store_contract::session("sid-r", "sub-r", id);
        store.store(id, s, now, now.plus(3600)).await.unwrap();
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let restart = tokio::task::spawn_blocking(move || {
        std::process::Command::new(root.join("scripts/redis"))
            .args(["restart-node", "17002"])
            .status()
            .expect("scripts/redis")
    });
    // while it restarts, every load answers (a session or a typed error), none hangs
    let t = Instant::now();
    while !restart.is_finished() && t.elapsed() < Duration::from_secs(20) {
        for id in ids.iter().take(5) {
            let t1 = Instant::now();
            let _ = store.load(id, now.plus(1)).await;
            assert!(
                t1.elapsed() < Duration::from_secs(3),
                "a load hung for {:?}",
                t1.elapsed()
            );
        }
    }
    assert!(
        restart.await.unwrap().success(),
        "scripts/redis restart-node 17002"
    );
    let t = Instant::now();
    for id in &ids {
        loop {
            match store.load(id, now.plus(2)).await {
                Ok(Some(_)) => break,
                Ok(None) => panic!("session {id} lost in the restart"),
                Err(e) if t.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await
                }
                Err(e) => panic!("no recovery after the restart: {e}"),
            }
        }
    }
}
