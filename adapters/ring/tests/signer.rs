//! `RingSigner`: every algorithm signs what `RingVerifier` accepts with the derived public
//! JWK; keys load from PEM (OpenSSL's own output), a private JWK, or are generated; nothing
//! secret shows in `Debug`, and bad keys are typed errors.

use keycloak_client::{Algorithm, JwsSigner, JwsVerifier, VerificationKey};
use keycloak_client_ring::{KeyError, RingSigner, RingVerifier};

/// A private key made by OpenSSL (`genpkey`), as PKCS#8 PEM.
fn openssl_key(args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .arg("genpkey")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn round_trip(s: &RingSigner) {
    let msg = b"header.claims";
    let sig = s.sign(msg).unwrap();
    let jwk = s.public_jwk();
    RingVerifier
        .verify(s.algorithm(), VerificationKey::Public(&jwk), msg, &sig)
        .unwrap_or_else(|e| panic!("{}: {e}", s.algorithm()));
    assert!(
        RingVerifier
            .verify(s.algorithm(), VerificationKey::Public(&jwk), b"other", &sig)
            .is_err(),
        "{}: a signature over other bytes fails",
        s.algorithm()
    );
    assert_eq!(jwk.kid.as_deref(), s.key_id());
    assert_eq!(jwk.thumbprint().as_deref(), Some(s.thumbprint().as_str()));
    assert_eq!(
        s.key_id(),
        Some(s.thumbprint().as_str()),
        "the thumbprint is the kid"
    );
}

#[test]
fn every_algorithm_signs_what_the_verifier_accepts() {
    let rsa = openssl_key(&["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]);
    for alg in [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::RS512,
        Algorithm::PS384,
    ] {
        round_trip(&RingSigner::from_pem(&rsa, alg).unwrap());
    }
    let p256 = openssl_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    round_trip(&RingSigner::from_pem(&p256, Algorithm::ES256).unwrap());
    let p384 = openssl_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"]);
    round_trip(&RingSigner::from_pem(&p384, Algorithm::ES384).unwrap());
    let ed = openssl_key(&["-algorithm", "ED25519"]);
    round_trip(&RingSigner::from_pem(&ed, Algorithm::EdDSA).unwrap());
    for alg in [Algorithm::ES256, Algorithm::ES384, Algorithm::EdDSA] {
        let a = RingSigner::generate(alg).unwrap();
        round_trip(&a);
        let b = RingSigner::generate(alg).unwrap();
        assert_ne!(a.thumbprint(), b.thumbprint(), "{alg}: fresh keys");
    }
}

/// RFC 7515 Appendix A.3's P-256 key as a private JWK: the public half and its RFC 7638
/// thumbprint come out of the private key.
#[test]
fn a_private_jwk_loads_and_keeps_its_kid() {
    let jwk = r#"{"kty":"EC","crv":"P-256","kid":"a3",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
    let s = RingSigner::from_jwk(jwk, Some(Algorithm::ES256)).unwrap();
    assert_eq!(s.key_id(), Some("a3"));
    let public = s.public_jwk();
    assert_eq!(
        public.x.as_deref(),
        Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU")
    );
    assert_eq!(
        public.y.as_deref(),
        Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0")
    );
    let sig = s.sign(b"m").unwrap();
    RingVerifier
        .verify(
            Algorithm::ES256,
            VerificationKey::Public(&public),
            b"m",
            &sig,
        )
        .unwrap();
    // the private member never appears in what the signer shows or publishes
    assert!(!format!("{s:?}").contains("jpsQ"));
    assert!(!s.public_jwks().contains("jpsQ"));
    assert!(!s.public_jwks().contains("\"d\""));
}

#[test]
fn bad_keys_are_typed_errors() {
    assert!(matches!(
        RingSigner::from_pem("not a key", Algorithm::RS256),
        Err(KeyError::Pem(_))
    ));
    let p256 = openssl_key(&["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]);
    assert!(matches!(
        RingSigner::from_pem(&p256, Algorithm::RS256),
        Err(KeyError::Rejected { .. })
    ));
    assert!(matches!(
        RingSigner::from_pem(&p256, Algorithm::ES384),
        Err(KeyError::Rejected { .. })
    ));
    assert!(matches!(
        RingSigner::from_pem(&p256, Algorithm::HS256),
        Err(KeyError::Unsupported(_))
    ));
    assert!(matches!(
        RingSigner::generate(Algorithm::RS256),
        Err(KeyError::Unsupported(_))
    ));
    let tampered = r#"{"kty":"EC","crv":"P-256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        "d":"AAAQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
    assert!(RingSigner::from_jwk(tampered, Some(Algorithm::ES256)).is_err());
    assert!(matches!(
        RingSigner::from_jwk(r#"{"kty":"EC"}"#, None),
        Err(KeyError::Jwk(_))
    ));
    assert!(matches!(
        RingSigner::from_jwk(r#"{"kty":"RSA","alg":"ES256"}"#, None),
        Err(KeyError::Jwk(_))
    ));
}
