//! UMA 2.0 with Keycloak Authorization Services: permission tickets, the UMA grant (RPT and
//! decisions), resource registration and user-managed permission policies.

mod policy;
mod policy_api;
mod resource;
mod resource_api;
mod rpt;
mod ticket;

use serde::{Deserialize, Serialize};

pub use policy::{UmaPolicy, UmaPolicyQuery};
pub use policy_api::UmaPolicies;
pub use resource::{Resource, ResourceOwner, ResourceQuery, ScopeRef};
pub use resource_api::ResourceRegistration;
pub use rpt::{DecisionRequest, PermissionsRequest, Rpt, RptRequest, UmaGrant, UmaGrantAuth};
pub use ticket::{PermissionRequest, PermissionTicketRequest};

/// A permission granted in an RPT, a `response_mode=permissions` answer, or RPT introspection.
/// Keycloak sends both its own names (`rsid`, `rsname`, `scopes`) and UMA's (`resource_id`,
/// `resource_scopes`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawPermission")]
pub struct GrantedPermission {
    /// Resource id.
    pub rsid: String,
    /// Resource name (Keycloak adds it unless `response_include_resource_name=false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rsname: Option<String>,
    /// Granted scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Claims attached to the permission.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawPermission {
    #[serde(default)]
    rsid: Option<String>,
    #[serde(default)]
    resource_id: Option<String>,
    #[serde(default)]
    rsname: Option<String>,
    #[serde(default)]
    resource_name: Option<String>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    resource_scopes: Option<Vec<String>>,
    #[serde(default)]
    claims: Option<serde_json::Value>,
}

impl From<RawPermission> for GrantedPermission {
    fn from(r: RawPermission) -> Self {
        GrantedPermission {
            rsid: r.rsid.or(r.resource_id).unwrap_or_default(),
            rsname: r.rsname.or(r.resource_name),
            scopes: r.scopes.or(r.resource_scopes).unwrap_or_default(),
            claims: r.claims,
        }
    }
}

/// RFC 8693 / UMA `claim_token_format` for a JSON claims object.
pub const CLAIM_TOKEN_FORMAT_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Keycloak's `claim_token_format` for an ID token.
pub const CLAIM_TOKEN_FORMAT_ID_TOKEN: &str =
    "https://openid.net/specs/openid-connect-core-1_0.html#IDToken";
/// The UMA grant type (UMA Grant §3.3.1).
pub const UMA_TICKET_GRANT: &str = "urn:ietf:params:oauth:grant-type:uma-ticket";
