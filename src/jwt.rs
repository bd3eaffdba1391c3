//! Compact JWS structure parsing and ID-token claim checks.
//!
//! Signature verification is pluggable through [`IdTokenValidator`] (the crypto backend lives
//! outside the core). The claim rules follow OpenID Connect Core §3.1.3.7.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::claim_rules::ClaimRules;
use crate::error::Error;
use crate::secret::{AccessToken, IdToken, Nonce};
use crate::time::UnixTime;

/// Largest token the parser accepts (64 KiB).
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;

/// The decoded (not verified) parts of a compact JWS.
#[derive(Clone, Debug)]
pub struct UnverifiedJwt {
    /// JOSE header.
    pub header: Map<String, Value>,
    /// Claims.
    pub claims: Claims,
    /// Bytes that were signed: `base64url(header) "." base64url(payload)`.
    pub signing_input: String,
    /// Decoded signature.
    pub signature: Vec<u8>,
}

/// A JWT claims set with typed accessors; the raw JSON stays reachable.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Claims(pub Map<String, Value>);

impl Claims {
    /// A claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }
    /// A string claim.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }
    /// `sub`
    pub fn sub(&self) -> Option<&str> {
        self.str("sub")
    }
    /// `iss`
    pub fn iss(&self) -> Option<&str> {
        self.str("iss")
    }
    /// `aud` as a list (a single string becomes a one-element list).
    pub fn aud(&self) -> Vec<&str> {
        match self.0.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        }
    }
    /// A NumericDate claim (`exp`, `iat`, `nbf`, `auth_time`); an error if present but not a number.
    pub fn numeric_date(&self, name: &'static str) -> Result<Option<u64>, Error> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| *f >= 0.0 && f.is_finite())
                        .map(|f| f as u64)
                })
                .map(Some)
                .ok_or_else(|| {
                    Error::TokenValidation(format!("`{name}` is not a valid NumericDate"))
                }),
            Some(_) => Err(Error::TokenValidation(format!("`{name}` is not a number"))),
        }
    }
    /// Keycloak realm roles (`realm_access.roles`).
    pub fn realm_roles(&self) -> Vec<&str> {
        self.0
            .get("realm_access")
            .and_then(|r| r.get("roles"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
    /// Keycloak client roles (`resource_access.{client}.roles`).
    pub fn client_roles(&self, client_id: &str) -> Vec<&str> {
        self.0
            .get("resource_access")
            .and_then(|r| r.get(client_id))
            .and_then(|r| r.get("roles"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>, Error> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| Error::TokenValidation(format!("{what} is not base64url without padding")))
}

/// The parts of a compact JWS (RFC 7515 §7.1) whose payload may be any bytes.
#[derive(Clone, Debug)]
pub struct CompactJws {
    /// JOSE header.
    pub header: Map<String, Value>,
    /// Decoded payload.
    pub payload: Vec<u8>,
    /// `base64url(header) "." base64url(payload)`.
    pub signing_input: String,
    /// Decoded signature.
    pub signature: Vec<u8>,
}

/// Splits and decodes a compact JWS strictly (three segments, base64url without padding, a
/// JSON-object header with a non-`none` `alg`, a non-empty signature). Verifies nothing.
pub fn decode_compact(token: &str) -> Result<CompactJws, Error> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Error::TokenValidation("token larger than 64 KiB".into()));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(Error::TokenValidation(
                "encrypted tokens (JWE) are not accepted".into(),
            ))
        }
        n => {
            return Err(Error::TokenValidation(format!(
                "a JWS has 3 segments, this has {n}"
            )))
        }
    }
    let header: Map<String, Value> = serde_json::from_slice(&b64("header", parts[0])?)
        .map_err(|_| Error::TokenValidation("header is not a JSON object".into()))?;
    let payload = b64("payload", parts[1])?;
    let signature = b64("signature", parts[2])?;
    match header.get("alg").and_then(Value::as_str) {
        None => return Err(Error::TokenValidation("header has no `alg`".into())),
        Some(a) if a.eq_ignore_ascii_case("none") => {
            return Err(Error::TokenValidation(
                "unsigned tokens (alg none) are not accepted".into(),
            ))
        }
        _ => {}
    }
    if signature.is_empty() {
        return Err(Error::TokenValidation("empty signature".into()));
    }
    Ok(CompactJws {
        header,
        payload,
        signing_input: format!("{}.{}", parts[0], parts[1]),
        signature,
    })
}

