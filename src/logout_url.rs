//! The RP-initiated logout URL the browser is sent to (OpenID Connect RP-Initiated Logout 1.0
//! §2).

use crate::config::ClientConfig;
use crate::error::Error;
use crate::secret::IdToken;

/// Builds the RP-initiated logout URL to redirect the browser to.
#[derive(Clone, Debug)]
pub struct LogoutUrlBuilder<'a> {
    pub(crate) config: &'a ClientConfig,
    pub(crate) end_session_endpoint: Option<&'a url::Url>,
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
            .end_session_endpoint
            .ok_or(Error::MissingEndpoint("end_session_endpoint"))?;
        let mut url = self.config.to_browser(ep);
        {
            let mut q = url.query_pairs_mut();
            if let Some(t) = self.id_token_hint {
                q.append_pair("id_token_hint", t.secret());
            }
            if let Some(u) = &self.post_logout_redirect_uri {
                q.append_pair("post_logout_redirect_uri", u);
            }
            q.append_pair("client_id", &self.config.client_id);
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
