//! [`Operation`]: one high-level operation on an [`Agent`] as a [`Flow`]. It first makes sure of
//! what it needs from the shared state (discovery, then the key set and the PAT when asked),
//! fetching each only if no other caller is already doing so, then builds and drives the
//! operation's own flow from that state.

use std::sync::Arc;

use crate::agent::Agent;
use crate::client::Client;
use crate::discovery::DiscoverFlow;
use crate::error::Error;
use crate::flow::{Ending, Flow, Single, Step};
use crate::http::{Request, Response};
use crate::single_flight::Claim;
use crate::time::UnixTime;
use crate::token::{ClientCredentialsRequest, TokenSet};
use crate::validator::{JwksRequest, KeyFetch, RefetchReason, TokenValidator};

/// What an operation needs from the shared state before its own requests.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Needs {
    /// The PAT (client credentials), refreshed before expiry.
    pub(crate) pat: bool,
    /// The realm's keys loaded in the token validator.
    pub(crate) keys: bool,
}

/// The shared state an operation's own flow is built from.
pub(crate) struct Ready {
    pub(crate) client: Arc<Client>,
    pub(crate) pat: Option<TokenSet>,
    pub(crate) validator: Option<Arc<TokenValidator>>,
}

pub(crate) type BoxFlow<T> = Box<dyn Flow<Output = T> + Send>;
type Build<T> = Box<dyn FnOnce(&Ready, UnixTime) -> Result<BoxFlow<T>, Error> + Send>;

enum Fetch {
    Discovery(Box<DiscoverFlow>),
    Pat(Single<ClientCredentialsRequest>),
    Keys(Single<JwksRequest>, Arc<TokenValidator>),
}

/// A fetch of shared state this operation runs for every caller; the claim is released (and
/// the waiting callers woken) when it is dropped.
struct Fetching {
    fetch: Fetch,
    /// When the last response arrived (the key set's fetch time).
    answered_at: UnixTime,
    _claim: Claim,
}

impl Fetching {
    fn new(fetch: Fetch, claim: Claim) -> Self {
        Fetching {
            fetch,
            answered_at: UnixTime(0),
            _claim: claim,
        }
    }

    /// The next request, or `None` once the result is installed in the agent.
    fn poll(&mut self, agent: &Agent) -> Result<Option<Request>, Error> {
        let step = match &mut self.fetch {
            Fetch::Discovery(f) => f.poll()?.map(|d| agent.install_discovery(d)),
            Fetch::Pat(f) => f.poll()?.map(|p| agent.install_pat(p)),
            Fetch::Keys(f, v) => {
                let (v, at) = (v.clone(), self.answered_at);
                f.poll()?.map(|keys| v.install_keys(keys, at))
            }
        };
        match step {
            Step::Send(r) => Ok(Some(r)),
            Step::Done(()) => Ok(None),
            _ => Err(Error::FlowState("a state fetch cannot wait")),
        }
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        self.answered_at = now;
        match &mut self.fetch {
            Fetch::Discovery(f) => f.handle_response(response, now),
            Fetch::Pat(f) => f.handle_response(response, now),
            Fetch::Keys(f, _) => f.handle_response(response, now),
        }
    }
}

/// One operation of an [`Agent`] (see the module docs). Drive it with
/// [`drive`](crate::drive), [`drive_async`](crate::drive_async) or by hand.
pub struct Operation<T> {
    agent: Agent,
    needs: Needs,
    now: UnixTime,
    fetching: Option<Fetching>,
    build: Option<Build<T>>,
    inner: Option<BoxFlow<T>>,
    awaiting: bool,
    ending: Ending,
}

impl<T> std::fmt::Debug for Operation<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operation")
            .field("needs", &self.needs)
            .field("fetching", &self.fetching.is_some())
            .field("started", &self.inner.is_some())
            .finish()
    }
}

