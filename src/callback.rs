//! The authorization response (RFC 6749 §4.1.2, RFC 9207) and the code exchange (§4.1.3)
//! with PKCE (RFC 7636 §4.5) and ID-token validation (OpenID Connect Core §3.1.3.7).

use std::sync::Arc;

use crate::client::Client;
use crate::error::{Error, OAuthError};
use crate::flow::{Exchange, Flow, Step};
use crate::http::{Request, Response};
use crate::jwt::{
    check_id_token_claims, decode_unverified, Claims, IdTokenExpectations, IdTokenValidator,
};
use crate::login::PendingLogin;
use crate::secret::{AuthorizationCode, Nonce};
use crate::time::UnixTime;
use crate::token::{TokenCall, TokenSet};

/// The parameters of an authorization response.
#[derive(Clone, Debug, Default)]
pub struct CallbackParams {
    /// `code`
    pub code: Option<AuthorizationCode>,
    /// `state`
    pub state: Option<String>,
    /// `iss` (RFC 9207)
    pub iss: Option<String>,
    /// Keycloak's `session_state`
    pub session_state: Option<String>,
    /// `error`
    pub error: Option<String>,
    /// `error_description`
    pub error_description: Option<String>,
    /// `error_uri`
    pub error_uri: Option<String>,
}

impl CallbackParams {
    /// Parses a query string (with or without the leading `?`). Repeated parameters are an
    /// error (RFC 6749 §3.1).
    ///
    /// ```
    /// use keycloak_client::CallbackParams;
    /// let p = CallbackParams::from_query("state=s&session_state=x&iss=http%3A%2F%2Fh%2Frealms%2Fr&code=c").unwrap();
    /// assert_eq!(p.iss.as_deref(), Some("http://h/realms/r"));
    /// assert_eq!(p.code.unwrap().secret(), "c");
    /// ```
    pub fn from_query(query: &str) -> Result<CallbackParams, Error> {
        let query = query.strip_prefix('?').unwrap_or(query);
        if query.len() > 64 * 1024 {
            return Err(Error::InvalidCallback("query longer than 64 KiB".into()));
        }
        let mut p = CallbackParams::default();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot: &mut Option<String> = match k.as_ref() {
                "code" => {
                    if p.code.is_some() {
                        return Err(Error::InvalidCallback("`code` repeated".into()));
                    }
                    p.code = Some(AuthorizationCode::new(v.into_owned()));
                    continue;
                }
                "state" => &mut p.state,
                "iss" => &mut p.iss,
                "session_state" => &mut p.session_state,
                "error" => &mut p.error,
                "error_description" => &mut p.error_description,
                "error_uri" => &mut p.error_uri,
                _ => continue,
            };
            if slot.is_some() {
                return Err(Error::InvalidCallback(format!("`{k}` repeated")));
            }
            *slot = Some(v.into_owned());
        }
        Ok(p)
    }

    /// Parses the query of a full callback URL.
    pub fn from_url(url: &url::Url) -> Result<CallbackParams, Error> {
        Self::from_query(url.query().unwrap_or(""))
    }
}

/// How the ID token of a code exchange is validated.
#[derive(Clone)]
pub(crate) enum IdTokenPolicy {
    Unset,
    Validator(Arc<dyn IdTokenValidator>),
    DangerClaimsOnly,
}

impl std::fmt::Debug for IdTokenPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdTokenPolicy::Unset => "Unset",
            IdTokenPolicy::Validator(_) => "Validator",
            IdTokenPolicy::DangerClaimsOnly => "DangerClaimsOnly",
        })
    }
}

