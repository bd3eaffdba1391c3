//! The `policy-enforcer` configuration of Keycloak's adapters (`keycloak.json`, a standalone
//! `policy-enforcer.json`, or Quarkus' `quarkus.keycloak.policy-enforcer.*` written as JSON),
//! read strictly: an unknown field, or a known one this enforcer does not implement, is an
//! error naming it, never silently ignored.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::claims::ClaimsTemplate;
use super::paths::PathPattern;
use crate::error::Error;

/// `enforcement-mode`, globally and per path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnforcementMode {
    /// Every request needs a permission; a path matching no configured or server resource is
    /// denied.
    #[default]
    Enforcing,
    /// Globally: a path matching no resource is allowed. Per path: allowed unless the token
    /// holds a permission for the resource that the checks refuse (Keycloak's rule).
    Permissive,
    /// No checks (globally: a request still needs a valid token).
    Disabled,
}

/// `scopes-enforcement-mode` of a method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ScopesEnforcementMode {
    /// Every scope of the method must be granted.
    #[default]
    All,
    /// At least one.
    Any,
    /// The method needs no scope: any permission for the resource will do, and a request
    /// Keycloak refuses is still let through (Keycloak's rule).
    Disabled,
}

/// One `methods[]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodConfig {
    /// The HTTP method, upper case.
    pub method: String,
    /// Scopes it requires.
    pub scopes: Vec<String>,
    /// How they are required.
    pub scopes_enforcement_mode: ScopesEnforcementMode,
}

/// One `paths[]` entry.
#[derive(Clone, Debug)]
pub struct PathConfig {
    /// `name`: the Keycloak resource's name (looked up by name on the server when given).
    pub name: Option<String>,
    /// `path`, parsed.
    pub path: PathPattern,
    /// `type`.
    pub resource_type: Option<String>,
    /// `methods`.
    pub methods: Vec<MethodConfig>,
    /// `scopes`: required when no method entry matches (unless `http-method-as-scope`).
    pub scopes: Vec<String>,
    /// `id`: the resource id, when known.
    pub id: Option<String>,
    /// `enforcement-mode` of this path.
    pub enforcement_mode: EnforcementMode,
    /// `claim-information-point` of this path (added to the global one).
    pub claims: Option<ClaimsTemplate>,
}

/// `path-cache`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathCacheConfig {
    /// `lifespan` in milliseconds (default 30,000); `None` for `-1` (entries never expire);
    /// `Some(0)` disables the cache.
    pub lifespan_ms: Option<u64>,
    /// `max-entries` (default 1,000).
    pub max_entries: usize,
}

impl Default for PathCacheConfig {
    fn default() -> Self {
        PathCacheConfig {
            lifespan_ms: Some(30_000),
            max_entries: 1000,
        }
    }
}

