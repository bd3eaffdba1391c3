//! Sealing of stored values: AES-256-GCM (ring) under an application key, so Redis never holds
//! a token, a PKCE verifier or a nonce in plaintext.
//!
//! Envelope, version 1: `0x01 | key id (4 bytes) | nonce (12 bytes) | ciphertext | tag (16)`.
//! The key id is the first four bytes of SHA-256 of the key, so keys need no names. The
//! associated data binds a value to its Redis key (and the session's version and deadline):
//! a value copied under another key does not open.
//!
//! Key rotation: [`SealingKeys`] is a list; the first key seals, every key opens. Nonces are
//! random (96 bits), so one key should seal fewer than 2^32 values (NIST SP 800-38D §8.3):
//! rotate a key well before that (a session write is one seal; at 1,000 writes a second that
//! is about 50 days).

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::Digest as _;

const FORMAT_V1: u8 = 1;
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;
const TAG_LEN: usize = 16;

/// Why a sealing key list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// No key at all.
    #[error("SESSION_KEYS holds no key: give one or more comma-separated base64url 32-byte keys")]
    Empty,
    /// A key is not base64url.
    #[error("SESSION_KEYS key #{0} is not base64url")]
    NotBase64(usize),
    /// A key does not have 32 bytes.
    #[error("SESSION_KEYS key #{0} has {1} bytes; AES-256-GCM keys have 32")]
    WrongLength(usize, usize),
    /// Two keys have the same id (the same key twice).
    #[error("SESSION_KEYS key #{0} repeats an earlier key")]
    Duplicate(usize),
}

/// Why a value could not be sealed (nothing is written then: a zero nonce is never used).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    /// The operating system's random generator failed.
    #[error("no randomness for a nonce")]
    Randomness,
    /// AES-GCM refused the input (over its size limit).
    #[error("value too large to seal")]
    TooLarge,
}

/// Why a stored value did not open. Every case counts as "no session" (logged out).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// Shorter than an envelope.
    #[error("sealed value too short ({0} bytes)")]
    Truncated(usize),
    /// A format version this build does not know.
    #[error("sealed value has unknown format version {0}")]
    UnknownFormat(u8),
    /// Sealed under a key that is not configured (rotated out).
    #[error("sealed value under unknown key id {0}")]
    UnknownKey(String),
    /// The tag does not verify: tampered with, or moved under another Redis key.
    #[error("sealed value does not authenticate")]
    Forged,
}

struct SealingKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