/// Checks an authorization response against its pending login and returns the code exchange.
pub(crate) fn accept_callback(
    client: &Client,
    pending: PendingLogin,
    params: &CallbackParams,
    now: UnixTime,
) -> Result<CodeExchange, Error> {
    // 1. state first: an unrelated or forged response is rejected before anything else.
    match &params.state {
        Some(s) if pending.state.ct_eq(s) => {}
        _ => return Err(Error::StateMismatch),
    }
    // 2. RFC 9207 issuer identification.
    let issuer = &client.config.issuer;
    match &params.iss {
        Some(iss) if iss == issuer => {}
        Some(iss) => {
            return Err(Error::CallbackIssuer(format!(
                "`iss` is `{}`, expected `{issuer}` (mix-up attack?)",
                crate::error::sanitize(iss)
            )))
        }
        None if client
            .provider
            .authorization_response_iss_parameter_supported =>
        {
            return Err(Error::CallbackIssuer(
                "`iss` is missing although the server advertises it".into(),
            ))
        }
        None => {}
    }
    // 3. Errors reported by the authorization server.
    if let Some(error) = &params.error {
        return Err(Error::Authorization(OAuthError {
            error: error.clone(),
            error_description: params.error_description.clone(),
            error_uri: params.error_uri.clone(),
        }));
    }
    // 4. Lifetime of the pending login.
    let deadline = pending.created_at.plus(pending.ttl_secs);
    if now > deadline {
        return Err(Error::LoginExpired(deadline.until(now)));
    }
    let code = params
        .code
        .clone()
        .ok_or_else(|| Error::InvalidCallback("no `code` and no `error`".into()))?;
    let call = TokenCall::new(
        &client.config,
        client
            .config
            .to_backchannel(&client.provider.token_endpoint),
        "code exchange",
    )
    .field("grant_type", "authorization_code")
    .field("code", code.secret())
    .field("redirect_uri", &pending.redirect_uri)
    .field("code_verifier", pending.code_verifier.secret());
    Ok(CodeExchange {
        call,
        nonce: pending.nonce,
        openid: pending
            .scope
            .split_ascii_whitespace()
            .any(|s| s == "openid"),
        issuer: issuer.clone(),
        client_id: client.config.client_id.clone(),
        policy: IdTokenPolicy::Unset,
        leeway_secs: 60,
        return_to: pending.return_to,
        flow: FlowState::default(),
    })
}

/// The result of a login: tokens plus the validated ID-token claims.
#[derive(Clone, Debug)]
pub struct LoginTokens {
    /// The tokens.
    pub tokens: TokenSet,
    /// Claims of the validated ID token.
    pub id_claims: Claims,
    /// The pending login's `return_to`.
    pub return_to: Option<String>,
}

/// The code exchange (RFC 6749 §4.1.3). Choose how the ID token is validated before handling
/// the response: [`validate_id_token_with`](Self::validate_id_token_with) (signature and claims)
/// or [`danger_skip_id_token_signature`](Self::danger_skip_id_token_signature).
#[derive(Debug)]
pub struct CodeExchange {
    call: TokenCall,
    nonce: Nonce,
    openid: bool,
    issuer: String,
    client_id: String,
    policy: IdTokenPolicy,
    leeway_secs: u64,
    return_to: Option<String>,
    flow: FlowState,
}

#[derive(Debug, Default)]
struct FlowState {
    sent: bool,
    tokens: Option<TokenSet>,
    key_request: Option<Request>,
    result: Option<Result<LoginTokens, Error>>,
    finished: bool,
}

impl CodeExchange {
    /// Validates the ID token's signature and claims with `validator`.
    pub fn validate_id_token_with(mut self, validator: Arc<dyn IdTokenValidator>) -> Self {
        self.policy = IdTokenPolicy::Validator(validator);
        self
    }

    /// **Reduced assurance.** Checks every ID-token claim (`iss`, `aud`, `azp`, `exp`, `iat`,
    /// `nonce`, `sub`) but not the signature, relying on the TLS-protected back channel to the
    /// token endpoint (allowed by OpenID Connect Core §3.1.3.7 item 6 for the code flow). Use
    /// only when the token endpoint is reached over TLS or loopback.
    pub fn danger_skip_id_token_signature(mut self) -> Self {
        self.policy = IdTokenPolicy::DangerClaimsOnly;
        self
    }

