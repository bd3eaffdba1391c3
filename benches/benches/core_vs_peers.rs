//! Per-step cost of the core against openidconnect-rs and against the physical limit, on
//! identical bytes and the same RSA key (issue: benchmarks, items 1 and 2).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use keycloak_client::{
    IdTokenExpectations, IdTokenValidator, JwkSet, Nonce, Response, TokenSet, TokenValidator,
    UnixTime,
};
use keycloak_client_bench::{fixture, now, CLIENT_ID, ISSUER, NONCE};

#[path = "../../src/doc_fixtures.rs"]
mod fixtures;

fn ours(c: &mut Criterion) {
    let f = fixture();
    let client = fixtures::client();
    let v = TokenValidator::new(&client, Arc::new(keycloak_client_ring::RingVerifier)).unwrap();
    v.install_keys(JwkSet::parse(f.jwks.as_bytes()).unwrap(), UnixTime(now()));
    let expect = IdTokenExpectations {
        issuer: ISSUER.into(),
        client_id: CLIENT_ID.into(),
        nonce: Some(Nonce::new(NONCE)),
        ..IdTokenExpectations::for_client(&client.config)
    };
    let mut rng = rand::rng();
    c.bench_function("ours/authorize_url", |b| {
        b.iter(|| {
            black_box(
                client
                    .login()
                    .scope("email")
                    .build(&mut rng, UnixTime(now()))
                    .unwrap(),
            )
        })
    });
    c.bench_function("ours/token_response+id_token", |b| {
        b.iter(|| {
            let r = keycloak_client::TokenResponse::parse(
                &Response::json(200, f.token_body.clone()),
                1 << 20,
            )
            .unwrap();
            let t = TokenSet::from_response(r, UnixTime(now()));
            let id = t.id_token.as_ref().unwrap();
            black_box(
                v.validate_id_token(id, Some(&t.access_token), &expect, UnixTime(now()))
                    .unwrap(),
            )
        })
    });
    let at = keycloak_client::AccessToken::new("at");
    c.bench_function("ours/userinfo", |b| {
        b.iter(|| {
            use keycloak_client::Exchange;
            let step = client.userinfo(&at).unwrap().expect_subject("f:1234:alice");
            black_box(
                step.handle(
                    Response::json(200, f.userinfo_body.clone()),
                    UnixTime(now()),
                )
                .unwrap(),
            )
        })
    });
}

fn theirs(c: &mut Criterion) {
    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreIdTokenVerifier, CoreJsonWebKeySet,
        CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType, CoreSubjectIdentifierType,
        CoreTokenResponse, CoreUserInfoClaims,
    };
    use openidconnect::{
        AuthUrl, ClientId, ClientSecret, CsrfToken, EmptyAdditionalProviderMetadata, IssuerUrl,
        JsonWebKeySetUrl, Nonce, PkceCodeChallenge, RedirectUrl, ResponseTypes, Scope,
    };
    let f = fixture();
    let meta = CoreProviderMetadata::new(
        IssuerUrl::new(ISSUER.into()).unwrap(),
        AuthUrl::new(format!("{ISSUER}/protocol/openid-connect/auth")).unwrap(),
        JsonWebKeySetUrl::new(format!("{ISSUER}/protocol/openid-connect/certs")).unwrap(),
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        EmptyAdditionalProviderMetadata {},
    );
    let client = CoreClient::from_provider_metadata(
        meta,
        ClientId::new(CLIENT_ID.into()),
        Some(ClientSecret::new("rkc-rs-secret".into())),
    )
    .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:8000/callback".into()).unwrap());
    let jwks: CoreJsonWebKeySet = serde_json::from_str(&f.jwks).unwrap();
    let verifier = CoreIdTokenVerifier::new_confidential_client(
        ClientId::new(CLIENT_ID.into()),
        ClientSecret::new("rkc-rs-secret".into()),
        IssuerUrl::new(ISSUER.into()).unwrap(),
        jwks,
    );
    let nonce = Nonce::new(NONCE.into());
    c.bench_function("openidconnect/authorize_url", |b| {
        b.iter(|| {
            let (pkce, _verifier) = PkceCodeChallenge::new_random_sha256();
            black_box(
                client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        CsrfToken::new_random,
                        Nonce::new_random,
                    )
                    .add_scope(Scope::new("email".into()))
                    .set_pkce_challenge(pkce)
                    .url(),
            )
        })
    });
    c.bench_function("openidconnect/token_response+id_token", |b| {
        b.iter(|| {
            let r: CoreTokenResponse = serde_json::from_slice(&f.token_body).unwrap();
            let id = r.extra_fields().id_token().unwrap();
            black_box(id.claims(&verifier, &nonce).unwrap().subject().clone())
        })
    });
    c.bench_function("openidconnect/userinfo", |b| {
        let sub = openidconnect::SubjectIdentifier::new("f:1234:alice".into());
        b.iter(|| {
            black_box(
                CoreUserInfoClaims::from_json::<std::io::Error>(&f.userinfo_body, Some(&sub))
                    .unwrap(),
            )
        })
    });
}

/// The physical limit: a bare `serde_json::from_slice` into a plain struct plus one raw ring
/// RSA verification of the ID token.
fn limit(c: &mut Criterion) {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Plain {
        access_token: String,
        token_type: String,
        expires_in: u64,
        refresh_token: String,
        id_token: String,
        scope: String,
    }
    let f = fixture();
    let pk: ring::signature::RsaPublicKeyComponents<Vec<u8>> = f.key.public().into();
    c.bench_function("limit/serde+ring_verify", |b| {
        b.iter(|| {
            let p: Plain = serde_json::from_slice(&f.token_body).unwrap();
            let (input, sig) = p.id_token.rsplit_once('.').unwrap();
            let sig =
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
                    .unwrap();
            black_box(
                pk.verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    input.as_bytes(),
                    &sig,
                )
                .is_ok(),
            )
        })
    });
    let _ = &f.id_token;
}

criterion_group!(benches, ours, theirs, limit);
criterion_main!(benches);
