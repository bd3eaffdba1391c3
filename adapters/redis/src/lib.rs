//! Sessions in Redis for `keycloak-client-web`, so that several app instances behind a load
//! balancer share login state: a single node or a Redis Cluster.
//!
//! * Every operation runs on one cluster slot (hash tags; see the `keys` module).
//! * Values are sealed with AES-256-GCM under application keys with rotation ([`SealingKeys`]).
//! * Taking a login in progress is atomic (`GETDEL`); a back-channel logout reaching any
//!   instance ends the session on all of them (`sid` and `sub` indexes).
//! * A refresh lease (`SET NX PX`) gives one refresh per session across instances.
//! * Redis down, slow or saturated is a [`StoreError`](keycloak_client_web::StoreError): the
//!   middleware answers 503 and keeps the session; service resumes when Redis does.
//!
//! ```no_run
//! use keycloak_client_redis::{RedisConfig, RedisStore, SealingKeys};
//! let cfg = RedisConfig::from_url("redis://127.0.0.1:16379")?;
//! let keys = SealingKeys::from_base64url_list("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")?;
//! let store = RedisStore::new(&cfg, keys)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod connection;
mod keys;
mod seal;
mod slot;
mod store;

pub use connection::{RedisConfig, UrlError};
pub use seal::{KeyError, OpenError, SealError, SealingKeys};
pub use store::RedisStore;

/// Why the store could not be configured from the environment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// `REDIS_URL` is malformed.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// `SESSION_KEYS` is missing while `REDIS_URL` is set.
    #[error("REDIS_URL is set but SESSION_KEYS is not: give one or more comma-separated base64url 32-byte keys (the first seals)")]
    MissingKeys,
    /// `SESSION_KEYS` is malformed.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The client refused the configuration.
    #[error(transparent)]
    Store(#[from] keycloak_client_web::StoreError),
}

/// The store `REDIS_URL` and `SESSION_KEYS` describe, or `None` when `REDIS_URL` is unset.
/// `REDIS_TIMEOUT_MS` (default 1000) bounds every operation.
pub fn from_env() -> Result<Option<RedisStore>, EnvError> {
    from_vars(|name| std::env::var(name).ok())
}

/// [`from_env`] over any source of variables.
pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<RedisStore>, EnvError> {
    let Some(url) = var("REDIS_URL") else {
        return Ok(None);
    };
    let mut cfg = RedisConfig::from_url(&url)?;
    if let Some(ms) = var("REDIS_TIMEOUT_MS").and_then(|v| v.parse::<u64>().ok()) {
        cfg.timeout = std::time::Duration::from_millis(ms.max(1));
    }
    let keys = var("SESSION_KEYS").ok_or(EnvError::MissingKeys)?;
    let keys = SealingKeys::from_base64url_list(&keys)?;
    Ok(Some(RedisStore::new(&cfg, keys)?))
}

/// The session store the environment asks for: Redis when `REDIS_URL` is set (with
/// `SESSION_KEYS`), else an in-memory store (one process).
pub fn session_store_from_env(
) -> Result<std::sync::Arc<dyn keycloak_client_web::SessionStore>, EnvError> {
    Ok(match from_env()? {
        Some(r) => std::sync::Arc::new(r),
        None => std::sync::Arc::new(keycloak_client_web::MemoryStore::default()),
    })
}

/// Entry point of the `redis_values` fuzz target (not API): what this crate reads back from
/// Redis, through every reader.
#[doc(hidden)]
pub mod fuzzing {
    use crate::seal::SealingKeys;

