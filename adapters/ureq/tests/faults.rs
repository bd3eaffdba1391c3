//! Fault runs against the real Keycloak through a loopback fault proxy: slow responses beyond
//! the timeout, truncated bodies, 503 bursts, the server going away and coming back. Expected:
//! no panic, bounded retries, a clear typed error, no secret in any log line, flat memory.

use std::time::{Duration, Instant};

use keycloak_client::uma::PermissionRequest;
use keycloak_client::ClientConfig;
use keycloak_client_testkit::keycloak::{self, RS_CLIENT, RS_SECRET};
use keycloak_client_testkit::proxy::{Fault, FaultProxy};
use keycloak_client_ureq::{Error, HttpClient, Keycloak, Limits, RetryPolicy, TransportError};

fn through_proxy(timeout: Duration) -> (FaultProxy, Keycloak) {
    let env = keycloak::require();
    let upstream = env.url.trim_start_matches("http://").to_string();
    let proxy = FaultProxy::start(&upstream);
    // Keycloak's issuer stays the real URL; only the back channel goes through the proxy.
    let cfg = ClientConfig::keycloak(&proxy.base, &env.realm, RS_CLIENT)
        .client_secret(RS_SECRET)
        .expected_issuer(&env.issuer())
        .browser_server_url(&env.url);
    let http = HttpClient::new(timeout, timeout).limits(Limits::default().retry(RetryPolicy {
        attempts: 3,
        initial_backoff: Duration::from_millis(50),
    }));
    let kc = Keycloak::builder(cfg).http(http).build().unwrap();
    (proxy, kc)
}

#[test]
fn slow_server_times_out_with_bounded_retries() {
    let (proxy, kc) = through_proxy(Duration::from_millis(800));
    proxy.set(Fault::Delay(Duration::from_secs(3)));
    let started = Instant::now();
    let e = kc.client().unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(e, Error::Transport(TransportError::Timeout { .. })),
        "{e}"
    );
    // 3 attempts × 0.8 s + backoff 50 + 100 ms: bounded, well under the 9 s of three full delays
    assert!(took < Duration::from_secs(5), "{took:?}");
    proxy.set(Fault::Pass);
    kc.client().expect("recovers when the server is fast again");
}

#[test]
fn truncated_bodies_are_typed_errors() {
    let (proxy, kc) = through_proxy(Duration::from_secs(5));
    kc.client().unwrap();
    for cut in [0usize, 20, 120, 400] {
        proxy.set(Fault::Truncate(cut));
        let e = kc.pat().unwrap_err();
        let msg = e.to_string();
        assert!(
            matches!(e, Error::Transport(_))
                || matches!(
                    e,
                    Error::Keycloak(keycloak_client::Error::TruncatedBody { .. })
                ),
            "cut at {cut}: {msg}"
        );
    }
    proxy.set(Fault::Pass);
    kc.pat().unwrap();
}

#[test]
fn service_unavailable_bursts() {
    let (proxy, kc) = through_proxy(Duration::from_secs(5));
    // GET discovery: two 503s are retried away
    proxy.set(Fault::ServiceUnavailable(2));
    kc.client()
        .expect("idempotent GET retried past a 503 burst");
    // POST token: not retried, the 503 surfaces as a typed error
    proxy.set(Fault::ServiceUnavailable(1));
    let e = kc.pat().unwrap_err();
    assert_eq!(e.keycloak().and_then(|k| k.http_status()), Some(503), "{e}");
    assert!(e.to_string().contains("temporarily_unavailable"), "{e}");
    kc.pat().unwrap();
}

#[test]
fn server_down_mid_flow_then_back() {
    let (proxy, kc) = through_proxy(Duration::from_secs(5));
    kc.client().unwrap();
    let pat = kc.pat().unwrap();
    proxy.set(Fault::Down);
    let e = kc
        .find_ticket(&[PermissionRequest::new("doc-1", &["read"])])
        .unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e}");
    let e = kc.introspect(pat.access_token.secret(), None).unwrap_err();
    assert!(matches!(e, Error::Transport(_)), "{e}");
    proxy.set(Fault::Pass);
    let t = kc
        .find_ticket(&[PermissionRequest::new("doc-1", &["read"])])
        .unwrap();
    assert!(t.secret().starts_with("eyJ"));
}

/// RSS in KiB from /proc (Linux).
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = s.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

#[test]
fn memory_stays_flat_over_a_long_loop() {
    let env = keycloak::require();
    let kc = Keycloak::builder(
        ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT).client_secret(RS_SECRET),
    )
    .build()
    .unwrap();
    let c = kc.client().unwrap();
    let pat = kc.pat().unwrap();
    let run = |n: usize| {
        for _ in 0..n {
            let t = kc
                .find_ticket(&[PermissionRequest::new("doc-1", &["read"])])
                .unwrap();
            assert!(!t.secret().is_empty());
            let d = kc
                .http()
                .exec(
                    c.uma_grant(keycloak_client::uma::UmaGrantAuth::Client)
                        .audience(RS_CLIENT)
                        .permission("doc-1", &["read"])
                        .decision(),
                )
                .unwrap();
            assert!(!d, "the service account is not granted doc-1");
        }
    };
    run(50); // warm-up: allocator pools, connection buffers
    let before = rss_kib();
    run(400);
    let after = rss_kib();
    let grown = after.saturating_sub(before);
    println!("RSS before {before} KiB, after 400 more flows {after} KiB (+{grown} KiB)");
    assert!(grown < 8 * 1024, "RSS grew by {grown} KiB over 400 flows");
    let _ = pat;
}
