//! Authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1) with `state`, `nonce`
//! and PKCE S256 (RFC 7636), and the [`PendingLogin`] the application keeps until the callback.

use base64::Engine as _;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::ClientConfig;
use crate::error::Error;
use crate::secret::{Nonce, PkceVerifier, State};
use crate::time::UnixTime;

/// 32 random bytes, base64url without padding (43 characters, 256 bits).
pub fn random_token<R: CryptoRng + ?Sized>(rng: &mut R) -> String {
    let mut buf = [0u8; 32];
    rng.fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The S256 code challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &PkceVerifier) -> String {
    let digest = Sha256::digest(verifier.secret().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// Everything needed to finish a login. Keep it server-side (or encrypted) keyed by the browser
/// session; it is consumed by [`Client::callback`](crate::Client::callback) so it cannot be replayed.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent.
    pub state: State,
    /// The `nonce` sent.
    pub nonce: Nonce,
    /// The PKCE verifier.
    pub code_verifier: PkceVerifier,
    /// The `redirect_uri` sent (the code exchange must repeat it exactly).
    pub redirect_uri: String,
    /// The scopes requested.
    pub scope: String,
    /// When the login started.
    pub created_at: UnixTime,
    /// How long it stays valid.
    pub ttl_secs: u64,
    /// `max_age` sent, if any: the ID token's `auth_time` is then required and checked.
    #[serde(default)]
    pub max_age: Option<u64>,
    /// `acr` values requested as essential, if any: the ID token's `acr` must be one of them.
    #[serde(default)]
    pub essential_acr: Option<Vec<String>>,
    /// Where the application wants to send the user afterwards (application data).
    pub return_to: Option<String>,
}

/// The random values of one login.
pub(crate) struct LoginSecrets {
    state: State,
    nonce: Nonce,
    verifier: PkceVerifier,
}

impl LoginSecrets {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        LoginSecrets {
            state: State::new(random_token(rng)),
            nonce: Nonce::new(random_token(rng)),
            verifier: PkceVerifier::new(random_token(rng)),
        }
    }
}

/// Builder for the authorization URL, from [`Client::login`](crate::Client::login).
#[derive(Clone, Debug)]
pub struct LoginBuilder<'a> {
    config: &'a ClientConfig,
    authorization_endpoint: &'a url::Url,
    /// `pushed_authorization_request_endpoint`, when discovered.
    par_endpoint: Option<&'a url::Url>,
    /// The server requires PAR (`require_pushed_authorization_requests`).
    par_required: bool,
    redirect_uri: Option<String>,
    /// Whether `redirect_uri` still needs validating (it was set by the caller, not the config).
    redirect_unchecked: bool,
    scopes: Vec<String>,
    params: Vec<(String, String)>,
    max_age: Option<u64>,
    essential_acr: Option<Vec<String>>,
    refused: Option<String>,
    return_to: Option<String>,
}

impl<'a> LoginBuilder<'a> {
    pub(crate) fn new(config: &'a ClientConfig, authorization_endpoint: &'a url::Url) -> Self {
        LoginBuilder {
            config,
            authorization_endpoint,
            par_endpoint: None,
            par_required: false,
            redirect_uri: config.redirect_uri.as_ref().map(|u| u.to_string()),
            redirect_unchecked: false,
            scopes: config.scopes.clone(),
            params: vec![],
            max_age: None,
            essential_acr: None,
            refused: None,
            return_to: None,
        }
    }

