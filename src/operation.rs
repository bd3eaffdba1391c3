//! [`Operation`]: one high-level operation on an [`Agent`] as a [`Flow`]. It first makes sure of
//! what it needs from the shared state (discovery, then the key set and the PAT when asked),
//! fetching each only if no other caller is already doing so, then builds and drives the
//! operation's own flow from that state.
//!
//! Outages: when a refetch of stale-but-usable state fails (an error status, or the transport
//! through [`Flow::handle_send_failure`]), the stale state serves; callers that had nothing and
//! waited for the fetch fail with its error ([`Error::SharedFetchFailed`] for a transport
//! failure), and the next caller fetches again. An operation dropped mid-fetch (a cancelled
//! request) fails nobody: a waiter takes the fetch over.

use std::sync::Arc;

use crate::agent::{Agent, Share};
use crate::client::Client;
use crate::discovery::DiscoverFlow;
use crate::error::Error;
use crate::flow::{Ending, Flow, Single, Step};
use crate::http::Response;
use crate::secret::AccessToken;
use crate::single_flight::{Claim, WaitTicket, Waiter};
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
    Pat(Box<Single<ClientCredentialsRequest>>),
    Keys(Single<JwksRequest>, Arc<TokenValidator>),
}

/// A fetch of shared state this operation runs for every caller, with its claim.
struct Fetching {
    fetch: Fetch,
    /// When the last response arrived (the key set's fetch time).
    answered_at: UnixTime,
    claim: Claim,
}

/// What this operation holds of the shared state so far. A value it fetched itself is used as
/// is (re-checking its age could fetch forever when a lifetime is shorter than a margin).
#[derive(Default)]
struct Held {
    client: Option<Arc<Client>>,
    pat: Option<TokenSet>,
    keys: bool,
}

/// One operation of an [`Agent`] (see the module docs). Drive it with
/// [`drive`](crate::drive), [`drive_async`](crate::drive_async) or by hand.
#[must_use = "an operation does nothing until it is driven"]
pub struct Operation<T> {
    agent: Agent,
    needs: Needs,
    now: UnixTime,
    held: Held,
    fetching: Option<Fetching>,
    /// The fetch this operation last waited for: its failure is this operation's.
    waited: Option<WaitTicket>,
    build: Option<Build<T>>,
    inner: Option<BoxFlow<T>>,
    /// The PAT the inner flow uses (forgotten if Keycloak rejects it).
    used_pat: Option<AccessToken>,
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

impl Fetching {
    fn new(fetch: Fetch, claim: Claim) -> Self {
        Fetching {
            fetch,
            answered_at: UnixTime(0),
            claim,
        }
    }

    /// The next request, or `Done` once the result is installed in the agent and `held`.
    fn poll(&mut self, agent: &Agent, held: &mut Held) -> Result<Step<()>, Error> {
        Ok(match &mut self.fetch {
            Fetch::Discovery(f) => f
                .poll()?
                .map(|d| held.client = Some(agent.install_discovery(d))),
            Fetch::Pat(f) => f.poll()?.map(|p| {
                agent.install_pat(p.clone());
                held.pat = Some(p);
            }),
            Fetch::Keys(f, v) => {
                let (v, at) = (v.clone(), self.answered_at);
                f.poll()?.map(|keys| {
                    v.install_keys(keys, at);
                    held.keys = true;
                })
            }
        })
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        self.answered_at = now;
        match &mut self.fetch {
            Fetch::Discovery(f) => f.handle_response(response, now),
            Fetch::Pat(f) => f.handle_response(response, now),
            Fetch::Keys(f, _) => f.handle_response(response, now),
        }
    }

