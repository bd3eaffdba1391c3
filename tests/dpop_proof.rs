//! DPoP proofs checked by a resource server (RFC 9449 §4.3): every rule refuses on its own.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::NOW;
use keycloak_client::dpop_proof::{verify_proof, ProofCheck, VerifiedProof};
use keycloak_client::{Algorithm, Dpop, Error, FixedClock, Method, UnixTime};
use keycloak_client_ring::{RingSigner, RingVerifier};

const ALGS: &[Algorithm] = &[Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256];

fn url() -> url::Url {
    "https://api.example/v1/items?page=2".parse().unwrap()
}

/// A DPoP key whose clock says `at`, and another key to re-sign edited proofs with.
fn key(at: UnixTime) -> (Dpop, RingSigner) {
    let signer = RingSigner::generate(Algorithm::ES256).unwrap();
    let dpop = Dpop::new(
        Arc::new(RingSigner::generate(Algorithm::ES256).unwrap()),
        Arc::new(FixedClock(at)),
        &mut rand::rng(),
    )
    .unwrap();
    (dpop, signer)
}

fn check<'a>(u: &'a url::Url, token: Option<&'a str>) -> ProofCheck<'a> {
    ProofCheck {
        method: "GET",
        url: u,
        access_token: token,
        now: NOW,
        max_age_secs: 60,
        leeway_secs: 5,
        algorithms: ALGS,
        nonce: None,
    }
}

fn verify(proof: &str, c: &ProofCheck<'_>) -> Result<VerifiedProof, Error> {
    verify_proof(proof, c, &RingVerifier)
}

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn dec(s: &str) -> serde_json::Value {
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .unwrap(),
    )
    .unwrap()
}

/// The proof with its header or claims edited (the signature no longer matches unless
/// `resign` signs it again with `signer`).
fn edited(
    proof: &str,
    header: impl Fn(&mut serde_json::Value),
    claims: impl Fn(&mut serde_json::Value),
    signer: Option<&RingSigner>,
) -> String {
    use keycloak_client::JwsSigner as _;
    let p: Vec<&str> = proof.split('.').collect();
    let (mut h, mut c) = (dec(p[0]), dec(p[1]));
    header(&mut h);
    claims(&mut c);
    let input = format!("{}.{}", b64(&h), b64(&c));
    let sig = match signer {
        Some(s) => {
            h["jwk"] = serde_json::to_value(s.public_jwk()).unwrap();
            let input = format!("{}.{}", b64(&h), b64(&c));
            let sig = s.sign(input.as_bytes()).unwrap();
            return format!(
                "{input}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
            );
        }
        None => p[2].to_string(),
    };
    format!("{input}.{sig}")
}

#[test]
fn a_good_proof_passes_and_names_its_key() {
    let (d, _) = key(NOW);
    let u = url();
    let p = d.proof(Method::Get, &u, Some("at-1")).unwrap();
    let v = verify(&p, &check(&u, Some("at-1"))).unwrap();
    assert_eq!(v.jkt, d.jkt());
    assert_eq!(v.iat, NOW);
    // the query and fragment are not part of the target
    let other_query: url::Url = "https://api.example/v1/items?page=3#x".parse().unwrap();
    assert!(verify(&p, &check(&other_query, Some("at-1"))).is_ok());
    // RFC 3986 §6.2.2 equivalent spellings of the same target
    let escaped: url::Url = "https://API.example:443/v1/%69tems".parse().unwrap();
    assert!(
        verify(&p, &check(&escaped, Some("at-1"))).is_ok(),
        "case, port, unreserved escape"
    );
    let a: url::Url = "https://api.example/a%2fb".parse().unwrap();
    let q = d.proof(Method::Get, &a, None).unwrap();
    let b: url::Url = "https://api.example/a%2Fb".parse().unwrap();
    assert!(verify(&q, &check(&b, None)).is_ok(), "hex case");
    let slash: url::Url = "https://api.example/a/b".parse().unwrap();
    assert!(
        verify(&q, &check(&slash, None)).is_err(),
        "an encoded slash is not a slash"
    );
    assert_eq!(
        keycloak_client::dpop_proof::normalize_escapes("/x%7e%2f%41%zz%4"),
        "/x~%2FA%zz%4"
    );
    // without a token, no `ath` is needed
    let p = d.proof(Method::Get, &u, None).unwrap();
    assert!(verify(&p, &check(&u, None)).is_ok());
}

