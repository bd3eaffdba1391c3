//! DPoP, the resource-server side (RFC 9449 §4.3, §7): checking a proof against the request it
//! came with and the access token it accompanies. Sans-IO: the caller gives the time, the
//! signature backend and keeps the `jti`s it has seen (§11.1).

use base64::Engine as _;
use serde::Deserialize;

use crate::error::Error;
use crate::jws::{Algorithm, Jwk, JwsVerifier, VerificationKey};
use crate::time::UnixTime;

/// Longest proof accepted (a proof is a few hundred bytes; RSA keys make it ~1.5 KB).
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// What a proof must match.
#[derive(Clone, Debug)]
pub struct ProofCheck<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's URL as the client addressed it (query and fragment are ignored).
    pub url: &'a url::Url,
    /// The access token presented with it (`ath`), when any.
    pub access_token: Option<&'a str>,
    /// Now.
    pub now: UnixTime,
    /// Oldest `iat` accepted, in seconds before `now`.
    pub max_age_secs: u64,
    /// Newest `iat` accepted, in seconds after `now` (clock skew).
    pub leeway_secs: u64,
    /// Accepted algorithms (asymmetric only; HS* and `none` never are).
    pub algorithms: &'a [Algorithm],
    /// The nonce the server requires, when it issued one (§9).
    pub nonce: Option<&'a str>,
}

/// A proof that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedProof {
    /// The RFC 7638 thumbprint of its key: must equal the token's `cnf.jkt`.
    pub jkt: String,
    /// Its `jti`, to remember until `iat + max_age` (replays are refused).
    pub jti: String,
    /// Its `iat`.
    pub iat: UnixTime,
    /// Its `nonce`, when it has one (for a server checking its own nonces, e.g. with
    /// [`NonceIssuer`](crate::dpop_nonce::NonceIssuer)).
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Value>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<serde_json::Value>,
    htm: Option<serde_json::Value>,
    htu: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
    ath: Option<serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

fn bad(reason: &str) -> Error {
    Error::Dpop(format!("invalid proof: {reason}"))
}

fn part(p: &str, what: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .map_err(|_| bad(&format!("{what} is not base64url")))
}

fn string(v: Option<serde_json::Value>, name: &str) -> Result<String, Error> {
    match v {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(bad(&format!("`{name}` is missing or not a string"))),
    }
}

/// The request URL a proof's `htu` must name: scheme, host, port and path (RFC 9449 §4.3
/// item 9), compared after RFC 3986 §6.2.2–6.2.3 normalisation: URL parsing lowercases the
/// scheme and host, drops a default port and resolves dot segments; [`normalize_escapes`]
/// does the percent-encodings.
fn same_target(htu: &str, url: &url::Url) -> bool {
    match url::Url::parse(htu) {
        Ok(h) => {
            normalize_escapes(&crate::dpop::htu(&h)) == normalize_escapes(&crate::dpop::htu(url))
        }
        Err(_) => false,
    }
}

/// RFC 3986 §6.2.2.1–6.2.2.2: hex digits of percent-encodings upper case, and unreserved
/// characters (`A-Z a-z 0-9 - . _ ~`) decoded.
pub fn normalize_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(c as char);
                } else {
                    out.push('%');
                    out.push((b[i + 1] as char).to_ascii_uppercase());
                    out.push((b[i + 2] as char).to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// Checks `proof` (RFC 9449 §4.3): one compact JWS, `typ` `dpop+jwt`, an allowed asymmetric
/// `alg`, a public `jwk` that verifies the signature, `jti`, `htm` and `htu` of this request,
/// `iat` within the window, `ath` of the token and the nonce when required. Replays (`jti`)
/// are the caller's to refuse.
pub fn verify_proof(
    proof: &str,
    check: &ProofCheck<'_>,
    verifier: &dyn JwsVerifier,
) -> Result<VerifiedProof, Error> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(bad("too long"));
    }
    let mut parts = proof.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS"));
    };
    let header: Header = serde_json::from_slice(&part(h, "header")?)
        .map_err(|_| bad("header is not a JSON object"))?;
    if header.typ.as_deref() != Some("dpop+jwt") {
        return Err(bad("`typ` is not dpop+jwt"));
    }
    if header.crit.is_some() {
        return Err(bad("`crit` is not supported"));
    }
    let alg = Algorithm::from_name(&header.alg)
        .filter(|a| !a.is_symmetric() && check.algorithms.contains(a))
        .ok_or_else(|| bad("`alg` is not allowed"))?;
    let raw_jwk = header.jwk.ok_or_else(|| bad("no `jwk`"))?;
    if raw_jwk
        .as_object()
        .is_none_or(|o| o.contains_key("d") || o.contains_key("k") || o.contains_key("p"))
    {
        return Err(bad("`jwk` is not a public key"));
    }
    let jwk: Jwk = serde_json::from_value(raw_jwk).map_err(|_| bad("`jwk` is malformed"))?;
    if jwk.kty != alg.key_type() {
        return Err(bad("`jwk` does not fit `alg`"));
    }
    let signature = part(s, "signature")?;
    verifier
        .verify(
            alg,
            VerificationKey::Public(&jwk),
            format!("{h}.{c}").as_bytes(),
            &signature,
        )
        .map_err(|_| bad("signature does not verify"))?;
    let claims: Claims = serde_json::from_slice(&part(c, "claims")?)
        .map_err(|_| bad("claims are not a JSON object"))?;
    let jti = string(claims.jti, "jti")?;
    if jti.len() > 256 {
        return Err(bad("`jti` is too long"));
    }
    if string(claims.htm, "htm")? != check.method {
        return Err(bad("`htm` is not this request's method"));
    }
    if !same_target(&string(claims.htu, "htu")?, check.url) {
        return Err(bad("`htu` is not this request's URL"));
    }
    let iat = match claims.iat {
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().ok_or_else(|| bad("`iat` is not a time"))?
        }
        _ => return Err(bad("`iat` is missing")),
    };
    if iat.saturating_add(check.max_age_secs) < check.now.0 {
        return Err(bad("`iat` is too old"));
    }
    if iat > check.now.0.saturating_add(check.leeway_secs) {
        return Err(bad("`iat` is in the future"));
    }
    match (check.access_token, claims.ath) {
        (Some(at), Some(serde_json::Value::String(ath))) => {
            if !crate::secret::constant_time_eq(crate::dpop::ath(at).as_bytes(), ath.as_bytes()) {
                return Err(bad("`ath` is not this token's hash"));
            }
        }
        (Some(_), _) => return Err(bad("`ath` is missing")),
        (None, _) => {}
    }
    let nonce = match claims.nonce {
        None => None,
        Some(serde_json::Value::String(n)) => Some(n),
        // Recoverable when a nonce is required: the client gets a fresh one.
        Some(_) if check.nonce.is_some() => return Err(Error::Dpop("use_dpop_nonce".into())),
        Some(_) => return Err(bad("`nonce` is not a string")),
    };
    if let Some(expected) = check.nonce {
        let got = nonce
            .as_deref()
            .ok_or_else(|| Error::Dpop("use_dpop_nonce".into()))?;
        if !crate::secret::constant_time_eq(expected.as_bytes(), got.as_bytes()) {
            return Err(Error::Dpop("use_dpop_nonce".into()));
        }
    }
    let jkt = jwk
        .thumbprint()
        .ok_or_else(|| bad("`jwk` has no thumbprint"))?;
    Ok(VerifiedProof {
        jkt,
        jti,
        iat: UnixTime(iat),
        nonce,
    })
}
