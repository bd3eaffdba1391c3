//! The two shapes every flow takes.
//!
//! * [`Exchange`]: one round trip. `request()` may be called again for a retry; `handle()`
//!   consumes the step with the response and the current time.
//! * [`Flow`]: a driven state machine for multi-step sequences (discovery then UMA discovery,
//!   PAT then permission ticket). An adapter needs one generic loop:
//!
//!   [`drive`](crate::drive) and [`drive_async`](crate::drive_async) are that loop; the
//!   steps are `Send`, `WaitUntil` (timers live in the flow), `Wait` (another caller is
//!   fetching shared state) and `Done`.

use crate::error::Error;
use crate::http::{Request, Response};
use crate::time::UnixTime;

/// A single request/response step.
pub trait Exchange {
    /// What a successful response yields.
    type Output;
    /// The request to send. Calling it again yields the same request, except for what must
    /// be fresh on every send: a client assertion and a DPoP proof (new `jti`, `iat`, the
    /// server's latest nonce).
    fn request(&self) -> Request;
    /// Processes the response.
    fn handle(self, response: Response, now: UnixTime) -> Result<Self::Output, Error>;
    /// Whether to send a fresh [`request`](Self::request) instead of handling `response`:
    /// only a DPoP nonce challenge, once (RFC 9449 §8). Default: never.
    fn retry(&self, _response: &Response) -> bool {
        false
    }
}

/// What a [`Flow`] wants next.
#[derive(Debug)]
pub enum Step<T> {
    /// Send this request and hand the response to [`Flow::handle_response`].
    Send(Request),
    /// Nothing to send before this time (device polling, `slow_down`): sleep until then, call
    /// [`Flow::handle_timeout`] with the time, and poll again.
    WaitUntil(UnixTime),
    /// Another caller sharing the same [`Agent`](crate::Agent) is fetching what this flow
    /// needs (discovery, the PAT, the key set): wait for the [`Waiter`](crate::Waiter), then
    /// poll again.
    Wait(crate::single_flight::Waiter),
    /// The flow finished.
    Done(T),
}

impl<T> Step<T> {
    /// Maps the output of `Done`; every other step passes through.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Step<U> {
        match self {
            Step::Send(r) => Step::Send(r),
            Step::WaitUntil(t) => Step::WaitUntil(t),
            Step::Wait(w) => Step::Wait(w),
            Step::Done(out) => Step::Done(f(out)),
        }
    }
}

/// A driven multi-step state machine.
///
/// # The rule every flow follows
/// * `poll` returns `Send(request)` once per request; hand its response to
///   [`handle_response`](Flow::handle_response). Polling again before that is a driver error
///   ([`Error::FlowState`]) and changes nothing; a request is never re-sent implicitly (a code
///   exchange must not spend its code twice). To retry after a transport failure, start a new
///   flow.
/// * When `handle_response` (or `poll`) reports an error for the flow itself (the server said
///   no, the response was malformed, a token failed validation), the flow is finished: every
///   later `poll` returns that same error. It never turns into a success or gets stuck.
/// * After `Done`, `poll` returns [`Error::FlowState`].
pub trait Flow {
    /// The final result.
    type Output;
    /// The next step.
    fn poll(&mut self) -> Result<Step<Self::Output>, Error>;
    /// Feeds the response to the request last returned by `poll`.
    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error>;
    /// Tells the flow the time after a [`Step::WaitUntil`] (or any wait). Default: ignored, for
    /// flows that never wait.
    fn handle_timeout(&mut self, _now: UnixTime) {}
    /// The request of the last [`Step::Send`] got no response (the transport failed). `true`
    /// when the flow can go on without it (e.g. stale discovery documents serve while
    /// Keycloak is unreachable): poll again. `false` (the default): the driver reports its
    /// transport error.
    fn handle_send_failure(&mut self, _now: UnixTime) -> bool {
        false
    }
}

impl<F: Flow + ?Sized> Flow for Box<F> {
    type Output = F::Output;
    fn poll(&mut self) -> Result<Step<F::Output>, Error> {
        (**self).poll()
    }
    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        (**self).handle_response(response, now)
    }
    fn handle_timeout(&mut self, now: UnixTime) {
        (**self).handle_timeout(now)
    }
    fn handle_send_failure(&mut self, now: UnixTime) -> bool {
        (**self).handle_send_failure(now)
    }
}

/// The end of a flow: the error it failed with, or that it is done (see [`Flow`]'s rule).
#[derive(Debug, Default)]
pub(crate) struct Ending {
    failed: Option<Error>,
    done: bool,
}

impl Ending {
    /// `Err` when the flow has ended: its error again, or "polled after completion".
    pub(crate) fn check(&self) -> Result<(), Error> {
        match (&self.failed, self.done) {
            (Some(e), _) => Err(e.clone()),
            (None, true) => Err(Error::FlowState("polled after completion")),
            (None, false) => Ok(()),
        }
    }

    /// Passes `result` through; an error ends the flow with it (the first error stays the
    /// flow's error).
    pub(crate) fn record<T>(&mut self, result: Result<T, Error>) -> Result<T, Error> {
        if let (Err(e), None) = (&result, &self.failed) {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Marks the flow done (its output was handed out).
    pub(crate) fn finish(&mut self) {
        self.done = true;
    }
}

/// Adapts an [`Exchange`] into a one-step [`Flow`].
pub struct Single<E: Exchange> {
    state: SingleState<E>,
    ending: Ending,
}

enum SingleState<E: Exchange> {
    Ready(E),
    Sent(E),
    Finished(E::Output),
    Gone,
}

impl<E: Exchange> Single<E> {
    /// Wraps an exchange.
    pub fn new(exchange: E) -> Self {
        Single {
            state: SingleState::Ready(exchange),
            ending: Ending::default(),
        }
    }
}

impl<E: Exchange> Flow for Single<E> {
    type Output = E::Output;

    fn poll(&mut self) -> Result<Step<E::Output>, Error> {
        self.ending.check()?;
        match std::mem::replace(&mut self.state, SingleState::Gone) {
            SingleState::Ready(e) => {
                let req = e.request();
                self.state = SingleState::Sent(e);
                Ok(Step::Send(req))
            }
            SingleState::Sent(e) => {
                self.state = SingleState::Sent(e);
                Err(Error::FlowState(
                    "awaiting the response to the last request",
                ))
            }
            SingleState::Finished(out) => {
                self.ending.finish();
                Ok(Step::Done(out))
            }
            SingleState::Gone => Err(Error::FlowState("polled after completion")),
        }
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        match std::mem::replace(&mut self.state, SingleState::Gone) {
            SingleState::Sent(e) if e.retry(&response) => {
                self.state = SingleState::Ready(e);
                Ok(())
            }
            SingleState::Sent(e) => {
                let out = self.ending.record(e.handle(response, now))?;
                self.state = SingleState::Finished(out);
                Ok(())
            }
            other => {
                self.state = other;
                Err(Error::FlowState("response without a pending request"))
            }
        }
    }
}
