//! A bounded cache of answers from Keycloak whose misses are asked once per key (the policy
//! enforcer's resource lookups and decisions).
//!
//! Concurrent requests for one key share one call and its outcome, an error included (so
//! requests that waited behind a call that found Keycloak unavailable answer 503 at once
//! instead of each asking again in turn); an error is never kept, so the next request after it
//! asks again. Requests for other keys never wait for it. The call runs in its own task: a
//! request that goes away (a client disconnecting) never cancels the call the others wait for,
//! and cannot make them start it again; when every request waiting for it has gone, the call
//! is dropped. At most [`MAX_CALLS`] calls run at once (more: 503 at once), each for at most
//! [`CALL_LIMIT`], whatever the HTTP client's own timeouts.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use keycloak_client::UnixTime;
use keycloak_client_reqwest::Error as HttpError;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};

use crate::cache::TtlCache;
use crate::lock;

/// What the waiters of a call get.
type Shared<V> = Result<V, Arc<HttpError>>;

/// The calls running now, by key (at most [`MAX_CALLS`]).
type Calls<V> = Arc<Mutex<HashMap<String, watch::Sender<Option<Shared<V>>>>>>;

/// Most calls to Keycloak running at once for one cache.
const MAX_CALLS: usize = 256;
/// Longest a call may run.
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// Answers kept until the deadline each carries (at most `capacity`, least recently used
/// evicted first), and the calls under way.
pub(crate) struct Coalesced<V: Clone + Send + Sync + 'static> {
    answers: Arc<TtlCache<V>>,
    calls: Calls<V>,
    /// One permit per running call.
    room: Arc<Semaphore>,
    limit: Duration,
    /// Names the call in the error its waiters get if it ends without an answer.
    what: &'static str,
}

/// Takes a finished (or panicked) call off the map, whatever way its task ends.
struct Finished<V: Clone + Send + Sync + 'static> {
    calls: Calls<V>,
    key: String,
}

impl<V: Clone + Send + Sync + 'static> Drop for Finished<V> {
    fn drop(&mut self) {
        lock(&self.calls).remove(&self.key);
    }
}

