//! The standard OIDC flows against a second, independent provider: panva's certified
//! oidc-provider (`scripts/oidc-provider up`, 127.0.0.1:18100): discovery, login with PKCE,
//! ID-token validation, userinfo, refresh, revocation, introspection.

use std::sync::Arc;

use keycloak_client::{ClientConfig, TokenTypeHint};
use keycloak_client_testkit::browser::Browser;
use keycloak_client_ureq::Keycloak;

const OP: &str = "http://127.0.0.1:18100";

fn op() -> Keycloak {
    let up = ureq::get(&format!("{OP}/.well-known/openid-configuration")).call();
    assert!(
        up.is_ok(),
        "the second provider must be running: scripts/oidc-provider up (scripts/test starts it)"
    );
    Keycloak::builder(
        ClientConfig::issuer(OP, "rp")
            .client_secret("rp-secret-that-is-long-enough-for-hs256-0123456789")
            .redirect_uri("http://127.0.0.1/callback")
            .scope("email offline_access"),
    )
    .jws_verifier(Arc::new(keycloak_client_ring::RingVerifier))
    .build()
    .unwrap()
}

#[test]
fn standard_flows_against_oidc_provider() {
    let kc = op();
    let c = kc.client().unwrap();
    assert_eq!(c.provider.issuer, OP);
    assert!(
        c.uma_metadata.is_none(),
        "no UMA at this provider, and discovery still succeeds"
    );
    assert!(c
        .provider
        .code_challenge_methods_supported
        .contains(&"S256".to_string()));

    // login: authorization code + PKCE + nonce, RFC 9207 iss, ID token verified with its JWKS
    let (url, pending) = c
        .login()
        .prompt("consent")
        .build(&mut rand::rng(), keycloak_client_ureq::now())
        .unwrap();
    let cb = Browser::new()
        .login_generic(url.as_str(), "user-7", "any")
        .unwrap();
    assert!(
        cb.as_str().starts_with("http://127.0.0.1/callback?"),
        "{cb}"
    );
    assert!(
        cb.query_pairs().any(|(k, v)| k == "iss" && v == OP),
        "iss in the response: {cb}"
    );
    let login = kc.callback(pending, cb.query().unwrap()).unwrap();
    assert_eq!(login.id_claims.sub(), Some("user-7"));
    let rt = login
        .tokens
        .refresh_token
        .clone()
        .expect("refresh token (offline_access)");

    // userinfo with the sub check
    let info = kc
        .http()
        .exec(
            c.userinfo(&login.tokens.access_token)
                .unwrap()
                .expect_subject("user-7"),
        )
        .unwrap();
    assert_eq!(info.email.as_deref(), Some("user-7@example.test"));

    // refresh
    let refreshed = kc.refresh(&login.tokens).unwrap();
    assert_ne!(
        refreshed.access_token.secret(),
        login.tokens.access_token.secret()
    );

    // introspection: active, then revoked, then inactive
    let i = kc
        .introspect(
            refreshed.access_token.secret(),
            Some(TokenTypeHint::AccessToken),
        )
        .unwrap();
    assert!(i.active);
    assert_eq!(i.sub.as_deref(), Some("user-7"));
    kc.revoke(
        refreshed.access_token.secret(),
        Some(TokenTypeHint::AccessToken),
    )
    .unwrap();
    assert!(
        !kc.introspect(refreshed.access_token.secret(), None)
            .unwrap()
            .active
    );
    // revoking the refresh token ends the grant: refreshing now fails with invalid_grant
    let rt_now = refreshed.refresh_token.clone().unwrap_or(rt);
    kc.revoke(rt_now.secret(), Some(TokenTypeHint::RefreshToken))
        .unwrap();
    let e = kc.refresh(&refreshed).unwrap_err();
    assert!(e.keycloak().unwrap().is_invalid_grant(), "{e}");

    // RP-initiated logout URL is accepted by the provider (it answers with its confirmation page)
    let url = c
        .logout_url()
        .id_token_hint(login.tokens.id_token.as_ref().unwrap())
        .post_logout_redirect_uri("http://127.0.0.1/logged-out")
        .build()
        .unwrap();
    let page = Browser::new().get(url.as_str()).unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
}

#[test]
fn bad_cases_against_oidc_provider() {
    let kc = op();
    let c = kc.client().unwrap();
    // forged state never reaches the provider
    let (_, pending) = c
        .login()
        .build(&mut rand::rng(), keycloak_client_ureq::now())
        .unwrap();
    let e = kc.callback(pending, "state=forged&code=x").unwrap_err();
    assert!(matches!(
        e.keycloak(),
        Some(keycloak_client::Error::StateMismatch)
    ));
    // wrong client secret: the provider's OAuth error is surfaced
    let bad = Keycloak::builder(ClientConfig::issuer(OP, "rp").client_secret("wrong-secret"))
        .build()
        .unwrap();
    let e = bad.introspect("x", None).unwrap_err();
    assert_eq!(
        e.keycloak().and_then(|k| k.oauth_error()),
        Some("invalid_client"),
        "{e}"
    );
}