/// Splits and decodes a compact JWS without verifying anything. Rejects JWE (five segments),
/// unsigned tokens (`alg: none` or an empty signature) and non-object JSON.
pub fn decode_unverified(token: &str) -> Result<UnverifiedJwt, Error> {
    let jws = decode_compact(token)?;
    let claims: Map<String, Value> = serde_json::from_slice(&jws.payload)
        .map_err(|_| Error::TokenValidation("payload is not a JSON object".into()))?;
    Ok(UnverifiedJwt {
        header: jws.header,
        claims: Claims(claims),
        signing_input: jws.signing_input,
        signature: jws.signature,
    })
}

/// What an ID token must satisfy (OpenID Connect Core §3.1.3.7, §12.2).
#[derive(Clone, Debug)]
pub struct IdTokenExpectations {
    /// Expected `iss` (exact match).
    pub issuer: String,
    /// The client id, which `aud` must contain.
    pub client_id: String,
    /// Expected `nonce`: required and compared at login; `None` on refresh and the other
    /// grants, where a `nonce` is not required (§12.2; Keycloak 25+ omits it on refresh).
    pub nonce: Option<Nonce>,
    /// The `sub` the token must name (refresh: the original login's subject, §12.2).
    pub subject: Option<String>,
    /// The `max_age` sent with the authorization request: `auth_time` is then required and
    /// must be at most this old (§3.1.2.1, §3.1.3.7 item 13).
    pub max_age: Option<u64>,
    /// `acr` values requested as essential (§5.5.1.1): `acr` must be one of them.
    pub essential_acr: Option<Vec<String>>,
    /// Leeway, `iat` age, `require_auth_time`, `require_typ`: from the client configuration.
    pub rules: ClaimRules,
}

impl IdTokenExpectations {
    /// The expectations of any ID token for this client: issuer, audience and the configured
    /// rules; no nonce, subject, `max_age` or `acr`.
    pub fn for_client(config: &crate::ClientConfig) -> Self {
        IdTokenExpectations {
            issuer: config.issuer.clone(),
            client_id: config.client_id.clone(),
            nonce: None,
            subject: None,
            max_age: None,
            essential_acr: None,
            rules: config.claim_rules,
        }
    }
}

/// Checks the claims of an ID token. Signature checking is the caller's (see [`IdTokenValidator`]).
pub fn check_id_token_claims(
    claims: &Claims,
    expect: &IdTokenExpectations,
    now: UnixTime,
) -> Result<(), Error> {
    let fail = |m: String| Err(Error::TokenValidation(m));
    match claims.iss() {
        Some(i) if i == expect.issuer => {}
        Some(i) => {
            return fail(format!(
                "`iss` is `{}`, expected `{}`",
                crate::error::sanitize(i),
                expect.issuer
            ))
        }
        None => return fail("`iss` is missing".into()),
    }
    check_typ(claims, "ID", expect.rules.require_typ)?;
    match (claims.sub(), &expect.subject) {
        (None, _) | (Some(""), _) => return fail("`sub` is missing".into()),
        (Some(got), Some(want)) if got != want => {
            return fail("`sub` differs from the original login's subject".into())
        }
        _ => {}
    }
    let aud = claims.aud();
    if !aud.contains(&expect.client_id.as_str()) {
        return fail(format!(
            "`aud` does not contain the client id `{}`",
            expect.client_id
        ));
    }
    let azp = claims.str("azp");
    if aud.len() > 1 && azp.is_none() {
        return fail("several audiences but no `azp`".into());
    }
    if let Some(azp) = azp {
        if azp != expect.client_id {
            return fail(format!(
                "`azp` is `{}`, expected `{}`",
                crate::error::sanitize(azp),
                expect.client_id
            ));
        }
    }
    let leeway = expect.rules.leeway_secs;
    match claims.numeric_date("exp")? {
        Some(exp) if now.0 < exp.saturating_add(leeway) => {}
        Some(_) => return fail("token expired (`exp`)".into()),
        None => return fail("`exp` is missing".into()),
    }
    match claims.numeric_date("iat")? {
        Some(iat) => {
            if iat > now.0.saturating_add(leeway) {
                return fail("`iat` is in the future".into());
            }
            if now.0.saturating_sub(iat) > expect.rules.max_iat_age_secs.saturating_add(leeway) {
                return fail("`iat` is too old".into());
            }
        }
        None => return fail("`iat` is missing".into()),
    }
    if let Some(nbf) = claims.numeric_date("nbf")? {
        if nbf > now.0.saturating_add(leeway) {
            return fail("token not yet valid (`nbf`)".into());
        }
    }
    check_auth_time(claims, expect, now)?;
    if let Some(wanted) = &expect.essential_acr {
        match claims.str("acr") {
            Some(acr) if wanted.iter().any(|w| w == acr) => {}
            Some(acr) => {
                return fail(format!(
                    "`acr` `{}` is not one of the essential values requested",
                    crate::error::sanitize(acr)
                ))
            }
            None => return fail("`acr` is missing although it was requested as essential".into()),
        }
    }
    match (&expect.nonce, claims.get("nonce")) {
        (Some(n), Some(Value::String(got))) if n.ct_eq(got) => {}
        (Some(_), Some(_)) => return fail("`nonce` does not match".into()),
        (Some(_), None) => return fail("`nonce` is missing".into()),
        (None, _) => {}
    }
    Ok(())
}