#[test]
fn each_rule_refuses_on_its_own() {
    let (d, signer) = key(NOW);
    let u = url();
    let good = d.proof(Method::Get, &u, Some("at-1")).unwrap();
    let c = check(&u, Some("at-1"));
    let refuse = |p: &str, what: &str| {
        let e = verify(p, &c).unwrap_err();
        assert!(matches!(e, Error::Dpop(_)), "{what}: {e:?}");
    };
    // request binding
    let mut post = check(&u, Some("at-1"));
    post.method = "POST";
    assert!(verify(&good, &post).is_err(), "htm");
    let elsewhere: url::Url = "https://api.example/v1/other".parse().unwrap();
    assert!(
        verify(&good, &check(&elsewhere, Some("at-1"))).is_err(),
        "htu"
    );
    let http: url::Url = "http://api.example/v1/items".parse().unwrap();
    assert!(
        verify(&good, &check(&http, Some("at-1"))).is_err(),
        "htu scheme"
    );
    assert!(verify(&good, &check(&u, Some("at-2"))).is_err(), "ath");
    // time
    let (old, _) = key(NOW.minus(61));
    refuse(
        &old.proof(Method::Get, &u, Some("at-1")).unwrap(),
        "too old",
    );
    let (future, _) = key(NOW.plus(6));
    refuse(
        &future.proof(Method::Get, &u, Some("at-1")).unwrap(),
        "future",
    );
    let (edge, _) = key(NOW.minus(60));
    assert!(verify(&edge.proof(Method::Get, &u, Some("at-1")).unwrap(), &c).is_ok());
    // tampering (signature no longer verifies)
    refuse(
        &edited(&good, |_| {}, |c| c["iat"] = (NOW.0 + 1).into(), None),
        "tampered claims",
    );
    // re-signed by another key but presenting a different jwk: the signature fails
    let other = RingSigner::generate(Algorithm::ES256).unwrap();
    let resigned = edited(&good, |_| {}, |_| {}, Some(&other));
    let v = verify(&resigned, &c).unwrap();
    assert_ne!(v.jkt, d.jkt(), "a proof of another key names another jkt");
    // header rules, re-signed so only the rule under test fails
    let with = |h: &dyn Fn(&mut serde_json::Value), cl: &dyn Fn(&mut serde_json::Value)| {
        edited(&good, h, cl, Some(&signer))
    };
    refuse(&with(&|h| h["typ"] = "JWT".into(), &|_| {}), "typ");
    refuse(
        &with(
            &|h| {
                h.as_object_mut().unwrap().remove("typ");
            },
            &|_| {},
        ),
        "no typ",
    );
    refuse(
        &with(&|h| h["crit"] = serde_json::json!(["x"]), &|_| {}),
        "crit",
    );
    refuse(
        &with(&|_| {}, &|c| {
            c.as_object_mut().unwrap().remove("jti");
        }),
        "no jti",
    );
    refuse(&with(&|_| {}, &|c| c["jti"] = 7.into()), "jti type");
    refuse(&with(&|_| {}, &|c| c["iat"] = "now".into()), "iat type");
    refuse(
        &with(&|_| {}, &|c| {
            c.as_object_mut().unwrap().remove("ath");
        }),
        "no ath",
    );
    refuse(
        &with(&|_| {}, &|c| c["htu"] = "not a url".into()),
        "htu syntax",
    );
    // `none`, HMAC, a private key in the header
    refuse(
        &edited(&good, |h| h["alg"] = "none".into(), |_| {}, None),
        "alg none",
    );
    refuse(
        &edited(&good, |h| h["alg"] = "HS256".into(), |_| {}, None),
        "alg HS256",
    );
    refuse(
        &edited(&good, |h| h["alg"] = "PS512".into(), |_| {}, None),
        "alg not allowed",
    );
    refuse(
        &edited(&good, |h| h["jwk"]["d"] = "AAAA".into(), |_| {}, None),
        "private jwk",
    );
    refuse(
        &edited(&good, |h| h["jwk"]["kty"] = "RSA".into(), |_| {}, None),
        "kty",
    );
    // shape
    refuse("a.b", "two parts");
    refuse("a.b.c.d", "four parts");
    refuse(&"x".repeat(9000), "too long");
    refuse("e30.e30.", "empty");
}

/// An asymmetric algorithm the resource server does not allow is refused even with a key
/// that fits it.
#[test]
fn only_the_allowed_algorithms_pass() {
    let (d, _) = key(NOW);
    let u = url();
    let p = d.proof(Method::Get, &u, None).unwrap();
    let mut c = check(&u, None);
    c.algorithms = &[Algorithm::EdDSA];
    assert!(
        matches!(verify(&p, &c), Err(Error::Dpop(_))),
        "ES256 not allowed"
    );
    c.algorithms = &[Algorithm::ES256];
    assert!(verify(&p, &c).is_ok());
}

