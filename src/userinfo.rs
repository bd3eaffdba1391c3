//! UserInfo (OpenID Connect Core §5.3): GET with the access token as bearer.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Method, Request, Response};
use crate::response::parse_json;
use crate::time::UnixTime;

/// The UserInfo response: standard claims typed, everything else in `extra`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserInfo {
    /// `sub`
    pub sub: String,
    /// `preferred_username`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    /// `name`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `given_name`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// `family_name`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// `email`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// `email_verified`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Other claims.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The UserInfo request; `expected_sub` (the ID token's `sub`) is compared when given.
#[derive(Debug)]
pub struct UserInfoRequest {
    pub(crate) url: url::Url,
    /// The token: Bearer, or DPoP with a proof per send (RFC 9449 §7.1).
    pub(crate) auth: crate::api::ResourceAuth,
    pub(crate) expected_sub: Option<String>,
    pub(crate) limit: usize,
}

impl UserInfoRequest {
    /// Requires the response's `sub` to equal the ID token's (OpenID Connect Core §5.3.2).
    pub fn expect_subject(mut self, sub: &str) -> Self {
        self.expected_sub = Some(sub.to_string());
        self
    }
}

impl Exchange for UserInfoRequest {
    type Output = UserInfo;

    fn request(&self) -> Request {
        self.auth
            .apply(Request::new(Method::Get, self.url.clone()))
            .header("accept", "application/json")
    }

    fn retry(&self, response: &Response) -> bool {
        self.auth.retry(&self.url, response)
    }

    fn handle(self, resp: Response, _now: UnixTime) -> Result<UserInfo, Error> {
        self.auth.check()?;
        if resp.status == 200 && resp.media_type().as_deref() == Some("application/jwt") {
            return Err(Error::WrongContentType {
                what: "userinfo",
                expected: "application/json (signed userinfo is not enabled for this client)",
                got: Some("application/jwt".into()),
            });
        }
        let info: UserInfo = parse_json("userinfo", &resp, &[200], self.limit)?;
        if let Some(expected) = &self.expected_sub {
            if !crate::secret::constant_time_eq(expected.as_bytes(), info.sub.as_bytes()) {
                return Err(Error::SubjectMismatch);
            }
        }
        Ok(info)
    }
}
