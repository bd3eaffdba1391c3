//! Every flow of the core against the real Keycloak, through the reqwest adapter's `send`.

mod common;

keycloak_client_testkit::e2e_tests!(common::sender(std::time::Duration::from_secs(15)));
