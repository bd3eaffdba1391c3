//! The contract every [`SessionStore`] must keep, as a test suite (feature `store-contract`):
//! [`MemoryStore`](crate::MemoryStore) and the Redis store (single node and cluster) run the
//! same cases. Each case uses fresh random ids, so a shared server needs no cleaning.
//!
//! Times are the caller's clock (`now` arguments), as the engine passes them: a store may also
//! expire entries by its own clock, but never later than the caller's deadline says.

use keycloak_client::{Claims, PendingLogin, TokenSet, UnixTime};

use crate::session::{Session, SessionStore};

const T0: UnixTime = UnixTime(1_900_000_000);

fn at(secs: u64) -> UnixTime {
    T0.plus(secs)
}

fn fresh(tag: &str) -> String {
    let mut b = [0u8; 8];
    rand::fill(&mut b);
    format!("contract-{tag}-{:016x}", u64::from_be_bytes(b))
}

fn tokens(access: &str) -> TokenSet {
    serde_json::from_value(serde_json::json!({
        "access_token": access, "token_type": "Bearer", "received_at": T0.0,
        "refresh_token": format!("rt-{access}"), "expires_at": T0.0 + 300,
    }))
    .expect("a token set")
}

/// A session of `sub` in Keycloak session `sid`, holding the access token `access`.
pub fn session(sid: &str, sub: &str, access: &str) -> Session {
    let claims: Claims =
        serde_json::from_value(serde_json::json!({ "sub": sub, "sid": sid })).expect("claims");
    Session {
        tokens: Some(tokens(access)),
        claims: Some(claims),
        sid: Some(sid.into()),
        created_at: T0,
        ..Default::default()
    }
}

fn pending(state: &str) -> PendingLogin {
    serde_json::from_value(serde_json::json!({
        "state": state, "nonce": "n", "code_verifier": "v".repeat(43),
        "redirect_uri": "http://127.0.0.1:2/cb", "scope": "openid",
        "created_at": T0.0, "ttl_secs": 600
    }))
    .expect("a pending login")
}

fn access(s: &Session) -> &str {
    s.tokens
        .as_ref()
        .map(|t| t.access_token.secret())
        .unwrap_or("")
}

/// Runs every case; panics on the first broken rule.
pub async fn run_all(store: &dyn SessionStore) {
    sessions_round_trip_and_expire_by_the_callers_clock(store).await;
    compare_and_set_needs_the_session_and_its_version(store).await;
    back_channel_deletes_every_match_and_only_matches(store).await;
    pending_logins_are_taken_exactly_once(store).await;
    leases_are_exclusive_until_released_or_expired(store).await;
    leases_ignore_the_callers_clock_and_expire_by_the_stores(store).await;
    back_channel_logout_racing_a_login_leaves_no_session_unindexed(store).await;
    indexes_live_as_long_as_their_session_after_compare_and_set(store).await;
    one_time_keys_are_new_once_until_they_expire(store).await;
}

