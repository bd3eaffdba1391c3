#![no_main]
//! What a client reads from a server about DPoP (RFC 9449 §8, §9): `DPoP-Nonce` headers,
//! `WWW-Authenticate: DPoP` and `use_dpop_nonce` bodies, through a token request's nonce
//! retry and its response handling. Never a panic, never a header injection into the next
//! proof.
use std::sync::Arc;

use keycloak_client::{Algorithm, Dpop, Exchange, FixedClock, Response, UnixTime};
use libfuzzer_sys::fuzz_target;

#[path = "../../src/doc_fixtures.rs"]
mod fixtures;
use fixtures::NOW;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let nonce = parts.next().unwrap_or_default().to_string();
    let www = parts.next().unwrap_or_default().to_string();
    let body = parts.next().unwrap_or_default().as_bytes().to_vec();
    let signer = keycloak_client_ring::RingSigner::generate(Algorithm::ES256).unwrap();
    let dpop = Dpop::new(signer.shared(), Arc::new(FixedClock(UnixTime(NOW.0))), &mut rand::rng())
        .unwrap();
    let url: url::Url = "http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/token"
        .parse()
        .unwrap();
    for status in [200u16, 400, 401] {
        let resp = Response::new(
            status,
            vec![
                ("content-type".into(), "application/json".into()),
                ("dpop-nonce".into(), nonce.clone()),
                ("www-authenticate".into(), www.clone()),
            ],
            body.clone(),
        );
        let _ = keycloak_client::dpop::asks_for_nonce(&resp);
        let _ = dpop.learn_nonce(&url, &resp);
        let proof = dpop.proof(keycloak_client::Method::Post, &url, None).unwrap();
        assert!(!proof.contains('\r') && !proof.contains('\n'));
        let client = fixtures::client();
        let ex = client.pat().unwrap();
        let _ = ex.retry(&resp);
        let _ = ex.handle(resp, NOW);
    }
});
