//! Every flow of the core against the real Keycloak, through the ureq adapter's `send`.

use keycloak_client::{Request, Response};
use keycloak_client_testkit::conformance::{Failure, Sender};
use keycloak_client_ureq::HttpClient;

struct Ureq(HttpClient);

impl Sender for Ureq {
    fn send(&self, req: &Request) -> Result<Response, Failure> {
        self.0.send(req).map_err(Failure::from)
    }
}

fn sender() -> Ureq {
    Ureq(HttpClient::default())
}

keycloak_client_testkit::e2e_tests!(sender());