/// The application's sealing keys; the first seals, all open. `Debug` shows key ids only.
pub struct SealingKeys {
    keys: Vec<SealingKey>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<String> = self.keys.iter().map(|k| hex(&k.id)).collect();
        f.debug_struct("SealingKeys")
            .field("key_ids", &ids)
            .finish_non_exhaustive()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl SealingKeys {
    /// Keys from raw 32-byte secrets, the sealing key first.
    pub fn new(keys: &[[u8; 32]]) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut out: Vec<SealingKey> = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let digest = sha2::Sha256::digest(k);
            let mut id = [0u8; KEY_ID_LEN];
            id.copy_from_slice(&digest[..KEY_ID_LEN]);
            if out.iter().any(|o| o.id == id) {
                return Err(KeyError::Duplicate(i + 1));
            }
            let unbound = UnboundKey::new(&AES_256_GCM, k)
                .map_err(|_| KeyError::WrongLength(i + 1, k.len()))?;
            out.push(SealingKey {
                id,
                key: LessSafeKey::new(unbound),
            });
        }
        Ok(SealingKeys {
            keys: out,
            rng: SystemRandom::new(),
        })
    }

    /// Keys from `SESSION_KEYS`' format: comma-separated base64url (padding optional) 32-byte
    /// keys, the sealing key first.
    pub fn from_base64url_list(list: &str) -> Result<Self, KeyError> {
        let mut raw = Vec::new();
        for (i, part) in list.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .map_err(|_| KeyError::NotBase64(i + 1))?;
            let key: [u8; 32] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KeyError::WrongLength(i + 1, bytes.len()))?;
            raw.push(key);
        }
        Self::new(&raw)
    }

    /// Seals `plaintext` under the first key, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, SealError> {
        let k = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| SealError::Randomness)?;
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&k.id);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        k.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| SealError::TooLarge)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens an envelope bound to `aad`, with whichever configured key sealed it.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        let Some(&format) = sealed.first() else {
            return Err(OpenError::Truncated(0));
        };
        if format != FORMAT_V1 {
            return Err(OpenError::UnknownFormat(format));
        }
        if sealed.len() < HEADER_LEN + TAG_LEN {
            return Err(OpenError::Truncated(sealed.len()));
        }
        let id = &sealed[1..1 + KEY_ID_LEN];
        let key = self
            .keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| OpenError::UnknownKey(hex(id)))?;
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        let mut body = sealed[HEADER_LEN..].to_vec();
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| OpenError::Forged)?;
        Ok(plain.to_vec())
    }

    /// The id of the sealing key, as it appears in envelopes (hex).
    pub fn sealing_key_id(&self) -> String {
        hex(&self.keys[0].id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(k: &[u8; 32]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k)
    }

    #[test]
    fn rotation_seals_with_the_first_and_opens_with_any() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let before = SealingKeys::new(&[old]).unwrap();
        let sealed_old = before.seal(b"tokens", b"kc:{a}:s").unwrap();
        let after =
            SealingKeys::from_base64url_list(&format!("{},{}", b64(&new), b64(&old))).unwrap();
        assert_eq!(after.open(&sealed_old, b"kc:{a}:s").unwrap(), b"tokens");
        let sealed_new = after.seal(b"tokens2", b"kc:{a}:s").unwrap();
        assert_ne!(
            &sealed_new[1..5],
            &sealed_old[1..5],
            "sealed under the new key"
        );
        assert_eq!(
            hex(&sealed_new[1..5]),
            after.sealing_key_id(),
            "the key id is in the envelope"
        );
        assert_ne!(hex(&sealed_old[1..5]), after.sealing_key_id());
        assert!(matches!(
            before.open(&sealed_new, b"kc:{a}:s"),
            Err(OpenError::UnknownKey(_))
        ));
        assert!(
            !sealed_new.windows(7).any(|w| w == b"tokens2"),
            "no plaintext"
        );
    }

    #[test]
    fn tampered_moved_truncated_or_unknown_values_do_not_open() {
        let k = SealingKeys::new(&[[7u8; 32]]).unwrap();
        let sealed = k.seal(b"secret", b"kc:{a}:s").unwrap();
        assert_eq!(
            k.open(&sealed, b"kc:{b}:s"),
            Err(OpenError::Forged),
            "moved"
        );
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(k.open(&t, b"kc:{a}:s").is_err(), "byte {i} flipped");
        }
        assert_eq!(k.open(&[], b""), Err(OpenError::Truncated(0)));
        assert_eq!(
            k.open(&sealed[..20], b"kc:{a}:s"),
            Err(OpenError::Truncated(20))
        );
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert_eq!(k.open(&v2, b"kc:{a}:s"), Err(OpenError::UnknownFormat(2)));
        // nonces differ: the same value sealed twice looks different
        assert_ne!(
            k.seal(b"secret", b"x").unwrap(),
            k.seal(b"secret", b"x").unwrap()
        );
    }

    #[test]
    fn key_lists_are_checked_and_never_printed() {
        assert_eq!(
            SealingKeys::from_base64url_list("").unwrap_err(),
            KeyError::Empty
        );
        assert_eq!(
            SealingKeys::from_base64url_list("!!!").unwrap_err(),
            KeyError::NotBase64(1)
        );
        assert_eq!(
            SealingKeys::from_base64url_list(&format!("{},{}", b64(&[1; 32]), "AAAA")).unwrap_err(),
            KeyError::WrongLength(2, 3)
        );
        assert_eq!(
            SealingKeys::from_base64url_list(&format!("{0},{0}", b64(&[1; 32]))).unwrap_err(),
            KeyError::Duplicate(2)
        );
        let k = SealingKeys::from_base64url_list(&format!("{}=", b64(&[9; 32]))).unwrap();
        let dbg = format!("{k:?}");
        assert!(
            dbg.contains(&k.sealing_key_id()) && !dbg.contains(&b64(&[9; 32])),
            "{dbg}"
        );
    }
}
