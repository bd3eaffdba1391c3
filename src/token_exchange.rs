//! OAuth 2.0 Token Exchange (RFC 8693 §2.1), as Keycloak's standard token exchange (V2).

use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::jwt::check_id_token_unsigned;
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
    pub(crate) requested: Option<String>,
    pub(crate) audiences: Vec<String>,
}

impl TokenExchangeRequest {
    /// `audience`: a client the new token is for (repeatable, RFC 8693 §2.1).
    pub fn audience(mut self, aud: &str) -> Self {
        self.call = self.call.field("audience", aud);
        self.audiences.push(aud.to_string());
        self
    }
    /// `resource`: a URI where the new token will be used (repeatable, RFC 8693 §2.1).
    pub fn resource(mut self, uri: &str) -> Self {
        self.call = self.call.field("resource", uri);
        self
    }
    /// `requested_token_type` (default: the server's choice, usually an access token). The
    /// response's `issued_token_type` must then be this type.
    pub fn requested_token_type(mut self, t: &str) -> Self {
        self.call = self.call.set("requested_token_type", t);
        self.requested = Some(t.to_string());
        self
    }
    /// `scope`. Set once: a second call replaces the first.
    pub fn scope(mut self, scope: &str) -> Self {
        self.call = self.call.set("scope", scope);
        self
    }
    /// `actor_token` and `actor_token_type` (RFC 8693 §2.1, delegation): who acts for the
    /// subject.
    pub fn actor_token(mut self, token: &str, token_type: &str) -> Self {
        self.call = self
            .call
            .set("actor_token", token)
            .set("actor_token_type", token_type);
        self
    }
}

/// The result of a token exchange: the issued token is in `access_token` whatever its type;
/// `issued_token_type` (RFC 8693 §2.2.1, required) says what it is.
impl Exchange for TokenExchangeRequest {
    type Output = TokenSet;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<TokenSet, Error> {
        let r = self.call.parse(&resp)?;
        let issued = r.issued_token_type.as_deref().ok_or(Error::MissingField {
            what: "token exchange",
            field: "issued_token_type".into(),
        })?;
        if let Some(want) = &self.requested {
            if issued != want {
                return Err(Error::TokenValidation(format!(
                    "token exchange issued `{}`, but `{want}` was requested",
                    crate::error::sanitize(issued)
                )));
            }
        }
        // RFC 8693 §2.2.1: `N_A` when the issued token is not an access token.
        if issued == ACCESS_TOKEN_TYPE || !r.token_type.eq_ignore_ascii_case("N_A") {
            self.call.check_token_type(&r.token_type)?;
        }
        // An ID token (in `id_token`, or issued in `access_token`) is minted for the requested
        // audience when there is exactly one, else for this client: check it as one.
        let mut call = self.call;
        if let (Some(expect), [aud]) = (call.id_token_check.as_mut(), self.audiences.as_slice()) {
            expect.client_id = aud.clone();
        }
        if issued == ID_TOKEN_TYPE {
            if let Some(expect) = &call.id_token_check {
                check_id_token_unsigned(r.access_token.secret(), expect, now)?;
            }
        }
        call.finish(r, now)
    }
}
