//! JWT client authentication in the core (RFC 7523 §2.2, OpenID Connect Core §9): every call
//! that authenticates the client carries a fresh assertion with the right claims; a signer
//! that fails is reported as a typed error; discovery must list the method and algorithm.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::{recorded, NOW};
use keycloak_client::uma::UmaGrantAuth;
use keycloak_client::{
    AccessToken, Algorithm, AssertionAudience, CallbackParams, Client, ClientAssertion,
    ClientConfig, ClientSecret, Clock, DiscoveryRequest, Error, Exchange, FixedClock, Flow,
    IdTokenPolicy, Jwk, JwsSigner, Password, RefreshToken, Request, Step, TokenSet,
    JWT_BEARER_ASSERTION,
};

const SECRET: &str = "a-client-secret-of-at-least-32-bytes!";

fn clock() -> Arc<dyn Clock> {
    Arc::new(FixedClock(NOW))
}

fn hs256() -> ClientAssertion {
    ClientAssertion::client_secret_jwt(
        ClientSecret::new(SECRET),
        Algorithm::HS256,
        clock(),
        &mut rand::rng(),
    )
    .unwrap()
}

fn client_with(a: ClientAssertion) -> Client {
    common::client_from(common::builder().client_assertion(a).build().unwrap())
}

fn tokens() -> TokenSet {
    serde_json::from_value(serde_json::json!({
        "access_token": "at", "token_type": "Bearer", "refresh_token": "rt",
        "received_at": NOW.0, "expires_at": NOW.0 + 300
    }))
    .unwrap()
}

fn decode(part: &str) -> serde_json::Value {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&raw).unwrap()
}

/// The assertion a request carries, checked field by field; returns its `jti`.
fn check_assertion(req: &Request, aud: &str) -> String {
    let form = common::form(&req.body);
    let get = |k: &str| {
        let v: Vec<&String> = form
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v)
            .collect();
        assert_eq!(v.len(), 1, "exactly one `{k}` in {:?}", req.url.as_str());
        v[0].clone()
    };
    assert_eq!(get("client_assertion_type"), JWT_BEARER_ASSERTION);
    assert_eq!(get("client_id"), "rkc-rs");
    assert!(
        req.header_value("authorization").is_none(),
        "no other client authentication"
    );
    assert!(form.iter().all(|(k, _)| k != "client_secret"));
    let jwt = get("client_assertion");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode(parts[0]);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "JWT");
    let claims = decode(parts[1]);
    assert_eq!(claims["iss"], "rkc-rs");
    assert_eq!(claims["sub"], "rkc-rs");
    assert_eq!(claims["aud"], aud);
    assert_eq!(claims["iat"], NOW.0);
    assert_eq!(claims["exp"], NOW.0 + 60);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    ring::hmac::verify(&key, format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("HS256 over the signing input with the client secret");
    claims["jti"].as_str().unwrap().to_string()
}

/// Every client-authenticated request of the core: code exchange, refresh, client
/// credentials (PAT), password grant, introspection, revocation, back-channel logout, device
/// authorization and polling, token exchange, and the UMA grant.
#[test]
fn every_client_authenticated_call_carries_a_fresh_assertion() {
    let c = client_with(hs256());
    let iss = common::ISS;
    let (url, pending) = c.login().build(&mut rand::rng(), NOW).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .to_string();
    let params = CallbackParams::from_query(&format!("code=c&state={state}&iss={iss}")).unwrap();
    let mut code = c
        .callback(pending, &params, IdTokenPolicy::DangerSkipSignature, NOW)
        .unwrap();
    let Ok(Step::Send(code_req)) = code.poll() else {
        panic!("the code exchange sends first")
    };
    let device = c.device_authorization(Some("openid")).unwrap();
    let device_auth: keycloak_client::DeviceAuthorization = serde_json::from_value(
        serde_json::json!({"device_code":"d","user_code":"u","verification_uri":"http://x/",
                           "expires_at": NOW.0 + 600, "interval": 5}),
    )
    .unwrap();
    let requests = vec![
        ("code exchange", code_req),
        ("refresh", c.refresh(&tokens()).unwrap().request()),
        ("client credentials", c.pat().unwrap().request()),
        (
            "password",
            c.danger_password_grant("u", &Password::new("p"), "openid")
                .request(),
        ),
        ("introspection", c.introspect("t", None).unwrap().request()),
        ("revocation", c.revoke("t", None).unwrap().request()),
        (
            "logout",
            c.logout(&RefreshToken::new("rt")).unwrap().request(),
        ),
        ("device authorization", device.request()),
        ("device poll", c.device_poller(&device_auth, NOW).request()),
        (
            "token exchange",
            c.token_exchange("st", "urn:ietf:params:oauth:token-type:access_token")
                .request(),
        ),
        (
            "UMA grant",
            c.uma_grant(UmaGrantAuth::Client)
                .permission("doc-1", &["read"])
                .decision()
                .request(),
        ),
    ];
    let mut jtis = std::collections::HashSet::new();
    for (what, req) in &requests {
        let jti = check_assertion(req, iss);
        assert!(jtis.insert(jti), "{what}: a jti of its own");
    }
    // the same exchange asked twice (a retry) mints a new assertion
    let pat = c.pat().unwrap();
    let (a, b) = (
        check_assertion(&pat.request(), iss),
        check_assertion(&pat.request(), iss),
    );
    assert_ne!(a, b, "a retry never replays an assertion");
}

