//! Generic one-round-trip calls for JSON APIs (protection API, UMA policies, userinfo).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::de::DeserializeOwned;

use crate::error::{Error, What};
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::response::{expect_status, parse_json};
use crate::secret::AccessToken;
use crate::time::UnixTime;

/// A request whose success body is JSON of type `T`.
pub struct JsonCall<T> {
    pub(crate) request: Request,
    pub(crate) what: What,
    pub(crate) ok: &'static [u16],
    pub(crate) limit: usize,
    /// The access token, applied at each send (a fresh DPoP proof every time).
    pub(crate) auth: Option<ResourceAuth>,
    pub(crate) _t: PhantomData<fn() -> T>,
}

impl<T> JsonCall<T> {
    pub(crate) fn new(request: Request, what: What, ok: &'static [u16], limit: usize) -> Self {
        JsonCall {
            request,
            what,
            ok,
            limit,
            auth: None,
            _t: PhantomData,
        }
    }

    /// Sends `auth`'s token with every attempt.
    pub(crate) fn authorized(mut self, auth: ResourceAuth) -> Self {
        self.auth = Some(auth);
        self
    }
}

impl<T> std::fmt::Debug for JsonCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonCall")
            .field("what", &self.what)
            .field("request", &self.request)
            .field("auth", &self.auth)
            .finish()
    }
}

impl<T: DeserializeOwned> Exchange for JsonCall<T> {
    type Output = T;
    fn request(&self) -> Request {
        ResourceAuth::apply_opt(&self.auth, self.request.clone())
    }
    fn retry(&self, response: &Response) -> bool {
        ResourceAuth::retry_opt(&self.auth, &self.request.url, response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<T, Error> {
        ResourceAuth::check_opt(&self.auth)?;
        parse_json(self.what, &resp, self.ok, self.limit)
    }
}

/// A request whose success has no meaningful body (e.g. `204 No Content`).
#[derive(Debug)]
pub struct EmptyCall {
    pub(crate) request: Request,
    pub(crate) what: What,
    pub(crate) ok: &'static [u16],
    pub(crate) limit: usize,
    /// The access token, applied at each send.
    pub(crate) auth: Option<ResourceAuth>,
}

impl Exchange for EmptyCall {
    type Output = ();
    fn request(&self) -> Request {
        ResourceAuth::apply_opt(&self.auth, self.request.clone())
    }
    fn retry(&self, response: &Response) -> bool {
        ResourceAuth::retry_opt(&self.auth, &self.request.url, response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<(), Error> {
        ResourceAuth::check_opt(&self.auth)?;
        expect_status(self.what, &resp, self.ok, self.limit)
    }
}

/// The access token on a protected-resource request, applied at each send:
/// `Authorization: Bearer` (RFC 6750 §2.1), or, for a token bound to the client's DPoP key,
/// `Authorization: DPoP` with a fresh proof carrying `ath` and the server's nonce (RFC 9449
/// §7.1, §9) and one retry on a nonce challenge.
#[derive(Debug)]
pub(crate) struct ResourceAuth {
    token: AccessToken,
    /// The key the token is bound to; `None` sends it as Bearer.
    dpop: Option<crate::dpop::Dpop>,
    nonce_retried: AtomicBool,
    /// The nonce the last proof carried.
    sent_nonce: Mutex<Option<String>>,
    /// Why a proof could not be made (reported by `check`); nothing is sent with the token.
    proof_failure: OnceLock<Error>,
}

impl ResourceAuth {
    /// `token` (refused unless a `b64token`), as DPoP when it is bound to `dpop`'s key: a JWT
    /// whose `cnf.jkt` is the key's thumbprint, or a token that is not a JWT (opaque tokens
    /// of a DPoP client are bound). A JWT without `cnf` (another client's user token, say)
    /// goes as Bearer.
    pub(crate) fn new(
        token: &AccessToken,
        dpop: Option<&crate::dpop::Dpop>,
    ) -> Result<Self, Error> {
        crate::secret::bearer_header(token, "the access token")?;
        let dpop = dpop.filter(|d| match crate::jwt::decode_unverified(token.secret()) {
            Ok(jwt) => jwt
                .claims
                .0
                .get("cnf")
                .and_then(|c| c.get("jkt"))
                .and_then(|j| j.as_str())
                .is_some_and(|jkt| {
                    crate::secret::constant_time_eq(jkt.as_bytes(), d.jkt().as_bytes())
                }),
            Err(_) => true,
        });
        Ok(ResourceAuth {
            token: token.clone(),
            dpop: dpop.cloned(),
            nonce_retried: AtomicBool::new(false),
            sent_nonce: Mutex::new(None),
            proof_failure: OnceLock::new(),
        })
    }

    /// `req` with the token (and a new proof), first among the headers.
    pub(crate) fn apply(&self, mut req: Request) -> Request {
        let mut front = Vec::with_capacity(2);
        match &self.dpop {
            Some(d) => match d.proof_with_nonce(req.method, &req.url, Some(self.token.secret())) {
                Ok((proof, nonce)) => {
                    *self.sent_nonce.lock().unwrap_or_else(|p| p.into_inner()) = nonce;
                    front.push((
                        "authorization".to_string(),
                        format!("DPoP {}", self.token.secret()),
                    ));
                    front.push(("dpop".to_string(), proof));
                }
                Err(e) => {
                    let _ = self.proof_failure.set(e);
                }
            },
            None => front.push((
                "authorization".to_string(),
                format!("Bearer {}", self.token.secret()),
            )),
        }
        req.headers.splice(0..0, front);
        req
    }

    /// A DPoP nonce challenge this request can answer (RFC 9449 §9): once.
    pub(crate) fn retry(&self, url: &url::Url, resp: &Response) -> bool {
        let Some(d) = &self.dpop else {
            return false;
        };
        d.challenge_answerable(url, resp, &self.sent_nonce)
            && !self.nonce_retried.swap(true, Ordering::Relaxed)
    }

    /// Why no proof could be made, if so.
    pub(crate) fn check(&self) -> Result<(), Error> {
        match self.proof_failure.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    fn apply_opt(auth: &Option<Self>, req: Request) -> Request {
        match auth {
            Some(a) => a.apply(req),
            None => req,
        }
    }

    fn retry_opt(auth: &Option<Self>, url: &url::Url, resp: &Response) -> bool {
        auth.as_ref().is_some_and(|a| a.retry(url, resp))
    }

    fn check_opt(auth: &Option<Self>) -> Result<(), Error> {
        auth.as_ref().map_or(Ok(()), Self::check)
    }
}
