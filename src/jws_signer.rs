//! Signing: the [`JwsSigner`] trait a crypto backend implements (see `keycloak-client-ring`),
//! and the compact serialization the core builds around it (RFC 7515 §7.1). The core writes
//! the header and claims; the backend holds the private key and signs the signing input.
//!
//! A [`Clock`] gives the time to things that mint a fresh JWT on every request (client
//! assertions, DPoP proofs): the core reads no clock of its own, the adapter supplies one.

use base64::Engine as _;

use crate::error::Error;
use crate::jws::{Algorithm, Jwk};
use crate::time::UnixTime;

/// A private key in a crypto backend. Implementations sign only: which algorithm, which
/// claims and when are the core's job.
pub trait JwsSigner: Send + Sync {
    /// The algorithm of this key (never `none`; HS* keys are the core's own, not a backend's).
    fn algorithm(&self) -> Algorithm;
    /// The key id registered with the server (`kid` header), if any.
    fn key_id(&self) -> Option<&str>;
    /// The public half, as a JWK (RFC 7517): for registration and for DPoP's `jwk` header.
    fn public_jwk(&self) -> Jwk;
    /// Signs `signing_input`; `Err` with a short reason (never key material).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, String>;
}

/// The current time, supplied by the adapter that drives the core.
pub trait Clock: Send + Sync {
    /// Now, in seconds since the epoch.
    fn now(&self) -> UnixTime;
}

/// A fixed time: for tests, fuzzing and replaying recorded exchanges.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub UnixTime);

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `BASE64URL(header) . BASE64URL(claims) . BASE64URL(signature)` (RFC 7515 §7.1), signed by
/// `sign` over the first two parts.
pub(crate) fn compact(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<String, Error> {
    let mut out = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(out.as_bytes()).map_err(Error::Signing)?;
    out.push('.');
    out.push_str(&b64(&signature));
    Ok(out)
}
