//! DPoP, the client side (RFC 9449): a proof JWT on every token request and every request to
//! a protected resource, tokens bound to the key, and the server's nonces.
//!
//! [`Dpop`] holds the key (in a crypto backend, through [`JwsSigner`]), a [`Clock`], a `jti`
//! sequence and the last nonce each server gave (§8, §9). The core adds the proof when it
//! builds a request and learns nonces from the responses; a request refused with
//! `use_dpop_nonce` is sent again once with the new nonce, never more.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use rand_core::CryptoRng;
use sha2::Digest as _;

use crate::error::Error;
use crate::http::{Method, Request, Response};
use crate::jti::Jti;
use crate::jws_signer::{compact, Clock, JwsSigner};

/// Most servers whose nonces are remembered (a client talks to one or two).
const MAX_NONCE_ORIGINS: usize = 16;
/// Longest nonce kept (a server's nonce is short; a huge one is refused, not stored).
const MAX_NONCE_LEN: usize = 512;

/// A DPoP key and its state. Cloning shares the key, the `jti` sequence and the nonces.
/// `Debug` shows the algorithm and the key's thumbprint only.
#[derive(Clone)]
pub struct Dpop {
    signer: Arc<dyn JwsSigner>,
    clock: Arc<dyn Clock>,
    jti: Arc<Jti>,
    nonces: Arc<Mutex<HashMap<String, String>>>,
    jkt: String,
}

impl std::fmt::Debug for Dpop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dpop")
            .field("alg", &self.signer.algorithm())
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

/// The `htu` of a URL: without query and fragment (RFC 9449 §4.2).
pub fn htu(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// `ath`: base64url SHA-256 of the access token (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(access_token.as_bytes()))
}

fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

impl Dpop {
    /// DPoP with `signer`'s key (asymmetric: a MAC key cannot be a proof key). `rng` seeds the
    /// `jti` sequence; it is not kept.
    pub fn new<R: CryptoRng + ?Sized>(
        signer: Arc<dyn JwsSigner>,
        clock: Arc<dyn Clock>,
        rng: &mut R,
    ) -> Result<Self, Error> {
        if signer.algorithm().is_symmetric() {
            return Err(Error::Config(
                "a DPoP key must be asymmetric (RFC 9449 §4.2)".into(),
            ));
        }
        let jkt = signer.public_jwk().thumbprint().ok_or_else(|| {
            Error::Config("the DPoP key's public JWK has no RFC 7638 thumbprint".into())
        })?;
        Ok(Dpop {
            signer,
            clock,
            jti: Arc::new(Jti::new(rng)),
            nonces: Default::default(),
            jkt,
        })
    }

    /// The proof algorithm.
    pub fn algorithm(&self) -> crate::jws::Algorithm {
        self.signer.algorithm()
    }

    /// The key's RFC 7638 thumbprint: `dpop_jkt` and the tokens' `cnf.jkt`.
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// A proof for `method` on `url` (RFC 9449 §4.2), with `ath` for `access_token` on
    /// resource requests and the server's nonce when it gave one.
    pub fn proof(
        &self,
        method: Method,
        url: &url::Url,
        access_token: Option<&str>,
    ) -> Result<String, Error> {
        self.proof_with_nonce(method, url, access_token)
            .map(|(p, _)| p)
    }

    /// [`proof`](Self::proof) and the nonce it carries.
    pub(crate) fn proof_with_nonce(
        &self,
        method: Method,
        url: &url::Url,
        access_token: Option<&str>,
    ) -> Result<(String, Option<String>), Error> {
        let header = serde_json::json!({
            "typ": "dpop+jwt",
            "alg": self.signer.algorithm().name(),
            "jwk": self.signer.public_jwk(),
        });
        let mut claims = serde_json::json!({
            "jti": self.jti.next(),
            "htm": method.as_str(),
            "htu": htu(url),
            "iat": self.clock.now().0,
        });
        if let Some(at) = access_token {
            claims["ath"] = ath(at).into();
        }
        let nonce = self.nonce_for(url);
        if let Some(n) = &nonce {
            claims["nonce"] = n.clone().into();
        }
        compact(&header, &claims, |input| self.signer.sign(input)).map(|p| (p, nonce))
    }

    /// The headers of a request to a protected resource with a DPoP-bound token:
    /// `Authorization: DPoP <token>` and its proof (RFC 9449 §7.1). A token that is not a
    /// `b64token` (RFC 6750 §2.1: no spaces, no line breaks) is refused.
    pub fn authorize(&self, req: Request, access_token: &str) -> Result<Request, Error> {
        if !crate::secret::is_b64token(access_token) {
            return Err(Error::InvalidTokenSyntax("the access token"));
        }
        let proof = self.proof(req.method, &req.url, Some(access_token))?;
        Ok(req
            .header("authorization", format!("DPoP {access_token}"))
            .header("dpop", proof))
    }

    fn nonce_for(&self, url: &url::Url) -> Option<String> {
        let nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        nonces.get(&origin(url)).cloned()
    }

    /// Keeps the `DPoP-Nonce` a response carries, for its server (RFC 9449 §8.2, §9): `true`
    /// when it is new. A nonce that is not printable ASCII, or too long, is ignored.
    pub fn learn_nonce(&self, url: &url::Url, resp: &Response) -> bool {
        let Some(nonce) = response_nonce(resp) else {
            return false;
        };
        let nonce = nonce.as_str();
        let mut nonces = self.nonces.lock().unwrap_or_else(|p| p.into_inner());
        let key = origin(url);
        if nonces.get(&key).map(String::as_str) == Some(nonce) {
            return false;
        }
        if nonces.len() >= MAX_NONCE_ORIGINS && !nonces.contains_key(&key) {
            nonces.clear();
        }
        nonces.insert(key, nonce.to_string());
        true
    }
}

impl Dpop {
    /// Reads a response to a request whose proof carried `sent` (RFC 9449 §8–9): keeps its
    /// `DPoP-Nonce`, and says whether it is a nonce challenge that a new proof can answer
    /// (a usable nonce this request did not carry). How often to answer is the caller's.
    pub(crate) fn challenge_answerable(
        &self,
        url: &url::Url,
        resp: &Response,
        sent: &std::sync::Mutex<Option<String>>,
    ) -> bool {
        self.learn_nonce(url, resp);
        let offered = response_nonce(resp);
        let sent = sent.lock().unwrap_or_else(|p| p.into_inner()).clone();
        asks_for_nonce(resp) && offered.is_some() && offered != sent
    }
}

/// The usable `DPoP-Nonce` of a response (RFC 9449 §8.1 NQCHAR, at most 512 bytes).
pub fn response_nonce(resp: &Response) -> Option<String> {
    let nonce = resp.header("dpop-nonce")?.trim();
    let valid = !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_LEN
        && nonce
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
    valid.then(|| nonce.to_string())
}

/// Whether a response asks for a (new) DPoP nonce: `use_dpop_nonce` in an OAuth error body
/// (token endpoint, §8) or in `WWW-Authenticate: DPoP` (resource server, §9).
pub fn asks_for_nonce(resp: &Response) -> bool {
    if !matches!(resp.status, 400 | 401) {
        return false;
    }
    let in_header = resp
        .header("www-authenticate")
        .is_some_and(|h| h.contains("use_dpop_nonce"));
    let in_body = serde_json::from_slice::<serde_json::Value>(&resp.body)
        .ok()
        .is_some_and(|v| v["error"] == "use_dpop_nonce");
    in_header || in_body
}
