//! Server-side sessions: the browser's cookie holds only an opaque random id; tokens and the
//! pending login live here, behind [`SessionStore`].
//!
//! To keep sessions in Redis or a database, implement [`SessionStore`] over it: `Session` is
//! `Serialize`/`Deserialize`, so `load`/`store` are a `GET`/`SET ... EX ttl` of its JSON, and
//! `delete_by_sid` needs a secondary index `sid -> session ids` (a Redis set, or an indexed
//! column) for back-channel logout.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use keycloak_client::{Claims, PendingLogin, TokenSet, UnixTime};
use serde::{Deserialize, Serialize};

/// A boxed future, so the store trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a session holds.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Session {
    /// A login in progress (state, nonce and PKCE verifier never leave the server).
    pub pending: Option<PendingLogin>,
    /// Tokens of the logged-in user.
    pub tokens: Option<TokenSet>,
    /// The validated ID token claims.
    pub claims: Option<Claims>,
    /// Keycloak's session id (`sid`), for back-channel logout.
    pub sid: Option<String>,
    /// When the session was created.
    pub created_at: UnixTime,
    /// After a refresh that Keycloak could not answer: no new attempt before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_retry_at: Option<UnixTime>,
    /// Refresh attempts that failed in a row (the back-off grows with them).
    #[serde(default)]
    pub refresh_failures: u32,
}

impl Session {
    /// Whether a user is logged in.
    pub fn is_authenticated(&self) -> bool {
        self.tokens.is_some()
    }
}

/// Where sessions live.
pub trait SessionStore: Send + Sync + 'static {
    /// The session with this id, if it exists and has not expired.
    fn load<'a>(&'a self, id: &'a str, now: UnixTime) -> BoxFuture<'a, Option<Session>>;
    /// Stores a session until `expires_at`.
    fn store<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, ()>;
    /// Stores a session only if it still exists (a refresh must not bring back a session
    /// that a logout deleted meanwhile); `false` when it was gone. The default loads, then
    /// stores: override it with an atomic form (Redis `SET ... XX`) where the store has one.
    fn update<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            if self.load(id, now).await.is_none() {
                return false;
            }
            self.store(id, session, now, expires_at).await;
            true
        })
    }
    /// Deletes a session.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
    /// Deletes every session of a Keycloak session id (back-channel logout); returns how many.
    fn delete_by_sid<'a>(&'a self, sid: &'a str) -> BoxFuture<'a, usize>;
}

/// The default store: in memory, with expiry and a size bound (the oldest sessions are evicted
/// first when full).
pub struct MemoryStore {
    inner: Mutex<HashMap<String, (Session, UnixTime, u64)>>,
    max_sessions: usize,
    seq: std::sync::atomic::AtomicU64,
}

impl MemoryStore {
    /// A store holding at most `max_sessions` sessions.
    pub fn new(max_sessions: usize) -> Self {
        MemoryStore {
            inner: Mutex::new(HashMap::new()),
            max_sessions: max_sessions.max(1),
            seq: Default::default(),
        }
    }

    /// Number of stored sessions (including expired ones not yet swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Session, UnixTime, u64)>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, id: &'a str, now: UnixTime) -> BoxFuture<'a, Option<Session>> {
        Box::pin(async move {
            let mut m = self.lock();
            match m.get(id) {
                Some((_, exp, _)) if *exp <= now => {
                    m.remove(id);
                    None
                }
                Some((s, _, _)) => Some(Session {
                    // `PendingLogin` is deliberately not `Clone` (it is consumed once); it is
                    // copied through JSON, and only while a login is in progress.
                    pending: s.pending.as_ref().and_then(|p| {
                        serde_json::to_vec(p)
                            .ok()
                            .and_then(|b| serde_json::from_slice(&b).ok())
                    }),
                    tokens: s.tokens.clone(),
                    claims: s.claims.clone(),
                    sid: s.sid.clone(),
                    created_at: s.created_at,
                    refresh_retry_at: s.refresh_retry_at,
                    refresh_failures: s.refresh_failures,
                }),
                None => None,
            }
        })
    }

    fn store<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut m = self.lock();
            if m.len() >= self.max_sessions && !m.contains_key(id) {
                // sweep expired, then evict the least recently stored
                m.retain(|_, (_, exp, _)| *exp > now);
                if m.len() >= self.max_sessions {
                    if let Some(oldest) = m
                        .iter()
                        .min_by_key(|(_, (_, _, s))| *s)
                        .map(|(k, _)| k.clone())
                    {
                        m.remove(&oldest);
                    }
                }
            }
            m.insert(id.to_string(), (session, expires_at, seq));
        })
    }

    fn update<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let seq = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut m = self.lock();
            match m.get_mut(id) {
                Some(entry) if entry.1 > now => {
                    *entry = (session, expires_at, seq);
                    true
                }
                _ => false,
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.lock().remove(id);
        })
    }

    fn delete_by_sid<'a>(&'a self, sid: &'a str) -> BoxFuture<'a, usize> {
        Box::pin(async move {
            let mut m = self.lock();
            let before = m.len();
            m.retain(|_, (s, _, _)| s.sid.as_deref() != Some(sid));
            before - m.len()
        })
    }
}
