#![no_main]
//! The policy enforcer's parsers on arbitrary input: the `policy-enforcer` configuration
//! (typed errors, never a panic), path patterns, request paths and the claim templates, and,
//! when the configuration is accepted, routing arbitrary request paths through it.
use keycloak_client::policy_enforcer::claims::ClaimRequest;
use keycloak_client::policy_enforcer::{
    normalize_request_path, PathPattern, PathRules, PolicyEnforcerConfig,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(2, '\n');
    let first = parts.next().unwrap_or_default();
    let rest = parts.next().unwrap_or_default();
    // line 1: a pattern and a request path, split at a space
    let (pattern, path) = first.split_once(' ').unwrap_or((first, "/"));
    if let (Ok(p), Ok(n)) = (PathPattern::parse(pattern), normalize_request_path(path)) {
        if let Some(m) = p.matches(&n) {
            let _ = p.concrete(&m);
        }
        let _ = p.canonical();
    }
    // the rest: a configuration, then the request path routed through it
    let config = PolicyEnforcerConfig::from_json(rest)
        .ok()
        .or_else(|| PolicyEnforcerConfig::from_keycloak_json(rest).ok().flatten());
    if let Some(c) = config {
        let claims = c.claims.clone();
        if let Ok(rules) = PathRules::new(c) {
            let _ = rules.route(path, "GET");
            let _ = rules.route(pattern, "delete");
        }
        if let Some(t) = claims {
            let headers = vec![("content-type".to_string(), "application/json".to_string())];
            let r = ClaimRequest {
                method: "GET",
                uri: path,
                relative_path: path,
                query: path.split_once('?').map(|(_, q)| q),
                headers: &headers,
                body: first.as_bytes(),
                ..Default::default()
            };
            let _ = t.resolve(&r);
        }
    }
});
