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

/// Where sessions and pending logins live. Every operation is expected to be O(1) or
/// O(log n); pending logins are bounded apart from sessions, so anonymous traffic (which only
/// ever creates pending logins) cannot evict a logged-in user.
pub trait SessionStore: Send + Sync + 'static {
    /// The session with this id, if it exists and has not expired. Shared: an in-memory store
    /// hands out the stored value itself (no copy of the tokens per request); a store that
    /// deserialises wraps its fresh value.
    fn load<'a>(&'a self, id: &'a str, now: UnixTime) -> BoxFuture<'a, Option<Arc<Session>>>;
    /// Stores a session until `expires_at`.
    fn store<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, ()>;
    /// Stores a session only if it still exists, atomically (a refresh must not bring back a
    /// session that a logout deleted meanwhile); `false` when it was gone.
    fn update<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, bool>;
    /// Deletes a session.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
    /// Deletes every session of a Keycloak session id (back-channel logout); returns how many.
    fn delete_by_sid<'a>(&'a self, sid: &'a str) -> BoxFuture<'a, usize>;
    /// Deletes every session of a user (`sub`, back-channel logout without `sid`); returns how
    /// many.
    fn delete_by_sub<'a>(&'a self, sub: &'a str) -> BoxFuture<'a, usize>;
    /// Keeps a login in progress under `key` until `expires_at`.
    fn save_pending<'a>(
        &'a self,
        key: &'a str,
        login: PendingLogin,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, ()>;
    /// Takes the login in progress under `key`, atomically: of two racing callbacks exactly
    /// one gets it. `None` when unknown, taken or expired.
    fn take_pending<'a>(
        &'a self,
        key: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, Option<PendingLogin>>;
}
