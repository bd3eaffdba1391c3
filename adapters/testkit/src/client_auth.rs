//! End-to-end scenarios for JWT client authentication (RFC 7523, OpenID Connect Core §9)
//! against the local Keycloak's `rkc-fapi` realm: `private_key_jwt` with RS256, PS256, ES256
//! and EdDSA keys (`tests/keycloak/keys`), `client_secret_jwt` with HS256, and the ways an
//! assertion is refused. Each adapter runs them with [`client_auth_tests!`](crate::client_auth_tests).

use std::path::PathBuf;
use std::sync::Arc;

use keycloak_client::{
    Algorithm, AssertionAudience, Client, ClientAssertion, ClientConfig, ClientSecret, Clock,
    DiscoverFlow, Error, Exchange, FixedClock, IdTokenPolicy, JwsSigner as _, TokenTypeHint,
};
use keycloak_client_ring::{RingSigner, SystemClock};

use crate::browser::Browser;
use crate::conformance::Sender;
use crate::e2e::{browser_login, exec, now, run};
use crate::keycloak::{self, REDIRECT_URI};

/// The realm of these scenarios.
pub const REALM: &str = "rkc-fapi";
/// Its `private_key_jwt` client (public keys registered in the realm file).
pub const JWT_CLIENT: &str = "fapi-jwt";
/// Its `client_secret_jwt` client.
pub const SECRET_JWT_CLIENT: &str = "fapi-secret-jwt";
/// That client's secret.
pub const SECRET_JWT_SECRET: &str = "fapi-secret-jwt-secret-0123456789abcdef0123456789abcdef";
/// The realm's user (password `fiona-pass`).
pub const USER: &str = "fiona";

