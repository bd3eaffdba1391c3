//! Which resource a request path stands for, among those Keycloak's protection API returns.
//! The protection API searches resources of every owner, and users holding `uma_protection`
//! register their own; so a lookup's answer is checked here, never taken first-come:
//!
//! * by name: the resource with exactly that name, owned by the resource server;
//! * by path: a resource one of whose `uris` matches the path. Resources of the resource
//!   server come first; a user's resource stands for a path only where the configured path
//!   opts in with its `type` (and the resource is owner-managed and of that type), so nobody
//!   takes over `/items/1` by registering it. A configured path is never answered by a
//!   catch-all `/*` resource (keycloak-client #221). The most specific matching URI wins; two
//!   equally specific resources are ambiguous, and refused.

use super::paths::PathPattern;
use crate::error::Error;
use crate::uma::{Resource, ResourceOwner};

/// What a path lookup is for.
#[derive(Clone, Copy, Debug)]
pub struct PathLookup<'a> {
    /// The normalised request path (or the concrete path of a configured template).
    pub path: &'a str,
    /// The resource server's client id (the owner of its own resources).
    pub server: &'a str,
    /// The configured path's `type`: user-owned resources of this type may stand for it.
    pub user_type: Option<&'a str>,
    /// Whether the path is configured (a catch-all resource never answers it).
    pub configured: bool,
}

fn owned_by_server(r: &Resource, server: &str) -> bool {
    match &r.owner {
        Some(ResourceOwner::Object { name: Some(n), .. }) => n == server,
        Some(ResourceOwner::Name(n)) => n == server,
        _ => false,
    }
}

/// The resource named `name` and owned by the resource server, if any.
pub fn choose_by_name(found: &[Resource], name: &str, server: &str) -> Option<String> {
    found
        .iter()
        .find(|r| r.name == name && owned_by_server(r, server))
        .and_then(|r| r.id.clone())
}

/// The resource standing for `l.path` (see the module documentation); `Ok(None)` when none
/// may, an error when two are equally good.
pub fn choose_by_path(found: &[Resource], l: &PathLookup<'_>) -> Result<Option<String>, Error> {
    let mut best: Option<(PathPattern, bool, &Resource)> = None;
    let mut tie = false;
    for r in found {
        if r.id.is_none() {
            continue;
        }
        let server_owned = owned_by_server(r, l.server);
        if !server_owned {
            let opted_in = l.user_type.is_some()
                && r.resource_type.as_deref() == l.user_type
                && r.owner_managed_access == Some(true);
            if !opted_in {
                continue;
            }
        }
        // The most specific of its URIs that matches the path.
        let mut uri: Option<PathPattern> = None;
        for u in &r.uris {
            let Ok(p) = PathPattern::parse(u) else {
                continue;
            };
            if l.configured && p.canonical() == "/*" {
                continue;
            }
            if p.matches(l.path).is_none() {
                continue;
            }
            if uri.as_ref().is_none_or(|b| p.specificity(b).is_lt()) {
                uri = Some(p);
            }
        }
        let Some(uri) = uri else { continue };
        let better = match &best {
            None => true,
            Some((b, b_server, _)) => {
                // The resource server's own resources before users'; then specificity.
                match (server_owned, *b_server) {
                    (true, false) => true,
                    (false, true) => false,
                    _ => {
                        let ord = uri.specificity(b);
                        if uri.canonical() == b.canonical() {
                            tie = true;
                            false
                        } else {
                            ord.is_lt()
                        }
                    }
                }
            }
        };
        if better {
            tie = false;
            best = Some((uri, server_owned, r));
        }
    }
    if tie {
        return Err(Error::Config(format!(
            "policy enforcer: several resources stand equally for `{}`",
            l.path
        )));
    }
    Ok(best.and_then(|(_, _, r)| r.id.clone()))
}