    /// Stale state that can serve when this fetch fails, put into `held`; `false` if none.
    fn fall_back(&self, agent: &Agent, held: &mut Held, now: UnixTime) -> bool {
        match &self.fetch {
            Fetch::Discovery(_) => {
                held.client = agent.any_client();
                held.client.is_some()
            }
            Fetch::Pat(_) => {
                held.pat = agent.unexpired_pat(now);
                held.pat.is_some()
            }
            Fetch::Keys(_, v) => {
                held.keys = v.has_usable_keys();
                held.keys
            }
        }
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
            held: Held::default(),
            fetching: None,
            waited: None,
            build: Some(Box::new(build)),
            inner: None,
            used_pat: None,
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

    fn wait(&mut self, w: Waiter) -> Step<T> {
        self.waited = Some(w.ticket());
        Step::Wait(w)
    }

    /// The discovered client: held or usable, else a fetch started here or a wait.
    fn client(&mut self) -> Share<Arc<Client>> {
        if let Some(c) = &self.held.client {
            return Share::Use(c.clone());
        }
        let share = self.agent.client_or_claim(self.now);
        if let Share::Fetch(claim) = share {
            let s = self.agent.settings();
            let flow = if s.with_uma {
                DiscoverFlow::with_optional_uma(&s.config)
            } else {
                DiscoverFlow::new(&s.config, false)
            };
            self.fetching = Some(Fetching::new(Fetch::Discovery(Box::new(flow)), claim));
            return Share::Started;
        }
        share
    }

    /// The PAT: held or usable, else a fetch started here or a wait.
    fn pat(&mut self, client: &Client) -> Result<Share<TokenSet>, Error> {
        if let Some(p) = &self.held.pat {
            return Ok(Share::Use(p.clone()));
        }
        let share = self.agent.pat_or_claim(self.now);
        if let Share::Fetch(claim) = share {
            let fetch = Fetch::Pat(Box::new(Single::new(client.client_credentials()?)));
            self.fetching = Some(Fetching::new(fetch, claim));
            return Ok(Share::Started);
        }
        Ok(share)
    }

    /// Makes sure of the shared state, then builds the operation's own flow. `Ok(Some(step))`
    /// when a request or a wait comes first.
    fn prepare(&mut self) -> Result<Option<Step<T>>, Error> {
        if let Some(e) = self.waited.take().and_then(|t| t.failure()) {
            return Err(e);
        }
        loop {
            if let Some(f) = &mut self.fetching {
                match f.poll(&self.agent, &mut self.held)? {
                    Step::Send(req) => {
                        self.awaiting = true;
                        return Ok(Some(Step::Send(req)));
                    }
                    Step::Done(()) => {
                        if let Some(f) = self.fetching.take() {
                            drop(f.claim); // installed: the waiters find it
                        }
                    }
                    _ => return Err(Error::FlowState("a state fetch cannot wait")),
                }
            }
            let client = match self.client() {
                Share::Use(c) => c,
                Share::Wait(w) => return Ok(Some(self.wait(w))),
                Share::Fetch(_) | Share::Started => continue,
            };
            let validator = if self.needs.keys {
                self.agent.validator(&client)?
            } else {
                None
            };
            if let (Some(v), false) = (&validator, self.held.keys) {
                match v.claim_key_fetch(self.now, RefetchReason::Stale) {
                    KeyFetch::Ready => self.held.keys = true,
                    KeyFetch::Wait(w) => return Ok(Some(self.wait(w))),
                    KeyFetch::Fetch(r, claim) => {
                        let fetch = Fetch::Keys(Single::new(r), v.clone());
                        self.fetching = Some(Fetching::new(fetch, claim));
                        continue;
                    }
                }
            }
            let pat = if self.needs.pat {
                match self.pat(&client)? {
                    Share::Use(p) => Some(p),
                    Share::Wait(w) => return Ok(Some(self.wait(w))),
                    Share::Fetch(_) | Share::Started => continue,
                }
            } else {
                None
            };
            let build = self
                .build
                .take()
                .ok_or(Error::FlowState("polled after completion"))?;
            self.used_pat = pat.as_ref().map(|p| p.access_token.clone());
            let ready = Ready {
                client,
                pat,
                validator,
            };
            self.inner = Some(build(&ready, self.now)?);
            return Ok(None);
        }
    }

    /// A failed fetch: stale state serves if there is some (the operation goes on), else the
    /// operation fails with `e`. Waiters fail with `e` either way (they had nothing).
    fn fetch_failed(&mut self, e: Error) -> Result<(), Error> {
        let Some(f) = self.fetching.take() else {
            return Err(e);
        };
        let can_serve = f.fall_back(&self.agent, &mut self.held, self.now);
        f.claim.fail(e.clone());
        if can_serve {
            Ok(())
        } else {
            Err(e)
        }
    }

    /// The inner flow's result: a driver slip (`FlowState`) changes nothing; a PAT Keycloak
    /// rejects is forgotten so the next operation fetches a new one.
    fn inner_result<R>(&mut self, r: Result<R, Error>) -> Result<R, Error> {
        match r {
            Err(Error::FlowState(m)) => Err(Error::FlowState(m)),
            Err(e) => {
                if e.http_status() == Some(401) {
                    if let Some(p) = &self.used_pat {
                        self.agent.forget_pat(p);
                    }
                }
                self.ending.record(Err(e))
            }
            ok => ok,
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
                    // Waiting callers must not wait on a failed flow.
                    if let Some(f) = self.fetching.take() {
                        f.claim.fail(e.clone());
                    }
                    return self.ending.record(Err(e));
                }
            }
        }
        let inner = self
            .inner
            .as_mut()
            .ok_or(Error::FlowState("polled after completion"))?;
        let step = inner.poll();
        let step = self.inner_result(step)?;
        if matches!(step, Step::Done(_)) {
            self.ending.finish();
        }
        Ok(step)
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        self.ending.check()?;
        self.now = now;
        if let Some(inner) = &mut self.inner {
            let r = inner.handle_response(response, now);
            return self.inner_result(r);
        }
        if !self.awaiting {
            return Err(Error::FlowState("response without request"));
        }
        self.awaiting = false;
        let fetching = self
            .fetching
            .as_mut()
            .ok_or(Error::FlowState("response without request"))?;
        match fetching.handle_response(response, now) {
            Ok(()) => Ok(()),
            Err(e) => {
                let r = self.fetch_failed(e);
                self.ending.record(r)
            }
        }
    }

    fn handle_timeout(&mut self, now: UnixTime) {
        self.now = now;
        if let Some(inner) = &mut self.inner {
            inner.handle_timeout(now);
        }
    }

    fn handle_send_failure(&mut self, now: UnixTime) -> bool {
        self.now = now;
        if let Some(inner) = &mut self.inner {
            return inner.handle_send_failure(now);
        }
        if !self.awaiting {
            return false;
        }
        self.awaiting = false;
        let Some(f) = self.fetching.take() else {
            return false;
        };
        let can_serve = f.fall_back(&self.agent, &mut self.held, now);
        // Waiters (they had nothing to serve from) learn that Keycloak is unreachable.
        f.claim.fail_in_transport();
        can_serve
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
