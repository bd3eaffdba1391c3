//! Keycloak stopped and restarted under a running application (sessions and realm keys gone,
//! as with any restart of a dev-mem server). Stops the shared server, so it is `#[ignore]`d in
//! the normal suite and run alone by `scripts/faults`.

use std::process::Command;

use keycloak_client_testkit::browser::Browser;
use keycloak_client_testkit::keycloak;

fn kc(cmd: &str) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let st = Command::new(format!("{root}/scripts/keycloak"))
        .arg(cmd)
        .status()
        .unwrap();
    assert!(st.success(), "scripts/keycloak {cmd}");
}

#[test]
#[ignore = "stops the shared Keycloak; run by scripts/faults"]
fn keycloak_restart_under_the_middleware() {
    let env = keycloak::require();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    // Refresh on every request, so each request talks to Keycloak. The restarted dev-mem
    // Keycloak signs with new keys; a 5 s key-refetch cooldown (default 30 s) lets the new login
    // below fetch them however fast the restart was.
    let auth = howdy::web_auth_with(&env.url, &base, None, |w| {
        w.refresh_margin_secs = 300;
        w.jwks_policy.cooldown_secs = 5;
    })
    .unwrap();
    rt.spawn(async move { axum::serve(listener, howdy::app(auth)).await });

    let mut b = Browser::new();
    let p = b.get(&format!("{base}/howdy")).unwrap();
    let cb = b
        .login(p.location.as_deref().unwrap(), "erin", "erin-pass")
        .unwrap();
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302);
    assert_eq!(b.get(&format!("{base}/howdy")).unwrap().status, 200);

    // Keycloak goes away: the refresh cannot happen, the still-valid token keeps serving.
    kc("down");
    let p = b.get(&format!("{base}/howdy")).unwrap();
    assert_eq!(
        p.status, 200,
        "an outage does not log the user out while the token is valid"
    );

    // Keycloak comes back empty (dev-mem): the refresh token is unknown, the session ends
    // cleanly and a new login starts.
    kc("up");
    let p = b.get(&format!("{base}/howdy")).unwrap();
    assert_eq!(p.status, 302, "{}", p.body);
    assert!(p
        .location
        .as_deref()
        .unwrap()
        .contains("/protocol/openid-connect/auth?"));
    // and the new login works against the restarted server
    let cb = b
        .login(p.location.as_deref().unwrap(), "erin", "erin-pass")
        .unwrap();
    assert_eq!(b.get(cb.as_str()).unwrap().status, 302);
    assert!(b
        .get(&format!("{base}/howdy"))
        .unwrap()
        .body
        .contains("Howdy, Erin!"));
}
