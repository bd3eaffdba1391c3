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
    // Eight bytes at a time (the fold vectorises), then the tail; no early exit anywhere.
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut diff = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .fold(0u64, |d, (x, y)| d | u64::from(x ^ y));
    for (x, y) in a8.zip(b8) {
        let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
        diff |= word(x) ^ word(y);
    }
    // Keep the optimiser from short-circuiting the fold.
    std::hint::black_box(diff) == 0
}

/// What characters a secret may hold when it comes from outside (a server response, storage).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// RFC 6750 §2.1 `b64token`: the value goes into an `Authorization` header.
    Token68,
    /// RFC 6749 Appendix A `VSCHAR` (`%x20-7E`), non-empty.
    Vschar,
    /// Anything (values this library generated, or the caller's own secrets).
    Any,
}

/// `Bearer <token>` for an `Authorization` header (RFC 6750 §2.1), or
/// [`Error::InvalidTokenSyntax`](crate::Error::InvalidTokenSyntax) naming `what` when the token is
/// not a `b64token`.
pub(crate) fn bearer_header(
    token: &AccessToken,
    what: &'static str,
) -> Result<String, crate::error::Error> {
    if token.is_well_formed() {
        Ok(format!("Bearer {}", token.secret()))
    } else {
        Err(crate::error::Error::InvalidTokenSyntax(what))
    }
}

/// Whether `s` is an RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
/// "+" / "/" ) *"="`.
pub fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

impl Syntax {
    pub(crate) fn allows(self, s: &str) -> bool {
        match self {
            Syntax::Token68 => is_b64token(s),
            Syntax::Vschar => !s.is_empty() && s.bytes().all(|b| (0x20..=0x7e).contains(&b)),
            Syntax::Any => true,
        }
    }
}

macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident, $syntax:expr) => {
        $(#[$doc])*
        #[derive(Clone, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a value as given (the caller's own value; see `try_new` for outside input).
            pub fn new(value: impl Into<String>) -> Self {
                $name(value.into())
            }

            /// Wraps a value after checking its syntax, as the core does for values it reads
            /// from servers and storage.
            pub fn try_new(value: impl Into<String>) -> Result<Self, crate::error::Error> {
                let value = value.into();
                if $syntax.allows(&value) {
                    Ok($name(value))
                } else {
                    Err(crate::error::Error::InvalidTokenSyntax(stringify!($name)))
                }
            }

            /// Whether the value has the syntax required where the core uses it.
            pub fn is_well_formed(&self) -> bool {
                $syntax.allows(&self.0)
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

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = String::deserialize(d)?;
                if $syntax.allows(&value) {
                    Ok($name(value))
                } else {
                    Err(serde::de::Error::custom(concat!(
                        stringify!($name),
                        " has characters outside its allowed syntax"
                    )))
                }
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
    ClientSecret,
    Syntax::Any
);
secret_string!(
    /// An OAuth access token (RFC 6749 §1.4), often a Keycloak-signed JWT. From a server it must
    /// be a `b64token` (RFC 6750 §2.1): it goes into `Authorization` headers.
    AccessToken,
    Syntax::Token68
);
secret_string!(
    /// A refresh token (RFC 6749 §1.5). Keycloak issues HS512 JWTs: treat them as opaque.
    RefreshToken,
    Syntax::Vschar
);
secret_string!(
    /// An OpenID Connect ID token (OpenID Connect Core §2).
    IdToken,
    Syntax::Vschar
);
secret_string!(
    /// An authorization code (RFC 6749 §4.1.2).
    AuthorizationCode,
    Syntax::Any
);
secret_string!(
    /// A PKCE code verifier (RFC 7636 §4.1).
    PkceVerifier,
    Syntax::Any
);
secret_string!(
    /// The `state` value binding an authorization response to its request (RFC 6749 §10.12).
    State,
    Syntax::Any
);
secret_string!(
    /// The OpenID Connect `nonce` (OpenID Connect Core §3.1.2.1).
    Nonce,
    Syntax::Any
);
secret_string!(
    /// A device code (RFC 8628 §3.2).
    DeviceCode,
    Syntax::Vschar
);
secret_string!(
    /// A UMA permission ticket (UMA 2.0 Federated Authorization §4.3). From a server it must be
    /// a `b64token`: it is repeated in `WWW-Authenticate` challenges and forms.
    PermissionTicket,
    Syntax::Token68
);
secret_string!(
    /// A UMA persisted claims token (UMA Grant §3.3.5): the requesting party's claims, kept
    /// by the authorization server for later grants.
    PersistedClaimsToken,
    Syntax::Vschar
);
secret_string!(
    /// A user's password (only for the resource-owner password grant, which exists for testing).
    Password,
    Syntax::Any
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
    fn tokens_from_outside_must_fit_their_header_syntax() {
        for bad in ["", "a b", "a\r\nx-evil: 1", "a\n", "é", "a,b", "=", "\"q\""] {
            assert!(
                serde_json::from_value::<AccessToken>(serde_json::json!(bad)).is_err(),
                "{bad:?}"
            );
            assert!(
                serde_json::from_value::<PermissionTicket>(serde_json::json!(bad)).is_err(),
                "{bad:?}"
            );
            assert!(AccessToken::try_new(bad).is_err(), "{bad:?}");
            assert!(!AccessToken::new(bad).is_well_formed(), "{bad:?}");
        }
        for good in ["eyJ.a-b_c.d~e", "abc+/==", "x", "a="] {
            assert!(
                serde_json::from_value::<AccessToken>(serde_json::json!(good)).is_ok(),
                "{good}"
            );
            assert!(AccessToken::try_new(good).is_ok(), "{good}");
        }
        for bad in ["", "a\rb", "a\nb", "\u{7f}", "é"] {
            assert!(
                serde_json::from_value::<RefreshToken>(serde_json::json!(bad)).is_err(),
                "{bad:?}"
            );
            assert!(
                serde_json::from_value::<IdToken>(serde_json::json!(bad)).is_err(),
                "{bad:?}"
            );
            assert!(
                serde_json::from_value::<DeviceCode>(serde_json::json!(bad)).is_err(),
                "{bad:?}"
            );
        }
        assert!(serde_json::from_value::<RefreshToken>(serde_json::json!("a b~")).is_ok());
        assert!(serde_json::from_value::<Password>(serde_json::json!("a\nb é")).is_ok());
    }

    #[test]
    fn ct_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(State::new("x").ct_eq("x"));
        assert!(!State::new("x").ct_eq(""));
        // every length around the 8-byte words, a difference in every position and bit
        for len in 0..41usize {
            let a: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37)).collect();
            assert!(constant_time_eq(&a, &a.clone()), "len {len}");
            for pos in 0..len {
                for bit in 0..8 {
                    let mut b = a.clone();
                    b[pos] ^= 1 << bit;
                    assert!(!constant_time_eq(&a, &b), "len {len} pos {pos} bit {bit}");
                }
            }
        }
    }
}
