//! Revocation-aware API routes: the bearer token is introspected at Keycloak (RFC 7662) so a
//! revoked token or an ended session is noticed before the token expires. Answers are cached
//! per token for at most `introspection_max_age_secs` and never past the token's `exp`; a
//! back-channel logout of the token's session (`sid`) or user (`sub`) drops them at once.

use keycloak_client::{TokenTypeHint, UnixTime};
use keycloak_client_reqwest::now;

use crate::{token_key, GuardOutcome, Identity, WebAuth, WebResponse};

impl WebAuth {
    /// The guard of revocation-aware routes (after bearer authentication): the token must
    /// still be active at Keycloak. Inactive: 401 `invalid_token`. Keycloak unreachable: 503,
    /// or let through when `WebConfig::introspection_fail_open`.
    pub async fn require_active_token(&self, identity: Option<&Identity>) -> GuardOutcome {
        let Some(identity) = identity else {
            return GuardOutcome::Deny(WebResponse::bearer_challenge(Some(&self.realm_name), None));
        };
        let token = identity.access_token.secret();
        let key = token_key(token);
        let t = now();
        let sid = identity.claims.str("sid").map(|s| format!("sid:{s}"));
        let sub = format!("sub:{}", identity.subject);
        if let Some((active, at)) = self.introspections.get(&key, t) {
            // A logout at or after the answer was cached makes it stale.
            let revoked_since = |k: &str| self.revocations.get(k, t).is_some_and(|when| when >= at);
            if !(sid.as_deref().is_some_and(revoked_since) || revoked_since(&sub)) {
                return self.active_outcome(active);
            }
        }
        match self
            .kc
            .introspect(token, Some(TokenTypeHint::AccessToken))
            .await
        {
            Ok(info) => {
                let exp = identity
                    .claims
                    .numeric_date("exp")
                    .ok()
                    .flatten()
                    .map(UnixTime)
                    .unwrap_or(t);
                let until = UnixTime(exp.0.min(t.plus(self.cfg.introspection_max_age_secs).0));
                if until > t {
                    self.introspections.insert(key, (info.active, t), until, t);
                }
                self.active_outcome(info.active)
            }
            Err(e) if self.cfg.introspection_fail_open => {
                tracing::warn!(target: "keycloak_client::web", error = %e,
                    "token introspection failed; introspection_fail_open lets the request through");
                GuardOutcome::Allow
            }
            Err(e) => {
                tracing::warn!(target: "keycloak_client::web", error = %e, "token introspection failed");
                GuardOutcome::Deny(WebResponse::text(503, "token introspection unavailable"))
            }
        }
    }

    fn active_outcome(&self, active: bool) -> GuardOutcome {
        if active {
            GuardOutcome::Allow
        } else {
            GuardOutcome::Deny(WebResponse::bearer_challenge(
                Some(&self.realm_name),
                Some(("invalid_token", "the token is no longer active")),
            ))
        }
    }

    /// Marks a back-channel logout of a session (`sid:…`) or user (`sub:…`) at `t`, so
    /// cached introspection answers for their tokens are asked again.
    pub(crate) fn note_logout(&self, what: String, t: UnixTime) {
        self.revocations.insert(
            what,
            t,
            t.plus(self.cfg.introspection_max_age_secs.saturating_add(1)),
            t,
        );
    }
}
