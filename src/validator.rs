//! Token validation for relying parties and resource servers: a caller-owned, serializable JWKS
//! cache with a pure refetch policy, and [`TokenValidator`] for ID tokens (OpenID Connect Core
//! §3.1.3.7), access tokens (RFC 9068 §4 with Keycloak's `typ: JWT` profile) and back-channel
//! logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.6).

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::claim_rules::ClaimRules;
use crate::client::Client;
use crate::error::{sanitize, Error};
use crate::flow::{Ending, Exchange, Flow, Step};
use crate::http::{Method, Request, Response};
use crate::jws::{Algorithm, JwkSet, JwsVerifier, VerificationKey};
use crate::jwt::{
    check_id_token_claims, check_typ, decode_unverified, Claims, IdTokenExpectations,
    IdTokenValidator, KeyFetchGuard, KeyStep, UnverifiedJwt,
};
use crate::secret::{AccessToken, ClientSecret, IdToken};
use crate::single_flight::{Claim, Gate, Waiter};
use crate::time::UnixTime;

/// When the key set may be fetched again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwksPolicy {
    /// Refetch when the keys are older than this (seconds).
    pub max_age_secs: u64,
    /// Minimum time between two fetches (seconds), whatever the reason: a flood of tokens with
    /// unknown `kid`s cannot turn into a flood of requests to Keycloak.
    pub cooldown_secs: u64,
}

impl Default for JwksPolicy {
    fn default() -> Self {
        JwksPolicy {
            max_age_secs: 3600,
            cooldown_secs: 30,
        }
    }
}

/// Why a refetch is considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefetchReason {
    /// The cached keys are older than `max_age_secs` (or there are none).
    Stale,
    /// A token names a key the cache does not have.
    UnknownKey,
    /// An ID token from the token endpoint names a key the cache does not have: as
    /// [`UnknownKey`](Self::UnknownKey), and it may spend the refetch a login was owed
    /// ([`JwksCache::first_use_refetch`]). Only the token endpoint's ID tokens (the back
    /// channel) use it: a token anyone can send never spends that refetch.
    UnknownIdTokenKey,
}

/// The issuer's keys with their fetch history. Plain data: store it, share it, restore it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwksCache {
    /// The keys.
    pub keys: JwkSet,
    /// When the keys were last fetched successfully.
    pub fetched_at: Option<UnixTime>,
    /// When a fetch was last started (successful or not).
    pub last_attempt: Option<UnixTime>,
    /// The refetch policy.
    pub policy: JwksPolicy,
    /// One refetch for an unknown key is owed despite the cooldown: a login went ahead while
    /// fresh keys fit none of the allowed algorithms, because Keycloak creates a realm's key for
    /// an algorithm only when it first signs with it.
    #[serde(default)]
    pub first_use_refetch: bool,
}

impl JwksCache {
    /// An empty cache with a policy.
    pub fn new(policy: JwksPolicy) -> Self {
        JwksCache {
            policy,
            ..Default::default()
        }
    }

    /// Whether the keys are missing or older than the policy's maximum age.
    pub fn is_stale(&self, now: UnixTime) -> bool {
        self.fetched_at
            .is_none_or(|t| now.0 >= t.0.saturating_add(self.policy.max_age_secs))
    }

    /// Whether the policy allows a fetch now for `reason`. Pure.
    pub fn should_refetch(&self, now: UnixTime, reason: RefetchReason) -> bool {
        let cooled = self
            .last_attempt
            .is_none_or(|t| now.0 >= t.0.saturating_add(self.policy.cooldown_secs));
        match reason {
            RefetchReason::Stale => cooled && self.is_stale(now),
            RefetchReason::UnknownKey => cooled,
            RefetchReason::UnknownIdTokenKey => cooled || self.first_use_refetch,
        }
    }

    /// Records that a fetch starts now.
    pub fn begin_fetch(&mut self, now: UnixTime) {
        self.last_attempt = Some(now);
    }