/// Decodes an ID token and checks its claims, not its signature: for ID tokens received
/// directly from the token endpoint over the back channel (OpenID Connect Core §3.1.3.7 item 6).
pub(crate) fn check_id_token_unsigned(
    token: &str,
    expect: &IdTokenExpectations,
    now: UnixTime,
) -> Result<Claims, Error> {
    let jwt = decode_unverified(token)?;
    check_id_token_claims(&jwt.claims, expect, now)?;
    Ok(jwt.claims)
}

/// `auth_time` (OpenID Connect Core §2): required with `max_age` or `require_auth_time`, never in
/// the future, and with `max_age` no older than `max_age` plus the leeway.
fn check_auth_time(
    claims: &Claims,
    expect: &IdTokenExpectations,
    now: UnixTime,
) -> Result<(), Error> {
    let leeway = expect.rules.leeway_secs;
    let required = expect.max_age.is_some() || expect.rules.require_auth_time;
    let Some(auth_time) = claims.numeric_date("auth_time")? else {
        if required {
            return Err(Error::TokenValidation(
                "`auth_time` is missing although `max_age` or `require_auth_time` asks for it"
                    .into(),
            ));
        }
        return Ok(());
    };
    if auth_time > now.0.saturating_add(leeway) {
        return Err(Error::TokenValidation(
            "`auth_time` is in the future".into(),
        ));
    }
    if let Some(max_age) = expect.max_age {
        if now.0.saturating_sub(auth_time) > max_age.saturating_add(leeway) {
            return Err(Error::TokenValidation(format!(
                "the user authenticated {} s ago, more than `max_age` {max_age} s",
                now.0.saturating_sub(auth_time)
            )));
        }
    }
    Ok(())
}

/// Keycloak's payload `typ` (`ID`, `Bearer`, `Logout`): a present value must be `want`
/// (case-insensitively); a missing one fails only when `required`.
pub(crate) fn check_typ(claims: &Claims, want: &str, required: bool) -> Result<(), Error> {
    match claims.get("typ") {
        None if !required => Ok(()),
        None => Err(Error::TokenValidation(format!(
            "`typ` is missing (expected `{want}`)"
        ))),
        Some(Value::String(t)) if t.eq_ignore_ascii_case(want) => Ok(()),
        Some(Value::String(t)) => Err(Error::TokenValidation(format!(
            "a `{}` token is not an `{want}` token",
            crate::error::sanitize(t)
        ))),
        Some(_) => Err(Error::TokenValidation("`typ` is not a string".into())),
    }
}

/// Verifies an ID token's signature and claims. Implemented by a crypto backend plus a key set.
pub trait IdTokenValidator: Send + Sync {
    /// Returns the verified claims, or why the token was rejected.
    fn validate_id_token(
        &self,
        id_token: &IdToken,
        access_token: Option<&AccessToken>,
        expect: &IdTokenExpectations,
        now: UnixTime,
    ) -> Result<Claims, Error>;

    /// Called before the authorization code is sent: `Ok(Some(request))` when the keys must be
    /// fetched first (none loaded, or stale), `Err` when validation is impossible and the code
    /// must not be spent ([`Error::KeysUnavailable`]). Default: ready; a validator that loads
    /// keys itself must override this, or the code may go out before it can validate.
    fn prepare(&self, _now: UnixTime) -> Result<Option<crate::http::Request>, Error> {
        Ok(None)
    }

