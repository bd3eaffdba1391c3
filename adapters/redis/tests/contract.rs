//! The shared `SessionStore` contract against the local Redis: a single node and the cluster.

use keycloak_client_redis::{RedisConfig, RedisStore, SealingKeys};
use keycloak_client_testkit::redis_env;
use keycloak_client_web::store_contract;

fn store(url: &str) -> RedisStore {
    let cfg = RedisConfig::from_url(url).unwrap();
    RedisStore::new(
        &cfg,
        SealingKeys::from_base64url_list(&redis_env::sealing_key()).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_on_a_single_node() {
    store_contract::run_all(&store(&redis_env::single())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_on_the_cluster() {
    let url = redis_env::cluster();
    assert!(RedisConfig::from_url(&url).unwrap().cluster);
    store_contract::run_all(&store(&url)).await;
}

/// Values are sealed: what Redis holds has no token in it, and a store with other keys (or
/// an unknown envelope) reads no session, without a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_never_holds_a_token_in_plaintext_and_foreign_values_are_no_session() {
    use keycloak_client_web::SessionStore as _;
    let url = redis_env::single();
    let key = redis_env::sealing_key();
    let s = store_with(&url, &key);
    let id = format!("plain-{}", redis_env::sealing_key());
    let now = keycloak_client::UnixTime(1_900_000_000);
    let session = store_contract::session("sid-plain", "sub-plain", "ACCESS-TOKEN-MARKER");
    s.store(&id, session, now, now.plus(100)).await.unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("kc:*")
        .query_async(&mut c)
        .await
        .unwrap();
    let mut found = false;
    for k in keys {
        let ty: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut c)
            .await
            .unwrap();
        let dump: Vec<u8> = redis::cmd("DUMP")
            .arg(&k)
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(
            !dump.windows(19).any(|w| w == b"ACCESS-TOKEN-MARKER"),
            "{k} ({ty}) holds the token in plaintext"
        );
        assert!(!k.contains(&id), "{k} names the session id");
        found |= ty == "hash";
    }
    assert!(found, "the session is in Redis");
    // rotated out: another instance with only a new key reads no session
    let other = store_with(&url, &redis_env::sealing_key());
    assert!(other.load(&id, now.plus(1)).await.unwrap().is_none());
    // rotation: new key first, old key still opens
    let rotated = store_with(&url, &format!("{},{key}", redis_env::sealing_key()));
    assert!(rotated.load(&id, now.plus(1)).await.unwrap().is_some());
}

fn store_with(url: &str, keys: &str) -> RedisStore {
    let cfg = RedisConfig::from_url(url).unwrap();
    RedisStore::new(&cfg, SealingKeys::from_base64url_list(keys).unwrap()).unwrap()
}
