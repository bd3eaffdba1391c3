//! Time as an input: the core never reads a clock.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, as supplied by the caller.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The instant `secs` seconds later, saturating instead of overflowing.
    pub fn plus(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_add(secs))
    }

    /// The instant `secs` seconds earlier, saturating at the epoch.
    pub fn minus(self, secs: u64) -> UnixTime {
        UnixTime(self.0.saturating_sub(secs))
    }

    /// Seconds from `self` until `later` (0 if `later` is not after `self`).
    pub fn until(self, later: UnixTime) -> u64 {
        later.0.saturating_sub(self.0)
    }
}

/// A wall-clock reading taken by the caller (times before the epoch become 0).
impl From<std::time::SystemTime> for UnixTime {
    fn from(t: std::time::SystemTime) -> UnixTime {
        UnixTime(
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        )
    }
}
