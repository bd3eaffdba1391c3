//! JSON Web Signature pieces the core owns: algorithms (RFC 7518 §3), JSON Web Keys
//! (RFC 7517), key selection, and the [`JwsVerifier`] trait a crypto backend implements.
//! The core does no signature math itself.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1). `none` is not representable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256 (signature is raw r||s).
    ES256,
    /// ECDSA P-384 with SHA-384 (signature is raw r||s).
    ES384,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// HMAC SHA-256 (shared secret only).
    HS256,
    /// HMAC SHA-384 (shared secret only).
    HS384,
    /// HMAC SHA-512 (shared secret only).
    HS512,
}

impl Algorithm {
    /// Parses the `alg` header value: exact, case-sensitive (RFC 7515 §4.1.1).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Some(match name {
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "RS512" => Algorithm::RS512,
            "PS256" => Algorithm::PS256,
            "PS384" => Algorithm::PS384,
            "PS512" => Algorithm::PS512,
            "ES256" => Algorithm::ES256,
            "ES384" => Algorithm::ES384,
            "EdDSA" => Algorithm::EdDSA,
            "HS256" => Algorithm::HS256,
            "HS384" => Algorithm::HS384,
            "HS512" => Algorithm::HS512,
            _ => return None,
        })
    }

    /// The `alg` name.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// The JWK `kty` this algorithm needs.
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => "RSA",
            Algorithm::ES256 | Algorithm::ES384 => "EC",
            Algorithm::EdDSA => "OKP",
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => "oct",
        }
    }

    /// The curve, for EC and OKP algorithms.
    pub fn curve(self) -> Option<&'static str> {
        match self {
            Algorithm::ES256 => Some("P-256"),
            Algorithm::ES384 => Some("P-384"),
            Algorithm::EdDSA => Some("Ed25519"),
            _ => None,
        }
    }

    /// Whether this is a shared-secret (HMAC) algorithm.
    pub fn is_symmetric(self) -> bool {
        self.key_type() == "oct"
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A public JSON Web Key (RFC 7517 §4). Private members are never accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `kty`: `RSA`, `EC`, `OKP`.
    pub kty: String,
    /// `kid`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// `use`
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// `alg`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// `key_ops`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// `crv` (EC, OKP)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC/OKP x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

impl Jwk {
    /// The RFC 7638 thumbprint: base64url SHA-256 of the required members in lexicographic
    /// order (`e`, `kty`, `n` for RSA; `crv`, `kty`, `x`, `y` for EC; `crv`, `kty`, `x` for
    /// OKP). `None` when a required member is missing or the key type is not one of these.
    pub fn thumbprint(&self) -> Option<String> {
        use base64::Engine as _;
        use sha2::Digest as _;
        let s = |v: &Option<String>| v.as_deref().map(|x| serde_json::Value::from(x).to_string());
        let canonical = match self.kty.as_str() {
            "RSA" => format!(r#"{{"e":{},"kty":"RSA","n":{}}}"#, s(&self.e)?, s(&self.n)?),
            "EC" => format!(
                r#"{{"crv":{},"kty":"EC","x":{},"y":{}}}"#,
                s(&self.crv)?,
                s(&self.x)?,
                s(&self.y)?
            ),
            "OKP" => format!(
                r#"{{"crv":{},"kty":"OKP","x":{}}}"#,
                s(&self.crv)?,
                s(&self.x)?
            ),
            _ => return None,
        };
        Some(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(canonical.as_bytes())),
        )
    }
}

/// A JWK set (RFC 7517 §5). Keys of unknown types, with private members, or malformed are
/// dropped on parse rather than failing the whole set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The usable public keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// Parses a JWKS document.
    pub fn parse(body: &[u8]) -> Result<JwkSet, Error> {
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw: Raw = crate::response::parse_slice("JWKS", body)?;
        let keys = raw
            .keys
            .into_iter()
            .filter(|v| {
                let o = v.as_object();
                // never accept private or symmetric key material from a key set
                !o.is_some_and(|o| {
                    o.contains_key("d") || o.contains_key("k") || o.contains_key("p")
                })
            })
            .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
            .filter(|k| matches!(k.kty.as_str(), "RSA" | "EC" | "OKP"))
            .collect();
        Ok(JwkSet { keys })
    }

    /// Selects the key for a token (RFC 7515 §4.1.4, RFC 8725 §3.1):
    /// candidates must match `kty`, curve, `use` (`sig` or absent), `alg` (equal or absent) and
    /// `key_ops` (containing `verify`, or absent). With a `kid`, exactly the key with that id;
    /// without, the single candidate. Several candidates without a `kid` are rejected as
    /// ambiguous rather than tried one by one (trying keys turns one forgery attempt into many
    /// signature operations).
    pub fn select(&self, alg: Algorithm, kid: Option<&str>) -> Result<&Jwk, Error> {
        let fits = |k: &&Jwk| key_fits(k, alg);
        match kid {
            Some(kid) => {
                let mut c = self
                    .keys
                    .iter()
                    .filter(fits)
                    .filter(|k| k.kid.as_deref() == Some(kid));
                match (c.next(), c.next()) {
                    (Some(k), None) => Ok(k),
                    (None, _) => Err(Error::UnknownKey(Some(crate::error::sanitize(kid)))),
                    (Some(_), Some(_)) => Err(Error::TokenValidation(format!(
                        "several keys share the kid `{}`",
                        crate::error::sanitize(kid)
                    ))),
                }
            }
            None => {
                let mut c = self.keys.iter().filter(fits);
                match (c.next(), c.next()) {
                    (Some(k), None) => Ok(k),
                    (None, _) => Err(Error::UnknownKey(None)),
                    (Some(_), Some(_)) => Err(Error::TokenValidation(
                        "the token has no `kid` and several keys could verify it".into(),
                    )),
                }
            }
        }
    }
}