    /// Records that a fetch for `reason` starts now. Only the ID token's own refetch spends an
    /// owed first-use refetch: another token's fetch may come before Keycloak has created the
    /// key the login is waiting for.
    fn start_fetch(&mut self, now: UnixTime, reason: RefetchReason) {
        self.begin_fetch(now);
        if reason == RefetchReason::UnknownIdTokenKey {
            self.first_use_refetch = false;
        }
    }

    /// Installs freshly fetched keys.
    pub fn update(&mut self, keys: JwkSet, now: UnixTime) {
        self.keys = keys;
        self.fetched_at = Some(now);
    }
}

/// `GET jwks_uri` (OpenID Connect Discovery §3 `jwks_uri`).
#[derive(Clone, Debug)]
pub struct JwksRequest {
    url: url::Url,
    limit: usize,
}

impl JwksRequest {
    /// For a `jwks_uri`.
    pub fn new(url: url::Url, limit: usize) -> Self {
        JwksRequest { url, limit }
    }
}

impl Exchange for JwksRequest {
    type Output = JwkSet;
    fn request(&self) -> Request {
        Request::new(Method::Get, self.url.clone()).header("accept", "application/json")
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<JwkSet, Error> {
        crate::response::expect_status("JWKS", &resp, &[200], self.limit)?;
        match resp.media_type().as_deref() {
            Some("application/json") | Some("application/jwk-set+json") => {}
            got => {
                return Err(Error::WrongContentType {
                    what: "JWKS",
                    expected: "application/json",
                    got: got.map(str::to_owned),
                })
            }
        }
        JwkSet::parse(&resp.body)
    }
}

/// Validates tokens of one issuer: signature through a [`JwsVerifier`], keys from a
/// [`JwksCache`] it keeps behind a lock, claims by token kind.
pub struct TokenValidator {
    issuer: String,
    client_id: String,
    jwks_uri: url::Url,
    limit: usize,
    allowed: Vec<Algorithm>,
    hs_secret: Option<ClientSecret>,
    rules: ClaimRules,
    access_audience: String,
    verifier: Arc<dyn JwsVerifier>,
    cache: Mutex<JwksCache>,
    /// One key-set fetch at a time, however many flows need it.
    fetching: Gate,
}

/// What a flow does about the key set now.
pub(crate) enum KeyFetch {
    /// Use the keys that are loaded.
    Ready,
    /// Fetch them (this flow holds the one fetch).
    Fetch(JwksRequest, Claim),
    /// Another flow is fetching them: wait, then look again.
    Wait(Waiter),
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("allowed", &self.allowed)
            .field("access_audience", &self.access_audience)
            .finish()
    }
}

/// The kind of token a validation is for (RFC 8725 §3.12: mutually exclusive rules).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// An access token presented to a resource server.
    Access,
    /// A DPoP-bound access token presented with its proof (RFC 9449 §7).
    BoundAccess,
    /// A back-channel logout token.
    Logout,
}

fn lock(m: &Mutex<JwksCache>) -> std::sync::MutexGuard<'_, JwksCache> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `events` member a logout token must carry.
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

impl TokenValidator {
    /// A validator for the client's issuer, allowing RS256 only, with the configuration's
    /// [`ClaimRules`] (leeway, `iat` age, `typ`); access tokens must name the client id in `aud`
    /// (change with [`access_token_audience`](Self::access_token_audience)).
    pub fn new(client: &Client, verifier: Arc<dyn JwsVerifier>) -> Result<TokenValidator, Error> {
        let jwks_uri = client
            .provider
            .jwks_uri
            .as_ref()
            .ok_or(Error::MissingEndpoint("jwks_uri"))?;
        Ok(TokenValidator {
            issuer: client.config.issuer.clone(),
            client_id: client.config.client_id.clone(),
            jwks_uri: client.config.to_backchannel(jwks_uri),
            limit: client.config.max_body_bytes,
            allowed: vec![Algorithm::RS256],
            hs_secret: None,
            rules: client.config.claim_rules,
            access_audience: client.config.client_id.clone(),
            verifier,
            cache: Mutex::new(JwksCache::default()),
            fetching: Gate::new("key set"),
        })
    }

