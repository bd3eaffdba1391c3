//! Keycloak's policy enforcer in the middleware: the `policy-enforcer` configuration's paths
//! routed by the core ([`PathRules`]), resources looked up on the server with the PAT (by
//! `id`, `name`, or the concrete path with `matchingUri`) and cached by the `path-cache`
//! settings, and decisions asked of Keycloak with the UMA grant (permissions mode, pushed
//! claims from the claim-information-point), cached per token and permission until the token
//! expires. One implementation for axum and actix, browser and API routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use keycloak_client::policy_enforcer::claims::{
    encode_claim_token, ClaimRequest, CLAIM_TOKEN_FORMAT,
};
use keycloak_client::policy_enforcer::{
    check_permissions, choose_by_name, choose_by_path, EnforcementMode, PathLookup, PathRules,
    PolicyEnforcerConfig, Requirement, Route, ScopesEnforcementMode, Verdict,
};
use keycloak_client::uma::ResourceQuery;
use keycloak_client::UnixTime;
use keycloak_client_reqwest::{now, Error as HttpError, Keycloak};

use crate::coalesced::Coalesced;
use crate::{token_key, GuardOutcome, Identity, RequestInfo, WebAuth, WebResponse};

/// Seconds a "no such resource" answer is kept (brief: a resource created later is found).
const NEGATIVE_TTL_SECS: u64 = 5;
/// Far enough for `path-cache.lifespan: -1` (never expire).
const FOREVER_SECS: u64 = 10 * 365 * 24 * 3600;

/// The enforcer's state: its rules and caches.
pub(crate) struct PolicyEnforcer {
    pub(crate) rules: PathRules,
    /// Lookup (`name:…` or `uri:…`) → the resource id, or `None` when the server has none.
    /// Asked once per path at a time: a burst of first requests asks Keycloak once.
    resources: Coalesced<Option<String>>,
    /// (token, resource, scopes, claims) → granted. Asked once per key at a time: a burst of
    /// requests with one token asks Keycloak once.
    decisions: Coalesced<bool>,
}

/// Where a decision stands once the resource is known.
struct Need {
    resource_id: String,
    scopes: Vec<String>,
    mode: ScopesEnforcementMode,
    enforcement: EnforcementMode,
    claims: BTreeMap<String, Vec<String>>,
}

impl PolicyEnforcer {
    /// Refused: a `resource` other than the client's own, and claims read from the connection
    /// (`request.secure`, `request.remoteAddr`: behind proxies the middleware cannot know
    /// them).
    pub(crate) fn new(
        config: PolicyEnforcerConfig,
        client_id: &str,
    ) -> Result<Self, keycloak_client::Error> {
        let bad = |m: String| keycloak_client::Error::Config(format!("policy-enforcer: {m}"));
        if let Some(r) = config.resource.as_deref().filter(|r| *r != client_id) {
            return Err(bad(format!(
                "`resource` is `{r}` but the client is `{client_id}`"
            )));
        }
        let templates = config
            .claims
            .iter()
            .chain(config.paths.iter().filter_map(|p| p.claims.as_ref()));
        for t in templates {
            if t.reads_connection() {
                return Err(bad(
                    "claims from `request.secure` or `request.remoteAddr` are not supported \
                     (behind proxies they are not known); use a header your proxy sets"
                        .into(),
                ));
            }
        }
        let capacity = config.path_cache.max_entries;
        Ok(PolicyEnforcer {
            rules: PathRules::new(config)?,
            resources: Coalesced::new(capacity, "policy enforcer resource lookup"),
            decisions: Coalesced::new(capacity.saturating_mul(10), "policy enforcer decision"),
        })
    }

    fn config(&self) -> &PolicyEnforcerConfig {
        self.rules.config()
    }

    /// How long a found resource is kept (`None`: not at all).
    fn positive_ttl(&self) -> Option<u64> {
        match self.config().path_cache.lifespan_ms {
            None => Some(FOREVER_SECS),
            Some(0) => None,
            Some(ms) => Some(ms.div_ceil(1000)),
        }
    }
}

