//! JWT client authentication (`private_key_jwt`, `client_secret_jwt`) against the real
//! Keycloak, through the reqwest adapter's `send`.

mod common;

keycloak_client_testkit::client_auth_tests!(common::sender(std::time::Duration::from_secs(15)));