/// A registered test key (`tests/keycloak/keys/fapi-<name>.pem`).
pub fn registered_key(name: &str, alg: Algorithm) -> RingSigner {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/keycloak/keys")
        .join(format!("fapi-{name}.pem"));
    let pem = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    RingSigner::from_pem(&pem, alg).unwrap()
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// A discovered client of the realm authenticating with `assertion`.
pub fn jwt_client(s: &dyn Sender, client_id: &str, assertion: ClientAssertion) -> Client {
    let env = keycloak::require();
    let cfg = ClientConfig::keycloak(&env.url, REALM, client_id)
        .client_assertion(assertion)
        .redirect_uri(REDIRECT_URI)
        .build()
        .unwrap();
    let d = run(s, DiscoverFlow::new(&cfg, false)).expect("discovery");
    Client::new(cfg, d)
}

/// Every call that authenticates the client, with its assertion: the code exchange, userinfo,
/// refresh, introspection, client credentials (PAT), device authorization, revocation and
/// back-channel logout.
pub fn client_lifecycle(s: &dyn Sender, c: &Client) {
    let (pending, params) = browser_login(c, &mut Browser::new(), USER, "fiona-pass");
    let login = run(
        s,
        c.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap(),
    )
    .unwrap_or_else(|e| panic!("{}: code exchange: {e}", c.config.auth.method()));
    let info = exec(s, c.userinfo(&login.tokens.access_token).unwrap()).unwrap();
    assert_eq!(info.preferred_username.as_deref(), Some(USER));
    let refreshed = exec(s, c.refresh(&login.tokens).unwrap()).unwrap();
    let i = exec(
        s,
        c.introspect(
            refreshed.access_token.secret(),
            Some(TokenTypeHint::AccessToken),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(i.active, "introspection with the assertion: {i:?}");
    assert_eq!(i.username.as_deref(), Some(USER));
    let pat = exec(s, c.pat().unwrap()).unwrap();
    assert!(!pat.access_token.secret().is_empty());
    let device = exec(s, c.device_authorization(Some("openid")).unwrap()).unwrap();
    assert!(!device.user_code.is_empty());
    exec(
        s,
        c.revoke(pat.access_token.secret(), Some(TokenTypeHint::AccessToken))
            .unwrap(),
    )
    .unwrap();
    exec(
        s,
        c.logout(refreshed.refresh_token.as_ref().unwrap()).unwrap(),
    )
    .unwrap();
    let e = exec(s, c.refresh(&refreshed).unwrap()).unwrap_err();
    assert!(e.is_invalid_grant(), "logged out: {e}");
}

/// `private_key_jwt` with each registered key.
pub fn private_key_jwt(s: &dyn Sender) {
    for (name, alg) in [
        ("rs256", Algorithm::RS256),
        ("ps256", Algorithm::PS256),
        ("es256", Algorithm::ES256),
        ("eddsa", Algorithm::EdDSA),
    ] {
        let a = ClientAssertion::private_key_jwt(
            registered_key(name, alg).shared(),
            clock(),
            &mut rand::rng(),
        );
        client_lifecycle(s, &jwt_client(s, JWT_CLIENT, a));
    }
    // RFC 7523 as first published: `aud` = the token endpoint (Keycloak accepts both).
    let a = ClientAssertion::private_key_jwt(
        registered_key("es256", Algorithm::ES256).shared(),
        clock(),
        &mut rand::rng(),
    )
    .audience(AssertionAudience::TokenEndpoint);
    let c = jwt_client(s, JWT_CLIENT, a);
    exec(s, c.pat().unwrap()).expect("aud = token endpoint");
}

/// `client_secret_jwt` (HS256, the client's configured algorithm).
pub fn client_secret_jwt(s: &dyn Sender) {
    let a = ClientAssertion::client_secret_jwt(
        ClientSecret::new(SECRET_JWT_SECRET),
        Algorithm::HS256,
        clock(),
        &mut rand::rng(),
    )
    .unwrap();
    client_lifecycle(s, &jwt_client(s, SECRET_JWT_CLIENT, a));
}

/// Keycloak refuses client authentication with `invalid_client`, or `unauthorized_client`
/// for a `client_secret_jwt` whose MAC does not verify.
fn assert_invalid_client(e: &Error, what: &str) {
    assert!(
        matches!(
            e.oauth_error(),
            Some("invalid_client" | "unauthorized_client")
        ),
        "{what}: {e}"
    );
}

/// What Keycloak refuses, as typed errors: an unregistered key, a registered `kid` signed by
/// another key, an expired assertion, a replayed one, a wrong secret.
pub fn refused_assertions(s: &dyn Sender) {
    let unregistered = ClientAssertion::private_key_jwt(
        RingSigner::generate(Algorithm::ES256).unwrap().shared(),
        clock(),
        &mut rand::rng(),
    );
    let e = exec(s, jwt_client(s, JWT_CLIENT, unregistered).pat().unwrap()).unwrap_err();
    assert_invalid_client(&e, "unregistered key");

    let registered_kid = registered_key("es256", Algorithm::ES256)
        .public_jwk()
        .kid
        .unwrap();
    let impostor = RingSigner::generate(Algorithm::ES256)
        .unwrap()
        .with_key_id(&registered_kid);
    let a = ClientAssertion::private_key_jwt(impostor.shared(), clock(), &mut rand::rng());
    let e = exec(s, jwt_client(s, JWT_CLIENT, a).pat().unwrap()).unwrap_err();
    assert_invalid_client(&e, "registered kid, wrong key");

    let an_hour_ago: Arc<dyn Clock> = Arc::new(FixedClock(now().minus(3600)));
    let a = ClientAssertion::private_key_jwt(
        registered_key("es256", Algorithm::ES256).shared(),
        an_hour_ago,
        &mut rand::rng(),
    );
    let e = exec(s, jwt_client(s, JWT_CLIENT, a).pat().unwrap()).unwrap_err();
    assert_invalid_client(&e, "expired assertion");

    // The same request (the same assertion) twice: Keycloak remembers its jti.
    let a = ClientAssertion::private_key_jwt(
        registered_key("es256", Algorithm::ES256).shared(),
        clock(),
        &mut rand::rng(),
    );
    let c = jwt_client(s, JWT_CLIENT, a);
    let pat = c.pat().unwrap();
    let req = pat.request();
    let first = s.send(&req).expect("sent");
    assert_eq!(first.status, 200, "the first use is accepted");
    let again = s.send(&req).expect("sent");
    let e = pat.handle(again, now()).unwrap_err();
    assert_invalid_client(&e, "replayed assertion");
    // a new request carries a new assertion
    exec(s, c.pat().unwrap()).expect("a fresh assertion per request");

    let wrong = ClientAssertion::client_secret_jwt(
        ClientSecret::new("another-secret-0123456789abcdef0123456789abcdef"),
        Algorithm::HS256,
        clock(),
        &mut rand::rng(),
    )
    .unwrap();
    let e = exec(s, jwt_client(s, SECRET_JWT_CLIENT, wrong).pat().unwrap()).unwrap_err();
    assert_invalid_client(&e, "wrong secret");
}

/// The scenarios as `#[test]`s for one adapter's sender.
#[macro_export]
macro_rules! client_auth_tests {
    ($sender:expr) => {
        #[test]
        fn client_auth_private_key_jwt() {
            $crate::client_auth::private_key_jwt(&$sender)
        }
        #[test]
        fn client_auth_client_secret_jwt() {
            $crate::client_auth::client_secret_jwt(&$sender)
        }
        #[test]
        fn client_auth_refused_assertions() {
            $crate::client_auth::refused_assertions(&$sender)
        }
    };
}
