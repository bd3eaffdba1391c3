//! What every HTTP adapter of `keycloak-client` shares: the transport error type (kept apart
//! from the core's protocol errors), the retry policy and its loops, the limits of one exchange,
//! log-safe URL rendering and `tracing` events, and the wall clock.

mod error;
mod exchange;
mod retry;

use std::time::SystemTime;

use keycloak_client::UnixTime;

pub use error::{Error, TransportError};
pub use exchange::*;
pub use retry::{Attempt, RetryPolicy};

/// The current time as the core wants it.
pub fn now() -> UnixTime {
    UnixTime::from(SystemTime::now())
}
