//! Server-issued DPoP nonces for a resource server (RFC 9449 §9), stateless: a nonce is its
//! issue time and an HMAC-SHA-256 tag under the server's key, so every instance sharing the key
//! accepts the nonces of the others, and nothing is stored. A nonce limits how long a proof
//! made in advance stays usable; the `jti` replay store still refuses a proof used twice.

use base64::Engine as _;

use crate::secret::constant_time_eq;
use crate::time::UnixTime;

/// Tag bytes kept (128 bits: forging one is as hard as guessing a 128-bit key).
const TAG_LEN: usize = 16;
/// Domain separation: a nonce tag is never a valid HMAC for anything else keyed the same.
const CONTEXT: &[u8] = b"keycloak-client dpop-nonce v1\0";
/// Seconds a nonce may claim to come from the future (clock steps between instances).
const FUTURE_LEEWAY_SECS: u64 = 5;

/// Why a proof's nonce is not accepted; either way the server answers `use_dpop_nonce` with a
/// fresh nonce (RFC 9449 §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceProblem {
    /// The proof carries no `nonce`.
    Missing,
    /// Not one of ours: wrong shape, or a tag that does not verify.
    Unknown,
    /// Ours, but older than the lifetime (or issued in the future).
    Stale,
}

impl std::fmt::Display for NonceProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NonceProblem::Missing => "the proof has no nonce",
            NonceProblem::Unknown => "the nonce was not issued here",
            NonceProblem::Stale => "the nonce is too old",
        })
    }
}

/// Issues and checks nonces with a 32-byte key (give every instance the same key to share
/// them). `Debug` shows no key.
#[derive(Clone)]
pub struct NonceIssuer {
    key: [u8; 32],
    lifetime_secs: u64,
}

impl std::fmt::Debug for NonceIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceIssuer")
            .field("key", &"[redacted]")
            .field("lifetime_secs", &self.lifetime_secs)
            .finish()
    }
}

impl NonceIssuer {
    /// Nonces accepted for `lifetime_secs` after they are issued.
    pub fn new(key: [u8; 32], lifetime_secs: u64) -> Self {
        NonceIssuer { key, lifetime_secs }
    }

    /// How long a nonce is accepted.
    pub fn lifetime_secs(&self) -> u64 {
        self.lifetime_secs
    }

    fn tag(&self, issued: u64) -> [u8; TAG_LEN] {
        let mut message = CONTEXT.to_vec();
        message.extend_from_slice(&issued.to_be_bytes());
        let mac = crate::hmac::sign(crate::jws::Algorithm::HS256, &self.key, &message)
            .unwrap_or_default();
        let mut tag = [0u8; TAG_LEN];
        for (t, m) in tag.iter_mut().zip(mac) {
            *t = m;
        }
        tag
    }

    /// A nonce issued at `now`: 32 base64url characters.
    pub fn issue(&self, now: UnixTime) -> String {
        let mut raw = now.0.to_be_bytes().to_vec();
        raw.extend_from_slice(&self.tag(now.0));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `nonce` (the proof's `nonce` claim) was issued by this key within the lifetime.
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
        let issued = u64::from_be_bytes(t);
        if !constant_time_eq(tag, &self.tag(issued)) {
            return Err(NonceProblem::Unknown);
        }
        let fresh = issued <= now.0.saturating_add(FUTURE_LEEWAY_SECS)
            && now.0.saturating_sub(issued) <= self.lifetime_secs;
        if fresh {
            Ok(())
        } else {
            Err(NonceProblem::Stale)
        }
    }
}
