//! Unique JWT ids (`jti`) without ambient randomness: SHA-256 of a secret seed, drawn once
//! from the caller's RNG, and a counter. Unpredictable to anyone without the seed, and never
//! repeated by one source.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use rand_core::CryptoRng;
use sha2::Digest as _;

pub(crate) struct Jti {
    seed: [u8; 32],
    counter: AtomicU64,
}

impl Jti {
    pub(crate) fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; 32];
        rng.fill_bytes(&mut seed);
        Jti {
            seed,
            counter: AtomicU64::new(0),
        }
    }

    /// The next id: 32 base64url characters (192 bits).
    pub(crate) fn next(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let digest = sha2::Sha256::new()
            .chain_update(self.seed)
            .chain_update(n.to_be_bytes())
            .finalize();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..24])
    }
}
