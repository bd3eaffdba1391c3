//! Device authorization grant (RFC 8628).

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::flow::{Ending, Exchange, Flow, Step};
use crate::http::{Request, Response};
use crate::login::{pkce_challenge, random_token};
use crate::response::{error_from, parse_json};
use crate::secret::{DeviceCode, PkceVerifier};
use crate::time::UnixTime;
use crate::token::{TokenCall, TokenSet};

#[derive(Deserialize)]
struct DeviceAuthorizationResponse {
    device_code: DeviceCode,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

/// A started device authorization (RFC 8628 §3.2), with absolute expiry (deserializable, for
/// callers that keep it between runs).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceAuthorization {
    /// The device code (secret).
    pub device_code: DeviceCode,
    /// The code the user types.
    pub user_code: String,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the code filled in.
    pub verification_uri_complete: Option<String>,
    /// When the device code expires.
    pub expires_at: UnixTime,
    /// Seconds to wait between polls (default 5, RFC 8628 §3.2).
    pub interval: u64,
    /// The PKCE verifier (RFC 7636) when the authorization request carried a challenge; the
    /// polls send it. Keycloak requires PKCE here for clients under a PKCE-enforcing profile
    /// (OAuth 2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<PkceVerifier>,
}

/// `POST device_authorization_endpoint`.
#[derive(Debug)]
pub struct DeviceAuthorizationRequest {
    pub(crate) call: TokenCall,
    pub(crate) verifier: Option<PkceVerifier>,
}

impl DeviceAuthorizationRequest {
    /// Adds PKCE (RFC 7636 §4, `S256`) to the device authorization request: the verifier is
    /// drawn from `rng` and kept in the [`DeviceAuthorization`] for the polls. Servers that do
    /// not know it ignore the parameters (RFC 6749 §3.1); Keycloak binds the device code to it.
    pub fn pkce<R: rand_core::CryptoRng + ?Sized>(self, rng: &mut R) -> Self {
        self.with_pkce(PkceVerifier::new(random_token(rng)))
    }

    pub(crate) fn with_pkce(mut self, verifier: PkceVerifier) -> Self {
        self.call = self
            .call
            .set("code_challenge", &pkce_challenge(&verifier))
            .set("code_challenge_method", "S256");
        self.verifier = Some(verifier);
        self
    }
}

impl Exchange for DeviceAuthorizationRequest {
    type Output = DeviceAuthorization;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<DeviceAuthorization, Error> {
        self.call.check_answer(&resp)?;
        let r: DeviceAuthorizationResponse =
            parse_json("device authorization", &resp, &[200], self.call.limit)?;
        Ok(DeviceAuthorization {
            device_code: r.device_code,
            user_code: r.user_code,
            verification_uri: r.verification_uri,
            verification_uri_complete: r.verification_uri_complete,
            expires_at: now.plus(r.expires_in),
            interval: r.interval.unwrap_or(5).max(1),
            code_verifier: self.verifier,
        })
    }
}

/// The outcome of one device token poll (RFC 8628 §3.5).
#[derive(Debug)]
pub enum DevicePoll {
    /// The user has not finished yet (`authorization_pending`, or `slow_down`, after which the
    /// interval has grown by 5 seconds). Poll again at `next_poll_at`.
    Pending {
        /// When the next poll may go out.
        next_poll_at: UnixTime,
        /// The interval now in force, in seconds.
        interval: u64,
    },
    /// The user approved.
    Done(Box<TokenSet>),
}

/// Polls the token endpoint with a device code (RFC 8628 §3.4). The poller carries the interval
/// (5 s more after each `slow_down`, §3.5) and when the next poll may go out; the caller only
/// waits until [`next_poll_at`](Self::next_poll_at) and sends [`request`](Self::request).
#[derive(Debug)]
pub struct DevicePoller {
    pub(crate) call: TokenCall,
    pub(crate) interval: u64,
    pub(crate) expires_at: UnixTime,
    pub(crate) next_poll_at: UnixTime,
    /// The last poll was answered with a DPoP nonce challenge (RFC 9449 §8).
    pub(crate) nonce_challenged: bool,
}

impl DevicePoller {
    /// When the next poll may be sent (never earlier: RFC 8628 §3.5).
    pub fn next_poll_at(&self) -> UnixTime {
        self.next_poll_at
    }

    /// The polling interval now in force, in seconds.
    pub fn interval(&self) -> u64 {
        self.interval
    }

    /// When the device code expires.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// The poll request.
    pub fn request(&self) -> Request {
        self.call.request()
    }

