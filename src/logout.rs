//! Logout: back-channel logout with the refresh token (Keycloak's logout endpoint), the
//! RP-initiated logout URL (OpenID Connect RP-Initiated Logout 1.0 §2) and token revocation
//! (RFC 7009).

use crate::client::Client;
use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::response::expect_status;
use crate::secret::{IdToken, RefreshToken};
use crate::time::UnixTime;
use crate::token::TokenCall;

/// `POST end_session_endpoint` with `refresh_token` and client authentication: ends the
/// Keycloak session (204). A refresh afterwards fails with `invalid_grant`.
#[derive(Debug)]
pub struct BackchannelLogout {
    pub(crate) call: TokenCall,
}

impl BackchannelLogout {
    pub(crate) fn new(client: &Client, refresh_token: &RefreshToken) -> Result<Self, Error> {
        let url = client
            .provider
            .end_session_endpoint
            .clone()
            .ok_or(Error::MissingEndpoint("end_session_endpoint"))?;
        Ok(BackchannelLogout {
            call: TokenCall::new(&client.config, client.config.to_backchannel(&url), "logout")
                .field("refresh_token", refresh_token.secret()),
        })
    }
}

impl Exchange for BackchannelLogout {
    type Output = ();
    fn request(&self) -> Request {
        self.call.request()
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<(), Error> {
        expect_status("logout", &resp, &[200, 204], self.call.limit)
    }
}

/// Builds the RP-initiated logout URL to redirect the browser to.
#[derive(Clone, Debug)]
pub struct LogoutUrlBuilder<'a> {
    pub(crate) client: &'a Client,
    pub(crate) id_token_hint: Option<&'a IdToken>,
    pub(crate) post_logout_redirect_uri: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) ui_locales: Option<String>,
}

impl<'a> LogoutUrlBuilder<'a> {
    /// `id_token_hint`: without it Keycloak shows a confirmation page.
    pub fn id_token_hint(mut self, id_token: &'a IdToken) -> Self {
        self.id_token_hint = Some(id_token);
        self
    }
    /// `post_logout_redirect_uri` (must be registered for the client).
    pub fn post_logout_redirect_uri(mut self, uri: &str) -> Self {
        self.post_logout_redirect_uri = Some(uri.to_string());
        self
    }
    /// `state`, echoed back to the post-logout redirect.
    pub fn state(mut self, state: &str) -> Self {
        self.state = Some(state.to_string());
        self
    }
    /// `ui_locales`.
    pub fn ui_locales(mut self, l: &str) -> Self {
        self.ui_locales = Some(l.to_string());
        self
    }
    /// The URL.
    pub fn build(self) -> Result<url::Url, Error> {
        let ep = self
            .client
            .provider
            .end_session_endpoint
            .as_ref()
            .ok_or(Error::MissingEndpoint("end_session_endpoint"))?;
        let mut url = self.client.config.to_browser(ep);
        {
            let mut q = url.query_pairs_mut();
            if let Some(t) = self.id_token_hint {
                q.append_pair("id_token_hint", t.secret());
            }
            if let Some(u) = &self.post_logout_redirect_uri {
                q.append_pair("post_logout_redirect_uri", u);
            }
            q.append_pair("client_id", &self.client.config.client_id);
            if let Some(s) = &self.state {
                q.append_pair("state", s);
            }
            if let Some(l) = &self.ui_locales {
                q.append_pair("ui_locales", l);
            }
        }
        Ok(url)
    }
}

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
    fn handle(self, resp: Response, _now: UnixTime) -> Result<(), Error> {
        expect_status("revocation", &resp, &[200, 204], self.call.limit)
    }
}
