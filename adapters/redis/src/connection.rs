//! The connection to Redis, a single node or a cluster, and the bounds on every operation: a
//! time limit, and a limit on operations in flight (what a pool's size is for a multiplexed
//! connection). Connections are made lazily and remade by the client after a restart or a
//! failover, so a store made while Redis is down starts answering once it is up.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
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
    /// A node that is not a `redis://` URL or `host:port` (its password, if any, redacted).
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
                return Err(UrlError::BadNode(redact(part)));
            } else {
                format!("redis://{part}")
            };
            let ok = redis::parse_redis_url(&node)
                .is_some_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
            if !ok {
                return Err(UrlError::BadNode(redact(part)));
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

/// After this many timeouts in a row the connection is replaced: a peer that vanished without
/// a FIN or RST (a dead host, a dropped NAT entry) answers nothing, and the client alone only
/// reconnects on errors it can see.
const REPLACE_AFTER_TIMEOUTS: u32 = 3;

/// One shared connection (multiplexed), made on first use and replaced when it goes silent.
struct Slot<C> {
    current: std::sync::Mutex<Option<(u64, C)>>,
    connecting: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    timeouts_in_a_row: AtomicU32,
}

impl<C: Clone> Slot<C> {
    fn new() -> Self {
        Slot {
            current: std::sync::Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            timeouts_in_a_row: AtomicU32::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, C)>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The connection and its generation; connects (once, for all waiters) when there is none.
    async fn get<F, Fut>(&self, connect: F) -> StoreResult<(u64, C)>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<C>>,
    {
        if let Some(c) = self.lock().clone() {
            return Ok(c);
        }
        let _one = self.connecting.lock().await;
        if let Some(c) = self.lock().clone() {
            return Ok(c);
        }
        let c = connect().await.map_err(|e| unavailable(&e))?;
        let g = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.lock() = Some((g, c.clone()));
        Ok((g, c))
    }

    fn answered(&self) {
        if self.timeouts_in_a_row.load(Ordering::Relaxed) != 0 {
            self.timeouts_in_a_row.store(0, Ordering::Relaxed);
        }
    }

    /// Counts a timeout on generation `g`; enough in a row drop that connection (the next
    /// operation connects again).
    fn timed_out(&self, g: u64) {
        let n = self.timeouts_in_a_row.fetch_add(1, Ordering::Relaxed) + 1;
        if n < REPLACE_AFTER_TIMEOUTS {
            return;
        }
        let mut cur = self.lock();
        if cur.as_ref().is_some_and(|(current, _)| *current == g) {
            *cur = None;
            self.timeouts_in_a_row.store(0, Ordering::Relaxed);
            tracing::warn!(target: "keycloak_client::redis", timeouts = n, "redis connection silent; connecting again");
        }
    }
}

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
                slot: Slot::new(),
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
                slot: Slot::new(),
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
        // The generation the command went out on (0: still connecting).
        let used = AtomicU64::new(0);
        let work = async {
            match &self.kind {
                Kind::Single {
                    client,
                    config,
                    slot,
                } => {
                    // It reconnects by itself after errors it sees; `slot` handles silence.
                    let (g, mut m) = slot
                        .get(|| ConnectionManager::new_with_config(client.clone(), config.clone()))
                        .await?;
                    used.store(g, Ordering::Relaxed);
                    let r = cmd.query_async(&mut m).await;
                    self.judge(slot, g, r)
                }
                Kind::Cluster { client, slot } => {
                    let (g, mut c) = slot.get(|| client.get_async_connection()).await?;
                    used.store(g, Ordering::Relaxed);
                    let r = cmd.query_async(&mut c).await;
                    self.judge(slot, g, r)
                }
            }
        };
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, work).await {
            Ok(r) => r,
            Err(_) => {
                let g = used.load(Ordering::Relaxed);
                if g != 0 {
                    match &self.kind {
                        Kind::Single { slot, .. } => slot.timed_out(g),
                        Kind::Cluster { slot, .. } => slot.timed_out(g),
                    }
                }
                Err(StoreError::Timeout(limit.as_millis() as u64))
            }
        }
    }

    /// A command's result: an answer (even an error reply) proves the connection alive; the
    /// client's own response timeout counts as silence.
    fn judge<C: Clone, T>(
        &self,
        slot: &Slot<C>,
        g: u64,
        r: redis::RedisResult<T>,
    ) -> StoreResult<T> {
        match r {
            Ok(v) => {
                slot.answered();
                Ok(v)
            }
            Err(e) if e.is_timeout() => {
                slot.timed_out(g);
                Err(StoreError::Timeout(self.timeout.as_millis() as u64))
            }
            Err(e) => Err(unavailable(&e)),
        }
    }
}
