//! The settings every claim check reads: one source of truth for the code exchange, refresh and
//! the other grants, and [`TokenValidator`](crate::TokenValidator).

use serde::{Deserialize, Serialize};

/// How token claims are checked. Part of [`ClientConfig`](crate::ClientConfig); every flow and the
/// validator read it from there, nothing overrides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClaimRules {
    /// Allowed clock skew for `exp`, `nbf`, `iat` and `auth_time` (RFC 7519 §4.1.4), seconds.
    /// Default 60.
    pub leeway_secs: u64,
    /// The oldest acceptable ID token by `iat` (OpenID Connect Core §3.1.3.7 item 10), seconds.
    /// Default 600.
    pub max_iat_age_secs: u64,
    /// Require `auth_time` in every ID token, even when no `max_age` was requested (OpenID
    /// Connect Core §2, the client's `require_auth_time` registration). Default false.
    pub require_auth_time: bool,
    /// Require Keycloak's payload `typ` claim (`ID` for ID tokens, `Bearer` for access tokens,
    /// `Logout` for logout tokens), so one kind can never pass as another (RFC 8725 §3.11).
    /// When false a present `typ` is still checked. Default false.
    pub require_typ: bool,
}

impl Default for ClaimRules {
    fn default() -> Self {
        ClaimRules {
            leeway_secs: 60,
            max_iat_age_secs: 600,
            require_auth_time: false,
            require_typ: false,
        }
    }
}
