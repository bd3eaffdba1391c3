//! Redis key names. Every operation touches one key, or two keys that share a hash tag, so
//! each runs on one cluster slot. Ids never appear in clear: the session id is the browser's
//! credential, `sid` and `sub` identify people, so each is replaced by its SHA-256.
//!
//! | key | holds |
//! |---|---|
//! | `{p}:{<H(id)>}:s` | a session: hash of `v` (version), `e` (deadline), `d` (sealed JSON) |
//! | `{p}:{<H(id)>}:l` | its refresh lease: the holder, with `PX` (same slot as the session) |
//! | `{p}:{x<H(sid)>}:i` | `H(id)` of a Keycloak session's sessions, scored by their deadlines |
//! | `{p}:{u<H(sub)>}:i` | `H(id)` of a user's sessions, scored by their deadlines |
//! | `{p}:{q<H(key)>}` | a login in progress: `<deadline>:<sealed JSON>` |
//! | `{p}:{o<H(key)>}` | a one-time key (`remember_once`: DPoP proof `jti`s), with `PX` |

use base64::Engine as _;
use sha2::Digest as _;

/// `H(v)`: SHA-256, base64url (no braces, so it is a whole hash tag).
pub(crate) fn hashed(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(v.as_bytes()))
}

/// Key names under one prefix.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    prefix: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str) -> Self {
        Keys {
            prefix: prefix.replace(['{', '}'], ""),
        }
    }

    /// The session key of a hashed session id.
    pub(crate) fn session_of(&self, hid: &str) -> String {
        format!("{}:{{{hid}}}:s", self.prefix)
    }

    pub(crate) fn session(&self, id: &str) -> String {
        self.session_of(&hashed(id))
    }

    pub(crate) fn lease_of(&self, hid: &str) -> String {
        format!("{}:{{{hid}}}:l", self.prefix)
    }

    pub(crate) fn lease(&self, id: &str) -> String {
        self.lease_of(&hashed(id))
    }

    pub(crate) fn by_sid(&self, sid: &str) -> String {
        format!("{}:{{x{}}}:i", self.prefix, hashed(sid))
    }

    pub(crate) fn by_sub(&self, sub: &str) -> String {
        format!("{}:{{u{}}}:i", self.prefix, hashed(sub))
    }

    pub(crate) fn pending(&self, key: &str) -> String {
        format!("{}:{{q{}}}", self.prefix, hashed(key))
    }

    /// A one-time key (`remember_once`).
    pub(crate) fn once(&self, key: &str) -> String {
        format!("{}:{{o{}}}", self.prefix, hashed(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash tag of a key (what Redis Cluster hashes).
    fn tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = key[open..].find('}').unwrap() + open;
        &key[open + 1..close]
    }

    #[test]
    fn a_session_and_its_lease_share_a_slot_and_ids_stay_hidden() {
        let k = Keys::new("kc");
        let id = "browser-session-credential";
        assert_eq!(tag(&k.session(id)), tag(&k.lease(id)));
        assert!(!k.session(id).contains(id) && !k.lease(id).contains(id));
        assert!(!k.by_sid("sid-1").contains("sid-1") && !k.by_sub("alice").contains("alice"));
        assert_ne!(
            tag(&k.by_sid("a")),
            tag(&k.by_sub("a")),
            "sid and sub indexes differ"
        );
        assert!(!tag(&k.pending("p")).is_empty());
        assert_eq!(
            Keys::new("a{b}").session_of("h"),
            "ab:{h}:s",
            "a prefix cannot move the tag"
        );
    }
}
