//! [`RingSigner`]: the [`JwsSigner`] of `keycloak-client` on `ring`, for client assertions
//! (`private_key_jwt`) and DPoP proofs. RS256 and PS256 (RSA 2048–8192 bits), ES256 and
//! ES384 (P-256, P-384) and EdDSA (Ed25519). Keys load from PKCS#8 PEM or DER (PKCS#1 PEM for
//! RSA) or from a private JWK; EC and Ed25519 keys can be generated. The public JWK and its
//! RFC 7638 thumbprint are derived from the key; the thumbprint is the default `kid`.

use std::sync::Arc;

use base64::Engine as _;
use keycloak_client::{Algorithm, Jwk, JwsSigner};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};

/// Why a key could not be loaded or made. Never holds key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not PEM, or a PEM block this loader does not read.
    #[error("not a PEM private key: {0}")]
    Pem(String),
    /// The key does not parse, or does not fit the algorithm.
    #[error("the key is not a valid {alg} private key: {reason}")]
    Rejected {
        /// The algorithm asked for.
        alg: &'static str,
        /// ring's short reason.
        reason: String,
    },
    /// An algorithm this signer does not offer (HS* keys are the core's client secret).
    #[error("{0} is not offered for signing (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA are)")]
    Unsupported(&'static str),
    /// A private JWK that is malformed or misses a member.
    #[error("private JWK: {0}")]
    Jwk(String),
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private key held by ring. `Debug` shows the algorithm and key id only.
pub struct RingSigner {
    alg: Algorithm,
    kid: String,
    pair: Pair,
    public: Jwk,
    rng: SystemRandom,
}

impl std::fmt::Debug for RingSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingSigner")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(member: &str, v: Option<&serde_json::Value>) -> Result<Vec<u8>, KeyError> {
    let s = v
        .and_then(|v| v.as_str())
        .ok_or_else(|| KeyError::Jwk(format!("missing `{member}`")))?;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| KeyError::Jwk(format!("`{member}` is not base64url")))
}

fn ec_alg(alg: Algorithm) -> Option<&'static signature::EcdsaSigningAlgorithm> {
    match alg {
        Algorithm::ES256 => Some(&signature::ECDSA_P256_SHA256_FIXED_SIGNING),
        Algorithm::ES384 => Some(&signature::ECDSA_P384_SHA384_FIXED_SIGNING),
        _ => None,
    }
}

fn rsa_padding(alg: Algorithm) -> Option<&'static dyn signature::RsaEncoding> {
    Some(match alg {
        Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
        Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_SHA512,
        _ => return None,
    })
}

fn rejected(alg: Algorithm) -> impl Fn(ring::error::KeyRejected) -> KeyError {
    move |e| KeyError::Rejected {
        alg: alg.name(),
        reason: e.to_string(),
    }
}

impl RingSigner {
    /// Loads a PKCS#8 PEM private key (`BEGIN PRIVATE KEY`; `BEGIN RSA PRIVATE KEY` for RSA
    /// keys in PKCS#1) for `alg`.
    pub fn from_pem(pem_text: &str, alg: Algorithm) -> Result<Self, KeyError> {
        let block = pem::parse(pem_text.trim()).map_err(|e| KeyError::Pem(e.to_string()))?;
        match block.tag() {
            "PRIVATE KEY" => Self::from_pkcs8_der(block.contents(), alg),
            "RSA PRIVATE KEY" if rsa_padding(alg).is_some() => {
                let pair = RsaKeyPair::from_der(block.contents()).map_err(rejected(alg))?;
                Self::with_pair(alg, Pair::Rsa(pair))
            }
            other => Err(KeyError::Pem(format!(
                "a `{other}` block; give a PKCS#8 `PRIVATE KEY`"
            ))),
        }
    }