/// The whole `policy-enforcer` block.
#[derive(Clone, Debug)]
pub struct PolicyEnforcerConfig {
    /// `enforcement-mode` (default `ENFORCING`).
    pub enforcement_mode: EnforcementMode,
    /// `paths`.
    pub paths: Vec<PathConfig>,
    /// `path-cache`.
    pub path_cache: PathCacheConfig,
    /// `lazy-load-paths`: resources not configured are looked up on the server by path.
    pub lazy_load_paths: bool,
    /// `on-deny-redirect-to`: where browsers are sent when denied (else 403).
    pub on_deny_redirect_to: Option<String>,
    /// `user-managed-access` present: a denied API request gets a UMA permission ticket
    /// (`WWW-Authenticate: UMA ...`) instead of a plain 403.
    pub user_managed_access: bool,
    /// The global `claim-information-point`.
    pub claims: Option<ClaimsTemplate>,
    /// `http-method-as-scope`: the request's method is the scope when no method entry matches.
    pub http_method_as_scope: bool,
    /// `resource`: the resource server's client id, when given here.
    pub resource: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMethod {
    method: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    scopes_enforcement_mode: ScopesEnforcementMode,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPath {
    name: Option<String>,
    path: Option<String>,
    #[serde(rename = "type")]
    resource_type: Option<String>,
    #[serde(default)]
    methods: Vec<RawMethod>,
    #[serde(default)]
    scopes: Vec<String>,
    id: Option<String>,
    #[serde(default)]
    enforcement_mode: EnforcementMode,
    claim_information_point: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCache {
    lifespan: Option<i64>,
    max_entries: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawConfig {
    #[serde(default)]
    enforcement_mode: EnforcementMode,
    #[serde(default)]
    paths: Vec<RawPath>,
    path_cache: Option<RawCache>,
    #[serde(default)]
    lazy_load_paths: bool,
    on_deny_redirect_to: Option<String>,
    user_managed_access: Option<Map<String, Value>>,
    claim_information_point: Option<Map<String, Value>>,
    #[serde(default)]
    http_method_as_scope: bool,
    // The adapter settings a standalone file repeats; the client configuration is the one
    // that counts (its `resource` must agree).
    realm: Option<String>,
    auth_server_url: Option<String>,
    resource: Option<String>,
    credentials: Option<Value>,
}

fn cfg(msg: String) -> Error {
    Error::Config(format!("policy-enforcer: {msg}"))
}

/// The `claim-information-point` block: only the `claims` provider is implemented; `http`
/// (claims fetched from a URL) and custom providers are refused.
fn claims_of(cip: Option<Map<String, Value>>, at: &str) -> Result<Option<ClaimsTemplate>, Error> {
    let Some(cip) = cip else {
        return Ok(None);
    };
    let mut out = None;
    for (provider, conf) in cip {
        match provider.as_str() {
            "claims" => {
                let map = conf.as_object().ok_or_else(|| {
                    cfg(format!(
                        "{at}claim-information-point.claims must be an object"
                    ))
                })?;
                out = Some(
                    ClaimsTemplate::parse(map)
                        .map_err(|e| cfg(format!("{at}claim-information-point.claims: {e}")))?,
                );
            }
            "http" => {
                return Err(cfg(format!(
                    "{at}claim-information-point.http (claims fetched from a URL) is not \
                     supported; use the `claims` provider"
                )))
            }
            other => {
                return Err(cfg(format!(
                    "{at}claim-information-point.{other}: unknown provider (only `claims` is \
                     supported)"
                )))
            }
        }
    }
    Ok(out)
}

impl PolicyEnforcerConfig {
    /// A standalone `policy-enforcer` object.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let v: Value = serde_json::from_str(json).map_err(|e| cfg(format!("not JSON: {e}")))?;
        Self::from_value(v)
    }

    /// The `policy-enforcer` object of a `keycloak.json`; `None` when it has none.
    pub fn from_keycloak_json(json: &str) -> Result<Option<Self>, Error> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| Error::Config(format!("keycloak.json is not JSON: {e}")))?;
        match v.get("policy-enforcer") {
            None | Some(Value::Null) => Ok(None),
            Some(pe) => Self::from_value(pe.clone()).map(Some),
        }
    }

    fn from_value(v: Value) -> Result<Self, Error> {
        let raw: RawConfig = serde_json::from_value(v).map_err(|e| cfg(e.to_string()))?;
        let _ = (&raw.realm, &raw.auth_server_url, &raw.credentials);
        let path_cache = match raw.path_cache {
            None => PathCacheConfig::default(),
            Some(c) => PathCacheConfig {
                lifespan_ms: match c.lifespan {
                    None => Some(30_000),
                    Some(-1) => None,
                    Some(ms) if ms >= 0 => Some(ms as u64),
                    Some(ms) => {
                        return Err(cfg(format!(
                            "path-cache.lifespan must be -1 (never expire), 0 (no cache) or \
                             milliseconds, got {ms}"
                        )))
                    }
                },
                max_entries: match c.max_entries {
                    None => 1000,
                    Some(n) if (1..=10_000_000).contains(&n) => n as usize,
                    Some(n) => {
                        return Err(cfg(format!(
                            "path-cache.max-entries must be 1..=10000000, got {n}"
                        )))
                    }
                },
            },
        };
        if let Some(target) = &raw.on_deny_redirect_to {
            let path_ok = target.starts_with('/') && !target.starts_with("//");
            let url_ok =
                url::Url::parse(target).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !(path_ok || url_ok) {
                return Err(cfg(format!(
                    "on-deny-redirect-to must be a path or an http(s) URL, got `{target}`"
                )));
            }
        }
        let mut paths = vec![];
        for (i, p) in raw.paths.into_iter().enumerate() {
            let at = format!("paths[{i}].");
            let text = p.path.ok_or_else(|| {
                cfg(format!(
                    "{at}path is required (paths known only by `name` are not supported)"
                ))
            })?;
            let path = PathPattern::parse(&text).map_err(|e| cfg(format!("{at}{e}")))?;
            let mut methods = vec![];
            for m in p.methods {
                let method = m.method.trim().to_ascii_uppercase();
                if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return Err(cfg(format!(
                        "{at}methods: `{}` is not an HTTP method",
                        m.method
                    )));
                }
                if methods.iter().any(|x: &MethodConfig| x.method == method) {
                    return Err(cfg(format!("{at}methods: `{method}` is listed twice")));
                }
                methods.push(MethodConfig {
                    method,
                    scopes: m.scopes,
                    scopes_enforcement_mode: m.scopes_enforcement_mode,
                });
            }
            paths.push(PathConfig {
                name: p.name,
                path,
                resource_type: p.resource_type,
                methods,
                scopes: p.scopes,
                id: p.id,
                enforcement_mode: p.enforcement_mode,
                claims: claims_of(p.claim_information_point, &at)?,
            });
        }
        Ok(PolicyEnforcerConfig {
            enforcement_mode: raw.enforcement_mode,
            paths,
            path_cache,
            lazy_load_paths: raw.lazy_load_paths,
            on_deny_redirect_to: raw.on_deny_redirect_to,
            user_managed_access: raw.user_managed_access.is_some(),
            claims: claims_of(raw.claim_information_point, "")?,
            http_method_as_scope: raw.http_method_as_scope,
            resource: raw.resource,
        })
    }
}