/// `remember_once`: new exactly once, also under concurrent callers, until `until - now` has
/// passed; other keys are independent.
pub async fn one_time_keys_are_new_once_until_they_expire(store: &dyn SessionStore) {
    let key = fresh("once");
    let other = fresh("once-other");
    let tries = futures_join_all(
        (0..8)
            .map(|_| {
                let key = key.clone();
                async move { store.remember_once(&key, at(0), at(1)).await.unwrap() }
            })
            .collect(),
    )
    .await;
    assert_eq!(
        tries.iter().filter(|new| **new).count(),
        1,
        "of 8 concurrent callers exactly one is first: {tries:?}"
    );
    assert!(!store.remember_once(&key, at(0), at(1)).await.unwrap());
    assert!(store.remember_once(&other, at(0), at(1)).await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert!(
        store.remember_once(&key, at(2), at(3)).await.unwrap(),
        "forgotten after its second"
    );
    assert!(!store.remember_once(&key, at(2), at(3)).await.unwrap());
}

/// Store, load, delete and expiry.
pub async fn sessions_round_trip_and_expire_by_the_callers_clock(store: &dyn SessionStore) {
    let id = fresh("rt");
    assert!(
        store.load(&id, at(0)).await.unwrap().is_none(),
        "unknown id"
    );
    let mut s = session("sid-rt", "sub-rt", "at-1");
    s.version = 7;
    store.store(&id, s, at(0), at(100)).await.unwrap();
    let got = store.load(&id, at(99)).await.unwrap().expect("stored");
    assert_eq!(access(&got), "at-1");
    assert_eq!(got.sid.as_deref(), Some("sid-rt"));
    assert_eq!(got.subject(), Some("sub-rt"));
    assert_eq!(got.version, 7, "the version survives the store");
    assert!(
        store.load(&id, at(100)).await.unwrap().is_none(),
        "expired by the caller's clock"
    );
    let id2 = fresh("rt2");
    store
        .store(&id2, session("sid-rt2", "sub-rt2", "at-2"), at(0), at(100))
        .await
        .unwrap();
    store.delete(&id2).await.unwrap();
    assert!(store.load(&id2, at(1)).await.unwrap().is_none(), "deleted");
    store.delete(&id2).await.unwrap();
}

/// Compare-and-set: a logout (delete) or another writer's newer version wins.
pub async fn compare_and_set_needs_the_session_and_its_version(store: &dyn SessionStore) {
    let id = fresh("cas");
    let next = |v: u64, access: &str| {
        let mut s = session("sid-cas", "sub-cas", access);
        s.version = v;
        s
    };
    assert!(
        !store
            .compare_and_set(&id, 0, next(1, "x"), at(0), at(100))
            .await
            .unwrap(),
        "no session: nothing is created"
    );
    assert!(store.load(&id, at(1)).await.unwrap().is_none());
    store
        .store(&id, next(0, "a0"), at(0), at(100))
        .await
        .unwrap();
    assert!(
        !store
            .compare_and_set(&id, 5, next(6, "wrong"), at(1), at(100))
            .await
            .unwrap(),
        "another version"
    );
    assert!(store
        .compare_and_set(&id, 0, next(1, "a1"), at(1), at(200))
        .await
        .unwrap());
    let got = store.load(&id, at(150)).await.unwrap().expect("swapped");
    assert_eq!((access(&got), got.version), ("a1", 1));
    assert!(
        !store
            .compare_and_set(&id, 0, next(1, "stale"), at(2), at(200))
            .await
            .unwrap(),
        "the old version lost"
    );
    store.delete(&id).await.unwrap();
    assert!(
        !store
            .compare_and_set(&id, 1, next(2, "resurrected"), at(3), at(200))
            .await
            .unwrap(),
        "a refresh racing a logout never brings the session back"
    );
    assert!(store.load(&id, at(4)).await.unwrap().is_none());
    let id = fresh("cas-now");
    store
        .store(&id, next(0, "n0"), at(0), at(100))
        .await
        .unwrap();
    assert!(
        !store
            .compare_and_set(&id, 0, next(1, "n1"), at(5), at(5))
            .await
            .unwrap(),
        "a deadline that is already now stores nothing"
    );
    assert_eq!(
        store.load(&id, at(6)).await.unwrap().map(|s| s.version),
        Some(0)
    );
    let id = fresh("cas-exp");
    store
        .store(&id, next(0, "e0"), at(0), at(10))
        .await
        .unwrap();
    assert!(
        !store
            .compare_and_set(&id, 0, next(1, "e1"), at(10), at(100))
            .await
            .unwrap(),
        "an expired session is gone"
    );
}

/// Back-channel logout by `sid` and by `sub`.
pub async fn back_channel_deletes_every_match_and_only_matches(store: &dyn SessionStore) {
    let (sid1, sid2, sid3) = (fresh("sid1"), fresh("sid2"), fresh("sid3"));
    let (alice, bob) = (fresh("alice"), fresh("bob"));
    let (a, b, c, d) = (fresh("a"), fresh("b"), fresh("c"), fresh("d"));
    store
        .store(&a, session(&sid1, &alice, "a"), at(0), at(100))
        .await
        .unwrap();
    store
        .store(&b, session(&sid1, &alice, "b"), at(0), at(100))
        .await
        .unwrap();
    store
        .store(&c, session(&sid2, &alice, "c"), at(0), at(100))
        .await
        .unwrap();
    store
        .store(&d, session(&sid3, &bob, "d"), at(0), at(100))
        .await
        .unwrap();
    assert_eq!(store.delete_by_sid(&sid1).await.unwrap(), 2, "both of sid1");
    assert!(store.load(&a, at(1)).await.unwrap().is_none());
    assert!(store.load(&b, at(1)).await.unwrap().is_none());
    assert_eq!(store.delete_by_sid(&sid1).await.unwrap(), 0, "nothing left");
    assert_eq!(
        store.delete_by_sub(&alice).await.unwrap(),
        1,
        "alice's other Keycloak session"
    );
    assert!(store.load(&c, at(1)).await.unwrap().is_none());
    assert!(
        store.load(&d, at(1)).await.unwrap().is_some(),
        "bob's session survives"
    );
    assert_eq!(store.delete_by_sub(&fresh("nobody")).await.unwrap(), 0);
    assert_eq!(store.delete_by_sid(&fresh("nosid")).await.unwrap(), 0);
    // a session deleted directly is not counted by a later back-channel logout
    store.delete(&d).await.unwrap();
    assert_eq!(store.delete_by_sub(&bob).await.unwrap(), 0);
}

/// A pending login is taken once, even by racing callbacks, and not after it expired.
pub async fn pending_logins_are_taken_exactly_once(store: &dyn SessionStore) {
    let key = fresh("p");
    store
        .save_pending(&key, pending("st-1"), at(0), at(600))
        .await
        .unwrap();
    let (x, y) = tokio::join!(
        store.take_pending(&key, at(1)),
        store.take_pending(&key, at(1))
    );
    let taken = [x.unwrap(), y.unwrap()];
    assert_eq!(
        taken.iter().filter(|p| p.is_some()).count(),
        1,
        "exactly one of two racing callbacks"
    );
    let p = taken.into_iter().flatten().next().expect("taken");
    assert!(p.state.ct_eq("st-1"), "the login comes back intact");
    assert!(store.take_pending(&key, at(2)).await.unwrap().is_none());
    let key = fresh("p-exp");
    store
        .save_pending(&key, pending("st-2"), at(0), at(600))
        .await
        .unwrap();
    assert!(
        store.take_pending(&key, at(600)).await.unwrap().is_none(),
        "expired"
    );
    let key = fresh("p-now");
    store
        .save_pending(&key, pending("st-3"), at(5), at(5))
        .await
        .unwrap();
    assert!(
        store.take_pending(&key, at(4)).await.unwrap().is_none(),
        "a login whose deadline is already now is not kept"
    );
    assert!(store
        .take_pending(&fresh("unknown"), at(1))
        .await
        .unwrap()
        .is_none());
}

/// One holder at a time; only the holder releases; an expired lease can be taken.
pub async fn leases_are_exclusive_until_released_or_expired(store: &dyn SessionStore) {
    let id = fresh("lease");
    assert!(
        !store.try_lease(&id, "inst-z", at(0), at(0)).await.unwrap(),
        "a lease that ends now is not taken"
    );
    assert!(store.try_lease(&id, "inst-a", at(0), at(10)).await.unwrap());
    assert!(
        !store.try_lease(&id, "inst-b", at(1), at(11)).await.unwrap(),
        "held by a"
    );
    assert!(
        store.try_lease(&id, "inst-a", at(1), at(11)).await.unwrap(),
        "its holder takes it again (a retry after a lost answer)"
    );
    store.release_lease(&id, "inst-b").await.unwrap();
    assert!(
        !store.try_lease(&id, "inst-b", at(2), at(12)).await.unwrap(),
        "only the holder releases"
    );
    store.release_lease(&id, "inst-a").await.unwrap();
    assert!(store.try_lease(&id, "inst-b", at(3), at(13)).await.unwrap());
    let racing = fresh("lease-race");
    let tries: Vec<bool> = futures_join_all(
        (0..8)
            .map(|i| {
                let racing = racing.clone();
                async move {
                    store
                        .try_lease(&racing, &format!("inst-{i}"), at(0), at(10))
                        .await
                        .unwrap()
                }
            })
            .collect(),
    )
    .await;
    assert_eq!(
        tries.iter().filter(|t| **t).count(),
        1,
        "one of eight racing instances"
    );
}

/// A lease lasts `until - now` on the store's own clock: an instance whose clock runs ahead
/// cannot take a lease another instance holds, and a lease ends by itself (real time).
pub async fn leases_ignore_the_callers_clock_and_expire_by_the_stores(store: &dyn SessionStore) {
    let id = fresh("lease-clock");
    assert!(store.try_lease(&id, "inst-a", at(0), at(1)).await.unwrap());
    assert!(
        !store
            .try_lease(&id, "inst-b", at(1000), at(1010))
            .await
            .unwrap(),
        "a caller whose clock is ahead does not steal the lease"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert!(
        store.try_lease(&id, "inst-b", at(0), at(10)).await.unwrap(),
        "the lease ended after its second, whatever the caller's clock says"
    );
}

/// A login stored while a back-channel logout of the same user runs is either deleted by it or
/// still found by the next one: a logout never leaves a live session out of its indexes.
pub async fn back_channel_logout_racing_a_login_leaves_no_session_unindexed(
    store: &dyn SessionStore,
) {
    for round in 0..40 {
        let (sid, sub) = (fresh("race-sid"), fresh("race-sub"));
        // Other sessions of the user make the logout take several steps.
        for i in 0..6 {
            let s = session(&sid, &sub, &format!("old-{i}"));
            store
                .store(&fresh("race-old"), s, at(0), at(100))
                .await
                .unwrap();
        }
        let id = fresh("race-new");
        let (stored, deleted) = tokio::join!(
            store.store(
                &id,
                session(&fresh("race-sid2"), &sub, "new"),
                at(0),
                at(100)
            ),
            store.delete_by_sub(&sub)
        );
        stored.unwrap();
        deleted.unwrap();
        if store.load(&id, at(1)).await.unwrap().is_some() {
            assert_eq!(
                store.delete_by_sub(&sub).await.unwrap(),
                1,
                "round {round}: the session that survived the logout is still indexed"
            );
            assert!(store.load(&id, at(1)).await.unwrap().is_none());
        }
    }
}

/// A compare-and-set that lengthens a session (a refresh) lengthens its `sid`/`sub` indexes:
/// a back-channel logout after the first deadline still finds it (real time).
pub async fn indexes_live_as_long_as_their_session_after_compare_and_set(store: &dyn SessionStore) {
    let pairs = [
        (fresh("idx-a"), fresh("idx-sid-a"), fresh("idx-sub-a")),
        (fresh("idx-b"), fresh("idx-sid-b"), fresh("idx-sub-b")),
    ];
    for (id, sid, sub) in &pairs {
        store
            .store(id, session(sid, sub, "short"), at(0), at(1))
            .await
            .unwrap();
        let mut longer = session(sid, sub, "long");
        longer.version = 1;
        assert!(store
            .compare_and_set(id, 0, longer, at(0), at(100))
            .await
            .unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    let [(a, sid_a, _), (b, _, sub_b)] = &pairs;
    assert!(
        store.load(a, at(1)).await.unwrap().is_some(),
        "the session lives on"
    );
    assert_eq!(
        store.delete_by_sid(sid_a).await.unwrap(),
        1,
        "found by its sid after the first deadline"
    );
    assert_eq!(
        store.delete_by_sub(sub_b).await.unwrap(),
        1,
        "found by its sub after the first deadline"
    );
    assert!(store.load(b, at(1)).await.unwrap().is_none());
}

/// Polls the futures together (no extra dependency): each is driven in turn until all end.
async fn futures_join_all<F: std::future::Future<Output = bool>>(fs: Vec<F>) -> Vec<bool> {
    let mut fs: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<bool>> = vec![None; fs.len()];
    std::future::poll_fn(|cx| {
        for (f, o) in fs.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                if let std::task::Poll::Ready(v) = f.as_mut().poll(cx) {
                    *o = Some(v);
                }
            }
        }
        if out.iter().all(Option::is_some) {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