    /// Overrides the configured redirect URI.
    pub fn redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uri = Some(uri.to_string());
        self.redirect_unchecked = true;
        self
    }

    /// Adds a scope (`openid` is always sent).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.to_string());
        self
    }

    /// `prompt` (`none`, `login`, `consent`, `create`).
    pub fn prompt(self, prompt: &str) -> Self {
        self.set_param("prompt", prompt)
    }

    /// `login_hint`.
    pub fn login_hint(self, hint: &str) -> Self {
        self.set_param("login_hint", hint)
    }

    /// `max_age` in seconds (OpenID Connect Core §3.1.2.1): the ID token must then carry
    /// `auth_time`, at most this many seconds (plus the leeway) before the callback.
    pub fn max_age(mut self, secs: u64) -> Self {
        self.max_age = Some(secs);
        self.set_param("max_age", &secs.to_string())
    }

    /// `acr_values` as a voluntary request (OpenID Connect Core §3.1.2.1): not checked. Use
    /// [`essential_acr`](Self::essential_acr) when the login must fail without one of them.
    pub fn acr_values(self, values: &[&str]) -> Self {
        self.set_param("acr_values", &values.join(" "))
    }

    /// Requests `acr` as an essential claim with these values (the `claims` parameter, OpenID
    /// Connect Core §5.5.1.1): the callback then rejects an ID token whose `acr` is not one of
    /// them.
    pub fn essential_acr(mut self, values: &[&str]) -> Self {
        if values.is_empty() {
            // An empty list would refuse every `acr`: a mistake, reported by `build`.
            self.refused.get_or_insert_with(|| "claims".to_string());
            return self;
        }
        let claims = serde_json::json!({
            "id_token": { "acr": { "essential": true, "values": values } }
        });
        self.essential_acr = Some(values.iter().map(|v| v.to_string()).collect());
        self.set_param("claims", &claims.to_string())
    }

    /// `ui_locales`.
    pub fn ui_locales(self, locales: &str) -> Self {
        self.set_param("ui_locales", locales)
    }

    /// Keycloak's `kc_idp_hint`: go straight to an identity provider.
    pub fn kc_idp_hint(self, alias: &str) -> Self {
        self.set_param("kc_idp_hint", alias)
    }

    /// Keycloak's `kc_action` (application-initiated action, e.g. `UPDATE_PASSWORD`).
    pub fn kc_action(self, action: &str) -> Self {
        self.set_param("kc_action", action)
    }

    /// Any other parameter; a second call with the same name replaces the first (RFC 6749
    /// §3.1: no repeated parameters). The parameters this builder controls or checks (`state`,
    /// `nonce`, PKCE, `client_id`, `response_type`, `redirect_uri`, `scope`, `max_age`, `claims`,
    /// `request`, `request_uri`) are refused: [`build`](Self::build) then fails with
    /// [`Error::Config`] naming the parameter. Use the typed setters instead.
    pub fn param(self, name: &str, value: &str) -> Self {
        const RESERVED: &[&str] = &[
            "state",
            "nonce",
            "code_challenge",
            "code_challenge_method",
            "client_id",
            "response_type",
            "redirect_uri",
            "scope",
            "max_age",
            "claims",
            "request",
            "request_uri",
            "response_mode",
        ];
        if RESERVED.contains(&name) {
            let mut this = self;
            this.refused.get_or_insert_with(|| name.to_string());
            return this;
        }
        self.set_param(name, value)
    }

    fn set_param(mut self, name: &str, value: &str) -> Self {
        self.params.retain(|(k, _)| k != name);
        self.params.push((name.to_string(), value.to_string()));
        self
    }

    /// Application data stored in the pending login (e.g. the page to return to).
    pub fn return_to(mut self, path: &str) -> Self {
        self.return_to = Some(path.to_string());
        self
    }

    /// With the pushed authorization endpoint of the provider (RFC 9126), and whether the
    /// provider requires it.
    pub(crate) fn pushed_at(mut self, endpoint: Option<&'a url::Url>, required: bool) -> Self {
        self.par_endpoint = endpoint;
        self.par_required = required;
        self
    }

    /// Whether this login must be pushed (RFC 9126 §5–6): the provider's
    /// `require_pushed_authorization_requests` or the client's configuration.
    pub fn must_push(&self) -> bool {
        self.par_required || self.config.pushed_authorization_requests
    }

    /// Generates fresh `state`, `nonce` and PKCE verifier and returns the URL to redirect the
    /// browser to, plus the pending login to keep. When the login [must be
    /// pushed](Self::must_push) this refuses with [`Error::Config`]: use
    /// [`build_pushed`](Self::build_pushed).
    pub fn build<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<(url::Url, PendingLogin), Error> {
        self.build_with(LoginSecrets::generate(rng), now)
    }

    /// A pushed authorization request (RFC 9126): the parameters go to the provider over the
    /// back channel with client authentication; its answer gives the browser URL, which holds
    /// only `client_id` and `request_uri`. Send the returned exchange, then redirect.
    pub fn build_pushed<R: CryptoRng + ?Sized>(
        self,
        rng: &mut R,
        now: UnixTime,
    ) -> Result<crate::par::PushedLogin, Error> {
        self.build_pushed_with(LoginSecrets::generate(rng), now)
    }

    pub(crate) fn build_pushed_with(
        self,
        secrets: LoginSecrets,
        now: UnixTime,
    ) -> Result<crate::par::PushedLogin, Error> {
        let endpoint = self
            .par_endpoint
            .ok_or(Error::MissingEndpoint(
                "pushed_authorization_request_endpoint",
            ))?
            .clone();
        let (config, authorization_endpoint) = (self.config, self.authorization_endpoint);
        let (params, pending) = self.parameters(secrets, now)?;
        Ok(crate::par::PushedLogin::new(
            config,
            config.to_backchannel(&endpoint),
            config.to_browser(authorization_endpoint),
            params,
            pending,
        ))
    }

    /// [`build`](Self::build) with secrets drawn earlier (an operation that must discover
    /// first draws them when it is created: the RNG is not kept).
    pub(crate) fn build_with(
        self,
        secrets: LoginSecrets,
        now: UnixTime,
    ) -> Result<(url::Url, PendingLogin), Error> {
        if self.must_push() {
            return Err(Error::Config(
                "this login must use a pushed authorization request (RFC 9126): the provider \
                 or the client configuration requires it; use build_pushed"
                    .into(),
            ));
        }
        let mut url = self.config.to_browser(self.authorization_endpoint);
        let (params, pending) = self.parameters(secrets, now)?;
        url.query_pairs_mut().extend_pairs(params.iter());
        Ok((url, pending))
    }

    /// The authorization request's parameters and the pending login.
    fn parameters(
        self,
        secrets: LoginSecrets,
        now: UnixTime,
    ) -> Result<(Vec<(String, String)>, PendingLogin), Error> {
        if let Some(name) = &self.refused {
            return Err(Error::Config(format!(
                "the login parameter `{}` is set by the builder; use its typed setter",
                crate::error::sanitize(name)
            )));
        }
        let redirect_uri = self
            .redirect_uri
            .ok_or_else(|| Error::Config("no redirect_uri configured for login".into()))?;
        if self.redirect_unchecked {
            url::Url::parse(&redirect_uri)
                .map_err(|e| Error::Config(format!("redirect_uri: {e}")))?;
        }
        let mut scopes = vec!["openid".to_string()];
        for s in self.scopes {
            for part in s.split_ascii_whitespace() {
                if !scopes.iter().any(|x| x == part) {
                    scopes.push(part.to_string());
                }
            }
        }
        let scope = scopes.join(" ");
        let LoginSecrets {
            state,
            nonce,
            verifier,
        } = secrets;
        let mut params: Vec<(String, String)> = [
            ("response_type", "code"),
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", scope.as_str()),
            ("state", state.secret()),
            ("nonce", nonce.secret()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        params.push(("code_challenge".into(), pkce_challenge(&verifier)));
        params.push(("code_challenge_method".into(), "S256".into()));
        if let Some(d) = &self.config.dpop {
            // RFC 9449 §10: the code is bound to the DPoP key.
            params.push(("dpop_jkt".into(), d.jkt().to_string()));
        }
        params.extend(self.params);
        Ok((
            params,
            PendingLogin {
                state,
                nonce,
                code_verifier: verifier,
                redirect_uri,
                scope,
                created_at: now,
                ttl_secs: self.config.login_ttl_secs,
                max_age: self.max_age,
                essential_acr: self.essential_acr,
                return_to: self.return_to,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        let v = PkceVerifier::new("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(
            pkce_challenge(&v),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