    /// Replaces the algorithm allow-list (HS* entries are ignored here: see
    /// [`allow_hmac_with_client_secret`](Self::allow_hmac_with_client_secret)).
    pub fn allow_algorithms(mut self, algs: &[Algorithm]) -> Self {
        self.allowed = algs.iter().copied().filter(|a| !a.is_symmetric()).collect();
        self
    }

    /// Opts in to HS256/384/512 keyed with the client secret (OpenID Connect Core §10.1).
    /// Refused for public clients.
    pub fn allow_hmac_with_client_secret(
        mut self,
        secret: &ClientSecret,
        algs: &[Algorithm],
    ) -> Self {
        if !secret.secret().is_empty() {
            self.hs_secret = Some(secret.clone());
            self.allowed
                .extend(algs.iter().copied().filter(|a| a.is_symmetric()));
        }
        self
    }

    /// The audience access tokens must carry (a resource server's client id).
    pub fn access_token_audience(mut self, aud: &str) -> Self {
        self.access_audience = aud.to_string();
        self
    }

    /// Starts from an existing cache (e.g. restored from storage) and policy.
    pub fn with_cache(self, cache: JwksCache) -> Self {
        *lock(&self.cache) = cache;
        self
    }

    /// A copy of the current key cache (to persist or share).
    pub fn cache(&self) -> JwksCache {
        lock(&self.cache).clone()
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key-set request if the policy allows a fetch now for `reason`; records the attempt.
    pub fn begin_key_fetch(&self, now: UnixTime, reason: RefetchReason) -> Option<JwksRequest> {
        let mut c = lock(&self.cache);
        if c.should_refetch(now, reason) {
            c.start_fetch(now, reason);
            Some(JwksRequest::new(self.jwks_uri.clone(), self.limit))
        } else {
            None
        }
    }

    /// Whether loaded keys (however old) can serve: the fallback when a refetch fails.
    pub(crate) fn has_usable_keys(&self) -> bool {
        self.has_usable_key(&lock(&self.cache))
    }

    /// Whether the last key fetch failed (no key set installed since it started).
    fn last_key_fetch_failed(&self) -> bool {
        let c = lock(&self.cache);
        match (c.last_attempt, c.fetched_at) {
            (Some(tried), Some(got)) => got < tried,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Whether a key fits one of the allowed algorithms.
    fn has_usable_key(&self, c: &JwksCache) -> bool {
        c.keys
            .keys
            .iter()
            .any(|k| self.allowed.iter().any(|a| crate::jws::key_fits(k, *a)))
    }

    /// The single-flight form of [`begin_key_fetch`](Self::begin_key_fetch): loaded keys serve
    /// while one flow refetches stale ones; without keys (or for an unknown `kid`) a flow
    /// waits for the fetch already running instead of failing during it.
    pub(crate) fn claim_key_fetch(&self, now: UnixTime, reason: RefetchReason) -> KeyFetch {
        if self.allowed.iter().all(|a| a.is_symmetric()) {
            return KeyFetch::Ready;
        }
        let mut c = lock(&self.cache);
        let usable = self.has_usable_key(&c);
        if reason == RefetchReason::Stale && usable && !c.is_stale(now) {
            return KeyFetch::Ready;
        }
        let claim = match self.fetching.try_claim() {
            Err(_) if usable && reason == RefetchReason::Stale => return KeyFetch::Ready,
            Err(w) => return KeyFetch::Wait(w),
            Ok(claim) => claim,
        };
        if c.should_refetch(now, reason) {
            c.start_fetch(now, reason);
            return KeyFetch::Fetch(JwksRequest::new(self.jwks_uri.clone(), self.limit), claim);
        }
        // Not allowed to fetch now (cooldown): release the claim after the cache lock, so no
        // waiter is woken while it is held.
        drop(c);
        drop(claim);
        KeyFetch::Ready
    }

    /// Installs a fetched key set (unless a newer one is already installed: of two fetches
    /// that overlap, the later answer wins).
    pub fn install_keys(&self, keys: JwkSet, now: UnixTime) {
        let mut c = lock(&self.cache);
        if c.fetched_at.is_none_or(|t| t <= now) {
            c.update(keys, now);
        }
    }

    /// Checks structure, algorithm and signature; returns the decoded token.
    pub fn verify_signature(&self, token: &str) -> Result<UnverifiedJwt, Error> {
        self.verify_decoded(decode_base64url_jwt(token)?)
    }

    /// [`verify_signature`](Self::verify_signature) for a token that must come from this
    /// issuer: `iss` is checked first, so a token of another issuer fails on `iss`, never on
    /// its key, and never costs a key lookup or a key-set refetch.
    fn verify_from_issuer(&self, token: &str) -> Result<UnverifiedJwt, Error> {
        let jwt = decode_base64url_jwt(token)?;
        self.check_iss(&jwt.claims)?;
        self.verify_decoded(jwt)
    }

    /// The checks that need no key: a JWT of this issuer under an allowed algorithm.
    fn precheck(&self, token: &str) -> Result<(), Error> {
        let jwt = decode_base64url_jwt(token)?;
        self.check_iss(&jwt.claims)?;
        self.allowed_alg(&jwt).map(|_| ())
    }

    fn allowed_alg(&self, jwt: &UnverifiedJwt) -> Result<Algorithm, Error> {
        let alg_name = jwt.header.get("alg").and_then(|v| v.as_str()).unwrap_or("");
        let alg = Algorithm::from_name(alg_name)
            .ok_or_else(|| Error::DisallowedAlgorithm(sanitize(alg_name)))?;
        if !self.allowed.contains(&alg) {
            return Err(Error::DisallowedAlgorithm(alg.name().into()));
        }
        Ok(alg)
    }

    fn verify_decoded(&self, jwt: UnverifiedJwt) -> Result<UnverifiedJwt, Error> {
        let alg = self.allowed_alg(&jwt)?;
        if jwt.header.contains_key("crit") {
            return Err(Error::TokenValidation("unsupported `crit` header".into()));
        }
        // `jku`, `x5u`, `jwk` and `x5c` are never consulted: keys come from the issuer's JWKS only.
        let kid = match jwt.header.get("kid") {
            None => None,
            Some(serde_json::Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(Error::TokenValidation("`kid` is not a string".into())),
        };
        let result = if alg.is_symmetric() {
            let secret = self
                .hs_secret
                .as_ref()
                .ok_or_else(|| Error::DisallowedAlgorithm(alg.name().into()))?;
            self.verifier.verify(
                alg,
                VerificationKey::Secret(secret.secret().as_bytes()),
                jwt.signing_input.as_bytes(),
                &jwt.signature,
            )
        } else {
            // Select under the lock, verify outside it: verifications run in parallel.
            let key = lock(&self.cache).keys.select(alg, kid)?.clone();
            self.verifier.verify(
                alg,
                VerificationKey::Public(&key),
                jwt.signing_input.as_bytes(),
                &jwt.signature,
            )
        };
        result.map_err(|r| Error::InvalidSignature(sanitize(&r)))?;
        Ok(jwt)
    }

    fn check_times(&self, c: &Claims, now: UnixTime, require_exp: bool) -> Result<(), Error> {
        let l = self.rules.leeway_secs;
        match c.numeric_date("exp")? {
            Some(exp) if now.0 >= exp.saturating_add(l) => {
                return Err(Error::TokenValidation("token expired (`exp`)".into()))
            }
            None if require_exp => return Err(Error::TokenValidation("`exp` is missing".into())),
            _ => {}
        }
        if let Some(nbf) = c.numeric_date("nbf")? {
            if nbf > now.0.saturating_add(l) {
                return Err(Error::TokenValidation("token not yet valid (`nbf`)".into()));
            }
        }
        match c.numeric_date("iat")? {
            Some(iat) if iat > now.0.saturating_add(l) => {
                Err(Error::TokenValidation("`iat` is in the future".into()))
            }
            Some(_) => Ok(()),
            None => Err(Error::TokenValidation("`iat` is missing".into())),
        }
    }

    fn check_iss(&self, c: &Claims) -> Result<(), Error> {
        match c.iss() {
            Some(i) if i == self.issuer => Ok(()),
            Some(i) => Err(Error::TokenValidation(format!(
                "`iss` is `{}`, expected `{}`",
                sanitize(i),
                self.issuer
            ))),
            None => Err(Error::TokenValidation("`iss` is missing".into())),
        }
    }

    /// Validates a bearer access token for a resource server (RFC 9068 §4, Keycloak profile:
    /// header `typ` `JWT` or `at+jwt`; Keycloak's payload `typ` must be `Bearer` when present).
    /// A token bound to a key (`cnf`, RFC 9449 §6) is refused: it is valid only with its proof
    /// ([`validate_bound_access_token`](Self::validate_bound_access_token)).
    pub fn validate_access_token(&self, token: &str, now: UnixTime) -> Result<Claims, Error> {
        let c = self.validate_any_access_token(token, now)?;
        if c.get("cnf").is_some() {
            return Err(Error::TokenValidation(
                "a DPoP-bound token (`cnf`) is not a bearer token".into(),
            ));
        }
        check_typ(&c, "Bearer", self.rules.require_typ)?;
        Ok(c)
    }

    /// Validates a DPoP-bound access token (RFC 9449 §6.1): as a bearer token, but it must
    /// carry `cnf.jkt` (a non-empty string) and Keycloak's payload `typ` `DPoP` when present.
    /// The caller checks the request's proof against that `jkt`
    /// ([`dpop_proof::verify_proof`](crate::dpop_proof::verify_proof)).
    pub fn validate_bound_access_token(&self, token: &str, now: UnixTime) -> Result<Claims, Error> {
        let c = self.validate_any_access_token(token, now)?;
        match c.get("cnf").and_then(|v| v.get("jkt")) {
            Some(serde_json::Value::String(j)) if !j.is_empty() => {}
            _ => {
                return Err(Error::TokenValidation(
                    "the token is not DPoP-bound (no `cnf.jkt`)".into(),
                ))
            }
        }
        check_typ(&c, "DPoP", self.rules.require_typ)?;
        Ok(c)
    }

    fn validate_any_access_token(&self, token: &str, now: UnixTime) -> Result<Claims, Error> {
        let jwt = self.verify_from_issuer(token)?;
        match jwt.header.get("typ").and_then(|v| v.as_str()) {
            None | Some("JWT") | Some("at+jwt") | Some("application/at+jwt") => {}
            Some(t) => {
                return Err(Error::TokenValidation(format!(
                    "header `typ` `{}` is not an access token",
                    sanitize(t)
                )))
            }
        }
        let c = jwt.claims;
        self.check_iss(&c)?;
        self.check_times(&c, now, true)?;
        if !c.aud().contains(&self.access_audience.as_str()) {
            return Err(Error::TokenValidation(format!(
                "`aud` does not contain `{}`",
                self.access_audience
            )));
        }
        if c.sub().is_none_or(str::is_empty) {
            return Err(Error::TokenValidation("`sub` is missing".into()));
        }
        Ok(c)
    }

    /// Validates a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6).
    pub fn validate_logout_token(&self, token: &str, now: UnixTime) -> Result<Claims, Error> {
        let jwt = self.verify_from_issuer(token)?;
        if let Some(t) = jwt.header.get("typ").and_then(|v| v.as_str()) {
            if t != "logout+jwt" && t != "JWT" && t != "Logout" {
                return Err(Error::TokenValidation(format!(
                    "header `typ` `{}` is not a logout token",
                    sanitize(t)
                )));
            }
        }
        let c = jwt.claims;
        check_typ(&c, "Logout", self.rules.require_typ)?;
        self.check_iss(&c)?;
        if !c.aud().contains(&self.client_id.as_str()) {
            return Err(Error::TokenValidation(format!(
                "`aud` does not contain the client id `{}`",
                self.client_id
            )));
        }
        self.check_times(&c, now, false)?;
        // §2.6 item 4: `iat` is validated as for ID tokens (OpenID Connect Core §3.1.3.7
        // item 10), so an old token cannot be replayed once its `jti` is forgotten.
        if let Some(iat) = c.numeric_date("iat")? {
            let limit = self
                .rules
                .max_iat_age_secs
                .saturating_add(self.rules.leeway_secs);
            if now.0.saturating_sub(iat) > limit {
                return Err(Error::TokenValidation(format!(
                    "`iat` is too old (more than {limit} s ago)"
                )));
            }
        }
        if logout_identifier(&c, "jti")?.is_none() {
            return Err(Error::TokenValidation("`jti` is missing".into()));
        }
        let has_event = c
            .get("events")
            .and_then(|e| e.as_object())
            .is_some_and(|e| {
                e.get(BACKCHANNEL_LOGOUT_EVENT)
                    .is_some_and(|v| v.is_object())
            });
        if !has_event {
            return Err(Error::TokenValidation(
                "`events` lacks the back-channel logout event".into(),
            ));
        }
        let sid = logout_identifier(&c, "sid")?;
        let sub = logout_identifier(&c, "sub")?;
        if sid.is_none() && sub.is_none() {
            return Err(Error::TokenValidation(
                "neither `sub` nor `sid` is present".into(),
            ));
        }
        if c.get("nonce").is_some() {
            return Err(Error::TokenValidation(
                "a logout token must not contain `nonce`".into(),
            ));
        }
        Ok(c)
    }

    /// A flow that validates a token, fetching the key set first when it is stale and once more
    /// on an unknown key, both subject to the cache's cooldown and shared with concurrent flows
    /// (one fetch; the others wait for it).
    pub fn validate_flow(&self, token: &str, kind: TokenKind, now: UnixTime) -> ValidateFlow<'_> {
        ValidateFlow::new(Holder::Borrowed(self), token, kind, now)
    }

    /// [`validate_flow`](Self::validate_flow) for a shared validator: the flow owns its handle.
    pub fn validate_flow_shared(
        self: &Arc<Self>,
        token: &str,
        kind: TokenKind,
        now: UnixTime,
    ) -> ValidateFlow<'static> {
        ValidateFlow::new(Holder::Shared(self.clone()), token, kind, now)
    }
}

/// A compact JWS of base64url segments, decoded (not verified).
fn decode_base64url_jwt(token: &str) -> Result<UnverifiedJwt, Error> {
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return Err(Error::TokenValidation(
            "token contains characters outside base64url".into(),
        ));
    }
    decode_unverified(token)
}

/// A logout token's `jti`, `sid` or `sub`: absent, or a non-empty string (§2.4).
fn logout_identifier<'c>(c: &'c Claims, name: &str) -> Result<Option<&'c str>, Error> {
    match c.get(name) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(Error::TokenValidation(format!(
            "`{name}` is not a non-empty string"
        ))),
    }
}

