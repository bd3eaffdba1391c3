//! [`RingVerifier`]: the [`JwsVerifier`] of `keycloak-client` on `ring`: RSASSA-PKCS1-v1_5 and
//! RSASSA-PSS (2048–8192-bit keys) with SHA-256/384/512, ECDSA P-256/P-384 with raw `r||s`
//! signatures (RFC 7518 §3.4), Ed25519 (RFC 8037), and HMAC for the opt-in HS* algorithms.
//! No cryptography is implemented here: keys are decoded from JWK members and handed to ring.
//!
//! ```
//! use std::sync::Arc;
//! use keycloak_client::JwsVerifier;
//! let verifier: Arc<dyn JwsVerifier> = Arc::new(keycloak_client_ring::RingVerifier);
//! # let _ = verifier;
//! ```

mod keycloak_json;
mod signer;

pub use keycloak_json::{client_assertion_from_keycloak_json, SystemClock};
pub use signer::{KeyError, RingSigner};

use base64::Engine as _;
use keycloak_client::{Algorithm, Jwk, JwsVerifier, VerificationKey};
use ring::signature::{self, UnparsedPublicKey};

/// The ring-backed verifier. Stateless; share one `Arc` per process.
#[derive(Clone, Copy, Debug, Default)]
pub struct RingVerifier;

fn b64(member: &str, v: Option<&String>) -> Result<Vec<u8>, String> {
    let v = v.ok_or_else(|| format!("JWK lacks `{member}`"))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v)
        .map_err(|_| format!("JWK `{member}` is not base64url"))
}

fn strip_zeros(mut b: &[u8]) -> &[u8] {
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    b
}

fn ec_point(jwk: &Jwk, size: usize) -> Result<Vec<u8>, String> {
    let x = b64("x", jwk.x.as_ref())?;
    let y = b64("y", jwk.y.as_ref())?;
    if x.len() != size || y.len() != size {
        return Err("EC coordinates have the wrong length".into());
    }
    let mut p = Vec::with_capacity(1 + 2 * size);
    p.push(4);
    p.extend_from_slice(&x);
    p.extend_from_slice(&y);
    Ok(p)
}

impl JwsVerifier for RingVerifier {
    fn verify(
        &self,
        alg: Algorithm,
        key: VerificationKey<'_>,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        let bad = |_| "signature does not verify".to_string();
        match (alg, key) {
            (
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512,
                VerificationKey::Secret(secret),
            ) => {
                let (a, min) = match alg {
                    Algorithm::HS256 => (ring::hmac::HMAC_SHA256, 32),
                    Algorithm::HS384 => (ring::hmac::HMAC_SHA384, 48),
                    _ => (ring::hmac::HMAC_SHA512, 64),
                };
                // RFC 7518 §3.2: a key at least as long as the hash output.
                if secret.len() < min {
                    return Err(format!("{alg} needs a secret of at least {min} bytes"));
                }
                ring::hmac::verify(&ring::hmac::Key::new(a, secret), msg, sig).map_err(bad)
            }
            (_, VerificationKey::Secret(_)) => Err(format!("{alg} cannot use a shared secret")),
            (
                Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512,
                VerificationKey::Public(_),
            ) => {
                // The classic algorithm-confusion attack: never HMAC with a public key.
                Err(format!("{alg} with a public key is refused"))
            }
            (_, VerificationKey::Public(jwk)) => {
                if jwk.kty != alg.key_type() {
                    return Err(format!(
                        "{alg} needs a {} key, not {}",
                        alg.key_type(),
                        jwk.kty
                    ));
                }
                match alg {
                    Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512 => {
                        let n = b64("n", jwk.n.as_ref())?;
                        let e = b64("e", jwk.e.as_ref())?;
                        let params: &signature::RsaParameters = match alg {
                            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                            _ => &signature::RSA_PSS_2048_8192_SHA512,
                        };
                        signature::RsaPublicKeyComponents {
                            n: strip_zeros(&n),
                            e: strip_zeros(&e),
                        }
                        .verify(params, msg, sig)
                        .map_err(bad)
                    }
                    Algorithm::ES256 | Algorithm::ES384 => {
                        let (size, a): (usize, &'static signature::EcdsaVerificationAlgorithm) =
                            if alg == Algorithm::ES256 {
                                (32, &signature::ECDSA_P256_SHA256_FIXED)
                            } else {
                                (48, &signature::ECDSA_P384_SHA384_FIXED)
                            };
                        if jwk.crv.as_deref() != alg.curve() {
                            return Err("EC key on the wrong curve".into());
                        }
                        let point = ec_point(jwk, size)?;
                        UnparsedPublicKey::new(a, point)
                            .verify(msg, sig)
                            .map_err(bad)
                    }
                    Algorithm::EdDSA => {
                        if jwk.crv.as_deref() != Some("Ed25519") {
                            return Err("only Ed25519 is supported for EdDSA".into());
                        }
                        let x = b64("x", jwk.x.as_ref())?;
                        if x.len() != 32 {
                            return Err("Ed25519 key has the wrong length".into());
                        }
                        UnparsedPublicKey::new(&signature::ED25519, x)
                            .verify(msg, sig)
                            .map_err(bad)
                    }
                    _ => Err(format!("{alg} is not supported")),
                }
            }
        }
    }
}
