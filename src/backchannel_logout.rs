//! Back-channel logout with the refresh token: Keycloak's logout endpoint called by the client
//! (OpenID Connect RP-Initiated Logout 1.0 §2 endpoint, Keycloak's `refresh_token` form).

use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::response::expect_status;
use crate::secret::RefreshToken;
use crate::time::UnixTime;
use crate::token::TokenCall;

/// `POST end_session_endpoint` with `refresh_token` and client authentication: ends the
/// Keycloak session (204). A refresh afterwards fails with `invalid_grant`.
#[derive(Debug)]
pub struct BackchannelLogout {
    pub(crate) call: TokenCall,
}

impl BackchannelLogout {
    /// For the session that issued `refresh_token`, at the provider's `end_session_endpoint`.
    pub(crate) fn new(
        config: &ClientConfig,
        end_session_endpoint: Option<&url::Url>,
        refresh_token: &RefreshToken,
    ) -> Result<Self, Error> {
        let url = end_session_endpoint.ok_or(Error::MissingEndpoint("end_session_endpoint"))?;
        Ok(BackchannelLogout {
            call: TokenCall::new(config, config.to_backchannel(url), "logout")
                .field("refresh_token", refresh_token.secret()),
        })
    }
}

impl Exchange for BackchannelLogout {
    type Output = ();
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<(), Error> {
        self.call.check_answer(&resp)?;
        expect_status("logout", &resp, &[200, 204], self.call.limit)
    }
}
