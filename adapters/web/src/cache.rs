//! A bounded cache with per-entry expiry (verified bearer tokens, UMA decisions, session
//! identities, logout-token `jti`s), on [moka](https://docs.rs/moka): amortised O(1) reads,
//! writes and evictions, no full scans, no lock held across an `await`.
//!
//! Expiry is checked twice: moka drops an entry when its time to live has passed (so memory
//! does not hold dead entries), and every read compares the entry's deadline with the caller's
//! `now` (so the answer follows the clock the engine was given, not moka's).

use std::sync::Arc;
use std::time::{Duration, Instant};

use keycloak_client::UnixTime;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;

/// An entry and its deadline.
#[derive(Debug)]
pub(crate) struct Timed<V> {
    pub(crate) value: V,
    pub(crate) expires_at: UnixTime,
    ttl: Duration,
}

impl<V> Timed<V> {
    pub(crate) fn new(value: V, expires_at: UnixTime, now: UnixTime) -> Self {
        Timed {
            value,
            expires_at,
            ttl: Duration::from_secs(now.until(expires_at)),
        }
    }
}

/// Expires each entry after its own time to live.
pub(crate) struct PerEntry;

impl<K, V> moka::Expiry<K, Arc<Timed<V>>> for PerEntry {
    fn expire_after_create(&self, _: &K, v: &Arc<Timed<V>>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }

    fn expire_after_update(
        &self,
        _: &K,
        v: &Arc<Timed<V>>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// A moka cache of `capacity` entries with per-entry expiry, least recently used evicted first
/// (a new entry is always admitted: a flood of new keys evicts old ones, it is never refused).
pub(crate) fn bounded<V: Send + Sync + 'static>(capacity: u64) -> Cache<String, Arc<Timed<V>>> {
    Cache::builder()
        .max_capacity(capacity)
        .eviction_policy(EvictionPolicy::lru())
        .expire_after(PerEntry)
        .build()
}

/// Bounded map whose entries expire; when full, the least recently used entry is evicted.
pub struct TtlCache<V: Clone + Send + Sync + 'static> {
    inner: Option<Cache<String, Arc<Timed<V>>>>,
    /// The last exact count and when it was taken ([`holds_at_least`](Self::holds_at_least)).
    exact: std::sync::Mutex<Option<(Instant, usize)>>,
}

/// How long an exact count serves before it is taken again.
const EXACT_COUNT_EVERY: Duration = Duration::from_millis(100);

