//! JWT client authentication (`private_key_jwt`, `client_secret_jwt`) against the real
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

keycloak_client_testkit::client_auth_tests!(Ureq(HttpClient::default()));
