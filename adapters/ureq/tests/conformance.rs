//! The shared adapter conformance suite, against a scripted loopback server.

use std::time::Duration;

use keycloak_client::{Request, Response};
use keycloak_client_testkit::canned::CannedServer;
use keycloak_client_testkit::conformance::{self, Failure, Sender};
use keycloak_client_ureq::{HttpClient, Limits, RetryPolicy};

struct Ureq(HttpClient);

impl Sender for Ureq {
    fn send(&self, req: &Request) -> Result<Response, Failure> {
        self.0.send(req).map_err(Failure::from)
    }
}

fn sender() -> Ureq {
    Ureq(
        HttpClient::new(Duration::from_secs(1), Duration::from_secs(1)).limits(
            Limits::default().retry(RetryPolicy {
                attempts: 3,
                initial_backoff: Duration::from_millis(10),
            }),
        ),
    )
}

#[test]
fn redirect_not_followed() {
    conformance::redirect_not_followed(&sender(), &CannedServer::start());
}
#[test]
fn error_body_delivered() {
    conformance::error_body_delivered(&sender(), &CannedServer::start());
}
#[test]
fn body_cap() {
    conformance::body_cap(&sender(), &CannedServer::start());
}
#[test]
fn timeout() {
    conformance::timeout(&sender(), &CannedServer::start());
}
#[test]
fn retries() {
    conformance::retries(&sender(), &CannedServer::start());
}
#[test]
fn connect_refused() {
    conformance::connect_refused(&sender());
}
#[test]
fn request_transmitted() {
    conformance::request_transmitted(&sender(), &CannedServer::start());
}
#[test]
fn truncated_body() {
    conformance::truncated_body(&sender(), &CannedServer::start());
}
