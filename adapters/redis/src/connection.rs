//! The connection to Redis, a single node or a cluster, and the bounds on every operation: a
//! time limit, and a limit on operations in flight (what a pool's size is for a multiplexed
//! connection). Connections are made lazily and remade by the client after a restart or a
//! failover, so a store made while Redis is down starts answering once it is up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keycloak_client_web::{StoreError, StoreResult};
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;

/// Where Redis is and how patient to be with it. `Debug` hides passwords in the node URLs.
#[derive(Clone)]
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

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes: Vec<String> = self.nodes.iter().map(|n| redact(n)).collect();
        f.debug_struct("RedisConfig")
            .field("nodes", &nodes)
            .field("cluster", &self.cluster)
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("max_in_flight", &self.max_in_flight)
            .finish()
    }
}

/// A node URL with its user information (a password) replaced by `***`.
pub(crate) fn redact(node: &str) -> String {
    match node.rfind('@') {
        Some(at) => {
            let start = node.find("://").map_or(0, |i| i + 3).min(at);
            format!("{}***{}", &node[..start], &node[at..])
        }
        None => node.to_string(),
    }
}

/// Why a Redis URL was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// No node given.
    #[error("REDIS_URL is empty")]
    Empty,
    /// A node that is not a `redis://` URL or `host:port`: its position in the list (from 1;
    /// the text is not repeated, it may hold a password).
    #[error("REDIS_URL node #{0} is not redis://host:port")]
    BadNode(usize),
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
        for (i, part) in rest
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            let node = if part.starts_with("redis://") || part.starts_with("rediss://") {
                part.to_string()
            } else if part.contains("://") {
                return Err(UrlError::BadNode(i + 1));
            } else {
                format!("redis://{part}")
            };
            let ok = redis::parse_redis_url(&node)
                .is_some_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
            if !ok {
                return Err(UrlError::BadNode(i + 1));
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

use crate::slot::Slot;

enum Kind {
    Single {
        client: redis::Client,
        config: redis::aio::ConnectionManagerConfig,
        slot: Slot<ConnectionManager>,
    },
    Cluster {
        client: redis::cluster::ClusterClient,
        slot: Slot<ClusterConnection>,
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

/// TCP settings: no Nagle delay (small requests, one connection), keepalive probes, and a
/// user timeout so unacknowledged data to a dead peer ends the connection.
fn tcp_settings() -> redis::io::tcp::TcpSettings {
    use redis::io::tcp::socket2::TcpKeepalive;
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(15))
        .with_interval(Duration::from_secs(5));
    let settings = redis::io::tcp::TcpSettings::default()
        .set_nodelay(true)
        .set_keepalive(keepalive);
    #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
    let settings = settings.set_user_timeout(Duration::from_secs(15));
    settings
}

impl Connection {
    /// Makes no connection yet: the first operation does.
    pub(crate) fn new(cfg: &RedisConfig) -> Result<Self, StoreError> {
        let kind = if cfg.cluster {
            let client = redis::cluster::ClusterClientBuilder::new(cfg.nodes.clone())
                .connection_timeout(cfg.timeout)
                .response_timeout(cfg.timeout)
                .retries(1)
                .tcp_settings(tcp_settings())
                .build()
                .map_err(|e| unavailable(&e))?;
            Kind::Cluster {
                client,
                slot: Slot::new(cfg.timeout),
            }
        } else {
            use redis::IntoConnectionInfo as _;
            let info = cfg.nodes[0]
                .as_str()
                .into_connection_info()
                .map_err(|e| unavailable(&e))?
                .set_tcp_settings(tcp_settings());
            let client = redis::Client::open(info).map_err(|e| unavailable(&e))?;
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(cfg.timeout))
                .set_response_timeout(Some(cfg.timeout))
                .set_number_of_retries(1);
            Kind::Single {
                client,
                config,
                slot: Slot::new(cfg.timeout),
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
        // The generation the command went out on (0: still connecting) and when.
        let used = AtomicU64::new(0);
        let sent_at = std::sync::OnceLock::new();
        let work = async {
            match &self.kind {
                Kind::Single {
                    client,
                    config,
                    slot,
                } => {
                    // Lazy: the manager connects on first use and reconnects by itself after
                    // errors it sees; `slot` handles silence.
                    let (client, config) = (client.clone(), config.clone());
                    let (g, mut m) = slot
                        .get(|| async move {
                            ConnectionManager::new_lazy_with_config(client, config)
                                .map_err(|e| unavailable(&e))
                        })
                        .await?;
                    used.store(g, Ordering::Relaxed);
                    let _ = sent_at.set(tokio::time::Instant::now());
                    let r = cmd.query_async(&mut m).await;
                    self.judge(slot, g, r, &sent_at)
                }
                Kind::Cluster { client, slot } => {
                    let client = client.clone();
                    let (g, mut c) = slot
                        .get(|| async move {
                            client
                                .get_async_connection()
                                .await
                                .map_err(|e| unavailable(&e))
                        })
                        .await?;
                    used.store(g, Ordering::Relaxed);
                    let _ = sent_at.set(tokio::time::Instant::now());
                    let r = cmd.query_async(&mut c).await;
                    self.judge(slot, g, r, &sent_at)
                }
            }
        };
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, work).await {
            Ok(r) => r,
            Err(_) => {
                let g = used.load(Ordering::Relaxed);
                if let (true, Some(at)) = (g != 0, sent_at.get()) {
                    let waited = at.elapsed();
                    match &self.kind {
                        Kind::Single { slot, .. } => slot.timed_out(g, waited),
                        Kind::Cluster { slot, .. } => slot.timed_out(g, waited),
                    }
                }
                Err(StoreError::Timeout(limit.as_millis() as u64))
            }
        }
    }

    /// A command's result: any reply from Redis (an error reply too) proves the connection
    /// alive; the client's own response timeout counts toward silence.
    fn judge<C: Clone + Send + 'static, T>(
        &self,
        slot: &Slot<C>,
        g: u64,
        r: redis::RedisResult<T>,
        sent_at: &std::sync::OnceLock<tokio::time::Instant>,
    ) -> StoreResult<T> {
        match r {
            Ok(v) => {
                slot.answered(g);
                Ok(v)
            }
            Err(e) if e.is_timeout() => {
                if let Some(at) = sent_at.get() {
                    slot.timed_out(g, at.elapsed());
                }
                Err(StoreError::Timeout(self.timeout.as_millis() as u64))
            }
            Err(e) => {
                if !e.is_io_error() && !e.is_connection_dropped() {
                    slot.answered(g);
                }
                Err(unavailable(&e))
            }
        }
    }
}
