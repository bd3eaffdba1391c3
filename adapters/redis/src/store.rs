//! [`SessionStore`] on Redis (6.2 or later: `GETDEL`, `SET … NX PX`). One round trip per request that needs no refresh (`HMGET`);
//! expiry is Redis's own (`PEXPIRE`, `SET PX`), and every deadline is also checked against the
//! caller's clock. Values are sealed ([`SealingKeys`]); a value that does not open is no
//! session, with a warning.

use std::sync::Arc;

use keycloak_client::{PendingLogin, UnixTime};
use keycloak_client_web::{BoxFuture, Session, SessionStore, StoreError, StoreResult};

use crate::connection::{Connection, RedisConfig};
use crate::keys::{hashed, Keys};
use crate::seal::SealingKeys;

/// Sessions and logins in progress in Redis (single node or cluster), sealed.
pub struct RedisStore {
    conn: Connection,
    keys: Keys,
    seal: SealingKeys,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .field("seal", &self.seal)
            .finish_non_exhaustive()
    }
}

/// Replaces a session only if it has the expected version and has not expired.
const COMPARE_AND_SET: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if not v or v ~= ARGV[1] then return 0 end
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if not e or e <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'e', ARGV[4], 'd', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1";

/// Writes a whole session record with its expiry.
const PUT: &str = r"
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2], 'd', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1";

/// Adds a session to an index (a sorted set scored by each session's deadline), drops the
/// members whose deadline has passed, and makes the index live as long as its longest session.
/// ARGV: member, deadline, now, ttl in ms.
const INDEX: &str = r"
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return 1";

/// Takes a lease if it is free or already ours (a retry after a lost reply), for `PX` ms on
/// Redis's clock. ARGV: holder, ms.
const TAKE_LEASE: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1";

/// Deletes a lease only if `holder` holds it.
const RELEASE_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// Deletes a session and its lease (one slot); 1 if the session existed.
const DELETE_SESSION: &str = r"
local n = redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[2])
return n";

fn eval(script: &str, key: &str) -> redis::Cmd {
    let mut c = redis::cmd("EVAL");
    c.arg(script).arg(1).arg(key);
    c
}

/// Milliseconds from `now` to `until` (at least 1).
fn px(now: UnixTime, until: UnixTime) -> u64 {
    now.until(until).saturating_mul(1000).max(1)
}

/// A stored login in progress: `<deadline>:<sealed JSON>`.
pub(crate) fn parse_pending_value(value: &[u8]) -> Option<(UnixTime, &[u8])> {
    let i = value.iter().position(|b| *b == b':')?;
    let deadline = std::str::from_utf8(&value[..i]).ok()?.parse::<u64>().ok()?;
    Some((UnixTime(deadline), &value[i + 1..]))
}

fn session_aad(key: &str, version: u64, expires_at: UnixTime) -> Vec<u8> {
    format!("session\0{key}\0{version}\0{}", expires_at.0).into_bytes()
}

fn pending_aad(key: &str, expires_at: UnixTime) -> Vec<u8> {
    format!("pending\0{key}\0{}", expires_at.0).into_bytes()
}

impl RedisStore {
    /// A store on `cfg`'s Redis with `seal`'s keys. Connects lazily: this does no I/O, and a
    /// store made while Redis is down works once Redis is up.
    pub fn new(cfg: &RedisConfig, seal: SealingKeys) -> Result<Self, StoreError> {
        Ok(RedisStore {
            conn: Connection::new(cfg)?,
            keys: Keys::new(&cfg.key_prefix),
            seal,
        })
    }

    fn seal_session(&self, key: &str, s: &Session, expires_at: UnixTime) -> StoreResult<Vec<u8>> {
        let json = serde_json::to_vec(s)
            .map_err(|e| StoreError::Unavailable(format!("session does not serialise: {e}")))?;
        self.seal
            .seal(&json, &session_aad(key, s.version, expires_at))
            .map_err(|e| StoreError::Unavailable(format!("session not sealed: {e}")))
    }

    async fn index(
        &self,
        index_key: String,
        hid: &str,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        let mut c = eval(INDEX, &index_key);
        // Pruned a minute late: another instance's clock may run behind this one's.
        c.arg(hid)
            .arg(expires_at.0)
            .arg(now.0.saturating_sub(60))
            .arg(px(now, expires_at));
        self.conn.query::<i64>(&c).await.map(|_| ())
    }

