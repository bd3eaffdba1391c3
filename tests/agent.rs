//! The client state machine ([`Agent`]): shared state fetched once for many callers, stale
//! documents serving during a refetch, claims released however a fetch ends, and timers (device
//! polling) driven by the core while the driver only sleeps. Canned answers; the same
//! properties are proven against the real Keycloak in `adapters/reqwest/tests/friendly.rs`.

mod common;

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use common::signer::Signer;
use common::{recorded, ISS, NOW};
use keycloak_client::{
    drive, drive_with_sleep, Agent, ClientConfig, DeviceAuthorization, Error, Flow, Request,
    Response, Step, UnixTime,
};
use keycloak_client_ring::RingVerifier;
use serde_json::json;

const DISCOVERY: &str = "/realms/rkc/.well-known/openid-configuration";
const UMA: &str = "/realms/rkc/.well-known/uma2-configuration";
const TOKEN: &str = "/realms/rkc/protocol/openid-connect/token";
const CERTS: &str = "/realms/rkc/protocol/openid-connect/certs";

fn agent() -> Agent {
    let config = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret")
        .redirect_uri("http://127.0.0.1/callback");
    Agent::builder(config)
        .jws_verifier(Arc::new(RingVerifier))
        .build_agent()
        .unwrap()
}

/// A canned Keycloak that counts requests per path; every PAT it issues is distinct.
#[derive(Default)]
struct Server {
    hits: Mutex<HashMap<String, usize>>,
    pats: AtomicUsize,
    jwks: String,
    /// Slows every answer down so that concurrent callers overlap.
    delay: Duration,
}

impl Server {
    fn new(signer: &Signer) -> Self {
        Server {
            jwks: signer.jwks(),
            delay: Duration::from_millis(50),
            ..Default::default()
        }
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn answer(&self, req: &Request) -> Result<Response, Error> {
        let path = req.url.path().to_string();
        *self.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
        std::thread::sleep(self.delay);
        Ok(match path.as_str() {
            DISCOVERY => recorded("discovery"),
            UMA => recorded("uma_discovery"),
            CERTS => Response::json(200, self.jwks.clone()),
            TOKEN => {
                let n = self.pats.fetch_add(1, Ordering::SeqCst);
                Response::json(
                    200,
                    json!({"access_token": format!("eyJ.pat.{n}"), "token_type": "Bearer",
                        "expires_in": 300})
                    .to_string(),
                )
            }
            other => panic!("unexpected request to {other}"),
        })
    }
}

fn access_token(s: &Signer) -> String {
    s.sign(
        &json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer",
        "iat":NOW.0,"exp":NOW.0 + 300}),
    )
}

#[test]
fn sixteen_threads_share_one_discovery_one_pat_and_one_key_fetch() {
    let signer = Signer::new();
    let server = Arc::new(Server::new(&signer));
    let agent = agent();
    let token = access_token(&signer);
    let start = Arc::new(Barrier::new(16));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (agent, server, token, start) =
                (agent.clone(), server.clone(), token.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let send = |r: &Request| server.answer(r);
                // Half ask for the PAT first, half validate first: every order shares.
                if i % 2 == 0 {
                    let pat = drive(agent.pat(NOW), send, || NOW).unwrap();
                    let c = drive(agent.validate_access_token(&token, NOW), send, || NOW).unwrap();
                    (
                        pat.access_token.secret().to_string(),
                        c.sub().unwrap().to_string(),
                    )
                } else {
                    let c = drive(agent.validate_access_token(&token, NOW), send, || NOW).unwrap();
                    let pat = drive(agent.pat(NOW), send, || NOW).unwrap();
                    (
                        pat.access_token.secret().to_string(),
                        c.sub().unwrap().to_string(),
                    )
                }
            })
        })
        .collect();
    for t in threads {
        assert_eq!(
            t.join().unwrap(),
            ("eyJ.pat.0".to_string(), "alice".to_string())
        );
    }
    assert_eq!(server.hits(DISCOVERY), 1, "one discovery for 16 callers");
    assert_eq!(server.hits(UMA), 1, "one UMA discovery for 16 callers");
    assert_eq!(server.hits(TOKEN), 1, "one PAT request for 16 callers");
    assert_eq!(server.hits(CERTS), 1, "one key-set fetch for 16 callers");
}

