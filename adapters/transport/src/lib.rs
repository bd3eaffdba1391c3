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
#[doc(hidden)]
pub use {keycloak_client, rand};

/// A [`Driver`](keycloak_client::Driver)'s `now` and `rng` from the wall clock and the
/// thread-local CSPRNG: the same two methods for every adapter, written once.
#[macro_export]
macro_rules! system_clock_and_rng {
    () => {
        fn now(&self) -> $crate::keycloak_client::UnixTime {
            $crate::now()
        }
        fn rng(&self) -> impl $crate::rand::CryptoRng {
            $crate::rand::rng()
        }
    };
}

/// The current time as the core wants it.
pub fn now() -> UnixTime {
    UnixTime::from(SystemTime::now())
}