#[test]
fn a_required_nonce_must_match() {
    let (d, _) = key(NOW);
    let u = url();
    let p = d.proof(Method::Get, &u, Some("at")).unwrap();
    let mut c = check(&u, Some("at"));
    c.nonce = Some("n-1");
    assert!(matches!(verify(&p, &c), Err(Error::Dpop(ref m)) if m == "use_dpop_nonce"));
}

/// Server-issued nonces (RFC 9449 §9), stateless: accepted until they expire, by any issuer
/// with the same key and audience; refused when missing, forged, from another key or audience,
/// edited, expired, or expiring further ahead than this server's lifetime allows (an instance
/// with a longer lifetime cannot extend another's). Lifetimes out of range are refused. The
/// proof reports the nonce it carried.
#[test]
fn server_nonces_are_accepted_within_their_lifetime_and_only_with_the_key() {
    use keycloak_client::dpop_nonce::{NonceIssuer, NonceProblem};
    const AUD: &str = "https://api.example";
    let issuer = NonceIssuer::new([7; 32], AUD, 120).unwrap();
    let n = issuer.issue(NOW);
    assert_eq!(n.len(), 32);
    assert_eq!(issuer.check(Some(&n), NOW), Ok(()));
    assert_eq!(issuer.check(Some(&n), NOW.plus(120)), Ok(()));
    assert_eq!(
        issuer.check(Some(&n), NOW.plus(121)),
        Err(NonceProblem::Stale)
    );
    // a clock a little behind the issuer's is fine; far behind, the nonce is too far ahead
    assert_eq!(issuer.check(Some(&n), NOW.minus(5)), Ok(()));
    assert_eq!(
        issuer.check(Some(&n), NOW.minus(6)),
        Err(NonceProblem::Stale)
    );
    // another instance with the same key and audience accepts it ...
    assert_eq!(
        NonceIssuer::new([7; 32], AUD, 120)
            .unwrap()
            .check(Some(&n), NOW),
        Ok(())
    );
    // ... but one with a shorter lifetime refuses what it would not have issued
    let short = NonceIssuer::new([7; 32], AUD, 60).unwrap();
    assert_eq!(short.check(Some(&n), NOW), Err(NonceProblem::Stale));
    assert_eq!(short.check(Some(&n), NOW.plus(55)), Ok(()));
    // a longer lifetime elsewhere does not lengthen this one's nonces
    let long = NonceIssuer::new([7; 32], AUD, 600).unwrap();
    assert_eq!(
        long.check(Some(&n), NOW.plus(121)),
        Err(NonceProblem::Stale)
    );
    // another key or another audience does not
    for other in [
        NonceIssuer::new([8; 32], AUD, 120).unwrap(),
        NonceIssuer::new([7; 32], "https://other.example", 120).unwrap(),
    ] {
        assert_eq!(other.check(Some(&n), NOW), Err(NonceProblem::Unknown));
    }
    assert_eq!(issuer.check(None, NOW), Err(NonceProblem::Missing));
    // any edited character (time or tag) is refused
    for i in 0..n.len() {
        let mut b = n.clone().into_bytes();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let edited = String::from_utf8(b).unwrap();
        assert!(issuer.check(Some(&edited), NOW).is_err(), "edited at {i}");
    }
    for junk in [
        "",
        "n-1",
        &n[..31],
        &format!("{n}A"),
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
    ] {
        assert_eq!(
            issuer.check(Some(junk), NOW),
            Err(NonceProblem::Unknown),
            "{junk}"
        );
    }
    assert!(
        !format!("{issuer:?}").contains("7, 7"),
        "the key is redacted"
    );
    for bad in [0, 1, 9, 86_401, u64::MAX] {
        assert!(NonceIssuer::new([7; 32], AUD, bad).is_err(), "{bad}");
    }

    // the verified proof carries its nonce
    let (d, _) = key(NOW);
    let u = url();
    let p = d.proof(Method::Get, &u, Some("at")).unwrap();
    assert_eq!(verify(&p, &check(&u, Some("at"))).unwrap().nonce, None);
    let challenge = keycloak_client::Response::new(
        401,
        vec![
            (
                "www-authenticate".into(),
                "DPoP error=\"use_dpop_nonce\"".into(),
            ),
            ("dpop-nonce".into(), n.clone()),
        ],
        "",
    );
    assert!(d.learn_nonce(&u, &challenge));
    let p = d.proof(Method::Get, &u, Some("at")).unwrap();
    let v = verify(&p, &check(&u, Some("at"))).unwrap();
    assert_eq!(v.nonce.as_deref(), Some(n.as_str()));
    assert_eq!(issuer.check(v.nonce.as_deref(), NOW), Ok(()));
}