    /// Allowed clock skew for `exp`/`iat`/`nbf` (default 60 s).
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.leeway_secs = secs;
        self
    }
}

impl CodeExchange {
    fn validate(&self, tokens: TokenSet, now: UnixTime) -> Result<LoginTokens, Error> {
        let id_token = match (&tokens.id_token, self.openid) {
            (Some(t), _) => t.clone(),
            (None, true) => return Err(Error::MissingIdToken),
            (None, false) => {
                return Ok(LoginTokens {
                    tokens,
                    id_claims: Claims(Default::default()),
                    return_to: self.return_to.clone(),
                })
            }
        };
        let expect = IdTokenExpectations {
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            nonce: Some(self.nonce.clone()),
            leeway_secs: self.leeway_secs,
            max_iat_age_secs: 600,
        };
        let claims = match &self.policy {
            IdTokenPolicy::Validator(v) => {
                v.validate_id_token(&id_token, Some(&tokens.access_token), &expect, now)?
            }
            IdTokenPolicy::DangerClaimsOnly => {
                let jwt = decode_unverified(id_token.secret())?;
                check_id_token_claims(&jwt.claims, &expect, now)?;
                jwt.claims
            }
            IdTokenPolicy::Unset => return Err(Error::NoIdTokenValidator),
        };
        Ok(LoginTokens {
            tokens,
            id_claims: claims,
            return_to: self.return_to.clone(),
        })
    }
}

/// One round trip: the ID token must verify with the keys the validator already has.
impl Exchange for CodeExchange {
    type Output = LoginTokens;

    fn request(&self) -> Request {
        self.call.request()
    }

    fn handle(self, resp: Response, now: UnixTime) -> Result<LoginTokens, Error> {
        if matches!(self.policy, IdTokenPolicy::Unset) {
            return Err(Error::NoIdTokenValidator);
        }
        let tokens = self.call.token_set(&resp, now)?;
        self.validate(tokens, now)
    }
}

/// As a flow: token request, then (if the ID token names an unknown key and the validator's
/// policy allows) one key-set refetch, then validation. Tokens are released only once valid.
impl Flow for CodeExchange {
    type Output = LoginTokens;

    fn poll(&mut self) -> Result<Step<LoginTokens>, Error> {
        if let Some(result) = self.flow.result.take() {
            self.flow.finished = true;
            return result.map(Step::Done);
        }
        if self.flow.finished {
            return Err(Error::FlowState("polled after completion"));
        }
        if let Some(r) = &self.flow.key_request {
            return Ok(Step::Send(r.clone()));
        }
        if matches!(self.policy, IdTokenPolicy::Unset) {
            self.flow.finished = true;
            return Err(Error::NoIdTokenValidator);
        }
        if !self.flow.sent {
            self.flow.sent = true;
            return Ok(Step::Send(self.call.request()));
        }
        Err(Error::FlowState("waiting for a response"))
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        if self.flow.key_request.take().is_some() {
            if let IdTokenPolicy::Validator(v) = &self.policy {
                v.accept_key_refresh(response, now)?;
            }
            let tokens = self
                .flow
                .tokens
                .take()
                .ok_or(Error::FlowState("tokens lost"))?;
            self.flow.result = Some(self.validate(tokens, now));
            return Ok(());
        }
        if !self.flow.sent || self.flow.tokens.is_some() || self.flow.result.is_some() {
            return Err(Error::FlowState("response without request"));
        }
        let tokens = self.call.token_set(&response, now)?;
        match self.validate(tokens.clone(), now) {
            Err(Error::UnknownKey(k)) => {
                let refresh = match &self.policy {
                    IdTokenPolicy::Validator(v) => v.key_refresh_request(now),
                    _ => None,
                };
                match refresh {
                    Some(req) => {
                        self.flow.tokens = Some(tokens);
                        self.flow.key_request = Some(req);
                    }
                    None => self.flow.result = Some(Err(Error::UnknownKey(k))),
                }
            }
            other => self.flow.result = Some(other),
        }
        Ok(())
    }
}