    /// Puts session `hid` in its `sid` and `sub` indexes until `expires_at`.
    async fn index_session(
        &self,
        hid: &str,
        session: &Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        if let Some(sid) = &session.sid {
            self.index(self.keys.by_sid(sid), hid, now, expires_at)
                .await?;
        }
        if let Some(sub) = session.subject() {
            self.index(self.keys.by_sub(sub), hid, now, expires_at)
                .await?;
        }
        Ok(())
    }

    /// Deletes the sessions named in an index; counts sessions that existed.
    ///
    /// The index and the sessions live on different slots, so this is not one atomic step. It
    /// removes from the index only the members whose session it deleted: a login indexed
    /// meanwhile (index first, then session) stays indexed. Members of sessions that ended
    /// otherwise leave the index once their deadline passes (every `INDEX` prunes), so an
    /// index holds at most the user's sessions that could still be alive. Every member is
    /// tried even when one fails; the first failure is reported after.
    async fn delete_indexed(&self, index_key: String) -> StoreResult<usize> {
        let hids: Vec<String> = self
            .conn
            .query(redis::cmd("ZRANGE").arg(&index_key).arg(0).arg(-1))
            .await?;
        let mut deleted = Vec::new();
        let mut failed = None;
        for hid in hids {
            let mut c = redis::cmd("EVAL");
            c.arg(DELETE_SESSION)
                .arg(2)
                .arg(self.keys.session_of(&hid))
                .arg(self.keys.lease_of(&hid));
            match self.conn.query::<i64>(&c).await {
                Ok(n) if n > 0 => deleted.push(hid),
                Ok(_) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        if !deleted.is_empty() {
            let _: i64 = self
                .conn
                .query(redis::cmd("ZREM").arg(&index_key).arg(&deleted))
                .await?;
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(deleted.len()),
        }
    }
}

impl SessionStore for RedisStore {
    fn load<'a>(
        &'a self,
        id: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, StoreResult<Option<Arc<Session>>>> {
        Box::pin(async move {
            let key = self.keys.session(id);
            let (v, e, d): (Option<u64>, Option<u64>, Option<Vec<u8>>) = self
                .conn
                .query(redis::cmd("HMGET").arg(&key).arg("v").arg("e").arg("d"))
                .await?;
            let (Some(version), Some(e), Some(d)) = (v, e, d) else {
                return Ok(None);
            };
            let expires_at = UnixTime(e);
            if expires_at <= now {
                return Ok(None);
            }
            let json = match self.seal.open(&d, &session_aad(&key, version, expires_at)) {
                Ok(j) => j,
                Err(err) => {
                    tracing::warn!(target: "keycloak_client::redis", error = %err, "stored session does not open; treated as logged out");
                    return Ok(None);
                }
            };
            match serde_json::from_slice::<Session>(&json) {
                Ok(mut s) => {
                    s.version = version;
                    Ok(Some(Arc::new(s)))
                }
                Err(err) => {
                    tracing::warn!(target: "keycloak_client::redis", error = %err, "stored session has an unknown shape; treated as logged out");
                    Ok(None)
                }
            }
        })
    }

    fn store<'a>(
        &'a self,
        id: &'a str,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let key = self.keys.session(id);
            if expires_at <= now {
                let _: i64 = self.conn.query(redis::cmd("DEL").arg(&key)).await?;
                return Ok(());
            }
            let ttl = px(now, expires_at);
            // Indexed before it exists, so no session is ever missing from its indexes.
            self.index_session(&hashed(id), &session, now, expires_at)
                .await?;
            let sealed = self.seal_session(&key, &session, expires_at)?;
            let mut c = eval(PUT, &key);
            c.arg(session.version)
                .arg(expires_at.0)
                .arg(sealed)
                .arg(ttl);
            self.conn.query::<i64>(&c).await.map(|_| ())
        })
    }

    fn compare_and_set<'a>(
        &'a self,
        id: &'a str,
        expected_version: u64,
        session: Session,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            if expires_at <= now {
                return Ok(false);
            }
            let key = self.keys.session(id);
            let sealed = self.seal_session(&key, &session, expires_at)?;
            let ttl = px(now, expires_at);
            // A longer life (a refresh) lengthens the indexes first, as `store` does: a
            // back-channel logout must still find the session, and a failure here leaves
            // the session unchanged. (Lengthening for a write that then loses only keeps a
            // member until its deadline.)
            self.index_session(&hashed(id), &session, now, expires_at)
                .await?;
            let mut c = eval(COMPARE_AND_SET, &key);
            c.arg(expected_version)
                .arg(now.0)
                .arg(session.version)
                .arg(expires_at.0)
                .arg(sealed)
                .arg(ttl);
            Ok(self.conn.query::<i64>(&c).await? == 1)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let _: i64 = self
                .conn
                .query(redis::cmd("DEL").arg(self.keys.session(id)))
                .await?;
            Ok(())
        })
    }

    fn delete_by_sid<'a>(&'a self, sid: &'a str) -> BoxFuture<'a, StoreResult<usize>> {
        Box::pin(self.delete_indexed(self.keys.by_sid(sid)))
    }

    fn delete_by_sub<'a>(&'a self, sub: &'a str) -> BoxFuture<'a, StoreResult<usize>> {
        Box::pin(self.delete_indexed(self.keys.by_sub(sub)))
    }

    fn save_pending<'a>(
        &'a self,
        key: &'a str,
        login: PendingLogin,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if expires_at <= now {
                return Ok(());
            }
            let rkey = self.keys.pending(key);
            let json = serde_json::to_vec(&login)
                .map_err(|e| StoreError::Unavailable(format!("login does not serialise: {e}")))?;
            let mut value = format!("{}:", expires_at.0).into_bytes();
            let sealed = self
                .seal
                .seal(&json, &pending_aad(&rkey, expires_at))
                .map_err(|e| StoreError::Unavailable(format!("login not sealed: {e}")))?;
            value.extend(sealed);
            let _: () = self
                .conn
                .query(
                    redis::cmd("SET")
                        .arg(&rkey)
                        .arg(value)
                        .arg("PX")
                        .arg(px(now, expires_at)),
                )
                .await?;
            Ok(())
        })
    }

    fn take_pending<'a>(
        &'a self,
        key: &'a str,
        now: UnixTime,
    ) -> BoxFuture<'a, StoreResult<Option<PendingLogin>>> {
        Box::pin(async move {
            let rkey = self.keys.pending(key);
            // GETDEL: of two racing callbacks exactly one gets the value.
            let value: Option<Vec<u8>> = self.conn.query(redis::cmd("GETDEL").arg(&rkey)).await?;
            let Some(value) = value else {
                return Ok(None);
            };
            let Some((expires_at, sealed)) = parse_pending_value(&value) else {
                tracing::warn!(target: "keycloak_client::redis", "stored login has an unknown shape; ignored");
                return Ok(None);
            };
            if expires_at <= now {
                return Ok(None);
            }
            let opened = self
                .seal
                .open(sealed, &pending_aad(&rkey, expires_at))
                .map_err(|e| e.to_string())
                .and_then(|j| {
                    serde_json::from_slice::<PendingLogin>(&j).map_err(|e| e.to_string())
                });
            match opened {
                Ok(p) => Ok(Some(p)),
                Err(err) => {
                    tracing::warn!(target: "keycloak_client::redis", error = %err, "stored login does not open; ignored");
                    Ok(None)
                }
            }
        })
    }

    fn try_lease<'a>(
        &'a self,
        id: &'a str,
        holder: &'a str,
        now: UnixTime,
        until: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            if until <= now {
                return Ok(false);
            }
            // On Redis's clock: instances never compare their own clocks.
            let mut c = eval(TAKE_LEASE, &self.keys.lease(id));
            c.arg(holder).arg(px(now, until));
            Ok(self.conn.query::<i64>(&c).await? == 1)
        })
    }

    fn release_lease<'a>(&'a self, id: &'a str, holder: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            let mut c = eval(RELEASE_LEASE, &self.keys.lease(id));
            c.arg(holder);
            self.conn.query::<i64>(&c).await.map(|_| ())
        })
    }

    fn remember_once<'a>(
        &'a self,
        key: &'a str,
        now: UnixTime,
        until: UnixTime,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            if until <= now {
                return Ok(true);
            }
            // SET NX: of two instances seeing the same key, exactly one sets it; it expires on
            // Redis's clock.
            let mut c = redis::cmd("SET");
            c.arg(self.keys.once(key))
                .arg(1)
                .arg("NX")
                .arg("PX")
                .arg(px(now, until));
            let set: Option<String> = self.conn.query(&c).await?;
            Ok(set.is_some())
        })
    }
}
