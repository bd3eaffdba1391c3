//! A small bounded cache with per-entry expiry (verified bearer tokens, UMA decisions).

use std::collections::HashMap;
use std::sync::Mutex;

use keycloak_client::UnixTime;

/// Bounded map whose entries expire; when full, expired entries are swept and then the entry
/// closest to expiry is evicted.
pub struct TtlCache<V: Clone> {
    inner: Mutex<HashMap<String, (V, UnixTime)>>,
    capacity: usize,
}

impl<V: Clone> TtlCache<V> {
    /// A cache of at most `capacity` entries; `0` disables it (nothing is stored).
    pub fn new(capacity: usize) -> Self {
        TtlCache {
            inner: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (V, UnixTime)>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The value if present and not expired at `now`.
    pub fn get(&self, key: &str, now: UnixTime) -> Option<V> {
        let m = self.lock();
        match m.get(key) {
            Some((v, exp)) if *exp > now => Some(v.clone()),
            _ => None,
        }
    }

    /// Inserts a value valid until `expires_at`.
    pub fn insert(&self, key: String, value: V, expires_at: UnixTime, now: UnixTime) {
        if expires_at <= now || self.capacity == 0 {
            return;
        }
        let mut m = self.lock();
        if m.len() >= self.capacity && !m.contains_key(&key) {
            m.retain(|_, (_, exp)| *exp > now);
            if m.len() >= self.capacity {
                if let Some(k) = m
                    .iter()
                    .min_by_key(|(_, (_, e))| *e)
                    .map(|(k, _)| k.clone())
                {
                    m.remove(&k);
                }
            }
        }
        m.insert(key, (value, expires_at));
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.lock().len()
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
        c.insert("c".into(), 3, UnixTime(30), UnixTime(0));
        assert_eq!(c.len(), 2);
        assert_eq!(c.get("a", UnixTime(1)), None, "closest to expiry evicted");
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
    fn capacity_zero_disables() {
        let c = TtlCache::new(0);
        c.insert("a".into(), 1, UnixTime(10), UnixTime(0));
        assert_eq!(c.get("a", UnixTime(1)), None);
        assert!(c.is_empty());
    }
}
