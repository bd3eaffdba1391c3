//! Pushed authorization requests (RFC 9126): the authorization request goes to the provider
//! over the back channel, authenticated as every token call is; the browser is sent with only
//! `client_id` and the `request_uri` the provider returned (§4).

use serde::Deserialize;

use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::login::PendingLogin;
use crate::response::parse_json;
use crate::time::UnixTime;
use crate::token::TokenCall;

/// `POST pushed_authorization_request_endpoint`; its output is the browser URL and the
/// pending login, as [`LoginBuilder::build`](crate::LoginBuilder::build) gives them.
#[derive(Debug)]
pub struct PushedLogin {
    call: TokenCall,
    authorization_endpoint: url::Url,
    client_id: String,
    pending: PendingLogin,
}

#[derive(Deserialize)]
struct PushedResponse {
    request_uri: String,
    /// Seconds the `request_uri` lives (RFC 9126 §2.2).
    #[allow(dead_code)]
    expires_in: u64,
}

impl PushedLogin {
    pub(crate) fn new(
        config: &ClientConfig,
        endpoint: url::Url,
        authorization_endpoint: url::Url,
        params: Vec<(String, String)>,
        pending: PendingLogin,
    ) -> Self {
        let mut call = TokenCall::new(config, endpoint, "pushed authorization request");
        call.id_token_check = None;
        // The client authentication adds `client_id` itself.
        for (k, v) in params.iter().filter(|(k, _)| k != "client_id") {
            call = call.field(k, v);
        }
        PushedLogin {
            call,
            authorization_endpoint,
            client_id: config.client_id.clone(),
            pending,
        }
    }

    /// The pending login this request belongs to (kept until the callback).
    pub fn pending(&self) -> &PendingLogin {
        &self.pending
    }
}

impl Exchange for PushedLogin {
    type Output = (url::Url, PendingLogin);

    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }

    /// 201 with `request_uri` (RFC 9126 §2.2); an OAuth error body is a typed
    /// [`Error::OAuth`].
    fn handle(self, resp: Response, _now: UnixTime) -> Result<Self::Output, Error> {
        self.call.check_answer(&resp)?;
        let r: PushedResponse = parse_json(
            "pushed authorization request",
            &resp,
            &[201, 200],
            self.call.limit,
        )?;
        if r.request_uri.is_empty() || r.request_uri.chars().any(char::is_control) {
            return Err(Error::MalformedJson {
                what: "pushed authorization request",
                detail: "request_uri is empty or holds control characters".into(),
            });
        }
        let mut url = self.authorization_endpoint;
        url.query_pairs_mut()
            .append_pair("client_id", &self.client_id)
            .append_pair("request_uri", &r.request_uri);
        Ok((url, self.pending))
    }
}
