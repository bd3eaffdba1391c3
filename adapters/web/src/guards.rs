//! Authorization guards on an authenticated [`Identity`]: Keycloak realm and client roles
//! (any-of or all-of) and OAuth scopes. One implementation; the axum and actix extensions only
//! adapt them. UMA permissions are [`WebAuth::require_permission`](crate::WebAuth::require_permission).

use crate::{GuardOutcome, Identity, WebResponse};

/// A Keycloak role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// A realm role (`realm_access.roles`).
    Realm(String),
    /// A client role (`resource_access.<client>.roles`).
    Client {
        /// The client id.
        client: String,
        /// The role.
        role: String,
    },
}

impl Role {
    /// A realm role.
    pub fn realm(role: &str) -> Role {
        Role::Realm(role.into())
    }

    /// A client role.
    pub fn client(client: &str, role: &str) -> Role {
        Role::Client {
            client: client.into(),
            role: role.into(),
        }
    }

    fn held_by(&self, i: &Identity) -> bool {
        match self {
            Role::Realm(r) => i.has_realm_role(r),
            Role::Client { client, role } => i.has_client_role(client, role),
        }
    }
}

/// Which roles a route needs: any one of them, or all of them.
#[derive(Clone, Debug)]
pub struct RoleRequirement {
    roles: Vec<Role>,
    all: bool,
}

impl RoleRequirement {
    /// At least one of `roles` (none given: nobody passes).
    pub fn any_of(roles: impl IntoIterator<Item = Role>) -> Self {
        RoleRequirement {
            roles: roles.into_iter().collect(),
            all: false,
        }
    }

    /// Every one of `roles` (none given: nobody passes, so an empty list never opens a route).
    pub fn all_of(roles: impl IntoIterator<Item = Role>) -> Self {
        RoleRequirement {
            roles: roles.into_iter().collect(),
            all: true,
        }
    }

    /// One realm role.
    pub fn realm(role: &str) -> Self {
        Self::any_of([Role::realm(role)])
    }

    /// One client role.
    pub fn client(client: &str, role: &str) -> Self {
        Self::any_of([Role::client(client, role)])
    }

    /// Whether `identity` meets the requirement.
    pub fn is_met_by(&self, identity: &Identity) -> bool {
        if self.roles.is_empty() {
            return false;
        }
        let mut held = self.roles.iter().map(|r| r.held_by(identity));
        if self.all {
            held.all(|h| h)
        } else {
            held.any(|h| h)
        }
    }

    /// The guard's decision: 401 without an identity, 403 without the roles.
    pub fn check(&self, identity: Option<&Identity>) -> GuardOutcome {
        match identity {
            None => GuardOutcome::Deny(WebResponse::bearer_challenge(None, None)),
            Some(i) if self.is_met_by(i) => GuardOutcome::Allow,
            Some(_) => GuardOutcome::Deny(WebResponse::text(403, "forbidden: missing role")),
        }
    }
}

/// Which OAuth scopes (the access token's `scope` claim, RFC 9068 §2.2.3) a route needs: all of
/// them.
#[derive(Clone, Debug)]
pub struct ScopeRequirement {
    scopes: Vec<String>,
}

impl ScopeRequirement {
    /// Every one of `scopes` (none given: nobody passes).
    pub fn all_of<S: AsRef<str>>(scopes: impl IntoIterator<Item = S>) -> Self {
        ScopeRequirement {
            scopes: scopes.into_iter().map(|s| s.as_ref().to_string()).collect(),
        }
    }

    /// Whether `identity`'s token carries every scope.
    pub fn is_met_by(&self, identity: &Identity) -> bool {
        let granted: Vec<&str> = identity
            .claims
            .str("scope")
            .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        !self.scopes.is_empty() && self.scopes.iter().all(|s| granted.contains(&s.as_str()))
    }

    /// The guard's decision: 401 without an identity; 403 with `WWW-Authenticate: Bearer
    /// error="insufficient_scope"` and the needed scopes (RFC 6750 §3.1) without them.
    pub fn check(&self, identity: Option<&Identity>) -> GuardOutcome {
        match identity {
            None => GuardOutcome::Deny(WebResponse::bearer_challenge(None, None)),
            Some(i) if self.is_met_by(i) => GuardOutcome::Allow,
            Some(_) => {
                let mut r = WebResponse::text(403, "forbidden: insufficient scope");
                r.headers.push((
                    "www-authenticate".into(),
                    format!(
                        "Bearer error=\"insufficient_scope\", scope=\"{}\"",
                        self.scopes.join(" ").replace(['"', '\\'], "")
                    ),
                ));
                GuardOutcome::Deny(r)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdentityData;
    use keycloak_client::{AccessToken, Claims};

    fn identity(claims: serde_json::Value) -> Identity {
        let claims: Claims = serde_json::from_value(claims).unwrap();
        IdentityData::from_access_claims(claims, AccessToken::new("t")).into()
    }

    #[test]
    fn roles_any_of_all_of_realm_and_client() {
        let i = identity(serde_json::json!({
            "sub": "u",
            "realm_access": {"roles": ["user"]},
            "resource_access": {"app": {"roles": ["editor"]}},
            "scope": "openid docs:read"
        }));
        let allow = |g: GuardOutcome| matches!(g, GuardOutcome::Allow);
        let status = |g: GuardOutcome| match g {
            GuardOutcome::Deny(r) => r.status,
            GuardOutcome::Allow => 200,
        };
        assert!(allow(RoleRequirement::realm("user").check(Some(&i))));
        assert!(allow(
            RoleRequirement::client("app", "editor").check(Some(&i))
        ));
        assert_eq!(
            status(RoleRequirement::client("other", "editor").check(Some(&i))),
            403
        );
        assert_eq!(
            status(RoleRequirement::realm("editor").check(Some(&i))),
            403,
            "a client role is no realm role"
        );
        let both = [Role::realm("user"), Role::client("app", "admin")];
        assert!(allow(RoleRequirement::any_of(both.clone()).check(Some(&i))));
        assert_eq!(status(RoleRequirement::all_of(both).check(Some(&i))), 403);
        assert!(allow(
            RoleRequirement::all_of([Role::realm("user"), Role::client("app", "editor")])
                .check(Some(&i))
        ));
        assert_eq!(
            status(RoleRequirement::all_of([]).check(Some(&i))),
            403,
            "empty opens nothing"
        );
        assert_eq!(status(RoleRequirement::any_of([]).check(Some(&i))), 403);
        assert_eq!(status(RoleRequirement::realm("user").check(None)), 401);
    }

    #[test]
    fn scopes_need_every_one_and_say_which() {
        let i = identity(serde_json::json!({"sub": "u", "scope": "openid docs:read"}));
        assert!(matches!(
            ScopeRequirement::all_of(["docs:read"]).check(Some(&i)),
            GuardOutcome::Allow
        ));
        match ScopeRequirement::all_of(["docs:read", "docs:write"]).check(Some(&i)) {
            GuardOutcome::Deny(r) => {
                assert_eq!(r.status, 403);
                let h = &r
                    .headers
                    .iter()
                    .find(|(k, _)| k == "www-authenticate")
                    .unwrap()
                    .1;
                assert_eq!(
                    h,
                    "Bearer error=\"insufficient_scope\", scope=\"docs:read docs:write\""
                );
            }
            GuardOutcome::Allow => panic!("a missing scope passed"),
        }
        assert!(
            !ScopeRequirement::all_of(["docs"]).is_met_by(&i),
            "no prefix match"
        );
        assert!(!ScopeRequirement::all_of(Vec::<String>::new()).is_met_by(&i));
    }
}
