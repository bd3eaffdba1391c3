//! The authorization response (RFC 6749 §4.1.2, RFC 9207) and the code exchange (§4.1.3)
//! with PKCE (RFC 7636 §4.5) and ID-token validation (OpenID Connect Core §3.1.3.7).

use std::sync::Arc;

use crate::config::ClientConfig;
use crate::discovery::ProviderMetadata;
use crate::error::{Error, OAuthError};
use crate::flow::{Ending, Flow, Step};
use crate::http::{Request, Response};
use crate::jwt::{
    check_id_token_unsigned, Claims, IdTokenExpectations, IdTokenValidator, KeyFetchGuard, KeyStep,
};
use crate::login::PendingLogin;
use crate::secret::{AccessToken, AuthorizationCode, IdToken};
use crate::time::UnixTime;
use crate::token::{TokenCall, TokenSet};

/// The parameters of an authorization response. `Debug` redacts `state` (and the code is a
/// redacting newtype).
#[derive(Clone, Default)]
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

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code)
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("iss", &self.iss)
            .field("session_state", &self.session_state)
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .field("error_uri", &self.error_uri)
            .finish()
    }
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

/// How the ID token of a code exchange is validated: a required argument of
/// [`Client::callback`](crate::Client::callback), so the code can never be sent before validation is possible.
#[derive(Clone)]
pub enum IdTokenPolicy {
    /// Signature and claims, with a validator (e.g. [`TokenValidator`](crate::TokenValidator)).
    /// If it has no keys yet, the flow fetches them *before* sending the code.
    Verify(Arc<dyn IdTokenValidator>),
    /// **Reduced assurance.** Every claim (`iss`, `aud`, `azp`, `exp`, `iat`, `nonce`, `sub`,
    /// `auth_time`, `acr`, `typ`) but not the signature, relying on the TLS-protected back channel
    /// to the token endpoint (OpenID Connect Core §3.1.3.7 item 6). Use only when the token
    /// endpoint is reached over TLS or loopback.
    DangerSkipSignature,
}

impl std::fmt::Debug for IdTokenPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdTokenPolicy::Verify(_) => "Verify",
            IdTokenPolicy::DangerSkipSignature => "DangerSkipSignature",
        })
    }
}

impl IdTokenPolicy {
    /// Checks `id_token`'s signature (unless skipped) and claims against `expect`.
    pub(crate) fn check(
        &self,
        id_token: &IdToken,
        access_token: Option<&AccessToken>,
        expect: &IdTokenExpectations,
        now: UnixTime,
    ) -> Result<Claims, Error> {
        match self {
            IdTokenPolicy::Verify(v) => v.validate_id_token(id_token, access_token, expect, now),
            IdTokenPolicy::DangerSkipSignature => {
                check_id_token_unsigned(id_token.secret(), expect, now)
            }
        }
    }
}

