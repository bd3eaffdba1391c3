//! Resource registration (UMA Federated Authorization §3, Keycloak's protection API
//! `authz/protection/resource_set`).

use serde::{Deserialize, Deserializer, Serialize};

/// A scope reference: Keycloak accepts and returns both `"read"` and `{"name":"read"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScopeRef {
    /// Scope id (in responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Scope name.
    pub name: String,
}

impl From<&str> for ScopeRef {
    fn from(s: &str) -> Self {
        ScopeRef {
            id: None,
            name: s.to_string(),
        }
    }
}

impl<'de> Deserialize<'de> for ScopeRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Obj {
                #[serde(default)]
                id: Option<String>,
                name: String,
            },
        }
        Ok(match Raw::deserialize(d)? {
            Raw::Name(name) => ScopeRef { id: None, name },
            Raw::Obj { id, name } => ScopeRef { id, name },
        })
    }
}

/// A resource owner: a username or id when creating, `{"id","name"}` in responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceOwner {
    /// Username or user id.
    Name(String),
    /// As Keycloak returns it.
    Object {
        /// Owner id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Owner name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
}

/// A resource description (UMA Federated Authorization §3.1), with Keycloak's extensions.
/// Keycloak may send the UMA names and its own side by side (`_id`/`id`,
/// `resource_scopes`/`scopes`); both are accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "RawResource")]
pub struct Resource {
    /// The resource id (`_id`; `id` in the deep list form).
    #[serde(rename = "_id", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Unique name per owner.
    pub name: String,
    /// `displayName`
    #[serde(
        rename = "displayName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub display_name: Option<String>,
    /// `type`
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// URIs the resource protects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    /// `resource_scopes` (`scopes` in the deep list form).
    #[serde(rename = "resource_scopes")]
    pub scopes: Vec<ScopeRef>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ResourceOwner>,
    /// `ownerManagedAccess`
    #[serde(
        rename = "ownerManagedAccess",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub owner_managed_access: Option<bool>,
    /// `icon_uri`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icon_uri: Option<String>,
    /// Attributes (name → values).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawResource {
    #[serde(rename = "_id", default)]
    underscore_id: Option<String>,
    #[serde(default)]
    id: Option<String>,
    name: String,
    #[serde(rename = "displayName", default)]
    display_name: Option<String>,
    #[serde(rename = "type", default)]
    resource_type: Option<String>,
    #[serde(default)]
    uris: Vec<String>,
    #[serde(default)]
    resource_scopes: Option<Vec<ScopeRef>>,
    #[serde(default)]
    scopes: Option<Vec<ScopeRef>>,
    #[serde(default)]
    owner: Option<ResourceOwner>,
    #[serde(rename = "ownerManagedAccess", default)]
    owner_managed_access: Option<bool>,
    #[serde(default)]
    icon_uri: Option<String>,
    #[serde(default)]
    attributes: serde_json::Map<String, serde_json::Value>,
}

impl From<RawResource> for Resource {
    fn from(r: RawResource) -> Self {
        Resource {
            id: r.underscore_id.or(r.id),
            name: r.name,
            display_name: r.display_name,
            resource_type: r.resource_type,
            uris: r.uris,
            scopes: r.resource_scopes.or(r.scopes).unwrap_or_default(),
            owner: r.owner,
            owner_managed_access: r.owner_managed_access,
            icon_uri: r.icon_uri,
            attributes: r.attributes,
        }
    }
}

impl Resource {
    /// A new resource with a name and scopes.
    pub fn new(name: &str, scopes: &[&str]) -> Self {
        Resource {
            id: None,
            name: name.to_string(),
            display_name: None,
            resource_type: None,
            uris: vec![],
            scopes: scopes.iter().map(|s| ScopeRef::from(*s)).collect(),
            owner: None,
            owner_managed_access: None,
            icon_uri: None,
            attributes: Default::default(),
        }
    }

    /// The scope names.
    pub fn scope_names(&self) -> Vec<&str> {
        self.scopes.iter().map(|s| s.name.as_str()).collect()
    }
}

/// Query parameters of `GET resource_set`.
#[derive(Clone, Debug, Default)]
pub struct ResourceQuery {
    /// `name` (substring unless `exact_name`).
    pub name: Option<String>,
    /// `exactName`
    pub exact_name: bool,
    /// `uri`
    pub uri: Option<String>,
    /// `matchingUri`
    pub matching_uri: bool,
    /// `owner`
    pub owner: Option<String>,
    /// `type`
    pub resource_type: Option<String>,
    /// `scope`
    pub scope: Option<String>,
    /// `first`
    pub first: Option<u32>,
    /// `max`
    pub max: Option<u32>,
}

impl ResourceQuery {
    pub(crate) fn apply(&self, url: &mut url::Url, deep: bool) {
        let mut q = url.query_pairs_mut();
        if let Some(v) = &self.name {
            q.append_pair("name", v);
        }
        if self.exact_name {
            q.append_pair("exactName", "true");
        }
        if let Some(v) = &self.uri {
            q.append_pair("uri", v);
        }
        if self.matching_uri {
            q.append_pair("matchingUri", "true");
        }
        if let Some(v) = &self.owner {
            q.append_pair("owner", v);
        }
        if let Some(v) = &self.resource_type {
            q.append_pair("type", v);
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
        if deep {
            q.append_pair("deep", "true");
        }
    }
}
