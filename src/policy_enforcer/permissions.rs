//! What a request needs ([`Requirement`]) and whether a token's granted permissions
//! (`authorization.permissions` of an RPT) satisfy it, with Keycloak's scope rules.

use std::collections::BTreeMap;

use serde_json::Value;

use super::config::{EnforcementMode, MethodConfig, PathConfig, ScopesEnforcementMode};

/// What one request needs: a resource and scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// The resource's id on the server.
    pub resource_id: String,
    /// The scopes the method needs.
    pub scopes: Vec<String>,
    /// How they are needed.
    pub mode: ScopesEnforcementMode,
    /// The path's enforcement mode.
    pub enforcement: EnforcementMode,
}

/// The scopes one method of a path needs: its `methods[]` entry, else the request's method
/// (with `http-method-as-scope`), else the path's `scopes` (any of them will do, as in
/// Keycloak). `HEAD` is `GET` without a body: without an entry of its own it needs what `GET`
/// needs (frameworks answer `HEAD` with their `GET` handlers).
pub fn method_scopes(
    path: &PathConfig,
    method: &str,
    http_method_as_scope: bool,
) -> (Vec<String>, ScopesEnforcementMode) {
    let method = if method == "HEAD" && !path.methods.iter().any(|m| m.method == "HEAD") {
        "GET"
    } else {
        method
    };
    if let Some(MethodConfig {
        scopes,
        scopes_enforcement_mode,
        ..
    }) = path.methods.iter().find(|m| m.method == method)
    {
        return (scopes.clone(), *scopes_enforcement_mode);
    }
    if http_method_as_scope {
        return (vec![method.to_string()], ScopesEnforcementMode::Any);
    }
    (path.scopes.clone(), ScopesEnforcementMode::Any)
}

/// How a token's permissions answer a requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A permission for the resource grants the scopes (and agrees with the request's claims).
    Granted,
    /// A permission for the resource exists, but not for these scopes or claims.
    Insufficient,
    /// No permission names the resource.
    NoPermission,
}

fn scopes_ok(granted: &[&str], need: &[String], mode: ScopesEnforcementMode) -> bool {
    // A permission without scopes covers the whole resource (Keycloak).
    if granted.is_empty() {
        return true;
    }
    match mode {
        ScopesEnforcementMode::All => need.iter().all(|s| granted.contains(&s.as_str())),
        ScopesEnforcementMode::Any if !need.is_empty() => {
            need.iter().any(|s| granted.contains(&s.as_str()))
        }
        ScopesEnforcementMode::Any => true,
        ScopesEnforcementMode::Disabled => true,
    }
}

/// Claims pushed with the request must be among those the permission was granted with.
fn claims_ok(permission: &Value, pushed: &BTreeMap<String, Vec<String>>) -> bool {
    let Some(granted) = permission.get("claims").and_then(Value::as_object) else {
        return true;
    };
    granted.iter().all(|(name, values)| {
        let allowed: Vec<String> = match values {
            Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect(),
            Value::String(s) => vec![s.clone()],
            other => vec![other.to_string()],
        };
        match pushed.get(name) {
            Some(have) if !have.is_empty() => have.iter().all(|h| allowed.contains(h)),
            _ => false,
        }
    })
}

/// Checks the `authorization.permissions` of a token's claims (an RPT) against `need`.
pub fn check_permissions(
    token_claims: &Value,
    need: &Requirement,
    pushed_claims: &BTreeMap<String, Vec<String>>,
) -> Verdict {
    let Some(perms) = token_claims
        .get("authorization")
        .and_then(|a| a.get("permissions"))
        .and_then(Value::as_array)
    else {
        return Verdict::NoPermission;
    };
    let mut seen = false;
    for p in perms {
        if p.get("rsid").and_then(Value::as_str) != Some(need.resource_id.as_str()) {
            continue;
        }
        seen = true;
        let granted: Vec<&str> = p
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if scopes_ok(&granted, &need.scopes, need.mode) && claims_ok(p, pushed_claims) {
            return Verdict::Granted;
        }
    }
    if seen {
        Verdict::Insufficient
    } else {
        Verdict::NoPermission
    }
}