/// Checks an authorization response against its pending login and returns the code exchange.
pub(crate) fn accept_callback(
    config: &ClientConfig,
    provider: &ProviderMetadata,
    pending: PendingLogin,
    params: &CallbackParams,
    policy: IdTokenPolicy,
    now: UnixTime,
) -> Result<CodeExchange, Error> {
    // 1. state first: an unrelated or forged response is rejected before anything else.
    match &params.state {
        Some(s) if pending.state.ct_eq(s) => {}
        _ => return Err(Error::StateMismatch),
    }
    // 2. RFC 9207 issuer identification.
    let issuer = &config.issuer;
    match &params.iss {
        Some(iss) if iss == issuer => {}
        Some(iss) => {
            return Err(Error::CallbackIssuer(format!(
                "`iss` is `{}`, expected `{issuer}` (mix-up attack?)",
                crate::error::sanitize(iss)
            )))
        }
        None if provider.authorization_response_iss_parameter_supported => {
            return Err(Error::CallbackIssuer(
                "`iss` is missing although the server advertises it".into(),
            ))
        }
        None => {}
    }
    // 3. Errors reported by the authorization server.
    if let Some(error) = &params.error {
        return Err(Error::Authorization(Box::new(OAuthError {
            error: error.clone(),
            error_description: params.error_description.clone(),
            error_uri: params.error_uri.clone(),
            ..Default::default()
        })));
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
        config,
        config.to_backchannel(&provider.token_endpoint),
        "code exchange",
    )
    .field("grant_type", "authorization_code")
    .field("code", code.secret())
    .field("redirect_uri", &pending.redirect_uri)
    .field("code_verifier", pending.code_verifier.secret());
    let expect = IdTokenExpectations {
        nonce: Some(pending.nonce),
        max_age: pending.max_age,
        essential_acr: pending.essential_acr,
        ..IdTokenExpectations::for_client(config)
    };
    Ok(CodeExchange {
        call,
        expect,
        openid: pending
            .scope
            .split_ascii_whitespace()
            .any(|s| s == "openid"),
        policy,
        return_to: pending.return_to,
        now,
        state: ExchangeState::Start,
        outgoing: None,
        ending: Ending::default(),
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

/// The code exchange (RFC 6749 §4.1.3) as a [`Flow`]: fetch the issuer's keys first if the
/// validator has none, then the token request, then (if the ID token names an unknown key and
/// the validator's policy allows) one key-set refetch, then validation. Tokens are released
/// only once valid; the code is sent at most once, and only when validation is possible.
///
/// There is deliberately no one-trip [`Exchange`](crate::Exchange) form, which could spend the
/// code before the keys are there:
///
/// ```compile_fail
/// fn one_trip<E: keycloak_client::Exchange>() {}
/// one_trip::<keycloak_client::CodeExchange>();
/// ```
#[derive(Debug)]
pub struct CodeExchange {
    call: TokenCall,
    expect: IdTokenExpectations,
    openid: bool,
    policy: IdTokenPolicy,
    return_to: Option<String>,
    /// The latest time the flow was told.
    now: UnixTime,
    state: ExchangeState,
    /// A step decided while handling a response, handed out by the next `poll`.
    outgoing: Option<Outgoing>,
    ending: Ending,
}

#[derive(Debug)]
enum Outgoing {
    Send(Request),
    Wait(crate::single_flight::Waiter),
}

#[derive(Debug)]
enum ExchangeState {
    /// Nothing sent yet.
    Start,
    /// The key set was requested before the code.
    KeysBeforeCode(KeyFetchGuard),
    /// Keys are in; the code may be sent.
    ReadyToSend,
    /// The code was sent.
    AwaitingTokens,
    /// The ID token named an unknown key; the key set was requested.
    KeysAfterCode(Box<TokenSet>, KeyFetchGuard),
    /// The ID token named an unknown key; another flow is fetching the key set.
    WaitingForKeys(Box<TokenSet>),
    /// Validated tokens, to hand out.
    Validated(Box<LoginTokens>),
    /// Handed out.
    Done,
}

impl CodeExchange {
    /// What the ID token will be checked against (nonce, `max_age`, `acr`, rules).
    pub fn expectations(&self) -> &IdTokenExpectations {
        &self.expect
    }

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
        let claims = self
            .policy
            .check(&id_token, Some(&tokens.access_token), &self.expect, now)?;
        Ok(LoginTokens {
            tokens,
            id_claims: claims,
            return_to: self.return_to.clone(),
        })
    }

    fn next(&mut self) -> Result<Step<LoginTokens>, Error> {
        match std::mem::replace(&mut self.state, ExchangeState::Done) {
            ExchangeState::Start => {
                if let IdTokenPolicy::Verify(v) = &self.policy {
                    match v.prepare_keys(self.now)? {
                        KeyStep::Ready => {}
                        KeyStep::Fetch(req, guard) => {
                            self.state = ExchangeState::KeysBeforeCode(guard);
                            return Ok(Step::Send(req));
                        }
                        KeyStep::Wait(w) => {
                            // Another login is fetching them: look again afterwards.
                            self.state = ExchangeState::Start;
                            return Ok(Step::Wait(w));
                        }
                    }
                }
                self.state = ExchangeState::AwaitingTokens;
                Ok(Step::Send(self.call.request()))
            }
            ExchangeState::WaitingForKeys(tokens) => {
                // The other flow's refetch counts as this one's: an unknown key now is final.
                let out = self.validate(*tokens, self.now)?;
                self.state = ExchangeState::Validated(Box::new(out));
                self.next()
            }
            ExchangeState::ReadyToSend => {
                self.state = ExchangeState::AwaitingTokens;
                Ok(Step::Send(self.call.request()))
            }
            ExchangeState::Validated(out) => {
                self.ending.finish();
                Ok(Step::Done(*out))
            }
            ExchangeState::Done => Err(Error::FlowState("polled after completion")),
            waiting => {
                self.state = waiting;
                Err(Error::FlowState(
                    "awaiting the response to the last request",
                ))
            }
        }
    }

    fn take_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        match std::mem::replace(&mut self.state, ExchangeState::Done) {
            ExchangeState::KeysBeforeCode(guard) => {
                if let IdTokenPolicy::Verify(v) = &self.policy {
                    // A failed refetch of stale keys falls back to the cached ones; then the
                    // validator must be ready (usable keys, no further fetch), or the code
                    // stays unsent.
                    let fetched = v.accept_key_refresh(response, now);
                    drop(guard);
                    match v.prepare(now) {
                        Ok(None) => {}
                        Ok(Some(_)) | Err(Error::KeysUnavailable) => {
                            fetched?;
                            return Err(Error::KeysUnavailable);
                        }
                        Err(e) => return Err(e),
                    }
                }
                self.state = ExchangeState::ReadyToSend;
            }
            ExchangeState::AwaitingTokens if self.call.nonce_retry(&response) => {
                // RFC 9449 §8: the code goes again, once, with the server's nonce.
                self.state = ExchangeState::ReadyToSend;
            }
            ExchangeState::AwaitingTokens => {
                let tokens = self.call.token_set(&response, now)?;
                match self.validate(tokens.clone(), now) {
                    Err(Error::UnknownKey(k)) => {
                        let refresh = match &self.policy {
                            IdTokenPolicy::Verify(v) => v.refresh_keys(now),
                            IdTokenPolicy::DangerSkipSignature => KeyStep::Ready,
                        };
                        let tokens = Box::new(tokens);
                        match refresh {
                            KeyStep::Ready => return Err(Error::UnknownKey(k)),
                            KeyStep::Fetch(req, guard) => {
                                self.state = ExchangeState::KeysAfterCode(tokens, guard);
                                self.outgoing = Some(Outgoing::Send(req));
                            }
                            KeyStep::Wait(w) => {
                                self.state = ExchangeState::WaitingForKeys(tokens);
                                self.outgoing = Some(Outgoing::Wait(w));
                            }
                        }
                    }
                    other => self.state = ExchangeState::Validated(Box::new(other?)),
                }
            }
            ExchangeState::KeysAfterCode(tokens, guard) => {
                if let IdTokenPolicy::Verify(v) = &self.policy {
                    let fetched = v.accept_key_refresh(response, now);
                    drop(guard);
                    fetched?;
                }
                self.state = ExchangeState::Validated(Box::new(self.validate(*tokens, now)?));
            }
            other => {
                self.state = other;
                return Err(Error::FlowState("response without request"));
            }
        }
        Ok(())
    }
}

impl Flow for CodeExchange {
    type Output = LoginTokens;

    fn poll(&mut self) -> Result<Step<LoginTokens>, Error> {
        self.ending.check()?;
        match self.outgoing.take() {
            Some(Outgoing::Send(req)) => return Ok(Step::Send(req)),
            Some(Outgoing::Wait(w)) => return Ok(Step::Wait(w)),
            None => {}
        }
        let step = self.next();
        match step {
            Err(Error::FlowState(m)) => Err(Error::FlowState(m)),
            other => self.ending.record(other),
        }
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        self.now = now;
        // After an error the state is `Done`: `take_response` answers "without request".
        match self.take_response(response, now) {
            Err(Error::FlowState(m)) => Err(Error::FlowState(m)),
            other => self.ending.record(other),
        }
    }

    fn handle_timeout(&mut self, now: UnixTime) {
        self.now = now;
    }
}
