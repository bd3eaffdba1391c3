//! Several realms in one application (multi-tenancy): a resolver picks the tenant of each
//! request, and every tenant is its own [`WebAuth`] (configuration, keys, caches, policy
//! enforcer). Sessions are bound to their tenant: each tenant has its own cookie name (checked
//! here), and a stored session is only accepted by the tenant whose issuer signed it in.

use std::sync::Arc;

use keycloak_client::policy_enforcer::normalize_request_path;

use crate::{RequestInfo, WebAuth};

/// A custom tenant rule: the tenant's name for a request, or `None`.
pub type TenantFn = Arc<dyn Fn(&RequestInfo) -> Option<String> + Send + Sync>;

/// How the tenant of a request is picked. The first rule that names a tenant wins.
#[derive(Clone)]
pub enum TenantRule {
    /// By the `Host` header (exact, port included when not the default).
    Host {
        /// The host.
        host: String,
        /// The tenant.
        tenant: String,
    },
    /// By a path prefix (`/a` takes `/a` and `/a/…`, not `/ab`), compared on the decoded path
    /// (`/%61/x` is under `/a`).
    PathPrefix {
        /// The prefix, starting with `/`.
        prefix: String,
        /// The tenant.
        tenant: String,
    },
    /// By the bearer (or DPoP) token's `iss`, read before validation and only matched against
    /// this allow-list: an unknown issuer is never discovered. The chosen tenant then
    /// validates the token with its own keys and issuer.
    Issuer {
        /// The issuer, exactly as in tokens.
        issuer: String,
        /// The tenant.
        tenant: String,
    },
    /// Any other rule: a tenant name, or `None` to let the next rule decide.
    Custom(TenantFn),
}

impl std::fmt::Debug for TenantRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TenantRule::Host { host, tenant } => write!(f, "Host({host} → {tenant})"),
            TenantRule::PathPrefix { prefix, tenant } => {
                write!(f, "PathPrefix({prefix} → {tenant})")
            }
            TenantRule::Issuer { issuer, tenant } => write!(f, "Issuer({issuer} → {tenant})"),
            TenantRule::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

/// The tenants of an application and the rules that pick one per request.
#[derive(Clone)]
pub struct Tenants {
    tenants: Vec<(String, Arc<WebAuth>)>,
    rules: Vec<TenantRule>,
}

impl std::fmt::Debug for Tenants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.tenants.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("Tenants")
            .field("tenants", &names)
            .field("rules", &self.rules)
            .finish()
    }
}

/// The `iss` of a bearer or DPoP token in `Authorization`, unverified (for picking a tenant
/// from an allow-list only).
fn token_issuer(req: &RequestInfo) -> Option<String> {
    let value = req.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    if !(scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop")) {
        return None;
    }
    let jwt = keycloak_client::jwt::decode_unverified(token.trim()).ok()?;
    jwt.claims.iss().map(str::to_owned)
}

impl Tenants {
    /// The tenants by name, and the rules. Refused: no tenant, a name used twice, two tenants
    /// sharing a session cookie name (a session of one would be offered to the other), a rule
    /// naming an unknown tenant, a path prefix that is not a plain path, and an `Issuer` rule
    /// before a `Host` or `PathPrefix` rule (a token would pick its tenant on another's paths).
    pub fn new(
        tenants: Vec<(String, Arc<WebAuth>)>,
        rules: Vec<TenantRule>,
    ) -> Result<Self, keycloak_client::Error> {
        let bad = |m: String| keycloak_client::Error::Config(format!("tenants: {m}"));
        if tenants.is_empty() {
            return Err(bad("no tenant".into()));
        }
        for (i, (name, auth)) in tenants.iter().enumerate() {
            for (other, other_auth) in &tenants[..i] {
                if other == name {
                    return Err(bad(format!("`{name}` is named twice")));
                }
                if other_auth.config().cookie_name == auth.config().cookie_name {
                    return Err(bad(format!(
                        "`{other}` and `{name}` share the session cookie `{}`: give each tenant \
                         its own `cookie_name`",
                        auth.config().cookie_name
                    )));
                }
            }
        }
        for r in &rules {
            let named = match r {
                TenantRule::Host { tenant, .. }
                | TenantRule::PathPrefix { tenant, .. }
                | TenantRule::Issuer { tenant, .. } => Some(tenant),
                TenantRule::Custom(_) => None,
            };
            if let Some(t) = named {
                if !tenants.iter().any(|(n, _)| n == t) {
                    return Err(bad(format!("a rule names the unknown tenant `{t}`")));
                }
            }
            if let TenantRule::PathPrefix { prefix, .. } = r {
                let normal = normalize_request_path(prefix).map_err(|e| bad(e.to_string()))?;
                if normal != *prefix.trim_end_matches('/') && !(normal == "/" && prefix == "/") {
                    return Err(bad(format!(
                        "path prefix `{prefix}` must be a plain path (it reads as `{normal}`)"
                    )));
                }
            }
        }
        // A token must not pick its tenant on another tenant's host or paths.
        let first_issuer = rules
            .iter()
            .position(|r| matches!(r, TenantRule::Issuer { .. }));
        let last_place = rules
            .iter()
            .rposition(|r| matches!(r, TenantRule::Host { .. } | TenantRule::PathPrefix { .. }));
        if let (Some(i), Some(p)) = (first_issuer, last_place) {
            if i < p {
                return Err(bad(
                    "`Issuer` rules must come after every `Host` and `PathPrefix` rule".into(),
                ));
            }
        }
        Ok(Tenants { tenants, rules })
    }

    /// The tenant named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<WebAuth>> {
        self.tenants.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// The tenant of a request: its name and engine; `None` when no rule names one.
    pub fn resolve(&self, req: &RequestInfo) -> Option<(&str, &Arc<WebAuth>)> {
        // Prefixes are compared on the path as the router's extractors decode it; a path
        // routers may read differently has no tenant.
        let path = normalize_request_path(&req.path).ok()?;
        let mut issuer: Option<Option<String>> = None;
        for rule in &self.rules {
            let name = match rule {
                TenantRule::Host { host, tenant } => req
                    .header("host")
                    .filter(|h| h.eq_ignore_ascii_case(host))
                    .map(|_| tenant.clone()),
                TenantRule::PathPrefix { prefix, tenant } => {
                    let p = prefix.trim_end_matches('/');
                    let under = path == p
                        || path
                            .strip_prefix(p)
                            .is_some_and(|rest| rest.starts_with('/'));
                    under.then(|| tenant.clone())
                }
                TenantRule::Issuer {
                    issuer: allowed,
                    tenant,
                } => {
                    let iss = issuer.get_or_insert_with(|| token_issuer(req));
                    (iss.as_deref() == Some(allowed.as_str())).then(|| tenant.clone())
                }
                TenantRule::Custom(f) => f(req),
            };
            if let Some(n) = name {
                return self
                    .tenants
                    .iter()
                    .find(|(t, _)| *t == n)
                    .map(|(t, a)| (t.as_str(), a));
            }
        }
        None
    }
}