impl<V: Clone + Send + Sync + 'static> Coalesced<V> {
    pub(crate) fn new(capacity: usize, what: &'static str) -> Self {
        Self::with_limits(capacity, what, MAX_CALLS, CALL_LIMIT)
    }

    fn with_limits(capacity: usize, what: &'static str, calls: usize, limit: Duration) -> Self {
        Coalesced {
            answers: Arc::new(TtlCache::new(capacity.max(1))),
            calls: Default::default(),
            room: Arc::new(Semaphore::new(calls)),
            limit,
            what,
        }
    }

    /// The live answer for `key` at `now`, else the one `ask` gives, asked at most once per key
    /// at a time. `ask` returns the answer and its deadline (at or before `now`: handed to the
    /// requests waiting for it, not kept).
    pub(crate) async fn get_or_ask<F, Fut>(&self, key: String, now: UnixTime, ask: F) -> Shared<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(V, UnixTime), HttpError>> + Send + 'static,
    {
        if let Some(v) = self.answers.get(&key, now) {
            return Ok(v);
        }
        let (mut waiting, start) = {
            let mut calls = lock(&self.calls);
            match calls.get(&key) {
                Some(running) => (running.subscribe(), None),
                None => {
                    // A call may have ended between the first look and the lock.
                    if let Some(v) = self.answers.get(&key, now) {
                        return Ok(v);
                    }
                    let Ok(permit) = self.room.clone().try_acquire_owned() else {
                        tracing::warn!(target: "keycloak_client::web", what = self.what, "too many calls to Keycloak under way; refused");
                        return Err(self.lost());
                    };
                    let (tx, rx) = watch::channel(None);
                    calls.insert(key.clone(), tx.clone());
                    (rx, Some((tx, permit)))
                }
            }
        };
        if let Some((tx, permit)) = start {
            // Outside the lock: `finished` takes it when dropped, which a failed spawn (or a
            // panicking `ask`) does at once.
            let finished = Finished {
                calls: self.calls.clone(),
                key,
            };
            let call = ask();
            let (answers, limit, what) = (self.answers.clone(), self.limit, self.what);
            let task = async move {
                let _permit = permit;
                let outcome = tokio::select! {
                    r = tokio::time::timeout(limit, call) => r,
                    // Every request waiting for it has gone: nobody needs the answer.
                    _ = tx.closed() => return,
                };
                let shared = match outcome {
                    Ok(Ok((v, until))) => {
                        // Kept before the call leaves the map: a newcomer finds one or the
                        // other.
                        answers.insert(finished.key.clone(), v.clone(), until, now);
                        Ok(v)
                    }
                    Ok(Err(e)) => Err(Arc::new(e)),
                    Err(_) => {
                        tracing::warn!(target: "keycloak_client::web", what, "call to Keycloak took too long; abandoned");
                        Err(Arc::new(HttpError::Keycloak(
                            keycloak_client::Error::SharedFetchFailed { what },
                        )))
                    }
                };
                drop(finished);
                let _ = tx.send(Some(shared));
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => {
                    rt.spawn(tracing::Instrument::in_current_span(task));
                }
                Err(_) => return Err(self.lost()),
            }
        }
        let answer = match waiting.wait_for(Option::is_some).await {
            Ok(done) => done.clone(),
            // The call's task ended without an answer (it panicked).
            Err(_) => None,
        };
        answer.unwrap_or_else(|| Err(self.lost()))
    }

    fn lost(&self) -> Arc<HttpError> {
        Arc::new(HttpError::Keycloak(
            keycloak_client::Error::SharedFetchFailed { what: self.what },
        ))
    }

    /// Number of answers kept and calls under way.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        (self.answers.len(), lock(&self.calls).len())
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

    const NO_WAIT: Duration = Duration::ZERO;

    /// A cache and a count of the calls it made.
    struct Probe {
        c: Coalesced<u32>,
        asked: Arc<AtomicUsize>,
    }

    impl Probe {
        fn new(c: Coalesced<u32>) -> Self {
            Probe {
                c,
                asked: Default::default(),
            }
        }

        /// `get_or_ask` at `now` with a call that takes `delay` and answers `answer` (the value
        /// and its deadline) or, with `None`, fails as an unavailable Keycloak does.
        async fn ask(
            &self,
            key: &str,
            now: u64,
            delay: Duration,
            answer: Option<(u32, u64)>,
        ) -> Shared<u32> {
            let asked = self.asked.clone();
            self.c
                .get_or_ask(key.into(), UnixTime(now), move || async move {
                    asked.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(delay).await;
                    let down = keycloak_client::Error::SharedFetchFailed { what: "test" };
                    answer
                        .map(|(v, until)| (v, UnixTime(until)))
                        .ok_or(HttpError::Keycloak(down))
                })
                .await
        }

        fn asked(&self) -> usize {
            self.asked.load(Ordering::SeqCst)
        }
    }

    #[test]
    fn concurrent_misses_of_one_key_ask_once_and_share_the_answer() {
        rt().block_on(async {
            let p = Probe::new(Coalesced::new(10, "test"));
            let ms = Duration::from_millis(20);
            let (a, b, x) = tokio::join!(
                p.ask("k", 0, ms, Some((7, 100))),
                p.ask("k", 0, ms, Some((8, 100))),
                p.ask("k", 0, ms, Some((9, 100))),
            );
            assert_eq!((a.unwrap(), b.unwrap(), x.unwrap()), (7, 7, 7));
            assert_eq!(p.asked(), 1);
            let kept = p.ask("k", 1, ms, Some((1, 9))).await;
            assert_eq!(kept.unwrap(), 7, "kept: no new call");
            assert_eq!(p.asked(), 1);
            assert_eq!(p.c.sizes(), (1, 0), "the call left the map");
        });
    }

    #[test]
    fn a_failure_is_shared_with_its_waiters_and_never_kept() {
        rt().block_on(async {
            let p = Probe::new(Coalesced::new(10, "test"));
            let ms = Duration::from_millis(20);
            let (a, b) = tokio::join!(p.ask("k", 0, ms, None), p.ask("k", 0, ms, None));
            assert!(a.unwrap_err().is_unavailable());
            assert!(b.unwrap_err().is_unavailable());
            assert_eq!(p.asked(), 1, "the waiter shared it");
            let ok = p.ask("k", 0, ms, Some((1, 10))).await;
            assert_eq!(ok.unwrap(), 1, "asked again after the failure");
            assert_eq!(p.asked(), 2);
        });
    }

    #[test]
    fn a_request_that_goes_away_never_cancels_the_call_others_wait_for() {
        rt().block_on(async {
            let p = Probe::new(Coalesced::new(10, "test"));
            let ms = Duration::from_millis(50);
            // the first requester gives up (its client disconnected) while another waits
            let (gone, waited) = tokio::join!(
                tokio::time::timeout(Duration::from_millis(5), p.ask("k", 0, ms, Some((7, 100)))),
                p.ask("k", 0, ms, Some((8, 100))),
            );
            assert!(gone.is_err(), "dropped mid-call");
            assert_eq!(waited.unwrap(), 7, "the first call's answer");
            assert_eq!(p.asked(), 1, "not started again");
        });
    }

    #[test]
    fn when_every_request_has_gone_the_call_is_dropped() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10, "test");
            let finished = Arc::new(AtomicUsize::new(0));
            let f = finished.clone();
            let ask = move || async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                f.fetch_add(1, Ordering::SeqCst);
                Ok::<_, HttpError>((1u32, UnixTime(100)))
            };
            let gone = tokio::time::timeout(
                Duration::from_millis(5),
                c.get_or_ask("k".into(), UnixTime(0), ask),
            )
            .await;
            assert!(gone.is_err());
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(finished.load(Ordering::SeqCst), 0, "the call was dropped");
            assert_eq!(c.sizes(), (0, 0));
        });
    }

    #[test]
    fn calls_are_bounded_in_number_and_in_time() {
        rt().block_on(async {
            let p = Probe::new(Coalesced::with_limits(
                10,
                "test",
                1,
                Duration::from_millis(50),
            ));
            let (slow, refused) = tokio::join!(
                p.ask("a", 0, Duration::from_secs(10), Some((1, 100))),
                async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    p.ask("b", 0, NO_WAIT, Some((2, 100))).await
                },
            );
            assert!(
                refused.unwrap_err().is_unavailable(),
                "one call at a time: refused at once"
            );
            assert!(
                slow.unwrap_err().is_unavailable(),
                "abandoned after its time limit"
            );
            assert_eq!(p.c.sizes(), (0, 0));
            let ok = p.ask("b", 0, NO_WAIT, Some((2, 100))).await;
            assert_eq!(ok.unwrap(), 2, "room again");
        });
    }

    #[test]
    fn other_keys_never_wait_and_answers_expire_by_the_callers_clock() {
        rt().block_on(async {
            let p = Probe::new(Coalesced::new(10, "test"));
            tokio::select! {
                _ = p.ask("slow", 0, Duration::from_secs(30), Some((1, 100))) => panic!("slow ended first"),
                v = p.ask("quick", 0, NO_WAIT, Some((2, 5))) => assert_eq!(v.unwrap(), 2),
            }
            let again = p.ask("quick", 5, NO_WAIT, Some((3, 50))).await;
            assert_eq!(again.unwrap(), 3, "past its deadline: asked again");
            let once = p.ask("gone", 9, NO_WAIT, Some((4, 9))).await;
            assert_eq!(once.unwrap(), 4);
            let next = p.ask("gone", 9, NO_WAIT, Some((5, 9))).await;
            assert_eq!(next.unwrap(), 5, "a deadline already passed: not kept");
        });
    }

    #[test]
    fn bounded() {
        rt().block_on(async {
            let p = Probe::new(Coalesced::new(4, "test"));
            for i in 0..50u32 {
                let _ = p.ask(&format!("k{i}"), 0, NO_WAIT, Some((i, 100))).await;
            }
            let (kept, running) = p.c.sizes();
            assert!(kept <= 4, "{kept}");
            assert_eq!(running, 0);
        });
    }
}