    /// Opens, parses and decodes arbitrary bytes as a stored value would be.
    pub fn stored_value(data: &[u8]) {
        let Ok(keys) = SealingKeys::new(&[[7; 32]]) else {
            return;
        };
        let _ = keys.open(data, b"aad");
        let _ = crate::store::parse_pending_value(data);
        // arbitrary plaintext under the real key reaches the JSON readers
        let Ok(sealed) = keys.seal(data, b"aad") else {
            return;
        };
        if let Ok(plain) = keys.open(&sealed, b"aad") {
            let _ = serde_json::from_slice::<keycloak_client_web::Session>(&plain);
            let _ = serde_json::from_slice::<keycloak_client::PendingLogin>(&plain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_url_needs_session_keys_and_both_are_checked() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert!(
            matches!(from_vars(vars(&[])), Ok(None)),
            "no REDIS_URL: no Redis"
        );
        let e = from_vars(vars(&[("REDIS_URL", "redis://127.0.0.1:16379")])).unwrap_err();
        assert!(matches!(e, EnvError::MissingKeys));
        assert!(e.to_string().contains("SESSION_KEYS"), "{e}");
        let e = from_vars(vars(&[
            ("REDIS_URL", "redis://127.0.0.1:16379"),
            ("SESSION_KEYS", "AAAA"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains("32"), "{e}");
        let e = from_vars(vars(&[("REDIS_URL", "ftp://x"), ("SESSION_KEYS", "x")])).unwrap_err();
        assert!(e.to_string().contains("REDIS_URL"), "{e}");
        let ok = from_vars(vars(&[
            ("REDIS_URL", "redis://127.0.0.1:16379"),
            (
                "SESSION_KEYS",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            ),
            ("REDIS_TIMEOUT_MS", "250"),
        ]));
        assert!(matches!(ok, Ok(Some(_))), "made without I/O");
    }

    #[test]
    fn redis_urls_pick_single_node_or_cluster() {
        let c = RedisConfig::from_url("redis://127.0.0.1:16379").unwrap();
        assert!(!c.cluster);
        assert_eq!(c.nodes, ["redis://127.0.0.1:16379"]);
        let c = RedisConfig::from_url("redis+cluster://127.0.0.1:17001,127.0.0.1:17002").unwrap();
        assert!(c.cluster);
        assert_eq!(
            c.nodes,
            ["redis://127.0.0.1:17001", "redis://127.0.0.1:17002"]
        );
        let c = RedisConfig::from_url("redis://127.0.0.1:17001, redis://127.0.0.1:17002").unwrap();
        assert!(c.cluster, "a list of nodes is a cluster");
        assert_eq!(RedisConfig::from_url(" ").unwrap_err(), UrlError::Empty);
        assert!(matches!(
            RedisConfig::from_url("http://x:1").unwrap_err(),
            UrlError::BadNode(_)
        ));
    }

    /// A Redis password never shows in `Debug`, in a refused URL's error, or in the store's.
    #[test]
    fn redis_passwords_are_redacted_everywhere() {
        let c = RedisConfig::from_url("redis://:hunter2-secret@127.0.0.1:16379/0").unwrap();
        assert!(!format!("{c:?}").contains("hunter2-secret"), "{c:?}");
        assert!(format!("{c:?}").contains("127.0.0.1:16379"), "{c:?}");
        let c = RedisConfig::from_url(
            "redis+cluster://u:hunter2-secret@127.0.0.1:17001,127.0.0.1:17002",
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2-secret"), "{c:?}");
        let e = RedisConfig::from_url("redis://u:hunter2-secret@/0,x").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2-secret"), "{e:?}");
        let e = RedisConfig::from_url("http://u:hunter2-secret@x:1").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2-secret"), "{e:?}");
        // a comma inside the password: no piece of it is echoed either
        let e = RedisConfig::from_url("redis://:hunter2,secret@/0").unwrap_err();
        assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
        assert_eq!(e, UrlError::BadNode(1));
        let keys = SealingKeys::new(&[[1; 32]]).unwrap();
        let store = RedisStore::new(
            &RedisConfig::from_url("redis://:hunter2-secret@127.0.0.1:16379").unwrap(),
            keys,
        )
        .unwrap();
        assert!(!format!("{store:?}").contains("hunter2-secret"));
    }
}
