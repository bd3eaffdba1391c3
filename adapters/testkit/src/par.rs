//! End-to-end scenarios for pushed authorization requests (RFC 9126) against the local
//! Keycloak's `rkc-fapi` realm: a client that requires PAR (`fapi-par`) and the
//! `private_key_jwt` client pushing with its assertion. Each adapter runs them with
//! [`fapi_tests!`](crate::fapi_tests).

use keycloak_client::{
    Algorithm, CallbackParams, Client, ClientAssertion, ClientConfig, DiscoverFlow, Error,
    Exchange, IdTokenPolicy,
};

use crate::browser::Browser;
use crate::client_auth::{jwt_client, registered_key, JWT_CLIENT, REALM, USER};
use crate::conformance::Sender;
use crate::e2e::{exec, now, run};
use crate::keycloak::{self, REDIRECT_URI};

/// The client that requires PAR.
pub const PAR_CLIENT: &str = "fapi-par";
/// Its secret.
pub const PAR_SECRET: &str = "fapi-par-secret";

/// The PAR client, pushing every login when `push` is set.
pub fn par_client(s: &dyn Sender, push: bool) -> Client {
    let env = keycloak::require();
    let cfg = ClientConfig::keycloak(&env.url, REALM, PAR_CLIENT)
        .client_secret(PAR_SECRET)
        .redirect_uri(REDIRECT_URI)
        .pushed_authorization_requests(push)
        .build()
        .unwrap();
    let d = run(s, DiscoverFlow::new(&cfg, false)).expect("discovery");
    Client::new(cfg, d)
}

/// Pushes a login, follows the browser URL (only `client_id` and `request_uri` in it), logs
/// in and exchanges the code. Returns the browser URL.
fn pushed_login(s: &dyn Sender, c: &Client) -> url::Url {
    let pushed = c.login().build_pushed(&mut rand::rng(), now()).unwrap();
    let (url, pending) = exec(s, pushed).expect("pushed");
    let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "raw URL: {url}");
    assert!(
        url.query().is_some_and(|q| q.contains("request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A")),
        "raw URL: {url}"
    );
    let cb = Browser::new()
        .login(url.as_str(), USER, "fiona-pass")
        .expect("login through Keycloak");
    let params = CallbackParams::from_url(&cb).unwrap();
    let t = run(
        s,
        c.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap(),
    )
    .expect("code exchange after PAR");
    exec(s, c.refresh(&t.tokens).unwrap()).expect("refresh");
    url
}

/// A client that requires PAR: a plain login is refused by Keycloak, a pushed one works, its
/// `request_uri` works once, a configured client refuses to build an unpushed URL, and PAR
/// errors are typed.
pub fn par_required(s: &dyn Sender) {
    let plain = par_client(s, false);
    let (url, pending) = plain.login().build(&mut rand::rng(), now()).unwrap();
    // Keycloak answers the unpushed request with an error redirect: a typed error here.
    let cb = Browser::new()
        .login(url.as_str(), USER, "fiona-pass")
        .expect("an error redirect");
    let e = plain
        .callback(
            pending,
            &CallbackParams::from_url(&cb).unwrap(),
            IdTokenPolicy::DangerSkipSignature,
            now(),
        )
        .unwrap_err();
    assert_eq!(
        e.oauth_error(),
        Some("invalid_request"),
        "Keycloak refuses an unpushed login: {e}"
    );

    let pushing = par_client(s, true);
    assert!(pushing.login().must_push());
    assert!(matches!(
        pushing.login().build(&mut rand::rng(), now()),
        Err(Error::Config(_))
    ));
    let used = pushed_login(s, &pushing);
    // the same request_uri again: Keycloak no longer knows it
    let again = Browser::new().login(used.as_str(), USER, "fiona-pass");
    assert!(
        again.is_err()
            || again
                .as_ref()
                .is_ok_and(|u| u.query_pairs().any(|(k, _)| k == "error")),
        "a request_uri is single-use: {again:?}"
    );

    // A PAR the server refuses: a typed OAuth error, nothing half-done.
    let e = exec(
        s,
        pushing
            .login()
            .redirect_uri("http://evil.example/cb")
            .build_pushed(&mut rand::rng(), now())
            .unwrap(),
    )
    .unwrap_err();
    assert!(e.oauth_error().is_some(), "typed: {e}");
    let wrong = {
        let env = keycloak::require();
        let cfg = ClientConfig::keycloak(&env.url, REALM, PAR_CLIENT)
            .client_secret("not-the-secret")
            .redirect_uri(REDIRECT_URI)
            .build()
            .unwrap();
        Client::new(
            cfg,
            run(s, DiscoverFlow::new(&pushing.config, false)).unwrap(),
        )
    };
    let e = exec(
        s,
        wrong.login().build_pushed(&mut rand::rng(), now()).unwrap(),
    )
    .unwrap_err();
    // Keycloak's PAR endpoint answers 401 (with `invalid_request`, not `invalid_client`).
    assert!(
        matches!(e, Error::OAuth { status: 401, .. }),
        "a wrong secret at the PAR endpoint: {e}"
    );
    assert!(e.is_definitive(), "{e}");
}

/// PAR authenticated with `private_key_jwt`.
pub fn par_with_private_key_jwt(s: &dyn Sender) {
    let a = ClientAssertion::private_key_jwt(
        registered_key("es256", Algorithm::ES256).shared(),
        std::sync::Arc::new(keycloak_client_ring::SystemClock),
        &mut rand::rng(),
    );
    let c = jwt_client(s, JWT_CLIENT, a);
    pushed_login(s, &c);
    // the request itself carries the assertion, not a secret
    let pushed = c.login().build_pushed(&mut rand::rng(), now()).unwrap();
    let body = String::from_utf8(pushed.request().body).unwrap();
    assert!(body.contains("client_assertion="), "{body}");
    assert!(body.contains("code_challenge_method=S256"), "{body}");
}

/// The FAPI scenarios (client authentication, PAR) as `#[test]`s for one adapter's sender.
#[macro_export]
macro_rules! fapi_tests {
    ($sender:expr) => {
        $crate::client_auth_tests!($sender);
        $crate::dpop_tests!($sender);
        $crate::fapi_profile_tests!($sender);
        #[test]
        fn par_required_by_the_client() {
            $crate::par::par_required(&$sender)
        }
        #[test]
        fn par_with_private_key_jwt() {
            $crate::par::par_with_private_key_jwt(&$sender)
        }
    };
}