#[test]
fn the_audience_can_be_the_token_endpoint_or_a_fixed_value() {
    let c = client_with(hs256().audience(AssertionAudience::TokenEndpoint));
    let token_endpoint = format!("{}/protocol/openid-connect/token", common::ISS);
    check_assertion(&c.pat().unwrap().request(), &token_endpoint);
    let c = client_with(hs256().audience(AssertionAudience::Exactly("urn:x".into())));
    check_assertion(&c.introspect("t", None).unwrap().request(), "urn:x");
}

/// A signer that always fails (a hardware key that is unplugged, say).
struct Broken;

impl JwsSigner for Broken {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
    fn key_id(&self) -> Option<&str> {
        Some("k")
    }
    fn public_jwk(&self) -> Jwk {
        serde_json::from_value(serde_json::json!({"kty":"EC","crv":"P-256","x":"AA","y":"AA"}))
            .unwrap()
    }
    fn sign(&self, _: &[u8]) -> Result<Vec<u8>, String> {
        Err("token unplugged".into())
    }
}

#[test]
fn a_signer_that_fails_is_reported_before_the_servers_answer() {
    let a = ClientAssertion::private_key_jwt(Arc::new(Broken), clock(), &mut rand::rng());
    let c = client_with(a);
    let pat = c.pat().unwrap();
    let req = pat.request();
    assert!(
        common::form(&req.body)
            .iter()
            .all(|(k, _)| k != "client_assertion"),
        "nothing half-made is sent"
    );
    assert!(
        req.body.is_empty() && req.header_value("authorization").is_none(),
        "without its authentication the request spends nothing (no grant, no code)"
    );
    let ok = keycloak_client::Response::new(
        200,
        vec![("content-type".into(), "application/json".into())],
        br#"{"access_token":"a","token_type":"Bearer","expires_in":60}"#.to_vec(),
    );
    let e = pat.handle(ok.clone(), NOW).unwrap_err();
    assert!(
        matches!(e, Error::Signing(ref r) if r.contains("unplugged")),
        "{e:?}"
    );
    let intro = c.introspect("t", None).unwrap();
    let _ = intro.request();
    assert!(matches!(intro.handle(ok, NOW), Err(Error::Signing(_))));
}

#[test]
fn discovery_must_list_the_method_and_the_algorithm() {
    let cfg = |a: ClientAssertion| {
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
            .client_assertion(a)
            .build()
            .unwrap()
    };
    // the recorded Keycloak document lists both
    DiscoveryRequest::new(&cfg(hs256()))
        .handle(recorded("discovery"), NOW)
        .unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let r = recorded("discovery");
        let mut doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        f(&mut doc);
        keycloak_client::Response::new(r.status, r.headers.clone(), doc.to_string().into_bytes())
    };
    let no_jwt = edit(&|d| {
        d["token_endpoint_auth_methods_supported"] =
            serde_json::json!(["client_secret_basic", "client_secret_post"])
    });
    let e = DiscoveryRequest::new(&cfg(hs256()))
        .handle(no_jwt, NOW)
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotSupportedByServer { value, .. } if value == "client_secret_jwt"),
        "{e:?}"
    );
    let no_hs256 = edit(&|d| {
        d["token_endpoint_auth_signing_alg_values_supported"] = serde_json::json!(["RS256"])
    });
    let e = DiscoveryRequest::new(&cfg(hs256()))
        .handle(no_hs256, NOW)
        .unwrap_err();
    assert!(
        matches!(&e, Error::NotSupportedByServer { value, .. } if value == "HS256"),
        "{e:?}"
    );
}

#[test]
fn secrets_stay_out_of_debug_and_bad_settings_are_refused() {
    let c = client_with(hs256());
    let shown = format!("{:?} {:?}", c.config, c.pat().unwrap());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("client_secret_jwt"), "{shown}");
    assert!(matches!(
        ClientAssertion::client_secret_jwt(
            ClientSecret::new(SECRET),
            Algorithm::RS256,
            clock(),
            &mut rand::rng()
        ),
        Err(Error::Config(_))
    ));
}

#[test]
fn keycloak_json_jwt_credentials_must_be_installed() {
    let json = r#"{"realm":"rkc","auth-server-url":"http://127.0.0.1:18080","resource":"rkc-rs",
        "credentials":{"jwt":{"client-key-file":"k.pem","algorithm":"PS256","client-key-alias":"k1"}}}"#;
    let b = ClientConfig::keycloak_json_builder(json).unwrap();
    match b.keycloak_json_jwt() {
        Some(keycloak_client::KeycloakJsonJwt::PrivateKey {
            key_file,
            algorithm,
            key_id,
            ..
        }) => {
            assert_eq!(key_file, "k.pem");
            assert_eq!(*algorithm, Algorithm::PS256);
            assert_eq!(key_id.as_deref(), Some("k1"));
        }
        other => panic!("{other:?}"),
    }
    let e = b.build().unwrap_err();
    assert!(e.to_string().contains("client_assertion"), "{e}");
    let json = r#"{"realm":"rkc","auth-server-url":"http://127.0.0.1:18080","resource":"rkc-rs",
        "credentials":{"secret-jwt":{"secret":"s3cr3t","algorithm":"HS512"}}}"#;
    let b = ClientConfig::keycloak_json_builder(json).unwrap();
    assert!(!format!("{b:?}").contains("s3cr3t"));
    let b = b.client_assertion(hs256());
    assert_eq!(b.build().unwrap().auth.method(), "client_secret_jwt");
    let bad = r#"{"realm":"rkc","auth-server-url":"http://127.0.0.1:18080","resource":"rkc-rs",
        "credentials":{"secret-jwt":{"secret":"s","algorithm":"none"}}}"#;
    assert!(ClientConfig::keycloak_json_builder(bad).is_err());
    let _ = AccessToken::new("unused");
}
