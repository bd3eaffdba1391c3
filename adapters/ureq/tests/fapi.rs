//! FAPI 2.0 / OAuth 2.1 client features (JWT client authentication, PAR) against the real
//! Keycloak, through the ureq adapter's `send`.

use keycloak_client::{Request, Response};
use keycloak_client_testkit::conformance::{Failure, Sender};
use keycloak_client_ureq::HttpClient;

struct Ureq(HttpClient);

impl Sender for Ureq {
    fn send(&self, req: &Request) -> Result<Response, Failure> {
        self.0.send(req).map_err(Failure::from)
    }
}

keycloak_client_testkit::fapi_tests!(Ureq(HttpClient::default()));

/// The friendly client pushes by itself when configured to: `kc.login()` gives a URL with only
/// `client_id` and `request_uri`, and the login completes through `kc.callback`.
#[test]
fn the_friendly_client_pushes_when_configured() {
    use keycloak_client_testkit::{browser::Browser, client_auth, keycloak, par};
    let env = keycloak::require();
    let b = keycloak_client::ClientConfig::keycloak(&env.url, client_auth::REALM, par::PAR_CLIENT)
        .client_secret(par::PAR_SECRET)
        .redirect_uri(keycloak::REDIRECT_URI)
        .pushed_authorization_requests(true);
    let kc = keycloak_client_ureq::Keycloak::builder(b)
        .jws_verifier(std::sync::Arc::new(keycloak_client_ring::RingVerifier))
        .build()
        .unwrap();
    let (url, pending) = kc.login().unwrap();
    let names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["client_id", "request_uri"], "{url}");
    let cb = Browser::new()
        .login(url.as_str(), client_auth::USER, "fiona-pass")
        .unwrap();
    let tokens = kc.callback(pending, cb.query().unwrap()).unwrap();
    assert_eq!(
        tokens.id_claims.str("preferred_username"),
        Some(client_auth::USER)
    );
}
