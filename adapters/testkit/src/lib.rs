//! Test helpers shared by the adapter crates:
//! * [`keycloak`]: where the local Keycloak is, failing loudly when it is not there;
//! * [`browser`]: logging in through Keycloak's real login form without a browser;
//! * [`canned`]: a loopback HTTP server with scripted answers;
//! * [`conformance`]: the suite every HTTP adapter must pass.

pub mod api;
pub mod browser;
pub mod canned;
pub mod client_auth;
pub mod conformance;
pub mod dpop;
pub mod e2e;
pub mod fapi_profiles;
pub mod keycloak;
pub mod logout_tee;
pub mod par;
pub mod policy;
pub mod proxy;
pub mod redis_env;
pub mod tenants;
