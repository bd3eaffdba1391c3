//! The default [`SessionStore`]: in process memory, on moka caches. Sessions and pending logins
//! are two caches with their own bounds; expiry is per entry; a full cache evicts its least
//! recently used entry in O(1). Back-channel logout finds sessions through `sid` and `sub`
//! indexes that an eviction listener keeps in step with the cache.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keycloak_client::{PendingLogin, UnixTime};
use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::cache::{bounded, Timed};
use crate::lock;
use crate::session::{BoxFuture, Session, SessionStore, StoreResult};

type Entries = Cache<String, Arc<Timed<Arc<Session>>>>;

/// Session ids by Keycloak `sid` and by `sub`.
#[derive(Default)]
struct Index {
    by_sid: HashMap<String, HashSet<String>>,
    by_sub: HashMap<String, HashSet<String>>,
}

impl Index {
    fn add(&mut self, id: &str, s: &Session) {
        if let Some(sid) = &s.sid {
            self.by_sid
                .entry(sid.clone())
                .or_default()
                .insert(id.to_string());
        }
        if let Some(sub) = s.subject() {
            self.by_sub
                .entry(sub.to_string())
                .or_default()
                .insert(id.to_string());
        }
    }

    fn remove(&mut self, id: &str, s: &Session) {
        fn drop_id(m: &mut HashMap<String, HashSet<String>>, k: &str, id: &str) {
            if let Some(ids) = m.get_mut(k) {
                ids.remove(id);
                if ids.is_empty() {
                    m.remove(k);
                }
            }
        }
        if let Some(sid) = &s.sid {
            drop_id(&mut self.by_sid, sid, id);
        }
        if let Some(sub) = s.subject() {
            drop_id(&mut self.by_sub, sub, id);
        }
    }
}

/// Sessions in memory, bounded, with expiry; pending logins bounded on their own.
pub struct MemoryStore {
    sessions: Entries,
    pending: Cache<String, Arc<Timed<Mutex<Option<PendingLogin>>>>>,
    /// Refresh leases by session id (one refresh per session): holder and end, on this
    /// process's monotonic clock.
    leases: Cache<String, Arc<Timed<(String, Instant)>>>,
    index: Arc<Mutex<Index>>,
    /// Serialises a login's "index, then insert" with a back-channel logout's "unindex, then
    /// delete", so a logout never leaves a live session out of its index. (The eviction
    /// listener takes only `index`, so holding this across a cache call cannot deadlock.)
    index_writes: Mutex<()>,
    /// One-time keys ([`SessionStore::remember_once`]), at most [`ONCE_CAPACITY`].
    once: crate::cache::TtlCache<()>,
}

/// Most one-time keys a memory store remembers at once.
const ONCE_CAPACITY: usize = 100_000;

impl MemoryStore {
    /// A store of at most `max_sessions` sessions and 20,000 pending logins.
    pub fn new(max_sessions: usize) -> Self {
        Self::with_limits(max_sessions, 20_000)
    }

    /// A store of at most `max_sessions` sessions and `max_pending_logins` logins in progress
    /// (about 1 KB each; a flood of anonymous visits evicts the oldest pending logins, never a
    /// session).
    pub fn with_limits(max_sessions: usize, max_pending_logins: usize) -> Self {
        let index = Arc::new(Mutex::new(Index::default()));
        let listener_index = Arc::downgrade(&index);
        let sessions = Cache::builder()
            .max_capacity(max_sessions.max(1) as u64)
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .expire_after(crate::cache::PerEntry)
            .eviction_listener(
                move |id: Arc<String>, e: Arc<Timed<Arc<Session>>>, cause: RemovalCause| {
                    // A replaced value keeps its id (and, in practice, its `sid` and `sub`).
                    if cause == RemovalCause::Replaced {
                        return;
                    }
                    if let Some(index) = listener_index.upgrade() {
                        lock(&index).remove(&id, &e.value);
                    }
                },
            )
            .build();
        MemoryStore {
            sessions,
            pending: bounded(max_pending_logins.max(1) as u64),
            leases: bounded(max_sessions.max(1) as u64),
            // Room beyond the limit: moka never evicts a live key before the limit refuses.
            once: crate::cache::TtlCache::new(ONCE_CAPACITY * 2),
            index,
            index_writes: Mutex::new(()),
        }
    }

    /// Number of stored sessions.
    pub fn len(&self) -> usize {
        self.sessions.run_pending_tasks();
        self.sessions.entry_count() as usize
    }

    /// Whether the store holds no session.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of logins in progress.
    pub fn pending_len(&self) -> usize {
        self.pending.run_pending_tasks();
        self.pending.entry_count() as usize
    }

    /// Number of `sid` and `sub` index entries (they follow the sessions).
    pub fn index_len(&self) -> usize {
        self.sessions.run_pending_tasks();
        let i = lock(&self.index);
        i.by_sid.len() + i.by_sub.len()
    }

