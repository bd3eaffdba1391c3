//! User-managed permission policies (Keycloak's `authz/protection/uma-policy`).

use serde::{Deserialize, Serialize};

/// A user-managed permission (`UmaPermissionRepresentation`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct UmaPolicy {
    /// Policy id (absent when creating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `type` (`uma` in responses).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<String>,
    /// Scopes granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Users granted (usernames).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<String>,
    /// Roles granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Groups granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Clients granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<String>,
    /// `logic` (`POSITIVE`/`NEGATIVE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logic: Option<String>,
    /// `decisionStrategy`.
    #[serde(
        rename = "decisionStrategy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub decision_strategy: Option<String>,
    /// Owner id (in responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// Query parameters of `GET uma-policy`.
#[derive(Clone, Debug, Default)]
pub struct UmaPolicyQuery {
    /// `resource` id.
    pub resource: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `first`.
    pub first: Option<u32>,
    /// `max`.
    pub max: Option<u32>,
}

impl UmaPolicyQuery {
    pub(crate) fn apply(&self, url: &mut url::Url) {
        let mut q = url.query_pairs_mut();
        if let Some(v) = &self.resource {
            q.append_pair("resource", v);
        }
        if let Some(v) = &self.name {
            q.append_pair("name", v);
        }
        if let Some(v) = &self.scope {
            q.append_pair("scope", v);
        }
        if let Some(v) = self.first {
            q.append_pair("first", &v.to_string());
        }
        if let Some(v) = self.max {
            q.append_pair("max", &v.to_string());
        }
    }
}
