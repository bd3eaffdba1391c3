//! What every HTTP adapter of `keycloak-client` shares: the transport error type (kept apart
//! from the core's protocol errors), the retry policy and its decision rule, the wall clock, and
//! log-safe URL rendering.

use std::time::{Duration, SystemTime};

use keycloak_client::{Method, UnixTime};

/// A transport failure: no complete HTTP response was received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server could not be reached (refused, DNS, TLS handshake).
    #[error("cannot connect to {host}: {detail}")]
    Connect {
        /// Host and port.
        host: String,
        /// Underlying error.
        detail: String,
    },
    /// The connect or request deadline passed.
    #[error("request to {host} timed out after {after_ms} ms")]
    Timeout {
        /// Host and port.
        host: String,
        /// Elapsed time.
        after_ms: u128,
    },
    /// The connection was closed before a complete response arrived (the request may or may
    /// not have been processed).
    #[error("{host} closed the connection before a complete response: {detail}")]
    Disconnected {
        /// Host and port.
        host: String,
        /// Underlying error.
        detail: String,
    },
    /// The response body exceeded the cap.
    #[error("response body from {host} exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Host and port.
        host: String,
        /// The limit.
        limit: usize,
    },
    /// Any other I/O or protocol failure.
    #[error("HTTP transport error talking to {host}: {detail}")]
    Other {
        /// Host and port.
        host: String,
        /// Underlying error.
        detail: String,
    },
}

impl TransportError {
    /// Whether the server was unreachable or unavailable (as opposed to a local or protocol
    /// failure): connection refused, timeout, connection dropped.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            TransportError::Connect { .. }
                | TransportError::Timeout { .. }
                | TransportError::Disconnected { .. }
        )
    }
}

/// Either the core's protocol error or a transport error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protocol error from the core (OAuth error, validation, malformed body, ...).
    #[error(transparent)]
    Keycloak(#[from] keycloak_client::Error),
    /// The HTTP exchange failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl Error {
    /// The core error, if this is one.
    pub fn keycloak(&self) -> Option<&keycloak_client::Error> {
        match self {
            Error::Keycloak(e) => Some(e),
            Error::Transport(_) => None,
        }
    }
}

/// Retry policy for requests that can be repeated safely.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Total attempts (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubled each retry.
    pub initial_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(100),
        }
    }
}

/// The outcome of one attempt, as the retry rule sees it.
pub enum Attempt<'a> {
    /// A response with this status arrived.
    Status(u16),
    /// The attempt failed.
    Failed(&'a TransportError),
}

impl RetryPolicy {
    /// Whether to try again after `attempt` (1-based): idempotent requests on 502/503/504,
    /// timeouts and dropped connections; any request that never connected. Never past
    /// `attempts`.
    pub fn should_retry(&self, method: Method, attempt: u32, outcome: Attempt<'_>) -> bool {
        if attempt >= self.attempts.max(1) {
            return false;
        }
        match outcome {
            Attempt::Status(s) => matches!(s, 502..=504) && method.is_idempotent(),
            Attempt::Failed(TransportError::Connect { .. }) => true,
            Attempt::Failed(
                TransportError::Timeout { .. } | TransportError::Disconnected { .. },
            ) => method.is_idempotent(),
            Attempt::Failed(_) => false,
        }
    }

    /// After attempt `attempt` of a `method` request ended in `result`: the pause before the
    /// next attempt, or `None` to hand `result` back. Logs the retry or the final failure.
    pub fn next_attempt(
        &self,
        method: Method,
        attempt: u32,
        result: &Result<keycloak_client::Response, TransportError>,
    ) -> Option<Duration> {
        let outcome = match result {
            Ok(resp) => Attempt::Status(resp.status),
            Err(e) => Attempt::Failed(e),
        };
        if !self.should_retry(method, attempt, outcome) {
            if let Err(e) = result {
                tracing::warn!(target: "keycloak_client::http", error = %e, attempt, "request failed");
            }
            return None;
        }
        match result {
            Ok(resp) => {
                tracing::warn!(target: "keycloak_client::http", status = resp.status, attempt, "retrying")
            }
            Err(e) => {
                tracing::warn!(target: "keycloak_client::http", error = %e, attempt, "retrying")
            }
        }
        Some(self.backoff(attempt))
    }

    /// The backoff before attempt `attempt + 1`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
    }
}

/// The current time as the core wants it.
pub fn now() -> UnixTime {
    UnixTime::from(SystemTime::now())
}

/// `host:port` of a URL, for errors.
pub fn host_of(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// A URL without query and fragment (which can carry codes or hints), for logs.
pub fn strip_query(u: &url::Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_rule() {
        let p = RetryPolicy::default();
        let c = TransportError::Connect {
            host: "h".into(),
            detail: "d".into(),
        };
        let t = TransportError::Timeout {
            host: "h".into(),
            after_ms: 1,
        };
        assert!(
            p.should_retry(Method::Post, 1, Attempt::Failed(&c)),
            "never connected: safe to repeat"
        );
        assert!(
            !p.should_retry(Method::Post, 1, Attempt::Failed(&t)),
            "a POST that may have run is not repeated"
        );
        assert!(p.should_retry(Method::Get, 2, Attempt::Failed(&t)));
        assert!(
            !p.should_retry(Method::Get, 3, Attempt::Failed(&t)),
            "bounded"
        );
        assert!(p.should_retry(Method::Get, 1, Attempt::Status(503)));
        assert!(!p.should_retry(Method::Post, 1, Attempt::Status(503)));
        assert!(!p.should_retry(Method::Get, 1, Attempt::Status(500)));
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(
            strip_query(&"http://h/p?code=secret#x".parse().unwrap()),
            "http://h/p"
        );
    }
}

/// The token-validation settings of the adapters' friendly clients, and how they become a
/// [`TokenValidator`](keycloak_client::TokenValidator) (one place for both adapters).
#[derive(Clone, Debug)]
pub struct ValidatorSettings {
    /// Allowed signature algorithms.
    pub algorithms: Vec<keycloak_client::Algorithm>,
    /// When the key set is refetched.
    pub jwks_policy: keycloak_client::JwksPolicy,
    /// The audience access tokens must carry (default: the client id).
    pub access_audience: Option<String>,
}

impl ValidatorSettings {
    /// A validator for `client`'s issuer with these settings and an empty key cache.
    pub fn build(
        &self,
        client: &keycloak_client::Client,
        verifier: std::sync::Arc<dyn keycloak_client::JwsVerifier>,
    ) -> Result<keycloak_client::TokenValidator, keycloak_client::Error> {
        let mut v = keycloak_client::TokenValidator::new(client, verifier)?
            .allow_algorithms(&self.algorithms)
            .with_cache(keycloak_client::JwksCache::new(self.jwks_policy));
        if let Some(aud) = &self.access_audience {
            v = v.access_token_audience(aud);
        }
        Ok(v)
    }
}
