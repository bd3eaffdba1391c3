//! Server-issued DPoP nonces for a resource server (RFC 9449 §9), stateless: a nonce is its
//! expiry time and an HMAC-SHA-256 tag over that time and the server's audience, under the
//! server's key. Every instance sharing the key and the audience accepts the nonces of the
//! others, and nothing is stored. A nonce limits how long a proof made in advance stays usable;
//! replays of one proof are refused by each instance's `jti` store (not shared between
//! instances).

use base64::Engine as _;

use crate::error::Error;
use crate::secret::constant_time_eq;
use crate::time::UnixTime;

/// Tag bytes kept (128 bits).
const TAG_LEN: usize = 16;
/// Domain separation: a nonce tag is never a valid HMAC for anything else keyed the same.
const CONTEXT: &[u8] = b"keycloak-client dpop-nonce v2\0";
/// Seconds of clock difference between instances tolerated on a nonce's expiry.
const CLOCK_LEEWAY_SECS: u64 = 5;
/// Shortest lifetime accepted: a client answers one challenge per request, so a nonce must
/// outlive a round trip comfortably.
pub const MIN_LIFETIME_SECS: u64 = 10;
/// Longest lifetime accepted (a day).
pub const MAX_LIFETIME_SECS: u64 = 86_400;

/// Why a proof's nonce is not accepted; either way the server answers `use_dpop_nonce` with a
/// fresh nonce (RFC 9449 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceProblem {
    /// The proof carries no `nonce`.
    Missing,
    /// Not one of ours: wrong shape, another key or audience, or an edited nonce.
    Unknown,
    /// Ours, but expired (or expiring further ahead than this server's lifetime allows).
    Stale,
}

impl std::fmt::Display for NonceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NonceProblem::Missing => "the proof has no nonce",
            NonceProblem::Unknown => "the nonce was not issued here",
            NonceProblem::Stale => "the nonce has expired",
        })
    }
}

/// Issues and checks nonces with a 32-byte key, for one audience (the resource server's URL,
/// say): give every instance of that server the same key. `Debug` shows no key.
#[derive(Clone)]
pub struct NonceIssuer {
    key: [u8; 32],
    audience: String,
    lifetime_secs: u64,
}

impl std::fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("key", &"[redacted]")
            .field("audience", &self.audience)
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

impl NonceIssuer {
    /// Nonces for `audience`, each accepted for `lifetime_secs` after it is issued
    /// ([`MIN_LIFETIME_SECS`]..=[`MAX_LIFETIME_SECS`]; anything else is `Error::Config`).
    pub fn new(key: [u8; 32], audience: &str, lifetime_secs: u64) -> Result<Self, Error> {
        if !(MIN_LIFETIME_SECS..=MAX_LIFETIME_SECS).contains(&lifetime_secs) {
            return Err(Error::Config(format!(
                "DPoP nonce lifetime must be {MIN_LIFETIME_SECS}..={MAX_LIFETIME_SECS} s, got {lifetime_secs}"
            )));
        }
        Ok(NonceIssuer {
            key,
            audience: audience.to_string(),
            lifetime_secs,
        })
    }

    /// How long a nonce is accepted.
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    fn tag(&self, expires: u64) -> Vec<u8> {
        let mut message = CONTEXT.to_vec();
        message.extend_from_slice(&expires.to_be_bytes());
        message.extend_from_slice(self.audience.as_bytes());
        let mut mac = crate::hmac::hmac_sha256(&self.key, &message);
        mac.truncate(TAG_LEN);
        mac
    }

    /// A nonce issued at `now`: 32 base64url characters.
    pub fn issue(&self, now: UnixTime) -> String {
        let expires = now.0.saturating_add(self.lifetime_secs);
        let mut raw = expires.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.tag(expires));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` (the proof's `nonce` claim) was issued for this audience with this key
    /// and has not expired. A nonce expiring later than this server's own lifetime allows is
    /// refused too, so the shortest lifetime among instances sharing a key wins.
    pub fn check(&self, nonce: Option<&str>, now: UnixTime) -> Result<(), NonceProblem> {
        let nonce = nonce.ok_or(NonceProblem::Missing)?;
        if nonce.len() != 32 {
            return Err(NonceProblem::Unknown);
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(nonce)
            .map_err(|_| NonceProblem::Unknown)?;
        let (time, tag) = raw.split_at(8);
        let mut t = [0u8; 8];
        t.copy_from_slice(time);
        let expires = u64::from_be_bytes(t);
        if !constant_time_eq(tag, &self.tag(expires)) {
            return Err(NonceProblem::Unknown);
        }
        let latest = now
            .0
            .saturating_add(self.lifetime_secs)
            .saturating_add(CLOCK_LEEWAY_SECS);
        if now.0 <= expires && expires <= latest {
            Ok(())
        } else {
            Err(NonceProblem::Stale)
        }
    }
}