impl<T: 'static> Operation<T> {
    pub(crate) fn new(
        agent: &Agent,
        needs: Needs,
        now: UnixTime,
        build: impl FnOnce(&Ready, UnixTime) -> Result<BoxFlow<T>, Error> + Send + 'static,
    ) -> Self {
        Operation {
            agent: agent.clone(),
            needs,
            now,
            fetching: None,
            build: Some(Box::new(build)),
            inner: None,
            awaiting: false,
            ending: Ending::default(),
        }
    }

    /// An operation that failed before it started (its first poll reports `e`).
    pub(crate) fn failed(agent: &Agent, e: Error) -> Self {
        let mut op = Self::new(agent, Needs::default(), UnixTime(0), |_, _| {
            Err(Error::FlowState("never built"))
        });
        op.build = None;
        let _ = op.ending.record::<()>(Err(e));
        op
    }

    /// Makes sure of the shared state, then builds the operation's own flow. `Ok(Some(step))`
    /// when a request or a wait comes first.
    fn prepare(&mut self) -> Result<Option<Step<T>>, Error> {
        loop {
            if let Some(f) = &mut self.fetching {
                match f.poll(&self.agent)? {
                    Some(req) => {
                        self.awaiting = true;
                        return Ok(Some(Step::Send(req)));
                    }
                    None => self.fetching = None,
                }
            }
            let agent = &self.agent;
            let now = self.now;
            let Some(client) = agent.usable_client(now) else {
                let claim = match agent.claim_discovery() {
                    Ok(c) => c,
                    Err(w) => return Ok(Some(Step::Wait(w))),
                };
                // Another caller may have finished between the look and the claim.
                if agent.fresh_client(now).is_none() {
                    let s = agent.settings();
                    let flow = if s.with_uma {
                        DiscoverFlow::with_optional_uma(&s.config)
                    } else {
                        DiscoverFlow::new(&s.config, false)
                    };
                    self.fetching = Some(Fetching::new(Fetch::Discovery(Box::new(flow)), claim));
                }
                continue;
            };
            let validator = if self.needs.keys {
                agent.validator(&client)?
            } else {
                None
            };
            if let Some(v) = &validator {
                match v.claim_key_fetch(now, RefetchReason::Stale) {
                    KeyFetch::Ready => {}
                    KeyFetch::Wait(w) => return Ok(Some(Step::Wait(w))),
                    KeyFetch::Fetch(r, claim) => {
                        let fetch = Fetch::Keys(Single::new(r), v.clone());
                        self.fetching = Some(Fetching::new(fetch, claim));
                        continue;
                    }
                }
            }
            let pat = if self.needs.pat {
                match agent.usable_pat(now) {
                    Some(p) => Some(p),
                    None => {
                        let claim = match agent.claim_pat() {
                            Ok(c) => c,
                            Err(w) => return Ok(Some(Step::Wait(w))),
                        };
                        if agent.fresh_pat(now).is_none() {
                            let fetch = Fetch::Pat(Single::new(client.client_credentials()?));
                            self.fetching = Some(Fetching::new(fetch, claim));
                        }
                        continue;
                    }
                }
            } else {
                None
            };
            let build = self
                .build
                .take()
                .ok_or(Error::FlowState("polled after completion"))?;
            let ready = Ready {
                client,
                pat,
                validator,
            };
            self.inner = Some(build(&ready, now)?);
            return Ok(None);
        }
    }
}

impl<T: 'static> Flow for Operation<T> {
    type Output = T;

    fn poll(&mut self) -> Result<Step<T>, Error> {
        self.ending.check()?;
        if self.awaiting {
            return Err(Error::FlowState(
                "awaiting the response to the last request",
            ));
        }
        if self.inner.is_none() {
            match self.prepare() {
                Ok(Some(step)) => return Ok(step),
                Ok(None) => {}
                Err(e) => {
                    // Release the claim now: waiting callers must not wait on a failed flow.
                    self.fetching = None;
                    return self.ending.record(Err(e));
                }
            }
        }
        let inner = self
            .inner
            .as_mut()
            .ok_or(Error::FlowState("polled after completion"))?;
        let step = self.ending.record(inner.poll())?;
        if matches!(step, Step::Done(_)) {
            self.ending.finish();
        }
        Ok(step)
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        self.now = now;
        if let Some(inner) = &mut self.inner {
            let r = inner.handle_response(response, now);
            return self.ending.record(r);
        }
        if !self.awaiting {
            return Err(Error::FlowState("response without request"));
        }
        self.awaiting = false;
        let fetching = self
            .fetching
            .as_mut()
            .ok_or(Error::FlowState("response without request"))?;
        let r = fetching.handle_response(response, now);
        if r.is_err() {
            self.fetching = None;
        }
        self.ending.record(r)
    }

    fn handle_timeout(&mut self, now: UnixTime) {
        self.now = now;
        if let Some(inner) = &mut self.inner {
            inner.handle_timeout(now);
        }
    }
}

/// A flow that is already done: for operations answered from the state alone.
pub(crate) struct Answer<T>(pub(crate) Option<T>);

impl<T> Flow for Answer<T> {
    type Output = T;
    fn poll(&mut self) -> Result<Step<T>, Error> {
        self.0
            .take()
            .map(Step::Done)
            .ok_or(Error::FlowState("polled after completion"))
    }
    fn handle_response(&mut self, _: Response, _: UnixTime) -> Result<(), Error> {
        Err(Error::FlowState("response without request"))
    }
}
