//! A bounded cache of answers from Keycloak whose misses are asked once per key (the policy
//! enforcer's resource lookups and decisions).
//!
//! Concurrent requests for one key share one call and its outcome, an error included (so
//! requests that waited behind a call that found Keycloak unavailable answer 503 at once
//! instead of each asking again in turn); an error is never kept, so the next request after it
//! asks again. Requests for other keys never wait for it. The call runs in its own task: a
//! request that goes away (a client disconnecting) never cancels the call the others wait for,
//! and cannot make them start it again.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use keycloak_client::UnixTime;
use keycloak_client_reqwest::Error as HttpError;
use tokio::sync::watch;

use crate::cache::TtlCache;

/// What the waiters of a call get.
type Shared<V> = Result<V, Arc<HttpError>>;

/// The calls running now, by key: bounded by the requests in flight (each call ends with its
/// HTTP timeout).
type Calls<V> = Arc<Mutex<HashMap<String, watch::Receiver<Option<Shared<V>>>>>>;

/// Answers kept until the deadline each carries (at most `capacity`, least recently used
/// evicted first), and the calls under way.
pub(crate) struct Coalesced<V: Clone + Send + Sync + 'static> {
    answers: Arc<TtlCache<V>>,
    calls: Calls<V>,
    /// Names the call in the error its waiters get if it ends without an answer.
    what: &'static str,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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
        Coalesced {
            answers: Arc::new(TtlCache::new(capacity.max(1))),
            calls: Default::default(),
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
        let mut waiting = {
            let mut calls = lock(&self.calls);
            match calls.get(&key) {
                Some(running) => running.clone(),
                None => {
                    // A call may have ended between the first look and the lock.
                    if let Some(v) = self.answers.get(&key, now) {
                        return Ok(v);
                    }
                    let (tx, rx) = watch::channel(None);
                    calls.insert(key.clone(), rx.clone());
                    let call = ask();
                    let answers = self.answers.clone();
                    let finished = Finished {
                        calls: self.calls.clone(),
                        key,
                    };
                    tokio::spawn(async move {
                        let shared = match call.await {
                            Ok((v, until)) => {
                                // Kept before the call leaves the map: a newcomer finds one
                                // or the other.
                                answers.insert(finished.key.clone(), v.clone(), until, now);
                                Ok(v)
                            }
                            Err(e) => Err(Arc::new(e)),
                        };
                        drop(finished);
                        let _ = tx.send(Some(shared));
                    });
                    rx
                }
            }
        };
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
    use std::time::Duration;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn down() -> HttpError {
        HttpError::Keycloak(keycloak_client::Error::SharedFetchFailed { what: "test" })
    }

    type Asked = std::pin::Pin<Box<dyn Future<Output = Result<(u32, UnixTime), HttpError>> + Send>>;

    /// An `ask` that counts its calls, takes `delay`, and answers `answer`.
    fn counted(
        asked: &Arc<AtomicUsize>,
        delay: Duration,
        answer: Result<(u32, UnixTime), ()>,
    ) -> impl FnOnce() -> Asked {
        let asked = asked.clone();
        move || {
            Box::pin(async move {
                asked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                answer.map_err(|_| down())
            })
        }
    }

    #[test]
    fn concurrent_misses_of_one_key_ask_once_and_share_the_answer() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10, "test");
            let asked = Arc::new(AtomicUsize::new(0));
            let ms = Duration::from_millis(20);
            let (a, b, x) = tokio::join!(
                c.get_or_ask(
                    "k".into(),
                    UnixTime(0),
                    counted(&asked, ms, Ok((7, UnixTime(100))))
                ),
                c.get_or_ask(
                    "k".into(),
                    UnixTime(0),
                    counted(&asked, ms, Ok((8, UnixTime(100))))
                ),
                c.get_or_ask(
                    "k".into(),
                    UnixTime(0),
                    counted(&asked, ms, Ok((9, UnixTime(100))))
                ),
            );
            assert_eq!((a.unwrap(), b.unwrap(), x.unwrap()), (7, 7, 7));
            assert_eq!(asked.load(Ordering::SeqCst), 1);
            let kept = c
                .get_or_ask(
                    "k".into(),
                    UnixTime(1),
                    counted(&asked, ms, Ok((1, UnixTime(9)))),
                )
                .await;
            assert_eq!(kept.unwrap(), 7, "kept: no new call");
            assert_eq!(asked.load(Ordering::SeqCst), 1);
            assert_eq!(c.sizes(), (1, 0), "the call left the map");
        });
    }

    #[test]
    fn a_failure_is_shared_with_its_waiters_and_never_kept() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10, "test");
            let asked = Arc::new(AtomicUsize::new(0));
            let ms = Duration::from_millis(20);
            let (a, b) = tokio::join!(
                c.get_or_ask("k".into(), UnixTime(0), counted(&asked, ms, Err(()))),
                c.get_or_ask("k".into(), UnixTime(0), counted(&asked, ms, Err(()))),
            );
            assert!(a.unwrap_err().is_unavailable());
            assert!(b.unwrap_err().is_unavailable());
            assert_eq!(asked.load(Ordering::SeqCst), 1, "the waiter shared it");
            let ok = c
                .get_or_ask(
                    "k".into(),
                    UnixTime(0),
                    counted(&asked, ms, Ok((1, UnixTime(10)))),
                )
                .await;
            assert_eq!(ok.unwrap(), 1, "asked again after the failure");
            assert_eq!(asked.load(Ordering::SeqCst), 2);
        });
    }

    #[test]
    fn a_request_that_goes_away_never_cancels_the_call_others_wait_for() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10, "test");
            let asked = Arc::new(AtomicUsize::new(0));
            let ms = Duration::from_millis(50);
            // the first requester gives up (its client disconnected) while the call runs
            let gone = tokio::time::timeout(
                Duration::from_millis(5),
                c.get_or_ask(
                    "k".into(),
                    UnixTime(0),
                    counted(&asked, ms, Ok((7, UnixTime(100)))),
                ),
            )
            .await;
            assert!(gone.is_err(), "dropped mid-call");
            let waited = c
                .get_or_ask(
                    "k".into(),
                    UnixTime(0),
                    counted(&asked, ms, Ok((8, UnixTime(100)))),
                )
                .await;
            assert_eq!(waited.unwrap(), 7, "the first call's answer");
            assert_eq!(asked.load(Ordering::SeqCst), 1, "not started again");
        });
    }

    #[test]
    fn other_keys_never_wait_and_answers_expire_by_the_callers_clock() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(10, "test");
            let asked = Arc::new(AtomicUsize::new(0));
            let slow = counted(&asked, Duration::from_secs(30), Ok((1, UnixTime(100))));
            let quick = counted(&asked, Duration::ZERO, Ok((2, UnixTime(5))));
            tokio::select! {
                _ = c.get_or_ask("slow".into(), UnixTime(0), slow) => panic!("slow ended first"),
                v = c.get_or_ask("quick".into(), UnixTime(0), quick) => assert_eq!(v.unwrap(), 2),
            }
            let again = c
                .get_or_ask(
                    "quick".into(),
                    UnixTime(5),
                    counted(&asked, Duration::ZERO, Ok((3, UnixTime(50)))),
                )
                .await;
            assert_eq!(again.unwrap(), 3, "past its deadline: asked again");
            let once = c
                .get_or_ask(
                    "gone".into(),
                    UnixTime(9),
                    counted(&asked, Duration::ZERO, Ok((4, UnixTime(9)))),
                )
                .await;
            assert_eq!(once.unwrap(), 4);
            let next = c
                .get_or_ask(
                    "gone".into(),
                    UnixTime(9),
                    counted(&asked, Duration::ZERO, Ok((5, UnixTime(9)))),
                )
                .await;
            assert_eq!(next.unwrap(), 5, "a deadline already passed: not kept");
        });
    }

    #[test]
    fn bounded() {
        rt().block_on(async {
            let c = Coalesced::<u32>::new(4, "test");
            let asked = Arc::new(AtomicUsize::new(0));
            for i in 0..50u32 {
                let _ = c
                    .get_or_ask(
                        format!("k{i}"),
                        UnixTime(0),
                        counted(&asked, Duration::ZERO, Ok((i, UnixTime(100)))),
                    )
                    .await;
            }
            let (kept, running) = c.sizes();
            assert!(kept <= 4, "{kept}");
            assert_eq!(running, 0);
        });
    }
}
