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
    /// The user has not finished yet; poll again after `interval` seconds.
    Pending {
        /// Seconds to wait.
        interval: u64,
    },
    /// The server asked to slow down; the interval grew by 5 seconds.
    SlowDown {
        /// The new interval.
        interval: u64,
    },
    /// The user approved.
    Done(Box<TokenSet>),
}

/// One poll of the token endpoint with the device code.
#[derive(Debug)]
pub struct DeviceTokenRequest {
    pub(crate) call: TokenCall,
    pub(crate) interval: u64,
    pub(crate) expires_at: UnixTime,
}

impl Exchange for DeviceTokenRequest {
    type Output = DevicePoll;
    fn request(&self) -> Request {
        self.call.request()
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<DevicePoll, Error> {
        if resp.status == 200 {
            return Ok(DevicePoll::Done(Box::new(self.call.token_set(&resp, now)?)));
        }
        crate::response::check_size("device token", &resp, self.call.limit)?;
        let err = error_from("device token", &resp);
        match err.oauth_error() {
            Some("authorization_pending") if now < self.expires_at => Ok(DevicePoll::Pending {
                interval: self.interval,
            }),
            Some("slow_down") if now < self.expires_at => Ok(DevicePoll::SlowDown {
                interval: self.interval.saturating_add(5),
            }),
            Some("authorization_pending" | "slow_down" | "expired_token") => {
                Err(Error::DeviceExpired)
            }
            _ => Err(err),
        }
    }
}
