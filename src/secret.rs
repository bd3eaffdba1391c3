//! Newtypes for secret protocol strings. Their `Debug` never prints the value, they do not
//! implement `Display` or `PartialEq` (compare with [`constant_time_eq`] where needed), and the
//! value is reachable only through an explicitly named `secret()` accessor.

use serde::{Deserialize, Serialize};

/// Compares two byte strings in time that depends only on their lengths.
///
/// Used for `state` and `nonce` comparison (RFC 9700 §4.7, OpenID Connect Core §3.1.3.7).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    // Keep the optimiser from short-circuiting the fold.
    std::hint::black_box(diff) == 0
}

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value.
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// The secret value. Do not log it.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Compares with another value in constant time.
            pub fn ct_eq(&self, other: &str) -> bool {
                constant_time_eq(self.0.as_bytes(), other.as_bytes())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_string!(
    /// A confidential client's secret (RFC 6749 §2.3.1).
    ClientSecret
);
secret_string!(
    /// An OAuth access token (RFC 6749 §1.4), often a Keycloak-signed JWT.
    AccessToken
);
secret_string!(
    /// A refresh token (RFC 6749 §1.5). Keycloak issues HS512 JWTs: treat them as opaque.
    RefreshToken
);
secret_string!(
    /// An OpenID Connect ID token (OpenID Connect Core §2).
    IdToken
);
secret_string!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode
);
secret_string!(
    /// A PKCE code verifier (RFC 7636 §4.1).
    PkceVerifier
);
secret_string!(
    /// The `state` value binding an authorization response to its request (RFC 6749 §10.12).
    State
);
secret_string!(
    /// The OpenID Connect `nonce` (OpenID Connect Core §3.1.2.1).
    Nonce
);
secret_string!(
    /// A device code (RFC 8628 §3.2).
    DeviceCode
);
secret_string!(
    /// A UMA permission ticket (UMA 2.0 Federated Authorization §4.3).
    PermissionTicket
);
secret_string!(
    /// A user's password (only for the resource-owner password grant, which exists for testing).
    Password
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = ClientSecret::new("hunter2");
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert_eq!(s.secret(), "hunter2");
    }

    #[test]
    fn ct_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(State::new("x").ct_eq("x"));
        assert!(!State::new("x").ct_eq(""));
    }
}
