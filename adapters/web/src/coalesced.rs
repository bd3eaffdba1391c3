//! A bounded cache of answers from Keycloak whose misses are asked once per key (the policy
//! enforcer's resource lookups and decisions), on moka's `future::Cache::try_get_with`.
//!
//! Concurrent requests for one key share one call and its outcome, an error included (so
//! requests that waited behind a call that found Keycloak unavailable answer 503 at once
//! instead of each asking again in turn); an error is never cached, so the next request after
//! it asks again. Requests for other keys never wait for it. A cancelled call (its request
//! dropped) hands the work to a waiter.

use std::future::Future;
use std::sync::Arc;

use keycloak_client::UnixTime;
use moka::future::Cache;
use moka::policy::EvictionPolicy;

use crate::cache::{PerEntry, Timed};

/// Answers kept until the deadline each carries, at most `capacity` of them (least recently
/// used evicted first).
pub(crate) struct Coalesced<V: Clone + Send + Sync + 'static> {
    inner: Cache<String, Arc<Timed<V>>>,
}

impl<V: Clone + Send + Sync + 'static> Coalesced<V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Coalesced {
            inner: Cache::builder()
                .max_capacity(capacity.max(1) as u64)
                .eviction_policy(EvictionPolicy::lru())
                .expire_after(PerEntry)
                .build(),
        }
    }

    /// The live answer for `key` at `now`, else the one `ask` gives (`ask` runs at most once
    /// per key at a time). `ask` returns the answer and how long it may be kept (a deadline at
    /// or before `now`: not kept, though the requests waiting for it still get it).
    pub(crate) async fn get_or_ask<E, F, Fut>(
        &self,
        key: String,
        now: UnixTime,
        ask: F,
    ) -> Result<V, Arc<E>>
    where
        E: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, UnixTime), E>>,
    {
        if let Some(e) = self.inner.get(&key).await {
            if e.expires_at > now {
                return Ok(e.value.clone());
            }
            // Past its deadline on the engine's clock (moka's own clock may lag a second).
            self.inner.invalidate(&key).await;
        }
        let answer = self
            .inner
            .try_get_with(key, async move {
                let (value, until) = ask().await?;
                Ok::<_, E>(Arc::new(Timed::new(value, until, now)))
            })
            .await?;
        Ok(answer.value.clone())
    }

    /// Number of answers kept (after moka's pending maintenance).
    #[cfg(test)]
    pub(crate) async fn len(&self) -> u64 {
        self.inner.run_pending_tasks().await;
        self.inner.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn concurrent_misses_of_one_key_ask_once_and_share_the_answer() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10);
            let asked = AtomicUsize::new(0);
            let ask = || async {
                asked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Ok::<_, String>((7, UnixTime(100)))
            };
            let (a, b, x) = tokio::join!(
                c.get_or_ask("k".into(), UnixTime(0), ask),
                c.get_or_ask("k".into(), UnixTime(0), ask),
                c.get_or_ask("k".into(), UnixTime(0), ask),
            );
            assert_eq!((a.unwrap(), b.unwrap(), x.unwrap()), (7, 7, 7));
            assert_eq!(asked.load(Ordering::SeqCst), 1);
            // kept: no new call
            assert_eq!(c.get_or_ask("k".into(), UnixTime(1), ask).await.unwrap(), 7);
            assert_eq!(asked.load(Ordering::SeqCst), 1);
        });
    }

    #[test]
    fn a_failure_is_shared_with_its_waiters_and_never_kept() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10);
            let asked = AtomicUsize::new(0);
            let failing = || async {
                asked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                Err::<(u32, UnixTime), _>("down".to_string())
            };
            let (a, b) = tokio::join!(
                c.get_or_ask("k".into(), UnixTime(0), failing),
                c.get_or_ask("k".into(), UnixTime(0), failing),
            );
            assert_eq!(*a.unwrap_err(), "down");
            assert_eq!(*b.unwrap_err(), "down");
            assert_eq!(asked.load(Ordering::SeqCst), 1, "the waiter shared it");
            let ok = c
                .get_or_ask("k".into(), UnixTime(0), || async {
                    Ok::<_, String>((1, UnixTime(10)))
                })
                .await;
            assert_eq!(ok.unwrap(), 1, "asked again after the failure");
        });
    }

    #[test]
    fn other_keys_never_wait_and_answers_expire_by_the_callers_clock() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10);
            let slow = || async {
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                Ok::<_, String>((1, UnixTime(100)))
            };
            let quick = || async { Ok::<_, String>((2, UnixTime(5))) };
            tokio::select! {
                _ = c.get_or_ask("slow".into(), UnixTime(0), slow) => panic!("slow ended first"),
                v = c.get_or_ask("quick".into(), UnixTime(0), quick) => assert_eq!(v.unwrap(), 2),
            }
            // past its deadline on the caller's clock: asked again
            let again = c
                .get_or_ask("quick".into(), UnixTime(5), || async {
                    Ok::<_, String>((3, UnixTime(50)))
                })
                .await;
            assert_eq!(again.unwrap(), 3);
            // a deadline already passed: handed out, not kept
            let once = c
                .get_or_ask("gone".into(), UnixTime(9), || async {
                    Ok::<_, String>((4, UnixTime(9)))
                })
                .await;
            assert_eq!(once.unwrap(), 4);
            let next = c
                .get_or_ask("gone".into(), UnixTime(9), || async {
                    Ok::<_, String>((5, UnixTime(9)))
                })
                .await;
            assert_eq!(next.unwrap(), 5, "not kept");
        });
    }

    #[test]
    fn bounded() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(4);
            for i in 0..50u32 {
                let _ = c
                    .get_or_ask(format!("k{i}"), UnixTime(0), || async move {
                        Ok::<_, String>((i, UnixTime(100)))
                    })
                    .await;
            }
            assert!(c.len().await <= 4);
        });
    }
}
