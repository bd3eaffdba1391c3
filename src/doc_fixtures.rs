//! Fixtures for the rustdoc examples: not part of the crate. A doctest pulls them in with a
//! hidden `# #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;`.
#![allow(dead_code)]

use keycloak_client::{Client, ClientConfig, Discovered, ProviderMetadata, UmaMetadata, UnixTime};

const ISS: &str = "http://127.0.0.1:18080/realms/rkc";

/// A client of the local test realm with Keycloak's endpoints, without any I/O.
pub fn client() -> Client {
    let config = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret")
        .redirect_uri("http://127.0.0.1:8000/callback")
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let oidc = format!("{ISS}/protocol/openid-connect");
    let provider: ProviderMetadata = serde_json::from_value(serde_json::json!({
        "issuer": ISS,
        "authorization_endpoint": format!("{oidc}/auth"),
        "token_endpoint": format!("{oidc}/token"),
        "userinfo_endpoint": format!("{oidc}/userinfo"),
        "jwks_uri": format!("{oidc}/certs"),
        "end_session_endpoint": format!("{oidc}/logout"),
        "introspection_endpoint": format!("{oidc}/token/introspect"),
        "revocation_endpoint": format!("{oidc}/revoke"),
        "device_authorization_endpoint": format!("{oidc}/auth/device"),
        "authorization_response_iss_parameter_supported": true
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let uma: UmaMetadata = serde_json::from_value(serde_json::json!({
        "issuer": ISS,
        "token_endpoint": format!("{oidc}/token"),
        "resource_registration_endpoint": format!("{ISS}/authz/protection/resource_set"),
        "permission_endpoint": format!("{ISS}/authz/protection/permission"),
        "policy_endpoint": format!("{ISS}/authz/protection/uma-policy")
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    Client::new(
        config,
        Discovered {
            provider,
            uma: Some(uma),
            fetched_at: UnixTime(0),
        },
    )
}

/// A fixed instant.
pub const NOW: UnixTime = UnixTime(1_800_000_000);

/// A token response body as Keycloak sends it.
pub fn token_body() -> &'static str {
    r#"{"access_token":"eyJ.a.b","expires_in":300,"refresh_expires_in":1800,"refresh_token":"eyJ.r.t","token_type":"Bearer","not-before-policy":0,"scope":"openid profile"}"#
}