    /// When validation failed with [`Error::UnknownKey`]: the request that refreshes the keys,
    /// if the validator's policy allows one now. Default: none.
    fn key_refresh_request(&self, _now: UnixTime) -> Option<crate::http::Request> {
        None
    }

    /// Installs the response to [`key_refresh_request`](Self::key_refresh_request).
    fn accept_key_refresh(
        &self,
        _response: crate::http::Response,
        _now: UnixTime,
    ) -> Result<(), Error> {
        Ok(())
    }

    /// [`prepare`](Self::prepare) for a validator shared by concurrent flows: one of them
    /// fetches the keys, the others [wait](KeyStep::Wait) for that fetch. Default: `prepare`.
    fn prepare_keys(&self, now: UnixTime) -> Result<KeyStep, Error> {
        Ok(match self.prepare(now)? {
            Some(r) => KeyStep::Fetch(r, KeyFetchGuard { _claim: None }),
            None => KeyStep::Ready,
        })
    }

    /// [`key_refresh_request`](Self::key_refresh_request) for a shared validator: `Ready`
    /// means no refetch is allowed now. Default: `key_refresh_request`.
    fn refresh_keys(&self, now: UnixTime) -> KeyStep {
        match self.key_refresh_request(now) {
            Some(r) => KeyStep::Fetch(r, KeyFetchGuard { _claim: None }),
            None => KeyStep::Ready,
        }
    }
}

/// What a flow does about a validator's keys.
#[derive(Debug)]
pub enum KeyStep {
    /// Nothing to fetch.
    Ready,
    /// Fetch them; hand the response to
    /// [`accept_key_refresh`](IdTokenValidator::accept_key_refresh), then drop the guard (it
    /// stands for this flow's claim on the one fetch).
    Fetch(crate::http::Request, KeyFetchGuard),
    /// Another flow is fetching them: wait, then look again.
    Wait(crate::single_flight::Waiter),
}

/// A flow's claim on the one key-set fetch of a shared validator (empty for validators that
/// do not share). Dropping it, once the answer is in (or the flow is gone), releases the flows
/// waiting for the keys; they look at the key set again (the refetch cooldown keeps them from
/// fetching once more).
#[derive(Debug)]
pub struct KeyFetchGuard {
    pub(crate) _claim: Option<crate::single_flight::Claim>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn unsigned_jwt(header: &Value, claims: &Value) -> String {
        let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.c2ln", e(header), e(claims))
    }

    fn expect() -> IdTokenExpectations {
        IdTokenExpectations {
            issuer: "http://i".into(),
            client_id: "c".into(),
            nonce: Some(Nonce::new("n1")),
            subject: None,
            max_age: None,
            essential_acr: None,
            rules: ClaimRules {
                leeway_secs: 30,
                max_iat_age_secs: 600,
                require_auth_time: false,
                require_typ: false,
            },
        }
    }

    fn good() -> Value {
        serde_json::json!({"iss":"http://i","sub":"u","aud":"c","exp":1100,"iat":1000,"nonce":"n1"})
    }

    fn check(c: Value) -> Result<(), Error> {
        check_id_token_claims(
            &Claims(c.as_object().unwrap().clone()),
            &expect(),
            UnixTime(1010),
        )
    }

    #[test]
    fn good_claims_pass() {
        check(good()).unwrap();
    }

