//! FAPI 2.0 / OAuth 2.1 client features (JWT client authentication, PAR) against the real
//! Keycloak, through the reqwest adapter's `send`.

mod common;

keycloak_client_testkit::fapi_tests!(common::sender(std::time::Duration::from_secs(15)));