/// Which way a lookup goes.
enum Lookup<'a> {
    Name(&'a str),
    Path(PathLookup<'a>),
}

/// A [`Lookup`] that owns its text, for the call that runs in its own task.
enum OwnedLookup {
    Name(String),
    Path {
        path: String,
        server: String,
        user_type: Option<String>,
        configured: bool,
    },
}

impl OwnedLookup {
    fn of(l: &Lookup<'_>) -> Self {
        match l {
            Lookup::Name(n) => OwnedLookup::Name(n.to_string()),
            Lookup::Path(p) => OwnedLookup::Path {
                path: p.path.to_owned(),
                server: p.server.to_owned(),
                user_type: p.user_type.map(str::to_owned),
                configured: p.configured,
            },
        }
    }
}

/// Asks the protection API which resource `lookup` names.
async fn look_up(
    kc: &Keycloak,
    server: &str,
    lookup: &OwnedLookup,
) -> Result<Option<String>, HttpError> {
    Ok(match lookup {
        OwnedLookup::Name(n) => {
            let q = ResourceQuery {
                name: Some(n.clone()),
                exact_name: true,
                owner: Some(server.to_owned()),
                ..Default::default()
            };
            choose_by_name(&kc.query_resources_deep(&q).await?, n, server)
        }
        OwnedLookup::Path {
            path,
            server: owner,
            user_type,
            configured,
        } => {
            let l = PathLookup {
                path,
                server: owner,
                user_type: user_type.as_deref(),
                configured: *configured,
            };
            let mut q = ResourceQuery {
                uri: Some(path.clone()),
                matching_uri: true,
                owner: Some(server.to_owned()),
                ..Default::default()
            };
            let mut id = choose(&kc.query_resources_deep(&q).await?, &l);
            if id.is_none() && l.user_type.is_some() {
                q.owner = None;
                id = choose(&kc.query_resources_deep(&q).await?, &l);
            }
            id
        }
    })
}

fn choose(found: &[keycloak_client::uma::Resource], l: &PathLookup<'_>) -> Option<String> {
    match choose_by_path(found, l) {
        Ok(id) => id,
        Err(e) => {
            // Ambiguous: nothing stands for the path (denied); logged.
            tracing::warn!(target: "keycloak_client::web", error = %e, "policy enforcer lookup");
            None
        }
    }
}

impl WebAuth {
    /// Whether a policy enforcer is configured ([`WebConfig::policy_enforcer`](crate::WebConfig::policy_enforcer)).
    pub fn policy_enforced(&self) -> bool {
        self.policy.is_some()
    }

    /// Whether the policy enforcer's claim-information-point reads request bodies (the
    /// framework must then hand the body over in [`RequestInfo::body`]).
    pub fn policy_reads_body(&self) -> bool {
        self.policy.as_ref().is_some_and(|p| {
            let c = p.config();
            c.claims
                .iter()
                .chain(c.paths.iter().filter_map(|x| x.claims.as_ref()))
                .any(|t| t.reads_body())
        })
    }

    /// The policy enforcer (when `WebConfig::policy_enforcer` is set) for one request whose
    /// identity the authentication layer established (`None`: anonymous). `browser` picks
    /// how a denial answers: `on-deny-redirect-to` or 403 for browsers; a UMA ticket challenge
    /// (with `user-managed-access`) or 403 for APIs. Keycloak unreachable: 503, except on a
    /// `PERMISSIVE` path (logged, let through). Globally, `PERMISSIVE` only lets through paths
    /// no resource answers (Keycloak's meaning).
    pub async fn enforce_policy(
        &self,
        req: &RequestInfo,
        identity: Option<&Identity>,
        browser: bool,
    ) -> GuardOutcome {
        let Some(pe) = &self.policy else {
            return GuardOutcome::Allow;
        };
        let cfg = pe.config();
        let route = match pe.rules.route(&req.path, &req.method) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(target: "keycloak_client::web", error = %e, "policy enforcer refused a request path");
                return GuardOutcome::Deny(WebResponse::text(400, "request path refused"));
            }
        };
        if matches!(route, Route::Open) {
            return GuardOutcome::Allow;
        }
        // Nothing is looked up for anonymous requests.
        let Some(identity) = identity else {
            return GuardOutcome::Deny(WebResponse::bearer_challenge(Some(&self.realm_name), None));
        };
        let global_permissive = cfg.enforcement_mode == EnforcementMode::Permissive;
        let server = self.kc.config().client_id.clone();
        let (lookup, scopes, mode, enforcement, path_claims) = match &route {
            Route::Open => return GuardOutcome::Allow,
            Route::Configured {
                path,
                concrete,
                scopes,
                mode,
            } => {
                let lookup = match (&path.id, &path.name) {
                    (Some(id), _) => Err(id.clone()),
                    (None, Some(name)) => Ok(Lookup::Name(name)),
                    (None, None) => Ok(Lookup::Path(PathLookup {
                        path: concrete,
                        server: &server,
                        user_type: path.resource_type.as_deref(),
                        configured: true,
                    })),
                };
                (
                    lookup,
                    scopes.clone(),
                    *mode,
                    path.enforcement_mode,
                    path.claims.as_ref(),
                )
            }
            Route::Unmatched { path } => {
                if !cfg.lazy_load_paths {
                    return self.unmatched(global_permissive, browser, &req.path).await;
                }
                let method = req.method.to_ascii_uppercase();
                let scopes = if cfg.http_method_as_scope {
                    vec![if method == "HEAD" {
                        "GET".into()
                    } else {
                        method
                    }]
                } else {
                    vec![]
                };
                // A resource found on the server is enforced, whatever the global mode.
                (
                    Ok(Lookup::Path(PathLookup {
                        path,
                        server: &server,
                        user_type: None,
                        configured: false,
                    })),
                    scopes,
                    ScopesEnforcementMode::Any,
                    EnforcementMode::Enforcing,
                    None,
                )
            }
        };
        let permissive = enforcement == EnforcementMode::Permissive;
        if mode == ScopesEnforcementMode::Disabled {
            return GuardOutcome::Allow;
        }
        let resource_id = match lookup {
            Err(id) => id,
            Ok(l) => match self.find_resource(pe, l).await {
                Ok(Some(id)) => id,
                Ok(None) => {
                    return match route {
                        Route::Unmatched { .. } => {
                            self.unmatched(global_permissive, browser, &req.path).await
                        }
                        _ => {
                            tracing::warn!(target: "keycloak_client::web", path = %req.path,
                                "policy enforcer: no resource on the server for this configured path");
                            self.refuse(permissive, browser, None, "no resource for this path")
                                .await
                        }
                    };
                }
                Err(e) => return self.unavailable(permissive, &e),
            },
        };
        let token_claims = token_claims(identity);
        let mut claims = BTreeMap::new();
        let uri = match &req.query {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.clone(),
        };
        let cr = claim_request(req, &uri, identity, &token_claims);
        for t in [cfg.claims.as_ref(), path_claims].into_iter().flatten() {
            claims.extend(t.resolve(&cr));
        }
        let need = Need {
            resource_id,
            scopes,
            mode,
            enforcement,
            claims,
        };
        match self.decide(pe, identity, &token_claims, &need).await {
            Ok(Decision::Granted) => GuardOutcome::Allow,
            // A `PERMISSIVE` path lets through only those who hold no permission for the
            // resource at all (Keycloak's rule): a token holding one that falls short is denied.
            Ok(Decision::Refused { token_held_some }) => {
                self.refuse(
                    permissive && !token_held_some,
                    browser,
                    Some(&need),
                    "denied",
                )
                .await
            }
            Err(e) => self.unavailable(permissive, &e),
        }
    }

    /// No resource answers this path: allowed when the enforcer is `PERMISSIVE`.
    async fn unmatched(&self, permissive: bool, browser: bool, path: &str) -> GuardOutcome {
        if permissive {
            return GuardOutcome::Allow;
        }
        tracing::info!(target: "keycloak_client::web", path = %path, "policy enforcer: no path matches; denied");
        self.refuse(false, browser, None, "no policy for this path")
            .await
    }

    fn unavailable(&self, permissive: bool, e: &HttpError) -> GuardOutcome {
        if permissive {
            tracing::warn!(target: "keycloak_client::web", error = %e,
                "policy enforcer: Keycloak unreachable; PERMISSIVE lets the request through");
            return GuardOutcome::Allow;
        }
        tracing::warn!(target: "keycloak_client::web", error = %e, "policy enforcer: Keycloak unreachable");
        GuardOutcome::Deny(WebResponse::text(503, "authorization service unavailable"))
    }

    /// A denial: logged and let through under `PERMISSIVE`; else the redirect, the UMA
    /// ticket, or 403.
    async fn refuse(
        &self,
        permissive: bool,
        browser: bool,
        need: Option<&Need>,
        why: &str,
    ) -> GuardOutcome {
        if permissive {
            tracing::info!(target: "keycloak_client::web", why, "policy enforcer: PERMISSIVE lets a denied request through");
            return GuardOutcome::Allow;
        }
        let cfg = self.policy.as_ref().map(|p| p.config());
        if browser {
            if let Some(target) = cfg.and_then(|c| c.on_deny_redirect_to.as_deref()) {
                return GuardOutcome::Deny(WebResponse::redirect(target));
            }
        } else if let (Some(true), Some(n)) = (cfg.map(|c| c.user_managed_access), need) {
            let scopes: Vec<&str> = n.scopes.iter().map(String::as_str).collect();
            if let Some(r) = self.uma_ticket_challenge(&n.resource_id, &scopes).await {
                return GuardOutcome::Deny(r);
            }
        }
        GuardOutcome::Deny(WebResponse::text(403, "forbidden"))
    }

    /// The resource a lookup names (see [`choose_by_path`]). Queries ask for the resource
    /// server's own resources first (`owner`), so a user's resource registered at a path
    /// can neither stand for it nor hide the server's; users' resources are searched only
    /// for a configured path that opts in with its `type`.
    async fn find_resource(
        &self,
        pe: &PolicyEnforcer,
        lookup: Lookup<'_>,
    ) -> Result<Option<String>, Arc<HttpError>> {
        let server = self.kc.config().client_id.clone();
        let key = match &lookup {
            Lookup::Name(n) => format!("name:{n}"),
            Lookup::Path(l) => format!(
                "path:{}|{}|{}",
                l.configured,
                l.user_type.unwrap_or_default(),
                l.path
            ),
        };
        let t = now();
        let (kc, owned, positive) = (self.kc.clone(), OwnedLookup::of(&lookup), pe.positive_ttl());
        pe.resources
            .get_or_ask(key, t, move || async move {
                let id = look_up(&kc, &server, &owned).await?;
                let ttl = match &id {
                    Some(_) => positive,
                    None => positive.map(|p| p.min(NEGATIVE_TTL_SECS)),
                };
                Ok((id, t.plus(ttl.unwrap_or(0))))
            })
            .await
    }

    /// The token's own permissions (an RPT) first; else Keycloak's answer for this resource,
    /// scopes and claims, cached until the decision TTL or the token's expiry. A definitive
    /// refusal from Keycloak (`access_denied`, `invalid_scope`, ...) is a denial; only an
    /// unclear answer (transport, 5xx) is an error.
    async fn decide(
        &self,
        pe: &PolicyEnforcer,
        identity: &Identity,
        token_claims: &serde_json::Value,
        n: &Need,
    ) -> Result<Decision, Arc<HttpError>> {
        let need = Requirement {
            resource_id: n.resource_id.clone(),
            scopes: n.scopes.clone(),
            mode: n.mode,
            enforcement: n.enforcement,
        };
        let own = check_permissions(token_claims, &need, &n.claims);
        if own == Verdict::Granted {
            return Ok(Decision::Granted);
        }
        let refused = Decision::Refused {
            token_held_some: own == Verdict::Insufficient,
        };
        let claim_token = (!n.claims.is_empty()).then(|| encode_claim_token(&n.claims));
        let key = format!(
            "{}|{}#{}|{:?}|{}",
            token_key(identity.access_token.secret()),
            n.resource_id,
            n.scopes.join(","),
            n.mode,
            claim_token.as_deref().unwrap_or_default()
        );
        let t = now();
        let (kc, token, claims) = (
            self.kc.clone(),
            identity.access_token.clone(),
            n.claims.clone(),
        );
        let until = token_expiry(token_claims).map_or(t.plus(self.cfg.decision_ttl_secs), |exp| {
            UnixTime(exp.0.min(t.plus(self.cfg.decision_ttl_secs).0))
        });
        let granted = pe
            .decisions
            .get_or_ask(key, t, move || async move {
                let scopes: Vec<&str> = need.scopes.iter().map(String::as_str).collect();
                let audience = kc.config().client_id.clone();
                let granted = match kc
                    .permissions_for(
                        &token,
                        &audience,
                        &need.resource_id,
                        &scopes,
                        claim_token.as_deref().map(|c| (c, CLAIM_TOKEN_FORMAT)),
                    )
                    .await
                {
                    Ok(perms) => {
                        let as_token = serde_json::json!({"authorization": {"permissions": perms}});
                        check_permissions(&as_token, &need, &claims) == Verdict::Granted
                    }
                    Err(e)
                        if e.keycloak()
                            .is_some_and(|k| k.is_access_denied() || k.is_definitive()) =>
                    {
                        if !e.keycloak().is_some_and(|k| k.is_access_denied()) {
                            tracing::info!(target: "keycloak_client::web", error = %e, "policy enforcer: Keycloak refused the request");
                        }
                        false
                    }
                    Err(e) => return Err(e),
                };
                Ok((granted, until))
            })
            .await?;
        Ok(if granted { Decision::Granted } else { refused })
    }
}

/// Keycloak's (or the token's) answer.
enum Decision {
    Granted,
    Refused {
        /// The token itself holds a permission for the resource that falls short.
        token_held_some: bool,
    },
}

/// The access token's claims, as the identity already holds them (verified for bearer
/// tokens; a session's own stored token otherwise).
fn token_claims(identity: &Identity) -> serde_json::Value {
    serde_json::Value::Object(identity.claims.0.clone())
}

fn token_expiry(claims: &serde_json::Value) -> Option<UnixTime> {
    claims.get("exp").and_then(|e| e.as_u64()).map(UnixTime)
}

fn claim_request<'a>(
    req: &'a RequestInfo,
    uri: &'a str,
    identity: &'a Identity,
    token_claims: &'a serde_json::Value,
) -> ClaimRequest<'a> {
    ClaimRequest {
        method: &req.method,
        uri,
        relative_path: &req.path,
        query: req.query.as_deref(),
        secure: false,
        remote_addr: None,
        headers: &req.headers,
        body: &req.body,
        access_token: Some(identity.access_token.secret()),
        token_claims: Some(token_claims),
    }
}