    /// Handles the response to one poll received at `now`. `access_denied`, `expired_token` and
    /// any other error end the grant.
    pub fn handle(&mut self, resp: Response, now: UnixTime) -> Result<DevicePoll, Error> {
        // DPoP (RFC 9449 §8): a nonce challenge is answered by polling again at once with the
        // new nonce; two challenges in a row end the grant (`Error::Dpop`), never a loop.
        if let Some(d) = &self.call.dpop {
            let answerable = d.challenge_answerable(&self.call.url, &resp, &self.call.sent_nonce);
            if crate::dpop::asks_for_nonce(&resp) {
                if answerable && !self.nonce_challenged {
                    self.nonce_challenged = true;
                    self.next_poll_at = now;
                    return Ok(DevicePoll::Pending {
                        next_poll_at: now,
                        interval: self.interval,
                    });
                }
                self.call
                    .nonce_retried
                    .store(self.nonce_challenged, std::sync::atomic::Ordering::Relaxed);
            } else {
                self.nonce_challenged = false;
            }
        }
        self.call.check_answer(&resp)?;
        if resp.status == 200 {
            return Ok(DevicePoll::Done(Box::new(self.call.token_set(&resp, now)?)));
        }
        crate::response::check_size("device token", &resp, self.call.limit)?;
        let err = error_from("device token", &resp);
        let pending = match err.oauth_error() {
            Some("authorization_pending") => true,
            Some("slow_down") => {
                self.interval = self.interval.saturating_add(5);
                true
            }
            Some("expired_token") => return Err(Error::DeviceExpired),
            _ => false,
        };
        if !pending {
            return Err(err);
        }
        let next = now.plus(self.interval);
        if next >= self.expires_at {
            return Err(Error::DeviceExpired);
        }
        self.next_poll_at = next;
        Ok(DevicePoll::Pending {
            next_poll_at: next,
            interval: self.interval,
        })
    }
}

/// Called before each wait with the interval in force; `false` gives up.
pub type OnWait = Box<dyn FnMut(u64) -> bool + Send>;

/// Polling to the end as one flow (RFC 8628 §3.4-3.5): the timer lives here, as
/// [`Step::WaitUntil`]; a driver only sleeps until the time it is given.
pub struct DeviceWait {
    poller: DevicePoller,
    now: UnixTime,
    on_wait: Option<OnWait>,
    announced: bool,
    awaiting: bool,
    done: Option<TokenSet>,
    ending: Ending,
}

impl std::fmt::Debug for DeviceWait {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceWait")
            .field("poller", &self.poller)
            .field("now", &self.now)
            .finish()
    }
}

impl DeviceWait {
    /// Polls with `poller` from `now`; `on_wait` is told each wait and may give up.
    pub fn new(poller: DevicePoller, now: UnixTime, on_wait: Option<OnWait>) -> Self {
        DeviceWait {
            poller,
            now,
            on_wait,
            announced: false,
            awaiting: false,
            done: None,
            ending: Ending::default(),
        }
    }

    fn next(&mut self) -> Result<Step<TokenSet>, Error> {
        if let Some(t) = self.done.take() {
            self.ending.finish();
            return Ok(Step::Done(t));
        }
        // No poll can come before the code expires: say so now rather than park the driver
        // until then (a stored or hostile `interval` can be years long).
        if self.now >= self.poller.expires_at()
            || self.poller.next_poll_at() >= self.poller.expires_at()
        {
            return Err(Error::DeviceExpired);
        }
        if self.now < self.poller.next_poll_at() {
            if !self.announced {
                self.announced = true;
                let interval = self.poller.interval();
                if let Some(f) = &mut self.on_wait {
                    if !f(interval) {
                        return Err(Error::Cancelled("device wait: on_wait returned false"));
                    }
                }
            }
            return Ok(Step::WaitUntil(self.poller.next_poll_at()));
        }
        self.awaiting = true;
        self.announced = false;
        Ok(Step::Send(self.poller.request()))
    }
}

impl Flow for DeviceWait {
    type Output = TokenSet;

    fn poll(&mut self) -> Result<Step<TokenSet>, Error> {
        self.ending.check()?;
        if self.awaiting {
            return Err(Error::FlowState(
                "awaiting the response to the last request",
            ));
        }
        let step = self.next();
        self.ending.record(step)
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        if !self.awaiting {
            return Err(Error::FlowState("response without request"));
        }
        self.awaiting = false;
        self.now = now;
        if let DevicePoll::Done(t) = self.ending.record(self.poller.handle(response, now))? {
            self.done = Some(*t);
        }
        Ok(())
    }

    fn handle_timeout(&mut self, now: UnixTime) {
        self.now = now;
    }
}
