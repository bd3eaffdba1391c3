//! One benchmark step run N times, for instruction counts under
//! `valgrind --tool=callgrind` (stable on a noisy machine): `steps <step> <iterations>`.

use std::hint::black_box;
use std::sync::Arc;

use keycloak_client::{
    IdTokenExpectations, IdTokenValidator, JwkSet, Nonce, Response, TokenSet, TokenValidator,
    UnixTime,
};
use keycloak_client_bench::{fixture, now, CLIENT_ID, ISSUER, NONCE};

#[path = "../../../src/doc_fixtures.rs"]
mod fixtures;

fn main() {
    let mut args = std::env::args().skip(1);
    let step = args.next().expect("step");
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    let f = fixture();
    match step.as_str() {
        "setup" => {}
        "ours/authorize_url" => {
            let client = fixtures::client();
            let mut rng = rand::rng();
            for _ in 0..n {
                black_box(
                    client
                        .login()
                        .scope("email")
                        .build(&mut rng, UnixTime(now()))
                        .unwrap(),
                );
            }
        }
        "ours/token_response+id_token" => {
            let client = fixtures::client();
            let v =
                TokenValidator::new(&client, Arc::new(keycloak_client_ring::RingVerifier)).unwrap();
            v.install_keys(JwkSet::parse(f.jwks.as_bytes()).unwrap(), UnixTime(now()));
            let expect = IdTokenExpectations {
                issuer: ISSUER.into(),
                client_id: CLIENT_ID.into(),
                nonce: Some(Nonce::new(NONCE)),
                ..IdTokenExpectations::for_client(&client.config)
            };
            for _ in 0..n {
                let r = keycloak_client::TokenResponse::parse(
                    &Response::json(200, f.token_body.clone()),
                    1 << 20,
                )
                .unwrap();
                let t = TokenSet::from_response(r, UnixTime(now()));
                black_box(
                    v.validate_id_token(
                        t.id_token.as_ref().unwrap(),
                        Some(&t.access_token),
                        &expect,
                        UnixTime(now()),
                    )
                    .unwrap(),
                );
            }
        }
        "ours/userinfo" => {
            use keycloak_client::Exchange;
            let client = fixtures::client();
            let at = keycloak_client::AccessToken::new("at");
            for _ in 0..n {
                let step = client.userinfo(&at).unwrap().expect_subject("f:1234:alice");
                black_box(
                    step.handle(
                        Response::json(200, f.userinfo_body.clone()),
                        UnixTime(now()),
                    )
                    .unwrap(),
                );
            }
        }
        "openidconnect/token_response+id_token" => {
            use openidconnect::core::{CoreIdTokenVerifier, CoreJsonWebKeySet, CoreTokenResponse};
            use openidconnect::{ClientId, ClientSecret, IssuerUrl};
            let jwks: CoreJsonWebKeySet = serde_json::from_str(&f.jwks).unwrap();
            let verifier = CoreIdTokenVerifier::new_confidential_client(
                ClientId::new(CLIENT_ID.into()),
                ClientSecret::new("rkc-rs-secret".into()),
                IssuerUrl::new(ISSUER.into()).unwrap(),
                jwks,
            );
            let nonce = openidconnect::Nonce::new(NONCE.into());
            for _ in 0..n {
                let r: CoreTokenResponse = serde_json::from_slice(&f.token_body).unwrap();
                let id = r.extra_fields().id_token().unwrap();
                black_box(id.claims(&verifier, &nonce).unwrap().subject().clone());
            }
        }
        "openidconnect/userinfo" => {
            use openidconnect::core::CoreUserInfoClaims;
            let sub = openidconnect::SubjectIdentifier::new("f:1234:alice".into());
            for _ in 0..n {
                black_box(
                    CoreUserInfoClaims::from_json::<std::io::Error>(&f.userinfo_body, Some(&sub))
                        .unwrap(),
                );
            }
        }
        "openidconnect/authorize_url" => {
            use openidconnect::core::{
                CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
                CoreResponseType, CoreSubjectIdentifierType,
            };
            use openidconnect::{
                AuthUrl, ClientId, ClientSecret, CsrfToken, EmptyAdditionalProviderMetadata,
                IssuerUrl, JsonWebKeySetUrl, PkceCodeChallenge, RedirectUrl, ResponseTypes, Scope,
            };
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
                Some(ClientSecret::new("s".into())),
            )
            .set_redirect_uri(RedirectUrl::new("http://127.0.0.1:8000/callback".into()).unwrap());
            for _ in 0..n {
                let (pkce, _v) = PkceCodeChallenge::new_random_sha256();
                let _ = black_box(
                    client
                        .authorize_url(
                            CoreAuthenticationFlow::AuthorizationCode,
                            CsrfToken::new_random,
                            openidconnect::Nonce::new_random,
                        )
                        .add_scope(Scope::new("email".into()))
                        .set_pkce_challenge(pkce)
                        .url(),
                );
            }
        }
        other => panic!("unknown step {other}"),
    }
}