fn at_hash(alg: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match alg {
        Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::HS256 => {
            sha2::Sha256::digest(access_token.as_bytes()).to_vec()
        }
        Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 | Algorithm::HS384 => {
            sha2::Sha384::digest(access_token.as_bytes()).to_vec()
        }
        Algorithm::RS512 | Algorithm::PS512 | Algorithm::HS512 | Algorithm::EdDSA => {
            sha2::Sha512::digest(access_token.as_bytes()).to_vec()
        }
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

impl IdTokenValidator for TokenValidator {
    fn validate_id_token(
        &self,
        id_token: &IdToken,
        access_token: Option<&AccessToken>,
        expect: &IdTokenExpectations,
        now: UnixTime,
    ) -> Result<Claims, Error> {
        let jwt = self.verify_signature(id_token.secret())?;
        let c = jwt.claims;
        // The expectations carry the rules (from the configuration); nothing here overrides them.
        check_id_token_claims(&c, expect, now)?;
        if let (Some(h), Some(at)) = (c.get("at_hash"), access_token) {
            let alg =
                Algorithm::from_name(jwt.header.get("alg").and_then(|v| v.as_str()).unwrap_or(""))
                    .ok_or_else(|| Error::DisallowedAlgorithm("?".into()))?;
            let want = at_hash(alg, at.secret());
            if h.as_str()
                .is_none_or(|h| !crate::secret::constant_time_eq(h.as_bytes(), want.as_bytes()))
            {
                return Err(Error::TokenValidation(
                    "`at_hash` does not match the access token".into(),
                ));
            }
        }
        Ok(c)
    }

    fn prepare(&self, now: UnixTime) -> Result<Option<Request>, Error> {
        if self.allowed.is_empty() {
            return Err(Error::Config("no signature algorithm is allowed".into()));
        }
        if self.allowed.iter().all(|a| a.is_symmetric()) {
            return Ok(None);
        }
        let mut c = lock(&self.cache);
        // Usable: a key that fits one of the allowed algorithms (not an `enc` key, say).
        let usable = self.has_usable_key(&c);
        if usable && !c.is_stale(now) {
            return Ok(None);
        }
        if !usable && !c.keys.keys.is_empty() && !c.is_stale(now) {
            // Fresh keys, none fitting: Keycloak creates the key when it first signs with the
            // algorithm, so the login goes ahead and may refetch once for the new key.
            c.first_use_refetch = true;
            return Ok(None);
        }
        if c.should_refetch(now, RefetchReason::Stale) {
            c.begin_fetch(now);
            return Ok(Some(
                JwksRequest::new(self.jwks_uri.clone(), self.limit).request(),
            ));
        }
        if !usable {
            // No usable key and no fetch allowed yet: refuse before the code is spent.
            return Err(Error::KeysUnavailable);
        }
        Ok(None)
    }

    fn key_refresh_request(&self, now: UnixTime) -> Option<Request> {
        self.begin_key_fetch(now, RefetchReason::UnknownIdTokenKey)
            .map(|r| r.request())
    }

    fn prepare_keys(&self, now: UnixTime) -> Result<KeyStep, Error> {
        if self.allowed.is_empty() {
            return Err(Error::Config("no signature algorithm is allowed".into()));
        }
        {
            let mut c = lock(&self.cache);
            if !self.has_usable_key(&c) && !c.keys.keys.is_empty() && !c.is_stale(now) {
                // Fresh keys, none fitting: Keycloak creates the key when it first signs with
                // the algorithm, so the login goes ahead and may refetch once for the new key.
                c.first_use_refetch = true;
                return Ok(KeyStep::Ready);
            }
        }
        match self.claim_key_fetch(now, RefetchReason::Stale) {
            KeyFetch::Fetch(r, claim) => Ok(KeyStep::Fetch(
                r.request(),
                KeyFetchGuard {
                    _claim: Some(claim),
                },
            )),
            KeyFetch::Wait(w) => Ok(KeyStep::Wait(w)),
            KeyFetch::Ready if self.allowed.iter().all(|a| a.is_symmetric()) => Ok(KeyStep::Ready),
            KeyFetch::Ready if self.has_usable_keys() => Ok(KeyStep::Ready),
            // No usable key and no fetch allowed yet: refuse before the code is spent.
            KeyFetch::Ready => Err(Error::KeysUnavailable),
        }
    }

    fn refresh_keys(&self, now: UnixTime) -> KeyStep {
        match self.claim_key_fetch(now, RefetchReason::UnknownIdTokenKey) {
            KeyFetch::Fetch(r, claim) => KeyStep::Fetch(
                r.request(),
                KeyFetchGuard {
                    _claim: Some(claim),
                },
            ),
            KeyFetch::Wait(w) => KeyStep::Wait(w),
            KeyFetch::Ready => KeyStep::Ready,
        }
    }

    fn accept_key_refresh(&self, response: Response, now: UnixTime) -> Result<(), Error> {
        let keys = JwksRequest::new(self.jwks_uri.clone(), self.limit).handle(response, now)?;
        self.install_keys(keys, now);
        Ok(())
    }
}

enum Holder<'a> {
    Borrowed(&'a TokenValidator),
    Shared(Arc<TokenValidator>),
}

impl std::ops::Deref for Holder<'_> {
    type Target = TokenValidator;
    fn deref(&self) -> &TokenValidator {
        match self {
            Holder::Borrowed(v) => v,
            Holder::Shared(v) => v,
        }
    }
}

/// See [`TokenValidator::validate_flow`].
pub struct ValidateFlow<'a> {
    v: Holder<'a>,
    token: String,
    kind: TokenKind,
    now: UnixTime,
    pending: Option<(JwksRequest, Claim)>,
    awaiting: bool,
    warmed: bool,
    refetched: bool,
    ending: Ending,
}

