//! One fetch at a time for a piece of shared state (discovery, the PAT, the key set): the first
//! caller that needs it claims the fetch; the others get [`Step::Wait`](crate::Step::Wait) with a
//! [`Waiter`] and look again when that fetch ends, however it ends. A fetch that fails fails
//! for its waiters too (one outcome for all, like one request for all); the next caller to come
//! along fetches again, so the state recovers by itself.
//!
//! Runtime-agnostic: a blocking driver parks on a `Condvar`, an async driver awaits the waiter
//! (a map of `std::task::Waker`s, one per waiting task, removed when the wait is dropped).
//! Neither reads a clock.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::error::Error;

/// A single-flight slot for one kind of fetch.
#[derive(Debug)]
pub(crate) struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Debug)]
struct GateInner {
    what: &'static str,
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    busy: bool,
    /// Bumped whenever a fetch ends: a waiter is released once it differs from what it saw.
    generation: u64,
    /// How the fetch that ended at `generation` ended, when it did not succeed.
    last_failure: Option<(u64, Error)>,
    next_waiter: u64,
    wakers: HashMap<u64, Waker>,
}

fn lock(m: &Mutex<GateState>) -> MutexGuard<'_, GateState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gate {
    /// A gate for fetches of `what` (named in [`Error::SharedFetchFailed`]).
    pub(crate) fn new(what: &'static str) -> Self {
        Gate {
            inner: Arc::new(GateInner {
                what,
                state: Mutex::new(GateState::default()),
                changed: Condvar::new(),
            }),
        }
    }

    /// The fetch for the caller, or a [`Waiter`] on the fetch already running.
    pub(crate) fn try_claim(&self) -> Result<Claim, Waiter> {
        let mut s = lock(&self.inner.state);
        if s.busy {
            s.next_waiter = s.next_waiter.wrapping_add(1);
            return Err(Waiter {
                inner: self.inner.clone(),
                seen: s.generation,
                id: s.next_waiter,
            });
        }
        s.busy = true;
        Ok(Claim {
            inner: self.inner.clone(),
            failure: None,
        })
    }

    /// Whether a fetch is running.
    #[cfg(test)]
    fn is_busy(&self) -> bool {
        lock(&self.inner.state).busy
    }

    /// How many async waiters are registered.
    pub(crate) fn waiting(&self) -> usize {
        lock(&self.inner.state).wakers.len()
    }
}

/// The right to run the one fetch. Dropping it releases every waiter: with the error after
/// [`fail`](Self::fail) ([`Error::SharedFetchFailed`] after
/// [`fail_in_transport`](Self::fail_in_transport)); otherwise (the state is installed, or the
/// flow was cancelled) with no failure: the waiters look again, and one of them fetches if the
/// state is still missing.
#[derive(Debug)]
pub(crate) struct Claim {
    inner: Arc<GateInner>,
    failure: Option<Error>,
}

impl Claim {
    /// The fetch failed with `e`; its waiters fail with it.
    pub(crate) fn fail(mut self, e: Error) {
        self.failure = Some(e);
    }

    /// The fetch got no response (the driver's transport failed).
    pub(crate) fn fail_in_transport(self) {
        let what = self.inner.what;
        self.fail(Error::SharedFetchFailed { what });
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let failure = self.failure.take();
        let wakers = {
            let mut s = lock(&self.inner.state);
            s.busy = false;
            s.generation = s.generation.wrapping_add(1);
            s.last_failure = failure.map(|e| (s.generation, e));
            std::mem::take(&mut s.wakers)
        };
        self.inner.changed.notify_all();
        for w in wakers.into_values() {
            w.wake();
        }
    }
}

/// Another caller is fetching what this flow needs: wait for that fetch to end (blocking with
/// [`wait_blocking`](Self::wait_blocking), or `.await` it), then poll the flow again.
#[derive(Debug)]
#[must_use = "poll the flow again once the waiter is released"]
pub struct Waiter {
    inner: Arc<GateInner>,
    seen: u64,
    id: u64,
}

