//! One fetch at a time for a piece of shared state (discovery, the PAT, the key set): the first
//! caller that needs it claims the fetch; the others get [`Step::Wait`](crate::Step::Wait) with a
//! [`Waiter`] and look again when that fetch ends, however it ends.
//!
//! Runtime-agnostic: a blocking driver parks on a `Condvar`, an async driver awaits the waiter
//! (a plain `std::task::Waker` list). Neither reads a clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// A single-flight slot.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    inner: Arc<GateInner>,
}

#[derive(Debug, Default)]
struct GateInner {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct GateState {
    busy: bool,
    /// Bumped whenever a fetch ends: a waiter is released once it differs from what it saw.
    generation: u64,
    wakers: Vec<Waker>,
}

fn lock(m: &Mutex<GateState>) -> MutexGuard<'_, GateState> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Gate {
    /// The fetch for the caller, or a [`Waiter`] on the fetch already running.
    pub(crate) fn try_claim(&self) -> Result<Claim, Waiter> {
        let mut s = lock(&self.inner.state);
        if s.busy {
            return Err(Waiter {
                inner: self.inner.clone(),
                seen: s.generation,
            });
        }
        s.busy = true;
        Ok(Claim {
            inner: self.inner.clone(),
        })
    }

    /// Whether a fetch is running.
    pub(crate) fn is_busy(&self) -> bool {
        lock(&self.inner.state).busy
    }
}

/// The right to run the one fetch. Dropping it, after success, failure, or an abandoned flow,
/// releases every waiter.
#[derive(Debug)]
pub(crate) struct Claim {
    inner: Arc<GateInner>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let wakers = {
            let mut s = lock(&self.inner.state);
            s.busy = false;
            s.generation = s.generation.wrapping_add(1);
            std::mem::take(&mut s.wakers)
        };
        self.inner.changed.notify_all();
        for w in wakers {
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
}

impl Waiter {
    fn released(&self, s: &GateState) -> bool {
        s.generation != self.seen
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
        // One entry per waiting task: a task polled twice replaces its own waker.
        match s.wakers.iter_mut().find(|w| w.will_wake(cx.waker())) {
            Some(w) => w.clone_from(cx.waker()),
            None => s.wakers.push(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_at_a_time_and_release_on_drop() {
        let g = Gate::default();
        let c = g.try_claim().expect("free");
        assert!(g.is_busy());
        let w = g.try_claim().expect_err("busy");
        let t = std::thread::spawn(move || w.wait_blocking());
        drop(c);
        t.join().unwrap();
        assert!(!g.is_busy());
        let _again = g.try_claim().expect("free again after the drop");
    }

    #[test]
    fn a_waiter_created_after_the_release_does_not_block() {
        let g = Gate::default();
        let c = g.try_claim().unwrap();
        let w = g.try_claim().unwrap_err();
        drop(c);
        w.wait_blocking(); // returns at once: the generation moved on
    }
}