impl<'a> ValidateFlow<'a> {
    fn new(v: Holder<'a>, token: &str, kind: TokenKind, now: UnixTime) -> Self {
        ValidateFlow {
            v,
            token: token.to_string(),
            kind,
            now,
            pending: None,
            awaiting: false,
            warmed: false,
            refetched: false,
            ending: Ending::default(),
        }
    }

    fn fetch(&mut self, r: JwksRequest, claim: Claim) -> Step<Claims> {
        self.awaiting = true;
        let req = r.request();
        self.pending = Some((r, claim));
        Step::Send(req)
    }

    fn next(&mut self) -> Result<Step<Claims>, Error> {
        if !self.warmed {
            // A token that could never validate is refused before any key work: it fetches
            // nothing, and an outage cannot make it look like a good token left unchecked.
            self.v.precheck(&self.token)?;
            match self.v.claim_key_fetch(self.now, RefetchReason::Stale) {
                KeyFetch::Ready => self.warmed = true,
                KeyFetch::Fetch(r, claim) => {
                    self.warmed = true;
                    // The fresh keys count as this flow's one refetch.
                    self.refetched = true;
                    return Ok(self.fetch(r, claim));
                }
                KeyFetch::Wait(w) => return Ok(Step::Wait(w)),
            }
        }
        let result = match self.kind {
            TokenKind::Access => self.v.validate_access_token(&self.token, self.now),
            TokenKind::BoundAccess => self.v.validate_bound_access_token(&self.token, self.now),
            TokenKind::Logout => self.v.validate_logout_token(&self.token, self.now),
        };
        match result {
            Err(Error::UnknownKey(k)) if !self.refetched => {
                self.refetched = true;
                match self.v.claim_key_fetch(self.now, RefetchReason::UnknownKey) {
                    KeyFetch::Fetch(r, claim) => Ok(self.fetch(r, claim)),
                    // Someone else is refetching: their keys are this flow's refetch.
                    KeyFetch::Wait(w) => Ok(Step::Wait(w)),
                    // No refetch now: after a failed fetch the keys are unknown, not the token's.
                    KeyFetch::Ready if self.v.last_key_fetch_failed() => {
                        Err(Error::KeysUnavailable)
                    }
                    KeyFetch::Ready => Err(Error::UnknownKey(k)),
                }
            }
            Ok(c) => {
                self.ending.finish();
                Ok(Step::Done(c))
            }
            Err(e) => Err(e),
        }
    }
}

impl Flow for ValidateFlow<'_> {
    type Output = Claims;

    fn poll(&mut self) -> Result<Step<Claims>, Error> {
        self.ending.check()?;
        if self.awaiting {
            return Err(Error::FlowState(
                "awaiting the response to the last request",
            ));
        }
        let step = self.next();
        self.ending.record(step)
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        // After an error nothing is awaited: the state alone answers.
        if !self.awaiting {
            return Err(Error::FlowState("response without request"));
        }
        self.awaiting = false;
        // Releasing the claim wakes the flows waiting for the keys.
        let (r, claim) = self
            .pending
            .take()
            .ok_or(Error::FlowState("response without request"))?;
        match r.handle(response, now) {
            Ok(keys) => {
                self.v.install_keys(keys, now);
                drop(claim);
                Ok(())
            }
            Err(e) => {
                claim.fail(e.clone());
                self.ending.record(Err(e))
            }
        }
    }

    fn handle_timeout(&mut self, now: UnixTime) {
        self.now = now;
    }
}
