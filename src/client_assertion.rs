//! JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9): `private_key_jwt`
//! (signed by a [`JwsSigner`]) and `client_secret_jwt` (HMAC with the client secret).
//!
//! Every request gets a fresh assertion: a unique `jti`, `iat` now and a short `exp`, so a
//! retry never replays one. `aud` is the issuer identifier by default (FAPI 2.0 Security
//! Profile §5.3.2.1, RFC 7523bis); older servers may want their token endpoint instead.

use std::sync::Arc;

use rand_core::CryptoRng;

use crate::error::Error;
use crate::jti::Jti;
use crate::jws::Algorithm;
use crate::jws_signer::{compact, Clock, JwsSigner};
use crate::secret::ClientSecret;

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What an assertion's `aud` names.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionAudience {
    /// The issuer identifier (FAPI 2.0; Keycloak accepts it). The default.
    Issuer,
    /// The token endpoint from discovery (RFC 7523 as first published).
    TokenEndpoint,
    /// Exactly this value.
    Exactly(String),
}

#[derive(Clone)]
enum Key {
    Signer(Arc<dyn JwsSigner>),
    Secret(ClientSecret, Algorithm),
}

/// A source of client assertions for one client. Cloning shares the key and the `jti`
/// sequence. `Debug` shows the method, algorithm and key id, never a secret.
#[derive(Clone)]
pub struct ClientAssertion {
    key: Key,
    clock: Arc<dyn Clock>,
    jti: Arc<Jti>,
    lifetime_secs: u64,
    audience: AssertionAudience,
}

impl std::fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kid = match &self.key {
            Key::Signer(s) => s.key_id().map(str::to_string),
            Key::Secret(..) => None,
        };
        f.debug_struct("ClientAssertion")
            .field("method", &self.method())
            .field("alg", &self.algorithm())
            .field("kid", &kid)
            .field("lifetime_secs", &self.lifetime_secs)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl ClientAssertion {
    /// `private_key_jwt`: assertions signed by `signer` (its key registered with the client).
    /// `rng` seeds the `jti` sequence; it is not kept.
    pub fn private_key_jwt<R: CryptoRng + ?Sized>(
        signer: Arc<dyn JwsSigner>,
        clock: Arc<dyn Clock>,
        rng: &mut R,
    ) -> Self {
        Self::with_key(Key::Signer(signer), clock, rng)
    }

    /// `client_secret_jwt`: assertions MACed with the client secret under `alg` (HS256,
    /// HS384 or HS512; Keycloak's default is HS256).
    pub fn client_secret_jwt<R: CryptoRng + ?Sized>(
        secret: ClientSecret,
        alg: Algorithm,
        clock: Arc<dyn Clock>,
        rng: &mut R,
    ) -> Result<Self, Error> {
        if !alg.is_symmetric() {
            return Err(Error::Config(format!(
                "client_secret_jwt needs HS256, HS384 or HS512, not {alg}"
            )));
        }
        Ok(Self::with_key(Key::Secret(secret, alg), clock, rng))
    }

    fn with_key<R: CryptoRng + ?Sized>(key: Key, clock: Arc<dyn Clock>, rng: &mut R) -> Self {
        ClientAssertion {
            key,
            clock,
            jti: Arc::new(Jti::new(rng)),
            lifetime_secs: 60,
            audience: AssertionAudience::Issuer,
        }
    }

    /// How long an assertion is valid (default 60 s; at least 1).
    pub fn lifetime_secs(mut self, secs: u64) -> Self {
        self.lifetime_secs = secs.max(1);
        self
    }

    /// What `aud` names (default: the issuer identifier).
    pub fn audience(mut self, audience: AssertionAudience) -> Self {
        self.audience = audience;
        self
    }

    /// The audience setting.
    pub fn audience_setting(&self) -> &AssertionAudience {
        &self.audience
    }

    /// `private_key_jwt` or `client_secret_jwt` (the names discovery lists).
    pub fn method(&self) -> &'static str {
        match self.key {
            Key::Signer(_) => "private_key_jwt",
            Key::Secret(..) => "client_secret_jwt",
        }
    }

    /// The signing algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match &self.key {
            Key::Signer(s) => s.algorithm(),
            Key::Secret(_, alg) => *alg,
        }
    }

    /// A fresh assertion for `client_id` with audience `aud` (RFC 7523 §3).
    pub(crate) fn mint(&self, client_id: &str, aud: &str) -> Result<String, Error> {
        let now = self.clock.now();
        let alg = self.algorithm();
        let mut header = serde_json::json!({ "alg": alg.name(), "typ": "JWT" });
        if let Key::Signer(s) = &self.key {
            if let Some(kid) = s.key_id() {
                header["kid"] = kid.into();
            }
        }
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": aud,
            "jti": self.jti.next(),
            "iat": now.0,
            "exp": now.plus(self.lifetime_secs).0,
        });
        match &self.key {
            Key::Signer(s) => compact(&header, &claims, |input| s.sign(input)),
            Key::Secret(secret, alg) => compact(&header, &claims, |input| {
                crate::hmac::sign(*alg, secret.secret().as_bytes(), input)
                    .ok_or_else(|| format!("{alg} is not an HMAC algorithm"))
            }),
        }
    }
}
