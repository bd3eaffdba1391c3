//! Token endpoint (RFC 6749 §3.2): the token response, the stored token set, and the grants that
//! need nothing but a form post: refresh (§6), client credentials (§4.4, the UMA PAT), password
//! (§4.3, for tests only).

use serde::{Deserialize, Serialize};

use crate::config::{ClientAuth, ClientConfig};
use crate::error::{Error, What};
use crate::flow::Exchange;
use crate::http::{Method, Request, Response};
use crate::jwt::{check_id_token_unsigned, decode_unverified, IdTokenExpectations};
use crate::response::parse_json;
use crate::secret::{AccessToken, IdToken, Password, RefreshToken};
use crate::time::UnixTime;

/// The token endpoint's success body (RFC 6749 §5.1), with Keycloak's extra fields typed.
#[derive(Clone, Debug, Deserialize)]
pub struct TokenResponse {
    /// `access_token`
    pub access_token: AccessToken,
    /// `token_type` (Keycloak: `Bearer`)
    pub token_type: String,
    /// `expires_in` seconds
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// `refresh_token`
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    /// Keycloak's `refresh_expires_in` seconds (0: no expiry, e.g. offline tokens)
    #[serde(default)]
    pub refresh_expires_in: Option<u64>,
    /// `id_token`
    #[serde(default)]
    pub id_token: Option<IdToken>,
    /// `scope`
    #[serde(default)]
    pub scope: Option<String>,
    /// Keycloak's `session_state`
    #[serde(default)]
    pub session_state: Option<String>,
    /// Keycloak's `not-before-policy`
    #[serde(default, rename = "not-before-policy")]
    pub not_before_policy: Option<i64>,
    /// RFC 8693 `issued_token_type`
    #[serde(default)]
    pub issued_token_type: Option<String>,
    /// UMA: whether the RPT kept all previous permissions (`upgraded`)
    #[serde(default)]
    pub upgraded: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TokenResponse {
    /// Parses a token endpoint response the way every grant of this crate does: status 200,
    /// a JSON body of at most `limit` bytes, or the typed error of an error response (RFC 6749
    /// §5.2). The grant's own checks (`token_type`, ID-token claims) come after, in its flow.
    pub fn parse(resp: &Response, limit: usize) -> Result<TokenResponse, Error> {
        Self::parse_as("token", resp, limit)
    }

    pub(crate) fn parse_as(
        what: What,
        resp: &Response,
        limit: usize,
    ) -> Result<TokenResponse, Error> {
        parse_json(what, resp, &[200], limit)
    }
}

/// Tokens as stored by an application: absolute expiry instants instead of lifetimes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// `token_type` as sent.
    pub token_type: String,
    /// When the access token expires.
    pub expires_at: Option<UnixTime>,
    /// The refresh token.
    pub refresh_token: Option<RefreshToken>,
    /// When the refresh token expires (`None`: no expiry given).
    pub refresh_expires_at: Option<UnixTime>,
    /// The ID token. Every flow of the core that hands out a token set has checked it first:
    /// the code exchange with its [`IdTokenPolicy`](crate::IdTokenPolicy); refresh, the device
    /// grant, token exchange, client credentials and the password grant by the ID-token claim
    /// rules (`iss`, `aud`, `azp`, `exp`, `iat` age, `typ`, and on refresh the same `sub`, OpenID
    /// Connect Core §12.2), trusting the back channel for the signature (§3.1.3.7 item 6).
    /// `None`: the response carried no ID token (refresh keeps the previous one).
    pub id_token: Option<IdToken>,
    /// Granted scopes.
    pub scope: Option<String>,
    /// Keycloak's `session_state`.
    pub session_state: Option<String>,
    /// Keycloak's `not-before-policy`.
    pub not_before_policy: Option<i64>,
    /// RFC 8693 `issued_token_type`.
    pub issued_token_type: Option<String>,
    /// When the response was received.
    pub received_at: UnixTime,
    /// Unknown response fields.
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl TokenSet {
    /// Builds a token set from a response received at `now`. **Unchecked**: this only converts;
    /// the flows ([`Client::refresh`](crate::Client::refresh) and the others) check the ID token
    /// before they call it. Use it only for responses you have validated yourself.
    pub fn from_response(r: TokenResponse, now: UnixTime) -> TokenSet {
        TokenSet {
            access_token: r.access_token,
            token_type: r.token_type,
            expires_at: r.expires_in.map(|s| now.plus(s)),
            refresh_token: r.refresh_token,
            refresh_expires_at: r.refresh_expires_in.filter(|s| *s > 0).map(|s| now.plus(s)),
            id_token: r.id_token,
            scope: r.scope,
            session_state: r.session_state,
            not_before_policy: r.not_before_policy,
            issued_token_type: r.issued_token_type,
            received_at: now,
            extra: r.extra,
        }
    }

    /// Whether the access token expires within `margin_secs` of `now` (or already has).
    /// Tokens without `expires_in` never need a refresh by this rule.
    pub fn needs_refresh(&self, now: UnixTime, margin_secs: u64) -> bool {
        match self.expires_at {
            Some(exp) => now.plus(margin_secs) >= exp,
            None => false,
        }
    }

    /// Whether the access token has expired.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.needs_refresh(now, 0)
    }

