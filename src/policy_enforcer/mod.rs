//! Keycloak's policy enforcer, the sans-IO part: the `policy-enforcer` configuration
//! ([`PolicyEnforcerConfig`]), path matching ([`paths`]), what a request needs
//! ([`PathRules::route`]), the claim-information-point ([`claims`]) and the check of a token's
//! granted permissions ([`permissions`]). The web middleware (`keycloak-client-web`) runs it:
//! it looks resources up, asks Keycloak for decisions and caches both.

pub mod claims;
pub mod config;
pub mod paths;
pub mod permissions;
pub mod resources;

pub use config::{
    EnforcementMode, MethodConfig, PathCacheConfig, PathConfig, PolicyEnforcerConfig,
    ScopesEnforcementMode,
};
pub use paths::{normalize_request_path, PathMatch, PathMatcher, PathPattern};
pub use permissions::{check_permissions, method_scopes, Requirement, Verdict};
pub use resources::{choose_by_name, choose_by_path, PathLookup};

use crate::error::Error;

/// What the enforcer must do with one request.
#[derive(Clone, Debug)]
pub enum Route<'a> {
    /// No check: the enforcer is `DISABLED`, the path is, or it is the `on-deny-redirect-to`
    /// page.
    Open,
    /// A configured path: its resource must be granted the scopes.
    Configured {
        /// The most specific configured path.
        path: &'a PathConfig,
        /// The concrete path it names (`/albums/{id}` for `/albums/42` gives `/albums/42`),
        /// for looking its resource up on the server.
        concrete: String,
        /// The scopes this method needs.
        scopes: Vec<String>,
        /// How.
        mode: ScopesEnforcementMode,
    },
    /// No configured path matches: with `lazy-load-paths` look the resource up on the server
    /// by this path (`matchingUri`); else allowed when `PERMISSIVE`, denied when `ENFORCING`.
    Unmatched {
        /// The normalised request path.
        path: String,
    },
}

/// The configured paths, ready to route requests.
#[derive(Clone, Debug)]
pub struct PathRules {
    config: PolicyEnforcerConfig,
    matcher: PathMatcher<usize>,
}

impl PathRules {
    /// Indexes the configuration's paths (two paths with the same pattern are an error).
    pub fn new(config: PolicyEnforcerConfig) -> Result<Self, Error> {
        let matcher = PathMatcher::new(
            config
                .paths
                .iter()
                .enumerate()
                .map(|(i, p)| (p.path.clone(), i)),
        )?;
        Ok(PathRules { config, matcher })
    }

    /// The configuration.
    pub fn config(&self) -> &PolicyEnforcerConfig {
        &self.config
    }

    /// What `method` on `raw_path` (query allowed; normalised here) needs. A path routers
    /// may read differently from the enforcer is an error (answer 400).
    pub fn route(&self, raw_path: &str, method: &str) -> Result<Route<'_>, Error> {
        let path = normalize_request_path(raw_path)?;
        if self.config.enforcement_mode == EnforcementMode::Disabled {
            return Ok(Route::Open);
        }
        if let Some(deny_page) = &self.config.on_deny_redirect_to {
            if deny_page.starts_with('/')
                && normalize_request_path(deny_page).ok() == Some(path.clone())
            {
                return Ok(Route::Open);
            }
        }
        let method = method.to_ascii_uppercase();
        match self.matcher.find(&path) {
            Some((pattern, &i, m)) => {
                let pc = &self.config.paths[i];
                if pc.enforcement_mode == EnforcementMode::Disabled {
                    return Ok(Route::Open);
                }
                let (scopes, mode) = method_scopes(pc, &method, self.config.http_method_as_scope);
                Ok(Route::Configured {
                    path: pc,
                    concrete: pattern.concrete(&m),
                    scopes,
                    mode,
                })
            }
            None => Ok(Route::Unmatched { path }),
        }
    }
}
