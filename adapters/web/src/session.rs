//! Server-side sessions and pending logins: the browser's cookies hold only opaque random ids;
//! tokens, and the state, nonce and PKCE verifier of a login in progress, live behind
//! [`SessionStore`].

use std::future::Future;
use std::pin::Pin;

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
    /// The session with this id, if it exists and has not expired.
    fn load<'a>(&'a self, id: &'a str, now: UnixTime) -> BoxFuture<'a, Option<Session>>;
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
