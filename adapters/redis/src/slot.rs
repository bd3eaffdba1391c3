//! One shared (multiplexed) connection: made in the background, replaced when it goes silent.
//!
//! * **Connecting** runs in a spawned task, one attempt at a time: a request that gives up
//!   (its deadline) does not cancel the attempt, so under load a connection still gets made
//!   instead of every request starting and abandoning its own.
//! * **Silence.** The client reconnects by itself on errors it can see (a reset, a closed
//!   socket). A peer that vanished without either (a dead host, a dropped NAT entry) only
//!   produces timeouts: after [`SILENT_TIMEOUTS`] commands that each waited a full time budget,
//!   with no answer at all on this connection for [`SILENT_BUDGETS`] budgets, it is dropped
//!   and the next command connects again. A Redis stall (a fork, a slow script) times out many
//!   commands at once but lasts less than that, and a failing-over cluster shard leaves the
//!   other shards answering: neither drops the connection.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keycloak_client_web::{StoreError, StoreResult};

/// Timeouts (each after a full budget) before a silent connection is dropped.
pub(crate) const SILENT_TIMEOUTS: u32 = 3;
/// Budgets without any answer before a silent connection is dropped.
pub(crate) const SILENT_BUDGETS: u32 = 2;

struct State<C> {
    current: Option<(u64, C)>,
    generation: u64,
    connecting: bool,
    /// Attempts started and finished; the error of the last failed one.
    started: u64,
    finished: u64,
    last_error: Option<StoreError>,
    timeouts: u32,
    last_answer: Instant,
}

pub(crate) struct Slot<C> {
    state: Arc<Mutex<State<C>>>,
    ready: Arc<tokio::sync::Notify>,
    budget: Duration,
}

fn lock<C>(m: &Mutex<State<C>>) -> std::sync::MutexGuard<'_, State<C>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<C: Clone + Send + 'static> Slot<C> {
    /// `budget`: the time limit of one operation.
    pub(crate) fn new(budget: Duration) -> Self {
        Slot {
            state: Arc::new(Mutex::new(State {
                current: None,
                generation: 0,
                connecting: false,
                started: 0,
                finished: 0,
                last_error: None,
                timeouts: 0,
                last_answer: Instant::now(),
            })),
            ready: Arc::new(tokio::sync::Notify::new()),
            budget,
        }
    }

    /// The connection and its generation. Without one, starts an attempt (unless one runs)
    /// and waits for it; the caller's own deadline bounds the wait.
    pub(crate) async fn get<F, Fut>(&self, connect: F) -> StoreResult<(u64, C)>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<C, StoreError>> + Send + 'static,
    {
        let mut connect = Some(connect);
        let mut waiting_for = None;
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = lock(&self.state);
                if let Some(c) = &st.current {
                    return Ok(c.clone());
                }
                if let Some(attempt) = waiting_for {
                    if st.finished >= attempt && !st.connecting {
                        return Err(st.last_error.clone().unwrap_or_else(|| {
                            StoreError::Unavailable("redis: not connected".into())
                        }));
                    }
                }
                if !st.connecting {
                    let Some(make) = connect.take() else {
                        return Err(StoreError::Unavailable("redis: not connected".into()));
                    };
                    st.connecting = true;
                    st.started += 1;
                    let attempt = st.started;
                    waiting_for = Some(attempt);
                    let (state, ready, fut) = (self.state.clone(), self.ready.clone(), make());
                    tokio::spawn(async move {
                        let r = fut.await;
                        let mut st = lock(&state);
                        st.connecting = false;
                        st.finished = attempt;
                        match r {
                            Ok(c) => {
                                st.generation += 1;
                                st.current = Some((st.generation, c));
                                st.timeouts = 0;
                                st.last_answer = Instant::now();
                                st.last_error = None;
                            }
                            Err(e) => st.last_error = Some(e),
                        }
                        drop(st);
                        ready.notify_waiters();
                    });
                } else if waiting_for.is_none() {
                    waiting_for = Some(st.started);
                }
            }
            notified.await;
        }
    }

    /// An answer on generation `g` (even an error reply): the connection is alive.
    pub(crate) fn answered(&self, g: u64) {
        let mut st = lock(&self.state);
        if st.generation == g {
            st.timeouts = 0;
            st.last_answer = Instant::now();
        }
    }

    /// A command on generation `g` got no answer after `waited` (of its own, not counting
    /// the wait for a slot). Drops the connection once it is silent (see the module docs).
    pub(crate) fn timed_out(&self, g: u64, waited: Duration) {
        if waited < self.budget.mul_f64(0.9) {
            return; // it was not given (nearly) a full budget: no evidence of silence
        }
        let mut st = lock(&self.state);
        if st.generation != g || st.current.is_none() {
            return; // an old connection's news
        }
        st.timeouts += 1;
        let silent_for = st.last_answer.elapsed();
        if st.timeouts >= SILENT_TIMEOUTS && silent_for >= self.budget * SILENT_BUDGETS {
            st.current = None;
            st.timeouts = 0;
            tracing::warn!(target: "keycloak_client::redis", silent_ms = silent_for.as_millis() as u64, "redis connection silent; connecting again");
        }
    }
}
