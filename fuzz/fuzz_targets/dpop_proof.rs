#![no_main]
//! The resource server's DPoP proof checks (RFC 9449 §4.3) on arbitrary proofs: typed errors,
//! never a panic. The first byte picks whether an access token (`ath`) and a nonce are
//! expected. The same bytes go through the server-nonce check (`dpop_nonce::NonceIssuer`), as
//! the `nonce` of an accepted proof would.
use keycloak_client::dpop_proof::{verify_proof, ProofCheck};
use keycloak_client::{Algorithm, UnixTime};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(proof) = std::str::from_utf8(rest) else {
        return;
    };
    let url: url::Url = "https://api.example/v1/items".parse().unwrap();
    let check = ProofCheck {
        method: "GET",
        url: &url,
        access_token: (flags & 1 == 1).then_some("at"),
        now: UnixTime(1_800_000_000),
        max_age_secs: 60,
        leeway_secs: 5,
        algorithms: &[Algorithm::ES256, Algorithm::RS256, Algorithm::EdDSA],
        nonce: (flags & 2 == 2).then_some("n"),
    };
    let _ = verify_proof(proof, &check, &keycloak_client_ring::RingVerifier);
    let issuer =
        keycloak_client::dpop_nonce::NonceIssuer::new([1; 32], "https://api.example", 60)
            .unwrap();
    let _ = issuer.check(Some(proof), UnixTime(1_800_000_000));
});
