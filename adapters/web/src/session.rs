//! Server-side sessions and pending logins: the browser's cookies hold only opaque random ids;
//! tokens, and the state, nonce and PKCE verifier of a login in progress, live behind
//! [`SessionStore`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use keycloak_client::{Claims, PendingLogin, TokenSet, UnixTime};
use serde::{Deserialize, Serialize};

/// A boxed future, so the store trait stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a logged-in session holds.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Session {
    /// Tokens of the logged-in user.
    pub tokens: Option<TokenSet>,
    /// The validated ID token claims.
    pub claims: Option<Claims>,
    /// Keycloak's session id (`sid`), for back-channel logout.
    pub sid: Option<String>,
    /// When the session was created.
    pub created_at: UnixTime,
    /// After a refresh that Keycloak could not answer: no new attempt before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_retry_at: Option<UnixTime>,
    /// Refresh attempts that failed in a row (the back-off grows with them).
    #[serde(default)]
    pub refresh_failures: u32,
    /// Bumped on every change, for [`SessionStore::compare_and_set`].
    #[serde(default)]
    pub version: u64,
    /// The request identity derived from `tokens`, kept with this stored value so that an
    /// in-memory store's sessions are read without decoding or a cache lookup. Never
    /// serialised; a clone starts empty. Leave it at its default.
    #[serde(skip)]
    pub identity_memo: IdentityMemo,
}

/// See [`Session::identity_memo`]: filled once per stored value; checked against the access
/// token on every use, so a value whose tokens were changed in place never serves a stale
/// identity.
#[derive(Default)]
pub struct IdentityMemo(std::sync::OnceLock<crate::Identity>);

impl IdentityMemo {
    /// The memoised identity, only if it was derived from this access token.
    pub(crate) fn get_for(&self, token: &keycloak_client::AccessToken) -> Option<&crate::Identity> {
        // Both tokens are the server's own (the stored session's and the one derived from
        // it); no request supplies either, so the comparison has nothing to leak and needs no
        // constant-time loop.
        self.0
            .get()
            .filter(|i| i.access_token.secret().as_bytes() == token.secret().as_bytes())
    }

    /// Keeps `identity` unless one is already kept.
    pub(crate) fn set(&self, identity: &crate::Identity) {
        let _ = self.0.set(identity.clone());
    }
}

impl Clone for IdentityMemo {
    /// Empty: a copy is made to be changed.
    fn clone(&self) -> Self {
        IdentityMemo::default()
    }
}

impl std::fmt::Debug for IdentityMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "IdentityMemo(set)"
        } else {
            "IdentityMemo(empty)"
        })
    }
}

impl Session {
    /// Whether a user is logged in.
    pub fn is_authenticated(&self) -> bool {
        self.tokens.is_some()
    }

    /// The user's `sub` (from the ID token), for back-channel logout by subject.
    pub fn subject(&self) -> Option<&str> {
        self.claims.as_ref().and_then(|c| c.sub())
    }
}

/// Why a store could not answer: Redis down, slow or saturated. The middleware answers 503
/// with [`reason`](StoreError::reason) and keeps the session; nothing is treated as a logout.
/// The `Display` text may name hosts and keys: it is for the log, not for the response.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or refused the operation.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer within its time limit.
    #[error("session store did not answer within {0} ms")]
    Timeout(u64),
    /// Too many operations are already waiting on the store (its connections are exhausted).
    #[error("session store busy: {0} operations in flight")]
    Busy(usize),
    /// The store holds as many one-time keys as it may ([`SessionStore::remember_once`]):
    /// refusing is safe, forgetting one could let a replay through.
    #[error("session store full: {0} one-time keys remembered")]
    Full(usize),
}

impl StoreError {
    /// What the response may say: the kind of failure, without the store's own error text.
    pub fn reason(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "session store unavailable",
            StoreError::Timeout(_) => "session store did not answer in time",
            StoreError::Busy(_) => "session store busy",
            StoreError::Full(_) => "session store full",
        }
    }
}

/// What a store operation gives.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where sessions and pending logins live, in one process ([`MemoryStore`](crate::MemoryStore))
/// or shared by several (Redis). Every operation is expected to be O(1) or O(log n); pending
/// logins are bounded apart from sessions, so anonymous traffic (which only ever creates
/// pending logins) cannot evict a logged-in user. `store_contract` (feature
/// `store-contract`) is the test suite every implementation must pass.
pub trait SessionStore: Send + Sync + 'static {
    /// The session with this id, if it exists and has not expired. Shared: an in-memory store
    /// hands out the stored value itself (no copy of the tokens per request); a store that
    /// deserialises wraps its fresh value. A value that cannot be read (tampered, sealed
    /// under an unknown key, an unknown format) is no session: `Ok(None)`, with a warning.
    fn load<'a>(
        &'a self,
        id: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, StoreResult<Option<Arc<Session>>>>;
    /// Stores a session until `expires_at`, and indexes it by its `sid` and `sub`.
    fn store<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Replaces a session atomically, only if it still exists with version
    /// `expected_version` (compare-and-set): a refresh never brings back a session that a
    /// logout deleted, nor overwrites another instance's newer tokens. `Ok(false)` when the
    /// session is gone or has another version.
    fn compare_and_set<'a>(
        &'a self,
        id: &'a str,
        expected_version: u64,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Deletes a session.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    /// Deletes every session of a Keycloak session id (back-channel logout); returns how many.
    fn delete_by_sid<'a>(&'a self, sid: &'a str) -> BoxFuture<'a, StoreResult<usize>>;
    /// Deletes every session of a user (`sub`, back-channel logout without `sid`); returns how
    /// many.
    fn delete_by_sub<'a>(&'a self, sub: &'a str) -> BoxFuture<'a, StoreResult<usize>>;
    /// Keeps a login in progress under `key` until `expires_at`.
    fn save_pending<'a>(
        &'a self,
        key: &'a str,
        login: PendingLogin,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<()>>;
    /// Takes the login in progress under `key`, atomically: of two racing callbacks exactly
    /// one gets it. `None` when unknown, taken or expired.
    fn take_pending<'a>(
        &'a self,
        key: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, StoreResult<Option<PendingLogin>>>;
    /// Takes the refresh lease of a session for `holder`, if nobody else holds it: one refresh
    /// per session across instances. `Ok(true)` when taken; its holder may take it again (a
    /// retry after a lost answer). Within one instance the engine's own lock serialises. The lease lasts
    /// `until - now` on the store's own clock; callers' clocks (which may disagree between
    /// instances) are never compared.
    fn try_lease<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
        now: UnixTime,
        until: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Gives the lease back, only if `holder` still holds it.
    fn release_lease<'a>(&'a self, id: &'a str, holder: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    /// Remembers `key` for `until - now` (a store shared by processes counts it on its own
    /// clock, as leases): `Ok(true)` the first time, `Ok(false)` while it is remembered. One-time use across every process that
    /// shares the store: DPoP proof `jti`s (RFC 9449 §11.1). `key` is already a digest. A
    /// store that cannot remember another key says so (an error), never `Ok(true)`.
    fn remember_once<'a>(
        &'a self,
        key: &'a str,
        now: UnixTime,
        until: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>>;
    /// Whether other processes share this store (Redis). The engine then also asks it whether
    /// a DPoP proof was used before ([`remember_once`](Self::remember_once)); a store private
    /// to one process says `false`, the engine's own memory serving alone. Assumed shared
    /// unless a store says otherwise.
    fn spans_instances(&self) -> bool {
        true
    }
}
