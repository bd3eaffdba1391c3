//! The cost of DPoP (RFC 9449) next to the plain bearer path, both sides, in one run:
//! the client building a resource request (a proof signed per request) and the resource
//! server checking a proof (one signature verification) versus validating a bearer token.

use std::hint::black_box;
use std::sync::Arc;

use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use keycloak_client::dpop_proof::{verify_proof, ProofCheck};
use keycloak_client::{
    AccessToken, Algorithm, Client, Discovered, Dpop, Exchange, FixedClock, JwkSet, Method,
    TokenValidator, UnixTime,
};
use keycloak_client_bench::{fixture, now, CLIENT_ID, ISSUER};
use keycloak_client_ring::{RingSigner, RingVerifier};

#[path = "../../src/doc_fixtures.rs"]
mod fixtures;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn dpop_key(alg: Algorithm) -> Dpop {
    Dpop::new(
        RingSigner::generate(alg).unwrap().shared(),
        Arc::new(FixedClock(UnixTime(now()))),
        &mut rand::rng(),
    )
    .unwrap()
}

fn with_dpop(client: &Client, d: Dpop) -> Client {
    let mut cfg = client.config.clone();
    cfg.dpop = Some(d);
    Client::new(
        cfg,
        Discovered {
            provider: client.provider.clone(),
            uma: None,
            fetched_at: UnixTime(now()),
        },
    )
}

fn client_side(c: &mut Criterion) {
    let client = fixtures::client();
    let at = AccessToken::new("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln");
    c.bench_function("dpop/client/userinfo_request_bearer", |b| {
        b.iter(|| black_box(client.userinfo(&at).unwrap().request()))
    });
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let bound = with_dpop(&client, dpop_key(alg));
        c.bench_function(&format!("dpop/client/userinfo_request_dpop_{alg}"), |b| {
            b.iter(|| black_box(bound.userinfo(&at).unwrap().request()))
        });
    }
}

fn server_side(c: &mut Criterion) {
    let f = fixture();
    let client = fixtures::client();
    let v = TokenValidator::new(&client, Arc::new(RingVerifier)).unwrap();
    v.install_keys(JwkSet::parse(f.jwks.as_bytes()).unwrap(), UnixTime(now()));
    let t = now();
    let header = serde_json::json!({"alg":"RS256","typ":"JWT","kid":"k1"});
    let claims = serde_json::json!({"iss":ISSUER,"sub":"f:1234:alice","aud":CLIENT_ID,"azp":CLIENT_ID,
        "exp":t + 3600,"iat":t,"typ":"Bearer"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; f.key.public().modulus_len()];
    f.key
        .sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .unwrap();
    let access = format!("{input}.{}", b64(&sig));
    c.bench_function("dpop/server/bearer_validate_rs256", |b| {
        b.iter(|| black_box(v.validate_access_token(&access, UnixTime(now())).unwrap()))
    });
    let url: url::Url = "http://127.0.0.1:8000/api/me".parse().unwrap();
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let d = dpop_key(alg);
        let proof = d.proof(Method::Get, &url, Some(&access)).unwrap();
        let algs = [Algorithm::ES256, Algorithm::EdDSA];
        c.bench_function(&format!("dpop/server/verify_proof_{alg}"), |b| {
            b.iter(|| {
                let check = ProofCheck {
                    method: "GET",
                    url: &url,
                    access_token: Some(&access),
                    now: UnixTime(now()),
                    max_age_secs: 60,
                    leeway_secs: 5,
                    algorithms: &algs,
                    nonce: None,
                };
                black_box(verify_proof(&proof, &check, &RingVerifier).unwrap())
            })
        });
    }
}

criterion_group!(benches, client_side, server_side);
criterion_main!(benches);
