//! Captured `tracing` output of a full session never contains a secret. Its own test binary,
//! with a global subscriber: `tracing` caches callsite interest process-wide, so a thread-local
//! subscriber in a binary shared with other tests can miss events.

use keycloak_client::ClientConfig;
use keycloak_client_testkit::browser::Browser;
use keycloak_client_testkit::keycloak::{self, REDIRECT_URI, RS_CLIENT, RS_SECRET};
use keycloak_client_ureq::Keycloak;

fn kc() -> Keycloak {
    let env = keycloak::require();
    Keycloak::builder(
        ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT).client_secret(RS_SECRET),
    )
    .redirect_uri(REDIRECT_URI)
    .jws_verifier(std::sync::Arc::new(keycloak_client_ring::RingVerifier))
    .build()
    .unwrap()
}

/// A writer that collects everything `tracing` prints.
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn tracing_output_carries_no_secrets() {
    let cap = Capture::default();
    let w = cap.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || w.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)
        .expect("the only subscriber of this binary");
    let (secrets, code) = {
        let kc = kc();
        let (url, pending) = kc.login().unwrap();
        let state = pending.state.secret().to_string();
        let verifier = pending.code_verifier.secret().to_string();
        let cb = Browser::new()
            .login(url.as_str(), "carol", "carol-pass")
            .unwrap();
        let code = keycloak_client::CallbackParams::from_url(&cb)
            .unwrap()
            .code
            .unwrap()
            .secret()
            .to_string();
        let login = kc.callback(pending, cb.query().unwrap()).unwrap();
        let refreshed = kc.refresh(&login.tokens).unwrap();
        let pat = kc.pat().unwrap();
        kc.fetch_userinfo(&refreshed.access_token).unwrap();
        let _ = kc.introspect("garbage-token-value", None).unwrap();
        kc.logout(&refreshed).unwrap();
        let secrets = vec![
            login.tokens.access_token.secret().to_string(),
            login.tokens.refresh_token.unwrap().secret().to_string(),
            login.tokens.id_token.unwrap().secret().to_string(),
            refreshed.access_token.secret().to_string(),
            pat.access_token.secret().to_string(),
            state,
            verifier,
            RS_SECRET.to_string(),
            "carol-pass".to_string(),
            "garbage-token-value".to_string(),
        ];
        (secrets, code)
    };
    let out = String::from_utf8(cap.0.lock().unwrap().clone()).unwrap();
    assert!(
        out.contains("keycloak request"),
        "tracing events were captured:\n{out}"
    );
    assert!(out.contains("/protocol/openid-connect/token"), "{out}");
    for s in secrets.iter().chain(std::iter::once(&code)) {
        // JWTs: check a distinctive middle slice as well as the whole value
        let probe = if s.len() > 40 {
            &s[s.len() / 2..s.len() / 2 + 20]
        } else {
            s.as_str()
        };
        assert!(
            !out.contains(probe),
            "a secret leaked into the tracing output"
        );
    }
}