/// What a flow keeps of a [`Waiter`] it handed out: how the awaited fetch ended.
#[derive(Debug)]
pub(crate) struct WaitTicket {
    inner: Arc<GateInner>,
    seen: u64,
}

impl WaitTicket {
    /// The error of the awaited fetch, if it failed (and no other fetch has ended since).
    pub(crate) fn failure(&self) -> Option<Error> {
        let s = lock(&self.inner.state);
        match &s.last_failure {
            Some((g, e)) if *g == self.seen.wrapping_add(1) && s.generation == *g => {
                Some(e.clone())
            }
            _ => None,
        }
    }
}

impl Waiter {
    fn released(&self, s: &GateState) -> bool {
        s.generation != self.seen
    }

    pub(crate) fn ticket(&self) -> WaitTicket {
        WaitTicket {
            inner: self.inner.clone(),
            seen: self.seen,
        }
    }

    /// Blocks the current thread until the fetch ends.
    pub fn wait_blocking(self) {
        let mut s = lock(&self.inner.state);
        while !self.released(&s) {
            s = self
                .inner
                .changed
                .wait(s)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Future for Waiter {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.inner.state);
        if self.released(&s) {
            return Poll::Ready(());
        }
        // One entry per waiter, replaced in place on every poll.
        s.wakers.insert(self.id, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        // A cancelled wait (timeout, disconnected client) leaves nothing behind.
        lock(&self.inner.state).wakers.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_at_a_time_and_release_on_drop() {
        let g = Gate::new("test");
        let c = g.try_claim().expect("free");
        assert!(g.is_busy());
        let w = g.try_claim().expect_err("busy");
        let t = std::thread::spawn(move || w.wait_blocking());
        drop(c);
        t.join().unwrap();
        assert!(!g.is_busy());
        let _again = g.try_claim().expect("free again after the release");
    }

    #[test]
    fn a_waiter_created_before_the_release_does_not_block_after_it() {
        let g = Gate::new("test");
        let c = g.try_claim().unwrap();
        let w = g.try_claim().unwrap_err();
        let ticket = w.ticket();
        c.fail_in_transport();
        w.wait_blocking(); // returns at once: the generation moved on
        assert!(matches!(
            ticket.failure(),
            Some(Error::SharedFetchFailed { what: "test" })
        ));
        // A claim dropped without an outcome (a cancelled flow) fails nobody.
        let c = g.try_claim().unwrap();
        let ticket = g.try_claim().unwrap_err().ticket();
        drop(c);
        assert!(ticket.failure().is_none());
    }

    #[test]
    fn a_ticket_reports_only_the_fetch_it_waited_for() {
        let g = Gate::new("test");
        let c = g.try_claim().unwrap();
        let early = g.try_claim().unwrap_err().ticket();
        c.fail(Error::KeysUnavailable);
        let c = g.try_claim().unwrap();
        let late = g.try_claim().unwrap_err().ticket();
        c.fail(Error::MissingIdToken);
        assert!(matches!(late.failure(), Some(Error::MissingIdToken)));
        assert!(
            early.failure().is_none(),
            "a later fetch's failure is not the early one's"
        );
    }

    #[test]
    fn wait_blocking_blocks_until_the_release() {
        let g = Gate::new("test");
        let c = g.try_claim().unwrap();
        let w = g.try_claim().unwrap_err();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            w.wait_blocking();
            tx.send(()).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(rx.try_recv().is_err(), "still waiting while the fetch runs");
        drop(c);
        rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
        t.join().unwrap();
    }

    #[test]
    fn a_success_leaves_no_failure_and_a_later_fetch_hides_an_old_one() {
        let g = Gate::new("test");
        let c = g.try_claim().unwrap();
        let early = g.try_claim().unwrap_err().ticket();
        c.fail(Error::KeysUnavailable);
        assert!(matches!(early.failure(), Some(Error::KeysUnavailable)));
        let c = g.try_claim().unwrap();
        let late = g.try_claim().unwrap_err().ticket();
        drop(c);
        assert!(late.failure().is_none());
        assert!(early.failure().is_none(), "another fetch ended since");
    }
}
