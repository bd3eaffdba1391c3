//! The connection to Redis, a single node or a cluster, and the bounds on every operation: a
//! time limit, and a limit on operations in flight (what a pool's size is for a multiplexed
//! connection). Connections are made lazily and remade by the client after a restart or a
//! failover, so a store made while Redis is down starts answering once it is up.

use std::sync::Arc;
use std::time::Duration;

use keycloak_client_web::{StoreError, StoreResult};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;

/// Where Redis is and how patient to be with it.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The nodes: one for a single node, several (or a `redis+cluster://` URL) for a cluster.
    pub nodes: Vec<String>,
    /// Whether the nodes form a Redis Cluster.
    pub cluster: bool,
    /// Prefix of every key.
    pub key_prefix: String,
    /// Longest wait for one operation, a connection included: past it the request gets 503.
    pub timeout: Duration,
    /// Most operations in flight at once; more wait (within `timeout`), then get 503.
    pub max_in_flight: usize,
}

/// Why a Redis URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No node given.
    #[error("REDIS_URL is empty")]
    Empty,
    /// A node that is not a `redis://` URL or `host:port`.
    #[error("REDIS_URL node {0:?} is not redis://host:port")]
    BadNode(String),
}

impl RedisConfig {
    /// Reads `REDIS_URL`'s forms: `redis://host:port[/db]` (single node);
    /// `redis+cluster://h1:p1,h2:p2` or a comma-separated list of nodes (cluster). Defaults:
    /// key prefix `kc`, timeout 1 s, 1024 operations in flight.
    pub fn from_url(url: &str) -> Result<Self, UrlError> {
        let url = url.trim();
        let (cluster_scheme, rest) = match url.strip_prefix("redis+cluster://") {
            Some(r) => (true, r),
            None => (false, url),
        };
        let mut nodes = Vec::new();
        for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let node = if part.starts_with("redis://") || part.starts_with("rediss://") {
                part.to_string()
            } else if part.contains("://") {
                return Err(UrlError::BadNode(part.to_string()));
            } else {
                format!("redis://{part}")
            };
            let ok = redis::parse_redis_url(&node)
                .is_some_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
            if !ok {
                return Err(UrlError::BadNode(part.to_string()));
            }
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(UrlError::Empty);
        }
        Ok(RedisConfig {
            cluster: cluster_scheme || nodes.len() > 1,
            nodes,
            key_prefix: "kc".into(),
            timeout: Duration::from_secs(1),
            max_in_flight: 1024,
        })
    }
}

enum Kind {
    Single {
        client: redis::Client,
        config: redis::aio::ConnectionManagerConfig,
        conn: tokio::sync::OnceCell<ConnectionManager>,
    },
    Cluster {
        client: redis::cluster::ClusterClient,
        conn: tokio::sync::OnceCell<ClusterConnection>,
    },
}

/// A lazily connected, bounded handle on Redis.
pub(crate) struct Connection {
    kind: Kind,
    timeout: Duration,
    in_flight: Arc<tokio::sync::Semaphore>,
    max_in_flight: usize,
}

fn unavailable(e: &redis::RedisError) -> StoreError {
    StoreError::Unavailable(format!("redis: {e}"))
}

impl Connection {
    /// Makes no connection yet: the first operation does.
    pub(crate) fn new(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let kind = if cfg.cluster {
            let client = redis::cluster::ClusterClientBuilder::new(cfg.nodes.clone())
                .connection_timeout(cfg.timeout)
                .response_timeout(cfg.timeout)
                .retries(1)
                .build()
                .map_err(|e| unavailable(&e))?;
            Kind::Cluster {
                client,
                conn: tokio::sync::OnceCell::new(),
            }
        } else {
            let client = redis::Client::open(cfg.nodes[0].as_str()).map_err(|e| unavailable(&e))?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(cfg.timeout))
                .set_response_timeout(Some(cfg.timeout))
                .set_number_of_retries(1);
            Kind::Single {
                client,
                config,
                conn: tokio::sync::OnceCell::new(),
            }
        };
        Ok(Connection {
            kind,
            timeout: cfg.timeout,
            in_flight: Arc::new(tokio::sync::Semaphore::new(cfg.max_in_flight.max(1))),
            max_in_flight: cfg.max_in_flight.max(1),
        })
    }

    /// Runs one command within the bounds: all of it, the wait for a slot included, within
    /// the time limit.
    pub(crate) async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> StoreResult<T> {
        let limit = self.timeout;
        let started = tokio::time::Instant::now();
        let _permit = match self.in_flight.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                match tokio::time::timeout(limit, self.in_flight.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => return Err(StoreError::Busy(self.max_in_flight)),
                }
            }
        };
        let work = async {
            match &self.kind {
                Kind::Single {
                    client,
                    config,
                    conn,
                } => {
                    // Made on first use (inside the runtime); it reconnects by itself after.
                    let m = conn
                        .get_or_try_init(|| {
                            ConnectionManager::new_with_config(client.clone(), config.clone())
                        })
                        .await
                        .map_err(|e| unavailable(&e))?;
                    cmd.query_async(&mut m.clone())
                        .await
                        .map_err(|e| unavailable(&e))
                }
                Kind::Cluster { client, conn } => {
                    let c = conn
                        .get_or_try_init(|| client.get_async_connection())
                        .await
                        .map_err(|e| unavailable(&e))?;
                    cmd.query_async(&mut c.clone())
                        .await
                        .map_err(|e| unavailable(&e))
                }
            }
        };
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, work).await {
            Ok(r) => r,
            Err(_) => Err(StoreError::Timeout(limit.as_millis() as u64)),
        }
    }
}