    /// Whether a refresh token exists and has not expired.
    pub fn can_refresh(&self, now: UnixTime) -> bool {
        self.refresh_token.is_some() && self.refresh_expires_at.is_none_or(|e| now < e)
    }

    /// Seconds the access token has left (0 if expired or unknown; never more than its
    /// lifetime, even if the clock went backwards since it was received).
    pub fn expires_in(&self, now: UnixTime) -> u64 {
        self.expires_at
            .map_or(0, |e| now.until(e).min(self.received_at.until(e)))
    }

    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_ascii_whitespace()
    }
}

pub(crate) fn check_bearer(token_type: &str) -> Result<(), Error> {
    if token_type.eq_ignore_ascii_case("bearer") {
        Ok(())
    } else {
        Err(Error::UnsupportedTokenType(crate::error::sanitize(
            token_type,
        )))
    }
}

/// A POST to the token endpoint with a form and client authentication.
#[derive(Clone)]
pub(crate) struct TokenCall {
    pub url: url::Url,
    pub client_id: String,
    pub auth: ClientAuth,
    pub form: Vec<(String, String)>,
    pub bearer: Option<AccessToken>,
    pub limit: usize,
    pub what: &'static str,
    /// The `aud` of a client assertion (the issuer unless configured otherwise).
    pub assertion_aud: String,
    /// Why the last request went out without its client assertion (reported by `parse`).
    pub auth_failure: std::sync::Arc<std::sync::OnceLock<Error>>,
    /// The DPoP key, when tokens are DPoP-bound.
    pub dpop: Option<crate::dpop::Dpop>,
    /// Whether the request was already sent again for a DPoP nonce (once at most).
    pub nonce_retried: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The DPoP nonce the last request's proof carried.
    pub sent_nonce: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    /// How an ID token in the response is checked; `None` only for the code exchange, which
    /// checks it with its own policy before releasing anything.
    pub id_token_check: Option<Box<IdTokenExpectations>>,
}

