//! Device authorization grant (RFC 8628).

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::response::{error_from, parse_json};
use crate::secret::DeviceCode;
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

/// A started device authorization (RFC 8628 §3.2), with absolute expiry.
#[derive(Clone, Debug, Serialize, Deserialize)]
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
}

/// `POST device_authorization_endpoint`.
#[derive(Debug)]
pub struct DeviceAuthorizationRequest {
    pub(crate) call: TokenCall,
}

impl Exchange for DeviceAuthorizationRequest {
    type Output = DeviceAuthorization;
    fn request(&self) -> Request {
        self.call.request()
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<DeviceAuthorization, Error> {
        let r: DeviceAuthorizationResponse =
            parse_json("device authorization", &resp, &[200], self.call.limit)?;
        Ok(DeviceAuthorization {
            device_code: r.device_code,
            user_code: r.user_code,
            verification_uri: r.verification_uri,
            verification_uri_complete: r.verification_uri_complete,
            expires_at: now.plus(r.expires_in),
            interval: r.interval.unwrap_or(5).max(1),
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
