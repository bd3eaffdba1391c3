//! Token revocation (RFC 7009), and the token type hint it shares with introspection.

use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::response::expect_status;
use crate::time::UnixTime;
use crate::token::TokenCall;

/// Token type hint for revocation (RFC 7009 §2.1) and introspection (RFC 7662 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// `access_token`
    AccessToken,
    /// `refresh_token`
    RefreshToken,
    /// Keycloak's `requesting_party_token` (an RPT, for introspection).
    RequestingPartyToken,
}

impl TokenTypeHint {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
            TokenTypeHint::RequestingPartyToken => "requesting_party_token",
        }
    }
}

/// Token revocation (RFC 7009 §2.1). Success is 200; per §2.2 an invalid token is not an error
/// (Keycloak answers 200 with `invalid_token`, which is treated as success).
#[derive(Debug)]
pub struct RevocationRequest {
    pub(crate) call: TokenCall,
}

impl Exchange for RevocationRequest {
    type Output = ();
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<(), Error> {
        self.call.check_answer(&resp)?;
        expect_status("revocation", &resp, &[200, 204], self.call.limit)
    }
}