/// Whether `k` may verify a signature of `alg`: `kty`, curve, `use` (`sig` or absent), `alg`
/// (equal or absent) and `key_ops` (containing `verify`, or absent).
pub(crate) fn key_fits(k: &Jwk, alg: Algorithm) -> bool {
    k.kty == alg.key_type()
        && alg.curve().is_none_or(|c| k.crv.as_deref() == Some(c))
        && k.use_.as_deref().is_none_or(|u| u == "sig")
        && k.alg.as_deref().is_none_or(|a| a == alg.name())
        && k.key_ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|o| o == "verify"))
}

/// Key material handed to a [`JwsVerifier`]. `Debug` never prints a shared secret.
#[derive(Clone, Copy)]
pub enum VerificationKey<'a> {
    /// A public key from the issuer's JWKS.
    Public(&'a Jwk),
    /// A shared secret (HS* only; the client secret's octets).
    Secret(&'a [u8]),
}

impl std::fmt::Debug for VerificationKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerificationKey::Public(k) => f.debug_tuple("Public").field(k).finish(),
            VerificationKey::Secret(_) => f.write_str("Secret([redacted])"),
        }
    }
}

/// Signature math, implemented by a crypto backend (see `keycloak-client-ring`). Implementations
/// must only verify: algorithm choice, key selection and claims are the core's job.
pub trait JwsVerifier: Send + Sync {
    /// Verifies `signature` over `signing_input` with `key` under `alg`. Returns `Err` with a
    /// short reason when the signature is invalid or the key cannot be used.
    fn verify(
        &self,
        alg: Algorithm,
        key: VerificationKey<'_>,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 §3.1's example key and thumbprint.
    #[test]
    fn rfc_7638_thumbprint() {
        let k: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"
        }))
        .unwrap();
        assert_eq!(
            k.thumbprint().as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        let mut no_e = k.clone();
        no_e.e = None;
        assert!(no_e.thumbprint().is_none());
        let mut oct = k;
        oct.kty = "oct".into();
        assert!(oct.thumbprint().is_none());
    }

    fn rsa(kid: &str) -> Jwk {
        Jwk {
            kty: "RSA".into(),
            kid: Some(kid.into()),
            use_: Some("sig".into()),
            alg: Some("RS256".into()),
            key_ops: None,
            crv: None,
            n: Some("AQAB".into()),
            e: Some("AQAB".into()),
            x: None,
            y: None,
        }
    }

    #[test]
    fn alg_names_are_case_sensitive_and_none_is_absent() {
        assert_eq!(Algorithm::from_name("RS256"), Some(Algorithm::RS256));
        assert_eq!(Algorithm::from_name("rs256"), None);
        assert_eq!(Algorithm::from_name("none"), None);
        assert_eq!(
            Algorithm::from_name("EdDSA").unwrap().curve(),
            Some("Ed25519")
        );
    }

    #[test]
    fn selection_by_kid_use_alg() {
        let mut enc = rsa("enc");
        enc.use_ = Some("enc".into());
        enc.alg = Some("RSA-OAEP".into());
        let set = JwkSet {
            keys: vec![rsa("a"), enc.clone()],
        };
        assert_eq!(
            set.select(Algorithm::RS256, Some("a"))
                .unwrap()
                .kid
                .as_deref(),
            Some("a")
        );
        assert!(matches!(
            set.select(Algorithm::RS256, Some("enc")),
            Err(Error::UnknownKey(_))
        ));
        assert!(matches!(
            set.select(Algorithm::RS256, Some("zzz")),
            Err(Error::UnknownKey(_))
        ));
        // kid absent, single candidate (the enc key does not count)
        assert_eq!(
            set.select(Algorithm::RS256, None).unwrap().kid.as_deref(),
            Some("a")
        );
        // kid absent, several candidates: ambiguous
        let two = JwkSet {
            keys: vec![rsa("a"), rsa("b")],
        };
        assert!(matches!(
            two.select(Algorithm::RS256, None),
            Err(Error::TokenValidation(_))
        ));
        // wrong family
        assert!(matches!(
            set.select(Algorithm::ES256, Some("a")),
            Err(Error::UnknownKey(_))
        ));
        // alg pinned on the key
        assert!(set.select(Algorithm::PS256, Some("a")).is_err());
    }

    #[test]
    fn parse_drops_private_and_symmetric_keys() {
        let set = JwkSet::parse(
            br#"{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"},{"kty":"RSA","kid":"p","n":"AQAB","e":"AQAB","d":"AQAB"},
            {"kty":"oct","kid":"h","k":"c2VjcmV0"},{"kty":"weird"},{"nokty":1}]}"#,
        )
        .unwrap();
        assert_eq!(set.keys.len(), 1);
        assert!(JwkSet::parse(b"{}").is_err());
    }

    #[test]
    fn every_algorithm_round_trips_by_name_with_its_key_type_and_curve() {
        use Algorithm::*;
        let all = [
            (RS256, "RSA", None),
            (RS384, "RSA", None),
            (RS512, "RSA", None),
            (PS256, "RSA", None),
            (PS384, "RSA", None),
            (PS512, "RSA", None),
            (ES256, "EC", Some("P-256")),
            (ES384, "EC", Some("P-384")),
            (EdDSA, "OKP", Some("Ed25519")),
            (HS256, "oct", None),
            (HS384, "oct", None),
            (HS512, "oct", None),
        ];
        for (alg, kty, crv) in all {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg), "{alg:?}");
            assert_eq!(alg.to_string(), alg.name());
            assert_eq!((alg.key_type(), alg.curve()), (kty, crv), "{alg:?}");
            assert_eq!(alg.is_symmetric(), kty == "oct");
        }
    }

    #[test]
    fn parse_drops_keys_with_any_private_member() {
        for member in ["d", "p", "k"] {
            let doc = format!(
                r#"{{"keys":[{{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB","{member}":"AQAB"}},{{"kty":"RSA","kid":"ok","n":"AQAB","e":"AQAB"}}]}}"#
            );
            let set = JwkSet::parse(doc.as_bytes()).unwrap();
            assert_eq!(set.keys.len(), 1, "{member}");
            assert_eq!(set.keys[0].kid.as_deref(), Some("ok"));
        }
    }

    #[test]
    fn key_ops_and_curve_must_fit() {
        let mut verify = rsa("v");
        verify.key_ops = Some(vec!["sign".into(), "verify".into()]);
        let mut encrypt = rsa("e");
        encrypt.key_ops = Some(vec!["encrypt".into()]);
        let set = JwkSet {
            keys: vec![verify, encrypt],
        };
        assert!(set.select(Algorithm::RS256, Some("v")).is_ok());
        assert!(matches!(
            set.select(Algorithm::RS256, Some("e")),
            Err(Error::UnknownKey(_))
        ));
        let ec = |kid: &str, crv: &str| Jwk {
            kty: "EC".into(),
            kid: Some(kid.into()),
            use_: None,
            alg: None,
            key_ops: None,
            crv: Some(crv.into()),
            n: None,
            e: None,
            x: Some("AQAB".into()),
            y: Some("AQAB".into()),
        };
        let set = JwkSet {
            keys: vec![ec("p256", "P-256"), ec("p384", "P-384")],
        };
        assert!(set.select(Algorithm::ES256, Some("p256")).is_ok());
        assert!(set.select(Algorithm::ES256, Some("p384")).is_err());
        assert!(set.select(Algorithm::ES384, Some("p384")).is_ok());
    }

    #[test]
    fn verification_key_debug_shows_public_keys_and_hides_secrets() {
        let k = rsa("shown");
        let public = format!("{:?}", VerificationKey::Public(&k));
        assert!(
            public.starts_with("Public(") && public.contains("shown"),
            "{public}"
        );
        let secret = format!("{:?}", VerificationKey::Secret(b"hunter2"));
        assert_eq!(secret, "Secret([redacted])");
    }
}
