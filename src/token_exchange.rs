//! OAuth 2.0 Token Exchange (RFC 8693 §2.1), as Keycloak's standard token exchange (V2).

use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::time::UnixTime;
use crate::token::{TokenCall, TokenSet};

/// RFC 8693 §3 token type URI for access tokens.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3 token type URI for refresh tokens.
pub const REFRESH_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:refresh_token";
/// RFC 8693 §3 token type URI for ID tokens.
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// A token exchange request; build it with [`Client::token_exchange`](crate::Client::token_exchange).
#[derive(Debug)]
pub struct TokenExchangeRequest {
    pub(crate) call: TokenCall,
}

impl TokenExchangeRequest {
    /// `audience`: the client the new token is for.
    pub fn audience(mut self, aud: &str) -> Self {
        self.call = self.call.field("audience", aud);
        self
    }
    /// `requested_token_type` (default: access token).
    pub fn requested_token_type(mut self, t: &str) -> Self {
        self.call = self.call.field("requested_token_type", t);
        self
    }
    /// `scope`.
    pub fn scope(mut self, scope: &str) -> Self {
        self.call = self.call.field("scope", scope);
        self
    }
}

impl Exchange for TokenExchangeRequest {
    type Output = TokenSet;
    fn request(&self) -> Request {
        self.call.request()
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<TokenSet, Error> {
        self.call.token_set(&resp, now)
    }
}