    /// Loads a PKCS#8 DER private key for `alg`.
    pub fn from_pkcs8_der(der: &[u8], alg: Algorithm) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let pair = if rsa_padding(alg).is_some() {
            Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected(alg))?)
        } else if let Some(a) = ec_alg(alg) {
            Pair::Ec(EcdsaKeyPair::from_pkcs8(a, der, &rng).map_err(rejected(alg))?)
        } else if alg == Algorithm::EdDSA {
            // OpenSSL writes PKCS#8 v1 (no public key): ring derives it.
            Pair::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(rejected(alg))?)
        } else {
            return Err(KeyError::Unsupported(alg.name()));
        };
        Self::with_pair(alg, pair)
    }

    /// Loads a private JWK (RFC 7517 §4, RFC 7518 §6.2.2 / §6.3.2, RFC 8037). Its `alg` member
    /// picks the algorithm (else `alg`); its `kid` is kept (else the thumbprint).
    pub fn from_jwk(json: &str, alg: Option<Algorithm>) -> Result<Self, KeyError> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| KeyError::Jwk(format!("not JSON: {e}")))?;
        let alg = match v.get("alg").and_then(|a| a.as_str()) {
            Some(name) => {
                Algorithm::from_name(name).ok_or_else(|| KeyError::Jwk("unknown `alg`".into()))?
            }
            None => alg.ok_or_else(|| KeyError::Jwk("no `alg`: give one".into()))?,
        };
        let kty = v.get("kty").and_then(|k| k.as_str()).unwrap_or_default();
        if kty != alg.key_type() {
            return Err(KeyError::Jwk(format!("{alg} needs kty {}", alg.key_type())));
        }
        let m = |name: &str| unb64(name, v.get(name));
        let pair = match kty {
            "RSA" => {
                let (n, e, d, p, q, dp, dq, qi) = (
                    m("n")?,
                    m("e")?,
                    m("d")?,
                    m("p")?,
                    m("q")?,
                    m("dp")?,
                    m("dq")?,
                    m("qi")?,
                );
                let components = ring::rsa::KeyPairComponents {
                    public_key: ring::rsa::PublicKeyComponents { n: &n, e: &e },
                    d: &d,
                    p: &p,
                    q: &q,
                    dP: &dp,
                    dQ: &dq,
                    qInv: &qi,
                };
                Pair::Rsa(RsaKeyPair::from_components(&components).map_err(rejected(alg))?)
            }
            "EC" => {
                let a = ec_alg(alg).ok_or(KeyError::Unsupported(alg.name()))?;
                let mut point = vec![4u8];
                point.extend(m("x")?);
                point.extend(m("y")?);
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    a,
                    &m("d")?,
                    &point,
                    &SystemRandom::new(),
                )
                .map_err(rejected(alg))?;
                Pair::Ec(pair)
            }
            "OKP" => Pair::Ed(
                Ed25519KeyPair::from_seed_and_public_key(&m("d")?, &m("x")?)
                    .map_err(rejected(alg))?,
            ),
            _ => return Err(KeyError::Unsupported(alg.name())),
        };
        let mut s = Self::with_pair(alg, pair)?;
        if let Some(kid) = v.get("kid").and_then(|k| k.as_str()) {
            s.kid = kid.to_string();
            s.public.kid = Some(s.kid.clone());
        }
        Ok(s)
    }

    /// A new key pair (ES256, ES384 or EdDSA: ring does not generate RSA keys), for DPoP or
    /// a freshly registered client key.
    pub fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        Self::generate_pkcs8(alg).map(|(s, _)| s)
    }

    /// [`generate`](Self::generate), also returning the private key as PKCS#8 DER, for a
    /// caller that must keep the key (a CLI binding tokens across runs). Store it as a secret.
    pub fn generate_pkcs8(alg: Algorithm) -> Result<(Self, Vec<u8>), KeyError> {
        let rng = SystemRandom::new();
        let pkcs8 = if let Some(a) = ec_alg(alg) {
            EcdsaKeyPair::generate_pkcs8(a, &rng)
        } else if alg == Algorithm::EdDSA {
            Ed25519KeyPair::generate_pkcs8(&rng)
        } else {
            return Err(KeyError::Unsupported(alg.name()));
        }
        .map_err(|_| KeyError::Rejected {
            alg: alg.name(),
            reason: "no randomness".into(),
        })?;
        let der = pkcs8.as_ref().to_vec();
        Ok((Self::from_pkcs8_der(&der, alg)?, der))
    }

    fn with_pair(alg: Algorithm, pair: Pair) -> Result<Self, KeyError> {
        let mut public = Jwk {
            kty: alg.key_type().into(),
            kid: None,
            use_: Some("sig".into()),
            alg: Some(alg.name().into()),
            key_ops: None,
            crv: alg.curve().map(str::to_string),
            n: None,
            e: None,
            x: None,
            y: None,
        };
        match &pair {
            Pair::Rsa(k) => {
                if rsa_padding(alg).is_none() {
                    return Err(KeyError::Unsupported(alg.name()));
                }
                let p: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                let strip = |b: &[u8]| {
                    let i = b
                        .iter()
                        .position(|x| *x != 0)
                        .unwrap_or(b.len().saturating_sub(1));
                    b64(&b[i..])
                };
                public.n = Some(strip(&p.n));
                public.e = Some(strip(&p.e));
            }
            Pair::Ec(k) => {
                let point = k.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                public.x = Some(b64(&point[1..1 + size]));
                public.y = Some(b64(&point[1 + size..]));
            }
            Pair::Ed(k) => public.x = Some(b64(k.public_key().as_ref())),
        }
        let kid = public.thumbprint().unwrap_or_default();
        public.kid = Some(kid.clone());
        Ok(RingSigner {
            alg,
            kid,
            pair,
            public,
            rng: SystemRandom::new(),
        })
    }

    /// Names the key `kid` (the id registered with the server).
    pub fn with_key_id(mut self, kid: &str) -> Self {
        self.kid = kid.to_string();
        self.public.kid = Some(self.kid.clone());
        self
    }

    /// The RFC 7638 thumbprint of the public key (DPoP's `jkt`).
    pub fn thumbprint(&self) -> String {
        self.public.thumbprint().unwrap_or_default()
    }

    /// The public key as a JWK set (`{"keys":[…]}`), to register with the client.
    pub fn public_jwks(&self) -> String {
        serde_json::json!({ "keys": [self.public] }).to_string()
    }

    /// As a shared `Arc<dyn JwsSigner>`.
    pub fn shared(self) -> Arc<dyn JwsSigner> {
        Arc::new(self)
    }
}

impl JwsSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }

    fn key_id(&self) -> Option<&str> {
        Some(&self.kid)
    }

    fn public_jwk(&self) -> Jwk {
        self.public.clone()
    }

    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, String> {
        match &self.pair {
            Pair::Rsa(k) => {
                let padding = rsa_padding(self.alg).ok_or("not an RSA algorithm")?;
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(padding, &self.rng, input, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            Pair::Ec(k) => k
                .sign(&self.rng, input)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
            Pair::Ed(k) => Ok(k.sign(input).as_ref().to_vec()),
        }
    }
}
