//! Generic one-round-trip calls for JSON APIs (protection API, UMA policies, userinfo).

use std::marker::PhantomData;

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
    pub(crate) _t: PhantomData<fn() -> T>,
}

impl<T> JsonCall<T> {
    pub(crate) fn new(request: Request, what: What, ok: &'static [u16], limit: usize) -> Self {
        JsonCall {
            request,
            what,
            ok,
            limit,
            _t: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for JsonCall<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonCall")
            .field("what", &self.what)
            .field("request", &self.request)
            .finish()
    }
}

impl<T: DeserializeOwned> Exchange for JsonCall<T> {
    type Output = T;
    fn request(&self) -> Request {
        self.request.clone()
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<T, Error> {
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
}

impl Exchange for EmptyCall {
    type Output = ();
    fn request(&self) -> Request {
        self.request.clone()
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<(), Error> {
        expect_status(self.what, &resp, self.ok, self.limit)
    }
}

/// `Authorization: Bearer` (RFC 6750 §2.1); a token that is not a `b64token` is refused.
pub(crate) fn with_bearer(req: Request, token: &AccessToken) -> Result<Request, Error> {
    Ok(req.header(
        "authorization",
        crate::secret::bearer_header(token, "the access token")?,
    ))
}

/// The access token on a protected-resource request: `Authorization: DPoP` with a fresh proof
/// carrying `ath` (RFC 9449 §7.1) when the client uses DPoP (its tokens are bound), else
/// `Authorization: Bearer`. A token that is not a `b64token` is refused either way.
pub(crate) fn with_access_token(
    req: Request,
    token: &AccessToken,
    dpop: Option<&crate::dpop::Dpop>,
) -> Result<Request, Error> {
    match dpop {
        None => with_bearer(req, token),
        Some(d) => {
            crate::secret::bearer_header(token, "the access token")?;
            d.authorize(req, token.secret())
        }
    }
}