#[test]
fn a_failed_fetch_fails_its_waiters_at_once_and_the_next_caller_recovers() {
    let signer = Signer::new();
    let server = Arc::new(Server::new(&signer));
    let agent = agent();
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (agent, server, failures, start) = (
                agent.clone(),
                server.clone(),
                failures.clone(),
                start.clone(),
            );
            std::thread::spawn(move || {
                start.wait();
                // The first discovery attempt dies in transport (the driver gives up on it).
                let send = |r: &Request| {
                    if r.url.path() == DISCOVERY && failures.fetch_add(1, Ordering::SeqCst) == 0 {
                        std::thread::sleep(Duration::from_millis(100));
                        return Err(Error::FlowState("simulated transport failure"));
                    }
                    server.answer(r)
                };
                drive(agent.pat(NOW), send, || NOW).map(|p| p.access_token.secret().to_string())
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // One outcome for all: the fetching caller's transport error, and for the three that
    // waited a clear error at once (not a retry each, one after the other, during an outage).
    let shared = |r: &Result<String, Error>| {
        matches!(r, Err(Error::SharedFetchFailed { what: "discovery" }))
    };
    assert_eq!(
        results.iter().filter(|r| shared(r)).count(),
        3,
        "{results:?}"
    );
    assert_eq!(server.hits(DISCOVERY), 0, "{results:?}");
    // The next caller fetches again: the agent recovers by itself.
    let pat = drive(agent.pat(NOW), |r: &Request| server.answer(r), || NOW).unwrap();
    assert_eq!(pat.access_token.secret(), "eyJ.pat.0");
    assert_eq!(server.hits(DISCOVERY), 1);
}

#[test]
fn a_cancelled_flow_releases_its_claim_and_a_waiter_takes_over() {
    let agent = agent();
    let mut first = agent.pat(NOW);
    let Step::Send(req) = first.poll().unwrap() else {
        panic!("discovery first")
    };
    assert_eq!(req.url.path(), DISCOVERY);
    let mut second = agent.pat(NOW);
    let Step::Wait(waiter) = second.poll().unwrap() else {
        panic!("the second caller waits for the first one's discovery")
    };
    drop(first); // a cancelled request: not an outage
    waiter.wait_blocking(); // returns: the claim went with the dropped flow
    let Step::Send(req) = second.poll().unwrap() else {
        panic!("the waiter takes the fetch over")
    };
    assert_eq!(req.url.path(), DISCOVERY);
}

#[test]
fn an_async_waiter_is_woken_when_the_fetch_ends() {
    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let agent = agent();
    let mut first = agent.pat(NOW);
    let _ = first.poll().unwrap();
    let mut second = agent.pat(NOW);
    let Step::Wait(mut waiter) = second.poll().unwrap() else {
        panic!("waits")
    };
    let count = Arc::new(Count(AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(std::pin::Pin::new(&mut waiter).poll(&mut cx).is_pending());
    assert!(std::pin::Pin::new(&mut waiter).poll(&mut cx).is_pending());
    first.handle_response(recorded("discovery"), NOW).unwrap();
    assert_eq!(count.0.load(Ordering::SeqCst), 0, "still fetching UMA");
    let _ = first.poll().unwrap();
    first
        .handle_response(recorded("uma_discovery"), NOW)
        .unwrap();
    let Step::Send(pat_req) = first.poll().unwrap() else {
        panic!("discovery installed, PAT next")
    };
    assert_eq!(pat_req.url.path(), TOKEN);
    assert_eq!(
        count.0.load(Ordering::SeqCst),
        1,
        "woken once, one waker kept"
    );
    assert!(std::pin::Pin::new(&mut waiter).poll(&mut cx).is_ready());
    // The second caller now waits for the PAT the first one is fetching.
    assert!(matches!(second.poll(), Ok(Step::Wait(_))));
}

#[test]
fn stale_discovery_serves_while_one_caller_refetches_it() {
    let signer = Signer::new();
    let server = Server::new(&signer);
    let config = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret");
    let agent = Agent::builder(config)
        .discovery_ttl_secs(60)
        .build_agent()
        .unwrap();
    let send = |r: &Request| server.answer(r);
    drive(agent.pat(NOW), send, || NOW).unwrap();
    let later = NOW.plus(100);
    let mut refetch = agent.client(later);
    let Step::Send(req) = refetch.poll().unwrap() else {
        panic!("stale: refetch")
    };
    assert_eq!(req.url.path(), DISCOVERY);
    // While that refetch runs, another caller is served from the stale documents and the PAT.
    let mut other = agent.pat(later);
    let Ok(Step::Done(pat)) = other.poll() else {
        panic!("no wait and no request while a refetch of stale documents runs")
    };
    assert_eq!(pat.access_token.secret(), "eyJ.pat.0");
    // Without documents at all, a caller would have to wait instead.
    let fresh = agent_without_state();
    let mut a = fresh.pat(NOW);
    let _ = a.poll().unwrap();
    assert!(matches!(fresh.pat(NOW).poll(), Ok(Step::Wait(_))));
}

fn agent_without_state() -> Agent {
    agent()
}

#[test]
fn the_pat_is_reused_outside_the_margin_and_refreshed_inside_it() {
    let signer = Signer::new();
    let server = Server::new(&signer);
    let agent = agent();
    let send = |r: &Request| server.answer(r);
    let p0 = drive(agent.pat(NOW), send, || NOW).unwrap();
    // expires_in 300, margin 30: reused up to 269 s later, refreshed from 270 s.
    let p1 = drive(agent.pat(NOW.plus(269)), send, || NOW.plus(269)).unwrap();
    assert_eq!(p1.access_token.secret(), p0.access_token.secret());
    let p2 = drive(agent.pat(NOW.plus(270)), send, || NOW.plus(270)).unwrap();
    assert_eq!(p2.access_token.secret(), "eyJ.pat.1");
    assert_eq!(server.hits(TOKEN), 2);
}

#[test]
fn device_polling_is_timed_by_the_core_and_the_driver_only_sleeps() {
    let agent = agent();
    let clock = Rc::new(Cell::new(NOW.0));
    let polls = Rc::new(Cell::new(Vec::<u64>::new()));
    let slept = Rc::new(Cell::new(Vec::<u64>::new()));
    let push = |c: &Rc<Cell<Vec<u64>>>, v: u64| {
        let mut x = c.take();
        x.push(v);
        c.set(x);
    };
    let send = |r: &Request| -> Result<Response, Error> {
        Ok(match r.url.path() {
            DISCOVERY => recorded("discovery"),
            UMA => recorded("uma_discovery"),
            TOKEN => {
                push(&polls, clock.get() - NOW.0);
                let v = polls.take();
                let n = v.len();
                polls.set(v);
                match n {
                    1 => Response::json(400, r#"{"error":"authorization_pending"}"#),
                    2 => Response::json(400, r#"{"error":"slow_down"}"#),
                    _ => Response::json(
                        200,
                        r#"{"access_token":"eyJ.d.t","token_type":"Bearer","expires_in":300}"#,
                    ),
                }
            }
            other => panic!("unexpected {other}"),
        })
    };
    let auth = device_auth(5);
    let sleep = |d: Duration| {
        push(&slept, d.as_secs());
        clock.set(clock.get() + d.as_secs());
    };
    let tokens = drive_with_sleep(
        agent.device_wait(&auth, None, NOW),
        send,
        || UnixTime(clock.get()),
        sleep,
    )
    .unwrap();
    assert_eq!(tokens.access_token.secret(), "eyJ.d.t");
    // Polls at +5, +10, then +20 after `slow_down` grew the interval to 10 (RFC 8628 §3.5).
    assert_eq!(polls.take(), vec![5, 10, 20]);
    assert_eq!(slept.take(), vec![5, 5, 10]);
}

// ---- defects found by the hostile review (each test failed before its fix) ----------------

/// A device authorization of the test realm, expiring 600 s after `NOW`.
fn device_auth(interval: u64) -> DeviceAuthorization {
    serde_json::from_value(json!({
        "device_code":"dc","user_code":"ABCD","verification_uri":"http://127.0.0.1:18080/device",
        "expires_at": NOW.0 + 600, "interval": interval
    }))
    .unwrap()
}

/// Fetches a PAT at `NOW` through a canned Keycloak.
fn fetch_pat(agent: &Agent, token: &str, expires_in: u64) {
    let hits = Cell::new(0);
    let token = token.to_string();
    let send = canned(&hits, move |_| pat_body(&token, expires_in));
    drive(agent.pat(NOW), send, || NOW).unwrap();
}

fn pat_body(token: &str, expires_in: u64) -> Response {
    Response::json(
        200,
        json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in})
            .to_string(),
    )
}

/// Answers discovery from the recordings and everything else with `rest`; counts requests.
fn canned<'a>(
    hits: &'a Cell<usize>,
    rest: impl Fn(&Request) -> Response + 'a,
) -> impl FnMut(&Request) -> Result<Response, Error> + 'a {
    move |r: &Request| {
        hits.set(hits.get() + 1);
        assert!(hits.get() < 20, "runaway: {} requests", hits.get());
        Ok(match r.url.path() {
            DISCOVERY => recorded("discovery"),
            UMA => recorded("uma_discovery"),
            _ => rest(r),
        })
    }
}

#[test]
fn a_pat_shorter_than_the_margin_is_used_once_not_refetched_forever() {
    let agent = Agent::builder(
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs").client_secret("s"),
    )
    .pat_margin_secs(300)
    .build_agent()
    .unwrap();
    let hits = Cell::new(0);
    let pat = drive(
        agent.pat(NOW),
        canned(&hits, |_| pat_body("eyJ.p.1", 300)),
        || NOW,
    )
    .unwrap();
    assert_eq!(pat.access_token.secret(), "eyJ.p.1");
    assert_eq!(hits.get(), 3, "discovery, UMA discovery, one PAT request");
}

#[test]
fn a_zero_discovery_ttl_still_finishes() {
    let agent = Agent::builder(
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs").client_secret("s"),
    )
    .discovery_ttl_secs(0)
    .build_agent()
    .unwrap();
    let hits = Cell::new(0);
    drive(agent.client(NOW), canned(&hits, |_| unreachable!()), || NOW).unwrap();
    assert_eq!(hits.get(), 2);
}

#[test]
fn waiters_share_the_failure_of_the_fetch_they_waited_for() {
    let agent = agent();
    let mut first = agent.pat(NOW);
    let _ = first.poll().unwrap();
    let mut second = agent.pat(NOW);
    let Step::Wait(w) = second.poll().unwrap() else {
        panic!("waits")
    };
    let e = first
        .handle_response(
            Response::json(503, r#"{"error":"temporarily_unavailable"}"#),
            NOW,
        )
        .unwrap_err();
    drop(first);
    w.wait_blocking();
    let shared = second.poll().unwrap_err();
    assert_eq!(
        shared.to_string(),
        e.to_string(),
        "the one fetch's error, not a second fetch"
    );
    // A caller arriving afterwards tries again: the agent recovers by itself.
    assert!(matches!(agent.pat(NOW).poll(), Ok(Step::Send(_))));
}

#[test]
fn waiters_on_a_fetch_that_failed_in_transport_get_a_clear_error() {
    let agent = agent();
    let mut first = agent.pat(NOW);
    let _ = first.poll().unwrap();
    let mut second = agent.pat(NOW);
    let Step::Wait(w) = second.poll().unwrap() else {
        panic!("waits")
    };
    // The driver's send failed: nothing stale to serve, so the driver gives up.
    assert!(!first.handle_send_failure(NOW));
    w.wait_blocking();
    let e = second.poll().unwrap_err();
    assert!(matches!(e, Error::SharedFetchFailed { .. }), "{e:?}");
    assert!(e.is_unavailable(), "an outage, not a refusal");
}

#[test]
fn a_verifier_wins_over_skip_signature_in_any_order() {
    let config = || {
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1/callback")
    };
    for agent in [
        Agent::builder(config())
            .danger_skip_id_token_signature()
            .jws_verifier(Arc::new(RingVerifier))
            .build_agent()
            .unwrap(),
        Agent::builder(config())
            .jws_verifier(Arc::new(RingVerifier))
            .danger_skip_id_token_signature()
            .build_agent()
            .unwrap(),
    ] {
        let hits = Cell::new(0);
        let mut rng = common::CountingRng(1);
        let (_, pending) = drive(
            agent.login(&mut rng, NOW),
            canned(&hits, |_| unreachable!()),
            || NOW,
        )
        .unwrap();
        let q = format!("state={}&code=c&iss={}", pending.state.secret(), ISS);
        let mut cb = agent.callback_query(pending, &q, NOW);
        let Step::Send(req) = cb.poll().unwrap() else {
            panic!()
        };
        assert_eq!(
            req.url.path(),
            CERTS,
            "keys before the code: the signature is checked"
        );
    }
}

#[test]
fn a_failed_refresh_of_stale_documents_serves_the_stale_ones() {
    let config = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret");
    let agent = Agent::builder(config)
        .discovery_ttl_secs(60)
        .build_agent()
        .unwrap();
    let hits = Cell::new(0);
    drive(
        agent.pat(NOW),
        canned(&hits, |_| pat_body("eyJ.p.0", 3600)),
        || NOW,
    )
    .unwrap();
    let later = NOW.plus(100);
    // Keycloak answers 503 to the refetch: the stale documents keep serving.
    let send = |r: &Request| -> Result<Response, Error> {
        Ok(match r.url.path() {
            DISCOVERY | UMA => Response::json(503, "{}"),
            _ => unreachable!(),
        })
    };
    let c = drive(agent.client(later), send, || later).unwrap();
    assert_eq!(c.provider.issuer, ISS);
    // Keycloak is unreachable: the same, through the driver's transport failure.
    let mut op = agent.client(later);
    let Step::Send(_) = op.poll().unwrap() else {
        panic!("refetch")
    };
    assert!(op.handle_send_failure(later), "stale documents can serve");
    assert!(matches!(op.poll(), Ok(Step::Done(_))));
}

#[test]
fn polling_twice_while_awaiting_changes_nothing() {
    let agent = agent();
    let hits = Cell::new(0);
    drive(agent.client(NOW), canned(&hits, |_| unreachable!()), || NOW).unwrap();
    let mut op = agent.fetch_userinfo(&keycloak_client::AccessToken::new("eyJ.a.b"), NOW);
    let Step::Send(_) = op.poll().unwrap() else {
        panic!()
    };
    assert!(matches!(op.poll(), Err(Error::FlowState(_))));
    op.handle_response(Response::json(200, r#"{"sub":"alice"}"#), NOW)
        .unwrap();
    assert!(
        matches!(op.poll(), Ok(Step::Done(_))),
        "the driver's slip did not kill the flow"
    );
}

#[test]
fn a_dropped_async_waiter_leaves_no_waker_behind() {
    let agent = agent();
    let mut first = agent.pat(NOW);
    let _ = first.poll().unwrap();
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    for _ in 0..1000 {
        let Ok(Step::Wait(mut w)) = agent.pat(NOW).poll() else {
            panic!()
        };
        assert!(std::pin::Pin::new(&mut w).poll(&mut cx).is_pending());
    }
    assert_eq!(agent.waiting(), 0, "cancelled waits are forgotten");
}

#[test]
fn the_clock_is_read_again_when_driving_starts() {
    let agent = agent();
    fetch_pat(&agent, "eyJ.p.0", 300);
    // An operation built at NOW but driven 400 s later must see the PAT expired.
    let op = agent.pat(NOW);
    let hits = Cell::new(0);
    let p = drive(op, canned(&hits, |_| pat_body("eyJ.p.1", 300)), || {
        NOW.plus(400)
    })
    .unwrap();
    assert_eq!(p.access_token.secret(), "eyJ.p.1");
}

#[test]
fn a_rejected_pat_is_forgotten() {
    let agent = agent();
    let hits = Cell::new(0);
    let n = Cell::new(0);
    let mut send = canned(&hits, |r| match r.url.path() {
        TOKEN => {
            n.set(n.get() + 1);
            pat_body(&format!("eyJ.p.{}", n.get()), 3600)
        }
        _ => Response::json(401, r#"{"error":"invalid_token"}"#),
    });
    let perms = [keycloak_client::uma::PermissionRequest::new(
        "doc-1",
        &["read"],
    )];
    assert!(drive(agent.find_ticket(&perms, NOW), &mut send, || NOW).is_err());
    let p = drive(agent.pat(NOW), &mut send, || NOW).unwrap();
    assert_eq!(
        p.access_token.secret(),
        "eyJ.p.2",
        "a new PAT after the 401"
    );
}

#[test]
fn a_device_interval_past_the_expiry_ends_the_wait_at_once() {
    let agent = agent();
    let auth = device_auth(1_000_000_000);
    let hits = Cell::new(0);
    drive(agent.client(NOW), canned(&hits, |_| unreachable!()), || NOW).unwrap();
    let mut w = agent.device_wait(&auth, None, NOW);
    // No poll can happen before the code expires: no parking the driver for 31 years.
    assert!(matches!(w.poll(), Err(Error::DeviceExpired)));
}

#[test]
fn giving_up_a_device_wait_is_a_cancellation_not_an_expiry() {
    let agent = agent();
    let auth = device_auth(5);
    let hits = Cell::new(0);
    let e = drive(
        agent.device_wait(&auth, Some(Box::new(|_| false)), NOW),
        canned(&hits, |_| unreachable!()),
        || NOW,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Cancelled(_)), "{e:?}");
}

// ---- what mutation testing asked for -----------------------------------------------------

#[test]
fn the_agent_shows_whom_it_speaks_for_and_never_its_secret() {
    let shown = format!("{:?}", agent());
    assert!(shown.contains(ISS) && shown.contains("rkc-rs"), "{shown}");
    assert!(!shown.contains("rkc-rs-secret"), "{shown}");
}

#[test]
fn without_a_validator_a_login_cannot_finish_and_skipping_is_only_by_choice() {
    let config = || {
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
            .client_secret("s")
            .redirect_uri("http://127.0.0.1/callback")
    };
    let first_request = |agent: Agent| {
        let hits = Cell::new(0);
        let mut rng = common::CountingRng(1);
        let (_, pending) = drive(
            agent.login(&mut rng, NOW),
            canned(&hits, |_| unreachable!()),
            || NOW,
        )
        .unwrap();
        let q = format!("state={}&code=c&iss={}", pending.state.secret(), ISS);
        agent.callback_query(pending, &q, NOW).poll()
    };
    let unset = Agent::builder(config()).build_agent().unwrap();
    assert!(matches!(
        first_request(unset),
        Err(Error::NoIdTokenValidator)
    ));
    let skip = Agent::builder(config())
        .danger_skip_id_token_signature()
        .build_agent()
        .unwrap();
    let Ok(Step::Send(req)) = first_request(skip) else {
        panic!("skipping the signature needs no keys")
    };
    assert_eq!(req.url.path(), TOKEN);
}

#[test]
fn discovery_is_fresh_until_exactly_its_ttl() {
    let agent = Agent::builder(
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs").client_secret("s"),
    )
    .discovery_ttl_secs(60)
    .build_agent()
    .unwrap();
    let hits = Cell::new(0);
    drive(agent.client(NOW), canned(&hits, |_| unreachable!()), || NOW).unwrap();
    let at59 = NOW.plus(59);
    assert!(
        matches!(agent.client(at59).poll(), Ok(Step::Done(_))),
        "fresh at 59 s"
    );
    let at60 = NOW.plus(60);
    assert!(
        matches!(agent.client(at60).poll(), Ok(Step::Send(_))),
        "stale at 60 s"
    );
}

#[test]
fn while_one_caller_refreshes_the_pat_others_use_it_only_with_half_the_margin_left() {
    let agent = agent();
    let hits = Cell::new(0);
    // expires_in 300, margin 30: the refresh starts at 270 s; half the margin is 15 s.
    drive(
        agent.pat(NOW),
        canned(&hits, |_| pat_body("eyJ.p.0", 300)),
        || NOW,
    )
    .unwrap();
    let at280 = NOW.plus(280);
    let mut refresher = agent.pat(at280);
    assert!(
        matches!(refresher.poll(), Ok(Step::Send(_))),
        "inside the margin: refresh"
    );
    let Ok(Step::Done(p)) = agent.pat(at280).poll() else {
        panic!("20 s left, more than half the margin: served while the refresh runs")
    };
    assert_eq!(p.access_token.secret(), "eyJ.p.0");
    let at285 = NOW.plus(285);
    assert!(
        matches!(agent.pat(at285).poll(), Ok(Step::Wait(_))),
        "exactly 15 s left: wait"
    );
    // A waiting async task is counted, and forgotten once it stops waiting.
    let Ok(Step::Wait(mut w)) = agent.pat(NOW.plus(290)).poll() else {
        panic!()
    };
    let mut cx = Context::from_waker(Waker::noop());
    assert!(std::pin::Pin::new(&mut w).poll(&mut cx).is_pending());
    assert_eq!(agent.waiting(), 1);
    drop(w);
    assert_eq!(agent.waiting(), 0);
}

#[test]
fn a_failed_pat_refresh_serves_the_pat_until_it_expires() {
    let agent = agent();
    let hits = Cell::new(0);
    fetch_pat(&agent, "eyJ.p.0", 300);
    let refused = |_: &Request| Response::json(503, r#"{"error":"temporarily_unavailable"}"#);
    let at280 = NOW.plus(280);
    let p = drive(agent.pat(at280), canned(&hits, refused), || at280).unwrap();
    assert_eq!(
        p.access_token.secret(),
        "eyJ.p.0",
        "still valid for 20 s: it serves"
    );
    let at300 = NOW.plus(300);
    let e = drive(agent.pat(at300), canned(&hits, refused), || at300).unwrap_err();
    assert_eq!(e.http_status(), Some(503), "expired: the refresh's error");
}

#[test]
fn a_device_wait_shows_its_state_but_not_its_code() {
    let auth: DeviceAuthorization = serde_json::from_value(json!({
        "device_code":"secret-device-code","user_code":"ABCD",
        "verification_uri":"http://127.0.0.1:18080/device","expires_at": NOW.0 + 600, "interval": 5
    }))
    .unwrap();
    let poller = common::rs().device_poller(&auth, NOW);
    let shown = format!("{:?}", keycloak_client::DeviceWait::new(poller, NOW, None));
    assert!(shown.starts_with("DeviceWait"), "{shown}");
    assert!(!shown.contains("secret-device-code"), "{shown}");
}

#[test]
fn an_operation_shows_its_progress() {
    let mut op = agent().pat(NOW);
    assert!(format!("{op:?}").contains("fetching: false"));
    let _ = op.poll().unwrap();
    let shown = format!("{op:?}");
    assert!(
        shown.starts_with("Operation") && shown.contains("fetching: true"),
        "{shown}"
    );
}

/// A canned Keycloak whose token endpoint answers a code with an ID token signed for `nonce`.
fn login_answers<'a>(
    s: &'a Signer,
    hits: &'a Cell<usize>,
    nonce: &'a std::cell::RefCell<String>,
) -> impl FnMut(&Request) -> Result<Response, Error> + 'a {
    canned(hits, move |r| match r.url.path() {
        CERTS => Response::json(200, s.jwks()),
        TOKEN => {
            let mut c = common::id_claims("rkc-rs", "alice", NOW);
            c["nonce"] = json!(nonce.borrow().clone());
            Response::json(
                200,
                json!({"access_token":"eyJ.at.x","token_type":"Bearer","expires_in":300,
                    "id_token": s.sign(&c)})
                .to_string(),
            )
        }
        other => panic!("unexpected {other}"),
    })
}

#[test]
fn a_login_finishes_under_each_id_token_policy_and_each_is_the_one_used() {
    let s = Signer::new();
    let config = || {
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
            .client_secret("rkc-rs-secret")
            .redirect_uri("http://127.0.0.1/callback")
    };
    // A caller's validator, already holding the keys: no key-set fetch at all.
    let custom =
        keycloak_client::TokenValidator::new(&common::rs(), Arc::new(RingVerifier)).unwrap();
    custom.install_keys(
        keycloak_client::JwkSet::parse(s.jwks().as_bytes()).unwrap(),
        NOW,
    );
    let cases = [
        (
            "custom",
            Agent::builder(config()).id_token_validator(Arc::new(custom)),
            false,
        ),
        (
            "realm keys",
            Agent::builder(config()).jws_verifier(Arc::new(RingVerifier)),
            true,
        ),
        (
            "skip",
            Agent::builder(config()).danger_skip_id_token_signature(),
            false,
        ),
    ];
    for (name, builder, fetches_keys) in cases {
        let agent = builder.build_agent().unwrap();
        let hits = Cell::new(0);
        let nonce = std::cell::RefCell::new(String::new());
        let mut rng = common::CountingRng(1);
        let mut send = login_answers(&s, &hits, &nonce);
        let (_, pending) = drive(agent.login(&mut rng, NOW), &mut send, || NOW).unwrap();
        *nonce.borrow_mut() = pending.nonce.secret().to_string();
        let q = format!("state={}&code=c&iss={}", pending.state.secret(), ISS);
        let before = hits.get();
        let login = drive(agent.callback_query(pending, &q, NOW), &mut send, || NOW)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(login.id_claims.sub(), Some("alice"), "{name}");
        let requests = hits.get() - before;
        assert_eq!(
            requests,
            if fetches_keys { 2 } else { 1 },
            "{name}: {requests} requests"
        );
    }
}