impl std::fmt::Debug for TokenCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The form carries codes, verifiers, refresh tokens, passwords: show only what is safe.
        let form: Vec<String> = self
            .form
            .iter()
            .map(|(k, v)| {
                if crate::http::is_secret_field(k) {
                    format!("{k}=<redacted>")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        f.debug_struct("TokenCall")
            .field("what", &self.what)
            .field("url", &self.url.as_str())
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("form", &form)
            .field("bearer", &self.bearer)
            .finish()
    }
}

impl TokenCall {
    pub(crate) fn new(config: &ClientConfig, url: url::Url, what: &'static str) -> Self {
        TokenCall {
            url: url.clone(),
            client_id: config.client_id.clone(),
            auth: config.auth.clone(),
            form: vec![],
            bearer: None,
            limit: config.max_body_bytes,
            what,
            assertion_aud: match &config.auth {
                ClientAuth::Jwt(a) => match a.audience_setting() {
                    crate::client_assertion::AssertionAudience::Exactly(aud) => aud.clone(),
                    // Resolved from discovery by `Client::new`; without discovery, the
                    // endpoint called.
                    crate::client_assertion::AssertionAudience::TokenEndpoint => url.to_string(),
                    _ => config.issuer.clone(),
                },
                _ => String::new(),
            },
            auth_failure: Default::default(),
            dpop: config.dpop.clone(),
            nonce_retried: Default::default(),
            sent_nonce: Default::default(),
            id_token_check: Some(Box::new(IdTokenExpectations::for_client(config))),
        }
    }

    /// Appends a parameter (for the repeatable ones: `permission`, `resource`, `audience` of
    /// token exchange).
    pub(crate) fn field(mut self, k: &str, v: &str) -> Self {
        self.form.push((k.to_string(), v.to_string()));
        self
    }

    /// Sets a single-valued parameter: a second call replaces the first (RFC 6749 §3.2 forbids
    /// repeating a parameter).
    pub(crate) fn set(mut self, k: &str, v: &str) -> Self {
        self.form.retain(|(name, _)| name != k);
        self.field(k, v)
    }

    pub(crate) fn opt(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.field(k, v),
            None => self,
        }
    }

    pub(crate) fn request(&self) -> Request {
        let mut req =
            Request::new(Method::Post, self.url.clone()).header("accept", "application/json");
        let mut form: Vec<(&str, std::borrow::Cow<'_, str>)> = self
            .form
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().into()))
            .collect();
        match &self.bearer {
            // UMA grant with a user's token: the bearer identifies the client (`azp`).
            // Not a b64token: no credential goes out (the server answers 401), and the UMA
            // steps report `InvalidTokenSyntax` whatever came back.
            // Keycloak's UMA grant reads only `Bearer` here; with DPoP the proof carries `ath`
            // of this token (RFC 9449 §4.2).
            Some(t) => {
                let value = crate::secret::bearer_header(t, "the access token").unwrap_or_default();
                req = req.header("authorization", value)
            }
            None => {
                match self
                    .auth
                    .apply(&self.client_id, &self.assertion_aud, req.clone(), &mut form)
                {
                    Ok(r) => req = r,
                    // Sent without it (the server refuses); `parse` reports this first.
                    Err(e) => {
                        let _ = self.auth_failure.set(e);
                    }
                }
            }
        }
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        let req = req.form(&pairs);
        let req = match &self.dpop {
            // RFC 9449 §5: a proof on every token request; `ath` when an access token is
            // presented (the UMA grant on a user's behalf, §4.2).
            Some(d) => match d.proof_with_nonce(
                req.method,
                &req.url,
                self.bearer.as_ref().map(|t| t.secret()),
            ) {
                Ok((proof, nonce)) => {
                    *self.sent_nonce.lock().unwrap_or_else(|p| p.into_inner()) = nonce;
                    req.header("dpop", proof)
                }
                Err(e) => {
                    let _ = self.auth_failure.set(e);
                    req
                }
            },
            None => req,
        };
        if self.auth_failure.get().is_some() {
            // Without its authentication or proof the request must spend nothing: no code,
            // refresh token or device code goes out (the server answers an empty form with
            // an error; `check_sent` reports why first).
            return Request::new(req.method, req.url.clone())
                .header("accept", "application/json")
                .form(&[]);
        }
        req
    }

    /// A DPoP nonce challenge (RFC 9449 §8): the nonce is kept and the request goes again,
    /// once. Every response's `DPoP-Nonce` is kept for the next request.
    pub(crate) fn nonce_retry(&self, resp: &Response) -> bool {
        let Some(d) = &self.dpop else {
            return false;
        };
        // Retried when the server's nonce is not the one this request carried (another
        // request may have learnt it first: what matters is this request's proof).
        d.challenge_answerable(&self.url, resp, &self.sent_nonce)
            && !self
                .nonce_retried
                .swap(true, std::sync::atomic::Ordering::Relaxed)
    }

    /// A nonce challenge that is not followed: the server asked again after the retry, or
    /// gave no usable nonce.
    fn nonce_refusal(&self, resp: &Response) -> Option<Error> {
        if self.dpop.is_none() || !crate::dpop::asks_for_nonce(resp) {
            return None;
        }
        Some(Error::Dpop(
            if self
                .nonce_retried
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                "the server asked for a new DPoP nonce again after one retry".into()
            } else {
                "the server asked for a DPoP nonce without giving a usable one".into()
            },
        ))
    }

    /// What could not go out with the request (a bearer token of the wrong syntax, a client
    /// assertion that could not be signed) is reported before anything the server said.
    pub(crate) fn check_sent(&self) -> Result<(), Error> {
        self.check_bearer_syntax()?;
        match self.auth_failure.get() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// [`check_sent`](Self::check_sent), then a DPoP nonce challenge that was not followed.
    pub(crate) fn check_answer(&self, resp: &Response) -> Result<(), Error> {
        self.check_sent()?;
        match self.nonce_refusal(resp) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A caller-supplied bearer token that could not be sent is reported first.
    pub(crate) fn check_bearer_syntax(&self) -> Result<(), Error> {
        match &self.bearer {
            Some(t) => crate::secret::bearer_header(t, "the access token").map(drop),
            None => Ok(()),
        }
    }

    /// `Bearer`, or `DPoP` when the request carried a proof: a DPoP request answered with a
    /// bearer token is refused (the token would not be bound; RFC 9449 §5).
    pub(crate) fn check_token_type(&self, token_type: &str) -> Result<(), Error> {
        match &self.dpop {
            None => check_bearer(token_type),
            Some(_) if token_type.eq_ignore_ascii_case("dpop") => Ok(()),
            Some(_) => Err(Error::Dpop(format!(
                "a DPoP token request was answered with token_type `{}`: the token is not bound",
                crate::error::sanitize(token_type)
            ))),
        }
    }

    /// Parses a success response.
    pub(crate) fn parse(&self, resp: &Response) -> Result<TokenResponse, Error> {
        self.check_answer(resp)?;
        TokenResponse::parse_as(self.what, resp, self.limit)
    }

    /// Checks the ID token a response carries (if any) and builds the token set.
    pub(crate) fn finish(&self, r: TokenResponse, now: UnixTime) -> Result<TokenSet, Error> {
        if let (Some(expect), Some(id_token)) = (&self.id_token_check, &r.id_token) {
            check_id_token_unsigned(id_token.secret(), expect, now)?;
        }
        Ok(TokenSet::from_response(r, now))
    }

    /// Parses a `Bearer` token response and checks its ID token.
    pub(crate) fn token_set(&self, resp: &Response, now: UnixTime) -> Result<TokenSet, Error> {
        let r = self.parse(resp)?;
        self.check_token_type(&r.token_type)?;
        self.finish(r, now)
    }
}

/// Refresh grant (RFC 6749 §6). If the response has no new refresh token or ID token, the old
/// ones are kept (OpenID Connect Core §12.2).
#[derive(Clone, Debug)]
pub struct RefreshRequest {
    call: TokenCall,
    old_refresh: RefreshToken,
    old_id_token: Option<IdToken>,
}

impl RefreshRequest {
    pub(crate) fn new(
        config: &ClientConfig,
        token_endpoint: url::Url,
        tokens: &TokenSet,
    ) -> Result<Self, Error> {
        let rt = tokens
            .refresh_token
            .clone()
            .ok_or_else(|| Error::Config("the token set has no refresh token".into()))?;
        let mut call = TokenCall::new(config, token_endpoint, "refresh")
            .field("grant_type", "refresh_token")
            .field("refresh_token", rt.secret());
        // OpenID Connect Core §12.2: the new ID token names the same subject; no nonce needed.
        if let (Some(expect), Some(old)) = (call.id_token_check.as_mut(), &tokens.id_token) {
            expect.subject = decode_unverified(old.secret())?
                .claims
                .sub()
                .map(str::to_owned);
        }
        Ok(RefreshRequest {
            call,
            old_refresh: rt,
            old_id_token: tokens.id_token.clone(),
        })
    }

    /// Narrows the scope of the new access token (RFC 6749 §6). Set once: a second call
    /// replaces the first.
    pub fn scope(mut self, scope: &str) -> Self {
        self.call = self.call.set("scope", scope);
        self
    }
}

impl Exchange for RefreshRequest {
    type Output = TokenSet;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<TokenSet, Error> {
        let mut t = self.call.token_set(&resp, now)?;
        if t.refresh_token.is_none() {
            t.refresh_token = Some(self.old_refresh);
        }
        if t.id_token.is_none() {
            t.id_token = self.old_id_token;
        }
        Ok(t)
    }
}

/// Client credentials grant (RFC 6749 §4.4). With a Keycloak resource server whose service
/// account holds `uma_protection`, the result is the UMA Protection API Token (PAT).
#[derive(Clone, Debug)]
pub struct ClientCredentialsRequest {
    call: TokenCall,
}

impl ClientCredentialsRequest {
    pub(crate) fn new(config: &ClientConfig, token_endpoint: url::Url) -> Result<Self, Error> {
        if !config.auth.is_confidential() {
            return Err(Error::Config(
                "client credentials need a confidential client".into(),
            ));
        }
        Ok(ClientCredentialsRequest {
            call: TokenCall::new(config, token_endpoint, "client credentials")
                .field("grant_type", "client_credentials"),
        })
    }

    /// Requests specific scopes. Set once: a second call replaces the first.
    pub fn scope(mut self, scope: &str) -> Self {
        self.call = self.call.set("scope", scope);
        self
    }
}

impl Exchange for ClientCredentialsRequest {
    type Output = TokenSet;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<TokenSet, Error> {
        self.call.token_set(&resp, now)
    }
}

/// Resource-owner password grant (RFC 6749 §4.3). Deprecated by RFC 9700 §2.4; offered for tests
/// and scripts against clients that explicitly enable "direct access grants".
#[derive(Clone, Debug)]
pub struct PasswordRequest {
    call: TokenCall,
}

impl PasswordRequest {
    pub(crate) fn new(
        config: &ClientConfig,
        token_endpoint: url::Url,
        username: &str,
        password: &Password,
        scope: &str,
    ) -> Self {
        PasswordRequest {
            call: TokenCall::new(config, token_endpoint, "password grant")
                .field("grant_type", "password")
                .field("username", username)
                .field("password", password.secret())
                .field("scope", scope),
        }
    }
}

impl Exchange for PasswordRequest {
    type Output = TokenSet;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<TokenSet, Error> {
        self.call.token_set(&resp, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keycloak_token_response_is_typed() {
        let body = r#"{"access_token":"at","expires_in":300,"refresh_expires_in":1800,"refresh_token":"rt",
            "token_type":"Bearer","id_token":"it","not-before-policy":0,"session_state":"ss","scope":"openid email","x-extra":1}"#;
        let r: TokenResponse = serde_json::from_str(body).unwrap();
        let t = TokenSet::from_response(r, UnixTime(1000));
        assert_eq!(t.expires_at, Some(UnixTime(1300)));
        assert_eq!(t.refresh_expires_at, Some(UnixTime(2800)));
        assert_eq!(t.not_before_policy, Some(0));
        assert_eq!(t.extra.get("x-extra"), Some(&serde_json::json!(1)));
        assert!(t.needs_refresh(UnixTime(1271), 30));
        assert!(!t.needs_refresh(UnixTime(1269), 30));
        assert!(t.can_refresh(UnixTime(2799)) && !t.can_refresh(UnixTime(2800)));
        assert_eq!(t.scopes().collect::<Vec<_>>(), ["openid", "email"]);
        assert!(!format!("{t:?}").contains("\"at\""));
    }

    #[test]
    fn expiry_arithmetic_saturates() {
        let r: TokenResponse = serde_json::from_str(
            r#"{"access_token":"a","token_type":"bearer","expires_in":18446744073709551615}"#,
        )
        .unwrap();
        let t = TokenSet::from_response(r, UnixTime(u64::MAX - 1));
        assert_eq!(t.expires_at, Some(UnixTime(u64::MAX)));
        assert!(!t.needs_refresh(UnixTime(5), u64::MAX - 10));
    }
}
