//! The two shapes every flow takes.
//!
//! * [`Exchange`]: one round trip. `request()` may be called again for a retry; `handle()`
//!   consumes the step with the response and the current time.
//! * [`Flow`]: a driven state machine for multi-step sequences (discovery then UMA discovery,
//!   PAT then permission ticket). An adapter needs one generic loop:
//!
//! ```
//! use keycloak_client::{Error, Flow, Request, Response, Step, UnixTime};
//! fn run<F: Flow>(mut flow: F, send: impl Fn(&Request) -> Response) -> Result<F::Output, Error> {
//!     loop {
//!         match flow.poll()? {
//!             Step::Send(req) => {
//!                 let resp = send(&req);
//!                 flow.handle_response(resp, UnixTime(1_700_000_000))?;
//!             }
//!             Step::Done(out) => return Ok(out),
//!         }
//!     }
//! }
//! ```

use crate::error::Error;
use crate::http::{Request, Response};
use crate::time::UnixTime;

/// A single request/response step.
pub trait Exchange {
    /// What a successful response yields.
    type Output;
    /// The request to send. Pure: calling it again yields the same request.
    fn request(&self) -> Request;
    /// Processes the response.
    fn handle(self, response: Response, now: UnixTime) -> Result<Self::Output, Error>;
}

/// What a [`Flow`] wants next.
#[derive(Debug)]
pub enum Step<T> {
    /// Send this request and hand the response to [`Flow::handle_response`].
    Send(Request),
    /// The flow finished.
    Done(T),
}

/// A driven multi-step state machine.
pub trait Flow {
    /// The final result.
    type Output;
    /// The next step. After `Done` has been returned, further calls return an error.
    fn poll(&mut self) -> Result<Step<Self::Output>, Error>;
    /// Feeds the response to the request last returned by `poll`.
    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error>;
}

/// Adapts an [`Exchange`] into a one-step [`Flow`].
pub struct Single<E: Exchange> {
    state: SingleState<E>,
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
        }
    }
}

impl<E: Exchange> Flow for Single<E> {
    type Output = E::Output;

    fn poll(&mut self) -> Result<Step<E::Output>, Error> {
        match std::mem::replace(&mut self.state, SingleState::Gone) {
            SingleState::Ready(e) | SingleState::Sent(e) => {
                let req = e.request();
                self.state = SingleState::Sent(e);
                Ok(Step::Send(req))
            }
            SingleState::Finished(out) => Ok(Step::Done(out)),
            SingleState::Gone => Err(Error::FlowState("polled after completion")),
        }
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        match std::mem::replace(&mut self.state, SingleState::Gone) {
            SingleState::Sent(e) => {
                let out = e.handle(response, now)?;
                self.state = SingleState::Finished(out);
                Ok(())
            }
            _ => Err(Error::FlowState("response without a pending request")),
        }
    }
}