    #[test]
    fn each_bad_claim_fails_with_its_reason() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("iss", serde_json::json!("http://evil"), "iss"),
            ("aud", serde_json::json!("other"), "aud"),
            ("exp", serde_json::json!(900), "expired"),
            ("exp", serde_json::json!("1100"), "exp"),
            ("iat", serde_json::json!(5000), "future"),
            ("nonce", serde_json::json!("n2"), "nonce"),
            ("nbf", serde_json::json!(5000), "nbf"),
            ("azp", serde_json::json!("other"), "azp"),
        ];
        for (k, v, reason) in cases {
            let mut c = good();
            c[k] = v;
            let e = check(c).unwrap_err().to_string();
            assert!(e.contains(reason), "{k}: {e}");
        }
        for k in ["iss", "sub", "exp", "iat", "nonce"] {
            let mut c = good();
            c.as_object_mut().unwrap().remove(k);
            let e = check(c).unwrap_err().to_string();
            assert!(e.contains(k), "{k}: {e}");
        }
        let mut c = good();
        c["aud"] = serde_json::json!(["c", "d"]);
        assert!(check(c).unwrap_err().to_string().contains("azp"));
    }

    #[test]
    fn decode_rejects_none_jwe_and_garbage() {
        let h = serde_json::json!({"alg":"none"});
        assert!(decode_unverified(&unsigned_jwt(&h, &good())).is_err());
        let h = serde_json::json!({"alg":"nOnE"});
        assert!(decode_unverified(&unsigned_jwt(&h, &good())).is_err());
        assert!(decode_unverified("a.b.c.d.e")
            .unwrap_err()
            .to_string()
            .contains("JWE"));
        assert!(decode_unverified("a.b").is_err());
        assert!(decode_unverified("!!.!!.!!").is_err());
        let h = serde_json::json!({"alg":"RS256","kid":"k"});
        let t = decode_unverified(&unsigned_jwt(&h, &good())).unwrap();
        assert_eq!(t.claims.sub(), Some("u"));
        assert_eq!(t.signature, b"sig");
    }

    #[test]
    fn numeric_dates_accept_non_negative_fractions_only() {
        let c = |v: Value| Claims(serde_json::json!({ "exp": v }).as_object().unwrap().clone());
        assert_eq!(
            c(serde_json::json!(1100)).numeric_date("exp").unwrap(),
            Some(1100)
        );
        assert_eq!(
            c(serde_json::json!(1100.7)).numeric_date("exp").unwrap(),
            Some(1100)
        );
        assert_eq!(
            c(serde_json::json!(0.0)).numeric_date("exp").unwrap(),
            Some(0)
        );
        assert!(c(serde_json::json!(-1.5)).numeric_date("exp").is_err());
        assert!(c(serde_json::json!(-1)).numeric_date("exp").is_err());
        assert!(c(serde_json::json!("1100")).numeric_date("exp").is_err());
        assert_eq!(c(serde_json::json!(1)).numeric_date("iat").unwrap(), None);
    }

    #[test]
    fn token_size_limit_is_exactly_64_kib_and_alg_is_required() {
        // The size check comes first: at the limit the token is parsed (and fails on content),
        // one byte over it is refused for its size.
        let sized = |n: usize| format!("{}.e30.c2ln", "a".repeat(n - 9));
        assert_eq!(sized(MAX_TOKEN_BYTES).len(), MAX_TOKEN_BYTES);
        let at = decode_unverified(&sized(MAX_TOKEN_BYTES)).unwrap_err();
        assert!(!at.to_string().contains("64 KiB"), "{at}");
        let over = decode_unverified(&sized(MAX_TOKEN_BYTES + 1)).unwrap_err();
        assert!(over.to_string().contains("64 KiB"), "{over}");
        let e = decode_unverified(&unsigned_jwt(&serde_json::json!({"typ":"JWT"}), &good()))
            .unwrap_err();
        assert!(e.to_string().contains("no `alg`"), "{e}");
    }

    #[test]
    fn every_time_check_is_exact_at_its_boundary() {
        // now 1010, leeway 30, max iat age 600
        let at = |k: &str, v: u64| {
            let mut c = good();
            c[k] = serde_json::json!(v);
            check(c)
        };
        // exp: valid while now < exp + leeway
        assert!(at("exp", 981).is_ok());
        assert!(at("exp", 980).unwrap_err().to_string().contains("expired"));
        // iat: not after now + leeway, not older than max age + leeway
        assert!(at("iat", 1040).is_ok());
        assert!(at("iat", 1041).unwrap_err().to_string().contains("future"));
        assert!(at("iat", 1010 - 630).is_ok());
        assert!(at("iat", 1010 - 631)
            .unwrap_err()
            .to_string()
            .contains("too old"));
        // nbf: not after now + leeway
        assert!(at("nbf", 1040).is_ok());
        assert!(at("nbf", 1041).unwrap_err().to_string().contains("nbf"));
        // auth_time: not after now + leeway; with max_age 100, not older than 130 s
        assert!(at("auth_time", 1040).is_ok());
        assert!(at("auth_time", 1041)
            .unwrap_err()
            .to_string()
            .contains("future"));
        let mut e = expect();
        e.max_age = Some(100);
        let with_auth = |t: u64| {
            let mut c = good();
            c["auth_time"] = serde_json::json!(t);
            check_id_token_claims(&Claims(c.as_object().unwrap().clone()), &e, UnixTime(1010))
        };
        assert!(with_auth(1010 - 130).is_ok());
        assert!(with_auth(1010 - 131)
            .unwrap_err()
            .to_string()
            .contains("max_age"));
    }
}
