//! Property tests of the pure state machines.

mod common;

use common::{client, CountingRng, NOW};
use keycloak_client::{
    CallbackParams, Error, JwkSet, JwksCache, JwksPolicy, RefetchReason, TokenResponse, TokenSet,
    UmaChallenge, UnixTime,
};
use proptest::prelude::*;

proptest! {
    /// Whatever the sequence of token arrivals, reasons and fetch outcomes, the key set is never
    /// fetched twice within the cooldown.
    #[test]
    fn jwks_cache_never_refetches_within_cooldown(
        cooldown in 1u64..120,
        max_age in 1u64..7200,
        steps in proptest::collection::vec((0u64..50, any::<bool>(), any::<bool>()), 1..300),
    ) {
        let mut cache = JwksCache::new(JwksPolicy { max_age_secs: max_age, cooldown_secs: cooldown });
        let mut t = 1_000u64;
        let mut last_fetch: Option<u64> = None;
        for (dt, unknown_kid, fetch_succeeds) in steps {
            t += dt;
            let now = UnixTime(t);
            let reason = if unknown_kid { RefetchReason::UnknownKey } else { RefetchReason::Stale };
            if cache.should_refetch(now, reason) {
                if let Some(prev) = last_fetch {
                    prop_assert!(t - prev >= cooldown, "fetched {}s after the previous fetch", t - prev);
                }
                cache.begin_fetch(now);
                last_fetch = Some(t);
                if fetch_succeeds {
                    cache.update(JwkSet::default(), now);
                }
            }
        }
    }

    /// A callback whose state differs from the pending login's is never accepted, whatever
    /// else it carries.
    #[test]
    fn login_never_accepts_a_foreign_state(state in "[A-Za-z0-9_-]{0,64}", code in "[A-Za-z0-9._-]{1,40}", seed in any::<u8>()) {
        let c = client("rkc-spa", None);
        let (_, pending) = c.login().build(&mut CountingRng(seed), NOW).unwrap();
        prop_assume!(state != pending.state.secret());
        let q = format!("state={state}&iss=http%3A%2F%2F127.0.0.1%3A18080%2Frealms%2Frkc&code={code}");
        let e = c.callback(pending, &CallbackParams::from_query(&q).unwrap(), keycloak_client::IdTokenPolicy::DangerSkipSignature, NOW).unwrap_err();
        prop_assert!(matches!(e, Error::StateMismatch));
    }

    /// The right state with a foreign issuer is refused too (RFC 9207 mix-up defence).
    #[test]
    fn login_never_accepts_a_foreign_issuer(iss in "[a-z:/.0-9]{1,40}", seed in any::<u8>()) {
        let c = client("rkc-spa", None);
        let (_, pending) = c.login().build(&mut CountingRng(seed), NOW).unwrap();
        prop_assume!(iss != "http://127.0.0.1:18080/realms/rkc");
        let q = format!("state={}&iss={}&code=c", pending.state.secret(), url::form_urlencoded::byte_serialize(iss.as_bytes()).collect::<String>());
        let e = c.callback(pending, &CallbackParams::from_query(&q).unwrap(), keycloak_client::IdTokenPolicy::DangerSkipSignature, NOW).unwrap_err();
        prop_assert!(matches!(e, Error::CallbackIssuer(_)));
    }

    /// Expiry arithmetic never overflows or panics, and is consistent.
    #[test]
    fn token_expiry_arithmetic_is_total(now in any::<u64>(), expires_in in any::<u64>(), refresh_in in any::<u64>(), later in any::<u64>(), margin in any::<u64>()) {
        let body = serde_json::json!({"access_token":"a","token_type":"Bearer","expires_in":expires_in,"refresh_token":"r","refresh_expires_in":refresh_in});
        let r: TokenResponse = serde_json::from_value(body).unwrap();
        let t = TokenSet::from_response(r, UnixTime(now));
        let at = UnixTime(later);
        let _ = t.needs_refresh(at, margin);
        let _ = t.can_refresh(at);
        let left = t.expires_in(at);
        prop_assert!(left <= expires_in);
        if t.is_expired(at) { prop_assert_eq!(left, 0); }
        prop_assert!(t.expires_at.unwrap() >= UnixTime(now));
    }

    /// What a resource server formats as a UMA challenge parses back identically.
    #[test]
    fn uma_challenge_round_trips(realm in "[ -~]{0,40}", ticket in "[A-Za-z0-9._~+/-]{1,80}={0,2}") {
        let c = UmaChallenge { realm: Some(realm.clone()), as_uri: "http://127.0.0.1:18080/realms/rkc".parse().unwrap(), ticket: keycloak_client::PermissionTicket::new(ticket.clone()) };
        let back = UmaChallenge::parse(&c.to_header_value()).unwrap();
        prop_assert_eq!(back.realm.as_deref(), Some(realm.as_str()));
        prop_assert_eq!(back.ticket.secret(), ticket.as_str());
    }

    /// A challenge whose ticket is not a b64token is refused, never half-parsed.
    #[test]
    fn uma_challenge_ticket_is_always_a_b64token(ticket in "[ -~]{0,80}") {
        let c = UmaChallenge { realm: None, as_uri: "http://127.0.0.1:18080/realms/rkc".parse().unwrap(), ticket: keycloak_client::PermissionTicket::new(ticket.clone()) };
        match UmaChallenge::parse(&c.to_header_value()) {
            Ok(back) => {
                prop_assert!(keycloak_client::is_b64token(back.ticket.secret()));
                prop_assert_eq!(back.ticket.secret(), ticket.as_str());
            }
            Err(_) => prop_assert!(!keycloak_client::is_b64token(&ticket)),
        }
    }

    /// Arbitrary callback queries never panic.
    #[test]
    fn callback_query_parser_is_total(q in ".{0,300}") {
        let _ = CallbackParams::from_query(&q);
    }
}