    fn delete_indexed(
        &self,
        ids: Option<HashSet<String>>,
        matches: impl Fn(&Session) -> bool,
    ) -> usize {
        let mut n = 0;
        for id in ids.into_iter().flatten() {
            // Only a session that still matches (its id may have been reused meanwhile).
            let mut hit = false;
            self.sessions
                .entry(id)
                .and_compute_with(|existing| match existing {
                    Some(e) if matches(&e.value().value) => {
                        hit = true;
                        moka::ops::compute::Op::Remove
                    }
                    _ => moka::ops::compute::Op::Nop,
                });
            n += usize::from(hit);
        }
        n
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl SessionStore for MemoryStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, StoreResult<Option<Arc<Session>>>> {
        Box::pin(async move {
            let e = self.sessions.get(id);
            Ok(e.filter(|e| e.expires_at > now).map(|e| e.value.clone()))
        })
    }

    fn store<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if expires_at <= now {
                self.sessions.invalidate(id);
                return Ok(());
            }
            // Indexed before it is visible, so no eviction can leave a stale index entry.
            let _gate = lock(&self.index_writes);
            lock(&self.index).add(id, &session);
            self.sessions.insert(
                id.to_string(),
                Arc::new(Timed::new(Arc::new(session), expires_at, now)),
            );
            Ok(())
        })
    }

    fn compare_and_set<'a>(
        &'a self,
        id: &'a str,
        expected_version: u64,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let fresh = Arc::new(Timed::new(Arc::new(session), expires_at, now));
            let mut swapped = false;
            self.sessions
                .entry(id.to_string())
                .and_compute_with(|existing| match existing {
                    Some(e)
                        if e.value().expires_at > now
                            && e.value().value.version == expected_version
                            && expires_at > now =>
                    {
                        swapped = true;
                        moka::ops::compute::Op::Put(fresh)
                    }
                    _ => moka::ops::compute::Op::Nop,
                });
            Ok(swapped)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.sessions.invalidate(id);
            Ok(())
        })
    }

    fn delete_by_sid<'a>(&'a self, sid: &'a str) -> BoxFuture<'a, StoreResult<usize>> {
        Box::pin(async move {
            let _gate = lock(&self.index_writes);
            let ids = lock(&self.index).by_sid.remove(sid);
            Ok(self.delete_indexed(ids, |s| s.sid.as_deref() == Some(sid)))
        })
    }

    fn delete_by_sub<'a>(&'a self, sub: &'a str) -> BoxFuture<'a, StoreResult<usize>> {
        Box::pin(async move {
            let _gate = lock(&self.index_writes);
            let ids = lock(&self.index).by_sub.remove(sub);
            Ok(self.delete_indexed(ids, |s| s.subject() == Some(sub)))
        })
    }

    fn save_pending<'a>(
        &'a self,
        key: &'a str,
        login: PendingLogin,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if expires_at > now {
                let e = Timed::new(Mutex::new(Some(login)), expires_at, now);
                self.pending.insert(key.to_string(), Arc::new(e));
            }
            Ok(())
        })
    }

    fn take_pending<'a>(
        &'a self,
        key: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, StoreResult<Option<PendingLogin>>> {
        Box::pin(async move {
            let Some(e) = self.pending.remove(key) else {
                return Ok(None);
            };
            if e.expires_at <= now {
                return Ok(None);
            }
            let login = lock(&e.value).take();
            Ok(login)
        })
    }

    fn try_lease<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
        now: UnixTime,
        until: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let mut taken = false;
            if until <= now {
                return Ok(false);
            }
            // `until - now` on this process's clock: callers' clocks are never compared.
            let Some(ends) = Instant::now().checked_add(Duration::from_secs(now.until(until)))
            else {
                return Ok(false);
            };
            self.leases
                .entry(id.to_string())
                .and_compute_with(|existing| match existing {
                    Some(e)
                        if e.value().value.1 > Instant::now() && e.value().value.0 != holder =>
                    {
                        moka::ops::compute::Op::Nop
                    }
                    _ => {
                        taken = true;
                        let lease = Timed::new((holder.to_string(), ends), until, now);
                        moka::ops::compute::Op::Put(Arc::new(lease))
                    }
                });
            Ok(taken)
        })
    }

    fn release_lease<'a>(&'a self, id: &'a str, holder: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.leases
                .entry(id.to_string())
                .and_compute_with(|existing| match existing {
                    Some(e) if e.value().value.0 == holder => moka::ops::compute::Op::Remove,
                    _ => moka::ops::compute::Op::Nop,
                });
            Ok(())
        })
    }

    fn remember_once<'a>(
        &'a self,
        key: &'a str,
        now: UnixTime,
        until: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            if until <= now {
                return Ok(true);
            }
            if self.once.holds_at_least(ONCE_CAPACITY) {
                // Fail closed: an evicted key could be used again.
                return Err(crate::StoreError::Full(ONCE_CAPACITY));
            }
            Ok(self.once.insert_new(key.to_owned(), (), until, now))
        })
    }

    /// One process: the engine's own memory already covers its requests.
    fn spans_instances(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keycloak_client::Claims;

    fn block<T>(f: impl std::future::Future<Output = StoreResult<T>>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
            .unwrap()
    }

    fn session(sid: &str, sub: &str) -> Session {
        let claims: Claims = serde_json::from_value(serde_json::json!({"sub": sub})).unwrap();
        Session {
            tokens: Some(
                serde_json::from_value(serde_json::json!({"access_token": "at", "token_type": "Bearer", "received_at": 0})).unwrap(),
            ),
            claims: Some(claims),
            sid: Some(sid.into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_shared_store_contract_holds() {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(crate::store_contract::run_all(&MemoryStore::new(1_000)));
    }

    #[test]
    fn back_channel_indexes_end_every_match_and_only_matches() {
        let s = MemoryStore::new(10);
        block(s.store("a", session("s1", "alice"), UnixTime(0), UnixTime(100)));
        block(s.store("b", session("s2", "alice"), UnixTime(0), UnixTime(100)));
        block(s.store("c", session("s3", "bob"), UnixTime(0), UnixTime(100)));
        assert_eq!((s.len(), s.is_empty()), (3, false));
        assert_eq!(s.index_len(), 5, "three sids and two subs");
        assert!(block(s.load("a", UnixTime(1))).unwrap().is_authenticated());
        assert!(!Session::default().is_authenticated());
        assert_eq!(block(s.delete_by_sid("s1")), 1);
        assert!(block(s.load("a", UnixTime(1))).is_none());
        assert_eq!(block(s.delete_by_sid("s1")), 0);
        assert_eq!(
            block(s.delete_by_sub("alice")),
            1,
            "b is alice's other session"
        );
        assert!(block(s.load("c", UnixTime(1))).is_some(), "bob's survives");
        assert_eq!(block(s.delete_by_sub("nobody")), 0);
        block(s.delete("c"));
        assert_eq!(s.index_len(), 0, "the indexes follow the sessions");
        assert_eq!((s.len(), s.is_empty()), (0, true));
    }

    #[test]
    fn evicted_sessions_leave_the_indexes() {
        let s = MemoryStore::new(50);
        for i in 0..1_000 {
            let id = format!("id{i}");
            block(s.store(
                &id,
                session(&format!("s{i}"), &format!("u{i}")),
                UnixTime(0),
                UnixTime(100),
            ));
        }
        assert!(s.len() <= 50, "{}", s.len());
        assert!(s.index_len() <= 100, "{}", s.index_len());
        assert!(
            block(s.load("id999", UnixTime(1))).is_some(),
            "the newest stays"
        );
    }

    #[test]
    fn pending_logins_are_taken_once_and_bounded_apart_from_sessions() {
        let s = MemoryStore::with_limits(10, 100);
        block(s.store("user", session("s", "u"), UnixTime(0), UnixTime(1_000)));
        let pending = || -> PendingLogin {
            serde_json::from_value(serde_json::json!({
                "state": "st", "nonce": "n", "code_verifier": "v",
                "redirect_uri": "http://127.0.0.1:2/cb", "scope": "openid",
                "created_at": 0, "ttl_secs": 600
            }))
            .unwrap()
        };
        for i in 0..10_000 {
            block(s.save_pending(&format!("p{i}"), pending(), UnixTime(0), UnixTime(600)));
        }
        assert!(
            (50..=100).contains(&s.pending_len()),
            "bounded, and full: {}",
            s.pending_len()
        );
        assert!(
            block(s.load("user", UnixTime(1))).is_some(),
            "the flood evicted no session"
        );
        assert!(block(s.take_pending("p9999", UnixTime(1))).is_some());
        assert!(
            block(s.take_pending("p9999", UnixTime(1))).is_none(),
            "taken once"
        );
        block(s.save_pending("late", pending(), UnixTime(0), UnixTime(600)));
        assert!(
            block(s.take_pending("late", UnixTime(600))).is_none(),
            "expired"
        );
    }

    /// A login stored on one thread while a back-channel logout of the same user runs on
    /// another: the session is either deleted or still indexed, never live and unindexed.
    #[test]
    fn a_logout_racing_a_login_on_another_thread_leaves_no_session_unindexed() {
        use crate::session::SessionStore as _;
        let store = std::sync::Arc::new(MemoryStore::new(100_000));
        let rt = || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
        };
        let t = UnixTime(1_900_000_000);
        for round in 0..300 {
            let sub = format!("race-{round}");
            for i in 0..20 {
                let s = session(&format!("sid-{round}-{i}"), &sub);
                block(store.store(&format!("old-{round}-{i}"), s, t, t.plus(100)));
            }
            let id = format!("new-{round}");
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let (s2, b2, sub2, id2) = (store.clone(), barrier.clone(), sub.clone(), id.clone());
            let login = std::thread::spawn(move || {
                let s = session(&format!("sid-{id2}"), &sub2);
                let rt = rt();
                b2.wait();
                rt.block_on(s2.store(&id2, s, t, t.plus(100))).unwrap();
            });
            let here = rt();
            barrier.wait();
            here.block_on(store.delete_by_sub(&sub)).unwrap();
            login.join().unwrap();
            if block(store.load(&id, t)).is_some() {
                assert_eq!(
                    block(store.delete_by_sub(&sub)),
                    1,
                    "round {round}: a live session fell out of its index"
                );
            }
        }
    }
}
