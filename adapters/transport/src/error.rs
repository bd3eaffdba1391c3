//! The adapters' errors: transport failures kept apart from the core's protocol errors.

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
    /// Classifies an I/O failure talking to `host`: refused or reset before a response is a
    /// connect failure, a connection cut mid-response is `Disconnected`, a timeout is `Timeout`.
    pub fn from_io(host: &str, io: &std::io::Error, started: std::time::Instant) -> Self {
        use std::io::ErrorKind as K;
        let (host, detail) = (host.to_string(), io.to_string());
        match io.kind() {
            K::ConnectionRefused | K::ConnectionReset | K::NotConnected => {
                TransportError::Connect { host, detail }
            }
            K::UnexpectedEof | K::ConnectionAborted | K::BrokenPipe => {
                TransportError::Disconnected { host, detail }
            }
            _ if detail.contains("disconnected") => TransportError::Disconnected { host, detail },
            K::TimedOut => TransportError::Timeout {
                host,
                after_ms: started.elapsed().as_millis(),
            },
            _ => TransportError::Other { host, detail },
        }
    }

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
    /// Whether Keycloak is unavailable (no complete response, a shared fetch that failed in
    /// transport, 502/503/504) rather than refusing: keep sessions, answer 503, try later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Error::Transport(_) => true,
            Error::Keycloak(e) => e.is_unavailable(),
        }
    }

    /// The core error, if this is one.
    pub fn keycloak(&self) -> Option<&keycloak_client::Error> {
        match self {
            Error::Keycloak(e) => Some(e),
            Error::Transport(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as Io, ErrorKind as K};

    #[test]
    fn io_failures_are_classified_and_outages_are_unavailable() {
        let t = std::time::Instant::now();
        let c = |k| TransportError::from_io("h:1", &Io::from(k), t);
        assert!(matches!(
            c(K::ConnectionRefused),
            TransportError::Connect { .. }
        ));
        assert!(matches!(
            c(K::UnexpectedEof),
            TransportError::Disconnected { .. }
        ));
        assert!(matches!(c(K::TimedOut), TransportError::Timeout { .. }));
        assert!(matches!(
            c(K::PermissionDenied),
            TransportError::Other { .. }
        ));
        assert!(Error::Transport(c(K::ConnectionRefused)).is_unavailable());
        let shared = keycloak_client::Error::SharedFetchFailed { what: "discovery" };
        assert!(
            Error::Keycloak(shared).is_unavailable(),
            "a waiter's view of the outage"
        );
        let refused = keycloak_client::Error::StateMismatch;
        assert!(!Error::Keycloak(refused).is_unavailable());
    }
}