impl<V: Clone + Send + Sync + 'static> TtlCache<V> {
    /// A cache of at most `capacity` entries; `0` disables it (nothing is stored).
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            inner: (capacity > 0).then(|| bounded(capacity as u64)),
            exact: Default::default(),
        }
    }

    /// The value if present and not expired at `now`.
    pub fn get(&self, key: &str, now: UnixTime) -> Option<V> {
        let e = self.inner.as_ref()?.get(key)?;
        (e.expires_at > now).then(|| e.value.clone())
    }

    /// Inserts a value valid until `expires_at` (nothing when that has passed).
    pub fn insert(&self, key: String, value: V, expires_at: UnixTime, now: UnixTime) {
        if let Some(c) = &self.inner {
            if expires_at > now {
                c.insert(key, Arc::new(Timed::new(value, expires_at, now)));
            }
        }
    }

    /// Inserts a value only if the key holds no live entry; `true` when this call inserted it.
    /// Atomic: of two racing calls for one key, exactly one gets `true`. A disabled cache
    /// always answers `true`.
    pub fn insert_new(&self, key: String, value: V, expires_at: UnixTime, now: UnixTime) -> bool {
        let Some(c) = &self.inner else {
            return true;
        };
        if expires_at <= now {
            return true;
        }
        let fresh = Arc::new(Timed::new(value, expires_at, now));
        let mut inserted = false;
        c.entry(key).and_compute_with(|existing| match existing {
            Some(e) if e.value().expires_at > now => moka::ops::compute::Op::Nop,
            _ => {
                inserted = true;
                moka::ops::compute::Op::Put(fresh)
            }
        });
        inserted
    }

    /// Removes and returns the entry if it has not expired at `now` (one caller gets it).
    pub fn take(&self, key: &str, now: UnixTime) -> Option<V> {
        let e = self.inner.as_ref()?.remove(key)?;
        (e.expires_at > now).then(|| e.value.clone())
    }

    /// Number of entries as last counted (cheap; moka updates it as it maintains the cache, so
    /// it may lag by the writes of the last moments).
    pub fn approx_len(&self) -> usize {
        self.inner.as_ref().map_or(0, |c| c.entry_count() as usize)
    }

    /// Whether at least `n` live entries are held. The cheap count first; only when it says
    /// so is moka's pending maintenance run (dropping expired entries) and the count taken
    /// again, so a cache that filled up is seen to empty as its entries expire.
    pub fn holds_at_least(&self, n: usize) -> bool {
        if self.approx_len() < n {
            return false;
        }
        // Counting exactly runs moka's maintenance under its lock: one caller at a time, at
        // most every EXACT_COUNT_EVERY; the others take the last count (or, while it is being
        // taken, the cheap one).
        let Ok(mut last) = self.exact.try_lock() else {
            return true;
        };
        if let Some((at, count)) = *last {
            if at.elapsed() < EXACT_COUNT_EVERY {
                return count >= n;
            }
        }
        let count = self.len();
        *last = Some((Instant::now(), count));
        count >= n
    }

    /// Number of entries (after moka's pending maintenance has run).
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |c| {
            c.run_pending_tasks();
            c.entry_count() as usize
        })
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_expiring() {
        let c = TtlCache::new(2);
        c.insert("a".into(), 1, UnixTime(10), UnixTime(0));
        c.insert("b".into(), 2, UnixTime(20), UnixTime(0));
        assert_eq!(c.get("b", UnixTime(1)), Some(2));
        c.insert("c".into(), 3, UnixTime(30), UnixTime(0));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a", UnixTime(1)), None, "least recently used evicted");
        assert_eq!(c.get("c", UnixTime(1)), Some(3));
        assert_eq!(c.get("b", UnixTime(20)), None, "expired");
        c.insert("d".into(), 4, UnixTime(5), UnixTime(6));
        assert_eq!(
            c.get("d", UnixTime(0)),
            None,
            "already expired values are not stored"
        );
    }

    #[test]
    fn entries_leave_memory_when_their_time_is_up_and_dead_ones_are_never_kept() {
        let c = TtlCache::new(100);
        c.insert("now".into(), 1, UnixTime(10), UnixTime(10));
        assert_eq!(c.len(), 0, "a deadline of now stores nothing");
        assert!(c.is_empty());
        c.insert("short".into(), 1, UnixTime(11), UnixTime(10));
        assert_eq!((c.len(), c.is_empty()), (1, false));
        c.insert_new("short2".into(), 1, UnixTime(11), UnixTime(10));
        c.insert("short2".into(), 2, UnixTime(11), UnixTime(10)); // an update keeps its expiry
        std::thread::sleep(std::time::Duration::from_millis(1300));
        assert_eq!(c.len(), 0, "moka dropped them by its own clock");
    }

    #[test]
    fn a_flood_of_new_keys_is_admitted_and_stays_bounded() {
        let c = TtlCache::new(100);
        for i in 0..10_000 {
            c.insert(format!("k{i}"), i, UnixTime(100), UnixTime(0));
        }
        assert!(c.len() <= 100, "{}", c.len());
        assert_eq!(
            c.get("k9999", UnixTime(1)),
            Some(9999),
            "the newest is kept"
        );
    }

    #[test]
    fn a_full_cache_is_seen_to_empty_as_its_entries_expire() {
        let c = TtlCache::new(20);
        for i in 0..10 {
            assert!(c.insert_new(format!("j{i}"), (), UnixTime(1), UnixTime(0)));
        }
        assert_eq!(c.len(), 10, "counted");
        assert!(c.holds_at_least(10));
        // moka expires them after their one second of real time; nothing else touches the cache
        std::thread::sleep(std::time::Duration::from_millis(1300));
        assert!(
            !c.holds_at_least(10),
            "still full after its entries expired"
        );
    }

    #[test]
    fn insert_new_and_take_answer_once() {
        let c = TtlCache::new(10);
        assert!(c.insert_new("j".into(), (), UnixTime(10), UnixTime(0)));
        assert!(!c.insert_new("j".into(), (), UnixTime(10), UnixTime(1)));
        assert!(
            c.insert_new("j".into(), (), UnixTime(20), UnixTime(10)),
            "an expired entry does not count"
        );
        let c = TtlCache::new(10);
        c.insert("t".into(), 7, UnixTime(10), UnixTime(0));
        assert_eq!(c.take("t", UnixTime(1)), Some(7));
        assert_eq!(c.take("t", UnixTime(1)), None);
        c.insert("u".into(), 8, UnixTime(10), UnixTime(0));
        assert_eq!(c.take("u", UnixTime(10)), None, "expired");
    }

    #[test]
    fn capacity_zero_disables() {
        let c = TtlCache::new(0);
        c.insert("a".into(), 1, UnixTime(10), UnixTime(0));
        assert_eq!(c.get("a", UnixTime(1)), None);
        assert!(c.is_empty());
    }
}
