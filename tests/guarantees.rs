//! The core's guarantees on every path, with real signed ID tokens (ring is a dev-dependency
//! only). One test per defect of the hostile review; each failed on the code before its fix.

mod common;

use std::cell::RefCell;
use std::sync::Arc;

use common::signer::{b64, Signer};
use common::{client, rs, CountingRng, ISS, NOW};
use keycloak_client::uma::{PermissionRequest, UmaGrantAuth};
use keycloak_client::{
    AccessToken, CallbackParams, Client, ClientConfig, DiscoverFlow, Discovered, Error, Exchange,
    Flow, IdTokenPolicy, JwksCache, JwksPolicy, LoginBuilder, Request, Response, Single, Step,
    TokenKind, TokenSet, TokenValidator, UnixTime,
};
use keycloak_client_ring::RingVerifier;
use ring::rand::SystemRandom;
use ring::signature;
use serde_json::{json, Value};

const CERTS: &str = "/realms/rkc/protocol/openid-connect/certs";
const TOKEN: &str = "/realms/rkc/protocol/openid-connect/token";

fn validator(c: &Client) -> Arc<TokenValidator> {
    Arc::new(TokenValidator::new(c, Arc::new(RingVerifier)).unwrap())
}

fn loaded_validator(c: &Client, s: &Signer) -> Arc<TokenValidator> {
    let v = validator(c);
    v.install_keys(
        keycloak_client::JwkSet::parse(s.jwks().as_bytes()).unwrap(),
        NOW,
    );
    v
}

fn token_body(id_token: &str) -> String {
    json!({"access_token":"eyJ.at.x","token_type":"Bearer","expires_in":300,
        "refresh_token":"eyJ.rt.x","id_token":id_token})
    .to_string()
}

/// Drives a flow against canned answers by path; returns the result and the paths requested.
fn drive<F: Flow>(
    mut flow: F,
    at: UnixTime,
    answer: impl Fn(&Request) -> Response,
) -> (Result<F::Output, Error>, Vec<String>) {
    let sent = RefCell::new(vec![]);
    let result = loop {
        match flow.poll() {
            Ok(Step::Send(req)) => {
                sent.borrow_mut().push(req.url.path().to_string());
                if let Err(e) = flow.handle_response(answer(&req), at) {
                    // The flow's rule: every later poll repeats the error.
                    let again = flow.poll().map(|_| ()).unwrap_err();
                    assert_eq!(again.to_string(), e.to_string());
                    break Err(e);
                }
            }
            Ok(Step::WaitUntil(_) | Step::Wait(_)) => panic!("a single caller never waits"),
            Ok(Step::Done(out)) => break Ok(out),
            Err(e) => break Err(e),
        }
    };
    (result, sent.into_inner())
}

/// A pending login for `c` answered with a matching callback: the code exchange to drive,
/// and the nonce its ID token must carry.
fn start(
    c: &Client,
    builder: impl FnOnce(LoginBuilder<'_>) -> LoginBuilder<'_>,
    policy: IdTokenPolicy,
    at: UnixTime,
) -> (keycloak_client::CodeExchange, String) {
    let (_, pending) = builder(c.login()).build(&mut CountingRng(0), NOW).unwrap();
    let nonce = pending.nonce.secret().to_string();
    let q = format!(
        "state={}&iss={}&code=c1",
        pending.state.secret(),
        url::form_urlencoded::byte_serialize(ISS.as_bytes()).collect::<String>()
    );
    let flow = c
        .callback(
            pending,
            &CallbackParams::from_query(&q).unwrap(),
            policy,
            at,
        )
        .unwrap();
    (flow, nonce)
}

/// A login through `builder`, answered by a token endpoint that returns an ID token with
/// `claims(nonce)` signed by `s`.
fn login_with(
    c: &Client,
    builder: impl FnOnce(LoginBuilder<'_>) -> LoginBuilder<'_>,
    policy: impl FnOnce() -> IdTokenPolicy,
    s: &Signer,
    claims: impl Fn(&str) -> Value,
) -> Result<keycloak_client::LoginTokens, Error> {
    let (flow, nonce) = start(c, builder, policy(), NOW);
    let idt = s.sign(&claims(&nonce));
    drive(flow, NOW, |req| match req.url.path() {
        TOKEN => Response::json(200, token_body(&idt)),
        CERTS => Response::json(200, s.jwks()),
        p => panic!("unexpected {p}"),
    })
    .0
}

fn id_claims(nonce: &str) -> Value {
    let mut c = common::id_claims("rkc-rs", "alice", NOW);
    c["nonce"] = json!(nonce);
    c
}

fn without(mut v: Value, k: &str) -> Value {
    v.as_object_mut().unwrap().remove(k);
    v
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

// ---- 1. max_age, auth_time, acr ---------------------------------------------------------------

#[test]
fn max_age_requires_a_recent_auth_time() {
    let (c, s) = (rs(), Signer::new());
    let v = loaded_validator(&c, &s);
    let verify = || IdTokenPolicy::Verify(v.clone());
    fn max_age(b: LoginBuilder<'_>) -> LoginBuilder<'_> {
        b.max_age(60)
    }
    let c: &'static Client = Box::leak(Box::new(c));
    // no auth_time although max_age was sent
    let e = login_with(c, max_age, verify, &s, |n| {
        without(id_claims(n), "auth_time")
    })
    .unwrap_err();
    assert!(e.to_string().contains("`auth_time` is missing"), "{e}");
    // authenticated 1000 s ago: older than max_age + leeway
    let e = login_with(c, max_age, verify, &s, |n| {
        with(id_claims(n), "auth_time", json!(NOW.0 - 1000))
    })
    .unwrap_err();
    assert!(e.to_string().contains("max_age"), "{e}");
    // the same without signature checks
    let e = login_with(
        c,
        max_age,
        || IdTokenPolicy::DangerSkipSignature,
        &s,
        |n| with(id_claims(n), "auth_time", json!(NOW.0 - 1000)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("max_age"), "{e}");
    // auth_time in the future
    let e = login_with(c, max_age, verify, &s, |n| {
        with(id_claims(n), "auth_time", json!(NOW.0 + 1000))
    })
    .unwrap_err();
    assert!(e.to_string().contains("future"), "{e}");
    // recent (within max_age + leeway) passes
    let ok = login_with(c, max_age, verify, &s, |n| {
        with(id_claims(n), "auth_time", json!(NOW.0 - 100))
    })
    .unwrap();
    assert_eq!(ok.id_claims.sub(), Some("alice"));
    // without max_age, a missing auth_time is fine...
    login_with(c, |b| b, verify, &s, |n| without(id_claims(n), "auth_time")).unwrap();
    // ...unless the client requires it
    let strict: &'static Client = Box::leak(Box::new(Client::new(
        ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
            .client_secret("rkc-rs-secret")
            .redirect_uri("http://127.0.0.1/callback")
            .require_auth_time(true)
            .build()
            .unwrap(),
        discovered(c),
    )));
    let e = login_with(
        strict,
        |b| b,
        verify,
        &s,
        |n| without(id_claims(n), "auth_time"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("require_auth_time"), "{e}");
}

fn discovered(c: &Client) -> Discovered {
    Discovered {
        provider: c.provider.clone(),
        uma: c.uma_metadata.clone(),
        fetched_at: NOW,
    }
}

#[test]
fn essential_acr_is_enforced_and_voluntary_acr_is_not() {
    let (c, s) = (rs(), Signer::new());
    let v = loaded_validator(&c, &s);
    let c: &'static Client = Box::leak(Box::new(c));
    let verify = || IdTokenPolicy::Verify(v.clone());
    let (url, _) = c
        .login()
        .essential_acr(&["gold"])
        .build(&mut CountingRng(0), NOW)
        .unwrap();
    let claims: Value =
        serde_json::from_str(&url.query_pairs().find(|(k, _)| k == "claims").unwrap().1).unwrap();
    assert_eq!(
        claims,
        json!({"id_token":{"acr":{"essential":true,"values":["gold"]}}})
    );
    fn gold(b: LoginBuilder<'_>) -> LoginBuilder<'_> {
        b.essential_acr(&["gold", "platinum"])
    }
    let e = login_with(c, gold, verify, &s, |n| {
        with(id_claims(n), "acr", json!("1"))
    })
    .unwrap_err();
    assert!(e.to_string().contains("`acr`"), "{e}");
    let e = login_with(c, gold, verify, &s, id_claims).unwrap_err();
    assert!(e.to_string().contains("`acr` is missing"), "{e}");
    login_with(c, gold, verify, &s, |n| {
        with(id_claims(n), "acr", json!("platinum"))
    })
    .unwrap();
    // acr_values alone is a voluntary request: not checked
    login_with(
        c,
        |b| b.acr_values(&["gold"]),
        verify,
        &s,
        |n| with(id_claims(n), "acr", json!("1")),
    )
    .unwrap();
}

// ---- 2. the code is never spent before validation is possible ---------------------------------

#[test]
fn keys_are_fetched_before_the_code_is_sent() {
    let (c, s) = (rs(), Signer::new());
    let v = validator(&c);
    let (flow, nonce) = start(&c, |b| b, IdTokenPolicy::Verify(v.clone()), NOW);
    let idt = s.sign(&id_claims(&nonce));
    let (r, sent) = drive(flow, NOW, |req| match req.url.path() {
        TOKEN => Response::json(200, token_body(&idt)),
        CERTS => Response::json(200, s.jwks()),
        p => panic!("unexpected {p}"),
    });
    r.unwrap();
    assert_eq!(sent, [CERTS, TOKEN], "keys first, then the code, once each");
}

#[test]
fn no_keys_and_no_fetch_allowed_refuses_before_sending_the_code() {
    let c = rs();
    // a fetch just failed (last attempt now, no keys): the cooldown forbids another
    let mut cache = JwksCache::new(JwksPolicy::default());
    cache.begin_fetch(NOW);
    let v = Arc::new(validator(&c).as_ref().cache_clone_with(cache));
    let (flow, _) = start(&c, |b| b, IdTokenPolicy::Verify(v), NOW);
    let (r, sent) = drive(flow, NOW, |req| panic!("nothing may be sent: {req:?}"));
    assert!(matches!(r, Err(Error::KeysUnavailable)), "{r:?}");
    assert!(sent.is_empty());
}

/// `TokenValidator::with_cache` consumes; a tiny helper keeps the test readable.
trait CacheCloneWith {
    fn cache_clone_with(&self, cache: JwksCache) -> TokenValidator;
}
impl CacheCloneWith for TokenValidator {
    fn cache_clone_with(&self, cache: JwksCache) -> TokenValidator {
        TokenValidator::new(&rs(), Arc::new(RingVerifier))
            .unwrap()
            .with_cache(cache)
    }
}

#[test]
fn unknown_kid_after_the_code_refetches_once_within_the_cooldown_rules() {
    let (c, s) = (rs(), Signer::new());
    let mut other: Value = serde_json::from_str(&s.jwks()).unwrap();
    other["keys"][0]["kid"] = json!("old");
    let fetched_with_old_kid = || {
        let v = validator(&c);
        v.begin_key_fetch(NOW, keycloak_client::RefetchReason::Stale)
            .unwrap();
        v.install_keys(
            keycloak_client::JwkSet::parse(other.to_string().as_bytes()).unwrap(),
            NOW,
        );
        v
    };
    let c: &Client = &c;
    // within the 30 s cooldown of the last fetch: refused with the unknown key, no refetch
    let v = fetched_with_old_kid();
    let e = login_with(c, |b| b, || IdTokenPolicy::Verify(v.clone()), &s, id_claims).unwrap_err();
    assert!(
        matches!(e, Error::UnknownKey(Some(ref k)) if k == "k1"),
        "{e:?}"
    );
    // after the cooldown: code, one refetch, then the tokens
    let v = fetched_with_old_kid();
    let later = NOW.plus(31);
    let (flow, nonce) = start(c, |b| b, IdTokenPolicy::Verify(v), later);
    let idt = s.sign(
        &common::id_claims("rkc-rs", "alice", later)
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("nonce".into(), json!(nonce));
                Value::Object(o)
            })
            .unwrap(),
    );
    let (r, sent) = drive(flow, later, |req| match req.url.path() {
        TOKEN => Response::json(200, token_body(&idt)),
        CERTS => Response::json(200, s.jwks()),
        p => panic!("unexpected {p}"),
    });
    r.unwrap();
    assert_eq!(sent, [TOKEN, CERTS]);
}

// ---- 3. ID tokens outside the code flow --------------------------------------------------------

fn session(sub: &str) -> TokenSet {
    let id = common::unsigned_jwt(&common::id_claims("rkc-rs", sub, NOW));
    TokenSet::from_response(
        keycloak_client::TokenResponse::parse(&Response::json(200, token_body(&id)), 1 << 20)
            .unwrap(),
        NOW,
    )
}

#[test]
fn refresh_checks_the_new_id_token() {
    let c = rs();
    let at = NOW.plus(200);
    let refresh_with = |claims: Value| {
        c.refresh(&session("alice")).unwrap().handle(
            Response::json(200, token_body(&common::unsigned_jwt(&claims))),
            at,
        )
    };
    let good = common::id_claims("rkc-rs", "alice", at);
    // Keycloak 25+ sends no nonce on refresh: fine
    let t = refresh_with(good.clone()).unwrap();
    assert!(t.id_token.is_some());
    for (claims, reason) in [
        (with(good.clone(), "sub", json!("mallory")), "`sub` differs"),
        (with(good.clone(), "aud", json!("other")), "`aud`"),
        (with(good.clone(), "iss", json!("http://evil")), "`iss`"),
        (with(good.clone(), "iat", json!(at.0 - 5000)), "too old"),
        (with(good.clone(), "exp", json!(at.0 - 500)), "expired"),
        (with(good.clone(), "typ", json!("Bearer")), "`Bearer` token"),
        (with(good.clone(), "azp", json!("other")), "`azp`"),
    ] {
        let e = refresh_with(claims).unwrap_err();
        assert!(e.to_string().contains(reason), "{reason}: {e}");
    }
}

#[test]
fn device_password_exchange_and_client_credentials_check_id_tokens() {
    let c = rs();
    let bad = common::unsigned_jwt(&with(
        common::id_claims("rkc-rs", "alice", NOW),
        "aud",
        json!("someone-else"),
    ));
    let good = common::unsigned_jwt(&common::id_claims("rkc-rs", "alice", NOW));
    let answer = |id: &str| {
        let mut b: Value = serde_json::from_str(&token_body(id)).unwrap();
        b["issued_token_type"] = json!(keycloak_client::ACCESS_TOKEN_TYPE);
        Response::json(200, b.to_string())
    };
    let pw = || c.danger_password_grant("alice", &keycloak_client::Password::new("p"), "openid");
    assert!(pw().handle(answer(&bad), NOW).is_err());
    assert!(pw().handle(answer(&good), NOW).is_ok());
    let tx = || c.token_exchange("eyJ.s.t", keycloak_client::ACCESS_TOKEN_TYPE);
    assert!(tx().handle(answer(&bad), NOW).is_err());
    assert!(tx().handle(answer(&good), NOW).is_ok());
    assert!(c.pat().unwrap().handle(answer(&bad), NOW).is_err());
    let auth = c
        .device_authorization(None)
        .unwrap()
        .handle(
            Response::json(
                200,
                r#"{"device_code":"dc","user_code":"U","verification_uri":"http://x","expires_in":600}"#,
            ),
            NOW,
        )
        .unwrap();
    let mut p = c.device_poller(&auth, NOW);
    assert!(p.handle(answer(&bad), NOW).is_err());
    let mut p = c.device_poller(&auth, NOW);
    assert!(p.handle(answer(&good), NOW).is_ok());
}

// ---- 5. one source of truth for leeway and iat age --------------------------------------------

fn client_with(
    rules: impl FnOnce(keycloak_client::ClientConfigBuilder) -> keycloak_client::ClientConfigBuilder,
) -> &'static Client {
    let base = rs();
    Box::leak(Box::new(Client::new(
        rules(
            ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
                .client_secret("rkc-rs-secret")
                .redirect_uri("http://127.0.0.1/callback"),
        )
        .build()
        .unwrap(),
        discovered(&base),
    )))
}

#[test]
fn leeway_and_iat_age_come_from_the_configuration_on_every_path() {
    let s = Signer::new();
    // leeway 0: a token that expired 1 s ago fails through the validator too (it used to
    // replace the exchange's leeway with its own 60 s)
    let c = client_with(|b| b.leeway_secs(0));
    let v = loaded_validator(c, &s);
    let expired = |n: &str| with(id_claims(n), "exp", json!(NOW.0 - 1));
    for policy in [
        IdTokenPolicy::Verify(v.clone()),
        IdTokenPolicy::DangerSkipSignature,
    ] {
        let e = login_with(c, |b| b, || policy.clone(), &s, expired).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
    }
    let lenient = client_with(|b| b.leeway_secs(30));
    let v = loaded_validator(lenient, &s);
    login_with(
        lenient,
        |b| b,
        || IdTokenPolicy::Verify(v.clone()),
        &s,
        expired,
    )
    .unwrap();
    // max iat age: 2000 s old passes with max_iat_age 3600, fails with the default 600
    let old = |n: &str| {
        with(
            with(id_claims(n), "iat", json!(NOW.0 - 2000)),
            "exp",
            json!(NOW.0 + 60),
        )
    };
    let roomy = client_with(|b| b.max_iat_age_secs(3600));
    let v = loaded_validator(roomy, &s);
    login_with(roomy, |b| b, || IdTokenPolicy::Verify(v.clone()), &s, old).unwrap();
    let c = client_with(|b| b);
    let v = loaded_validator(c, &s);
    let e = login_with(c, |b| b, || IdTokenPolicy::Verify(v.clone()), &s, old).unwrap_err();
    assert!(e.to_string().contains("too old"), "{e}");
    // access tokens read the same leeway
    let strict = client_with(|b| b.leeway_secs(0));
    let v = loaded_validator(strict, &s);
    let at = s.sign(
        &json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer",
        "iat":NOW.0 - 100,"exp":NOW.0 - 1}),
    );
    assert!(v.validate_access_token(&at, NOW).is_err());
    let v = loaded_validator(lenient, &s);
    v.validate_access_token(&at, NOW).unwrap();
}

// ---- 6. one ending rule for every flow --------------------------------------------------------

fn assert_sticky<F: Flow>(mut flow: F, answers: Vec<Response>) -> Error {
    let mut answers = answers.into_iter();
    loop {
        match flow.poll() {
            Ok(Step::Send(_)) => {
                if let Err(e) =
                    flow.handle_response(answers.next().expect("more requests than answers"), NOW)
                {
                    for _ in 0..3 {
                        let again = flow.poll().map(|_| ()).unwrap_err();
                        assert_eq!(again.to_string(), e.to_string(), "poll after the error");
                    }
                    return e;
                }
            }
            Ok(Step::WaitUntil(_) | Step::Wait(_)) => panic!("a single caller never waits"),
            Ok(Step::Done(_)) => panic!("a failed flow reported success"),
            Err(e) => return e,
        }
    }
}

#[test]
fn every_flow_ends_with_its_error_and_never_fakes_success() {
    let c = rs();
    let cfg = common::config("rkc-rs", Some("rkc-rs-secret"));
    let discovery = common::recorded("discovery");
    let server_error = || Response::json(500, r#"{"error":"server_error"}"#);
    // UMA mandatory, its fetch fails: never `uma: None`
    let e = assert_sticky(
        DiscoverFlow::new(&cfg, true),
        vec![discovery.clone(), server_error()],
    );
    assert_eq!(e.http_status(), Some(500));
    let e = assert_sticky(DiscoverFlow::new(&cfg, false), vec![server_error()]);
    assert_eq!(e.http_status(), Some(500));
    // PAT fails: the same error, never "PAT request lost"
    let agent = || {
        keycloak_client::Agent::builder(
            ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
                .client_secret("rkc-rs-secret"),
        )
        .build_agent()
        .unwrap()
    };
    let docs = || vec![discovery.clone(), common::recorded("uma_discovery")];
    let read = [PermissionRequest::new("doc-1", &["read"])];
    let mut answers = docs();
    answers.push(Response::json(401, r#"{"error":"unauthorized_client"}"#));
    let e = assert_sticky(agent().find_ticket(&read, NOW), answers);
    assert_eq!(e.oauth_error(), Some("unauthorized_client"));
    // ticket fails after a good PAT
    let mut answers = docs();
    answers.extend([common::recorded("token_client_credentials"), server_error()]);
    let e = assert_sticky(agent().find_ticket(&read, NOW), answers);
    assert_eq!(e.http_status(), Some(500));
    // discovery fails under an operation
    let e = assert_sticky(agent().pat(NOW), vec![server_error()]);
    assert_eq!(e.http_status(), Some(500));
    // a single exchange
    let e = assert_sticky(Single::new(c.pat().unwrap()), vec![server_error()]);
    assert_eq!(e.http_status(), Some(500));
    // the code exchange
    let (flow, _) = start(&c, |b| b, IdTokenPolicy::DangerSkipSignature, NOW);
    let e = assert_sticky(
        flow,
        vec![Response::json(400, r#"{"error":"invalid_grant"}"#)],
    );
    assert!(e.is_invalid_grant());
    // validation of an access token whose key-set fetch fails
    let v = validator(&c);
    let at = Signer::new().sign(
        &json!({"iss":ISS,"sub":"x","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 60}),
    );
    let e = assert_sticky(
        v.validate_flow(&at, TokenKind::Access, NOW),
        vec![server_error()],
    );
    assert_eq!(e.http_status(), Some(500));
}

#[test]
fn polling_twice_never_resends_a_request() {
    let c = rs();
    let mut flow = Single::new(c.pat().unwrap());
    assert!(matches!(flow.poll(), Ok(Step::Send(_))));
    assert!(matches!(flow.poll(), Err(Error::FlowState(_))));
    // the response still lands
    flow.handle_response(common::recorded("token_client_credentials"), NOW)
        .unwrap();
    assert!(matches!(flow.poll(), Ok(Step::Done(_))));
    assert!(matches!(flow.poll(), Err(Error::FlowState(_))));
}

// ---- 7. secrets and header injection ----------------------------------------------------------

#[test]
fn secrets_never_reach_debug_and_server_text_is_sanitized() {
    let key = keycloak_client::VerificationKey::Secret(b"hmac-client-secret");
    assert!(!format!("{key:?}").contains("hmac-client-secret"));
    let ch = keycloak_client::Challenge::parse(
        r#"UMA realm="rkc", as_uri="http://127.0.0.1:18080/realms/rkc", ticket="eyJ.TICKET.x""#,
    )
    .unwrap();
    assert!(!format!("{ch:?}").contains("TICKET"), "{ch:?}");
    let t68 = keycloak_client::Challenge::parse("Negotiate c2VjcmV0LXRva2Vu").unwrap();
    assert!(!format!("{t68:?}").contains("c2VjcmV0LXRva2Vu"));
    // an issuer with control characters does not reach the error text raw
    let cfg = common::config("rkc-rs", None);
    let step = keycloak_client::DiscoveryRequest::new(&cfg);
    let body = json!({"issuer":"http://evil\r\nX-Injected: 1","authorization_endpoint":"http://e/a","token_endpoint":"http://e/t"});
    let e = step
        .handle(Response::json(200, body.to_string()), NOW)
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::IssuerMismatch { .. }));
    assert!(!text.contains('\r') && !text.contains('\n'), "{text:?}");
}

#[test]
fn tokens_that_could_inject_headers_are_refused() {
    let c = rs();
    // from a server: the token response is refused
    for at in ["eyJ.a\r\nx-evil: 1", "a b", "eyJ\"x"] {
        let body = json!({"access_token":at,"token_type":"Bearer"}).to_string();
        let e = c
            .pat()
            .unwrap()
            .handle(Response::json(200, body), NOW)
            .unwrap_err();
        assert!(matches!(e, Error::MalformedJson { .. }), "{at:?}: {e}");
    }
    let e = c
        .permission_ticket(
            &AccessToken::new("pat"),
            &[PermissionRequest::new("r", &[])],
        )
        .unwrap()
        .handle(Response::json(201, r#"{"ticket":"t\r\nx: 1"}"#), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::MalformedJson { .. }), "{e}");
    // from the caller: refused before a request exists
    let evil = AccessToken::new("eyJ.a\r\nx-evil: 1");
    assert!(matches!(
        c.userinfo(&evil),
        Err(Error::InvalidTokenSyntax(_))
    ));
    assert!(matches!(
        c.permission_ticket(&evil, &[PermissionRequest::new("r", &[])]),
        Err(Error::InvalidTokenSyntax(_))
    ));
    assert!(matches!(
        c.resources().get(&evil, "1"),
        Err(Error::InvalidTokenSyntax(_))
    ));
    // and no request the core builds ever carries CR/LF in a header
    let req = c
        .uma_grant(UmaGrantAuth::Bearer(evil))
        .audience("rkc-rs")
        .decision()
        .request();
    for (k, v) in &req.headers {
        assert!(!v.contains('\r') && !v.contains('\n'), "{k}: {v:?}");
    }
}

// ---- 8. parameters are single-valued where RFC 6749 §3.2 says so -------------------------------

fn count(req: &Request, name: &str) -> usize {
    common::form(&req.body)
        .iter()
        .filter(|(k, _)| k == name)
        .count()
}

#[test]
fn single_valued_parameters_are_sent_once() {
    let c = rs();
    let ticket = keycloak_client::PermissionTicket::new("t1");
    let g = c
        .uma_grant(UmaGrantAuth::Client)
        .ticket(&keycloak_client::PermissionTicket::new("t0"))
        .ticket(&ticket)
        .audience("a")
        .audience("rkc-rs")
        .scope("x")
        .scope("y")
        .rpt(&AccessToken::new("r1"))
        .rpt(&AccessToken::new("r2"))
        .claim_token("c1", "f")
        .claim_token("c2", "f")
        .submit_request(true)
        .submit_request(false)
        .permission("a", &[])
        .permission("b", &[])
        .rpt_request()
        .request();
    for name in [
        "ticket",
        "audience",
        "scope",
        "rpt",
        "claim_token",
        "claim_token_format",
        "submit_request",
    ] {
        assert_eq!(count(&g, name), 1, "{name}");
    }
    let f = common::form(&g.body);
    let get = |n: &str| f.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(
        (get("ticket"), get("audience"), get("scope"), get("rpt")),
        ("t1".into(), "rkc-rs".into(), "y".into(), "r2".into())
    );
    assert_eq!(count(&g, "permission"), 2, "permission is repeatable");
    let r = c
        .refresh(&session("alice"))
        .unwrap()
        .scope("a")
        .scope("b")
        .request();
    assert_eq!(count(&r, "scope"), 1);
    let p = c.pat().unwrap().scope("a").scope("b").request();
    assert_eq!(count(&p, "scope"), 1);
    let t = c
        .token_exchange("eyJ.s.t", keycloak_client::ACCESS_TOKEN_TYPE)
        .scope("a")
        .scope("b")
        .audience("x")
        .audience("y")
        .request();
    assert_eq!((count(&t, "scope"), count(&t, "audience")), (1, 2));
}

#[test]
fn reserved_login_parameters_are_refused_not_dropped() {
    let c = client("rkc-spa", None);
    for name in [
        "state",
        "nonce",
        "code_challenge",
        "redirect_uri",
        "scope",
        "max_age",
        "claims",
        "response_type",
        "client_id",
    ] {
        let e = c
            .login()
            .param(name, "attacker-chosen")
            .build(&mut CountingRng(0), NOW)
            .unwrap_err();
        assert!(
            matches!(e, Error::Config(ref m) if m.contains(&format!("`{name}`"))),
            "{name}: {e:?}"
        );
    }
    // a repeated free parameter: the last one wins, sent once
    let (url, _) = c
        .login()
        .param("ui_locales", "de")
        .param("ui_locales", "fr")
        .prompt("login")
        .prompt("consent")
        .build(&mut CountingRng(0), NOW)
        .unwrap();
    let pairs: Vec<_> = url.query_pairs().into_owned().collect();
    let n = |k: &str| pairs.iter().filter(|(x, _)| x == k).count();
    assert_eq!((n("ui_locales"), n("prompt")), (1, 1));
    assert!(pairs.contains(&("prompt".into(), "consent".into())));
}

// ---- 9. RFC 8693 and UMA ------------------------------------------------------------------------

#[test]
fn token_exchange_checks_issued_token_type_and_accepts_n_a() {
    let c = rs();
    let tx = || c.token_exchange("eyJ.s.t", keycloak_client::ACCESS_TOKEN_TYPE);
    // issued_token_type is required (RFC 8693 §2.2.1)
    let e = tx()
        .handle(
            Response::json(200, r#"{"access_token":"eyJ.a.b","token_type":"Bearer"}"#),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::MissingField { ref field, .. } if field == "issued_token_type"),
        "{e}"
    );
    // a refresh token issued with token_type N_A
    let t = tx()
        .requested_token_type(keycloak_client::REFRESH_TOKEN_TYPE)
        .handle(
            Response::json(
                200,
                json!({"access_token":"eyJ.r.t","token_type":"N_A",
                    "issued_token_type":keycloak_client::REFRESH_TOKEN_TYPE})
                .to_string(),
            ),
            NOW,
        )
        .unwrap();
    assert_eq!(
        t.issued_token_type.as_deref(),
        Some(keycloak_client::REFRESH_TOKEN_TYPE)
    );
    // an access token must still be Bearer
    let e = tx()
        .handle(
            Response::json(
                200,
                json!({"access_token":"eyJ.a.b","token_type":"N_A",
                "issued_token_type":keycloak_client::ACCESS_TOKEN_TYPE})
                .to_string(),
            ),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::UnsupportedTokenType(_)), "{e}");
    // asked for an ID token, got an access token
    let e = tx()
        .requested_token_type(keycloak_client::ID_TOKEN_TYPE)
        .handle(
            Response::json(
                200,
                json!({"access_token":"eyJ.a.b","token_type":"Bearer",
                "issued_token_type":keycloak_client::ACCESS_TOKEN_TYPE})
                .to_string(),
            ),
            NOW,
        )
        .unwrap_err();
    assert!(e.to_string().contains("was requested"), "{e}");
    // actor token and resource
    let req = tx()
        .actor_token("eyJ.actor.x", keycloak_client::ACCESS_TOKEN_TYPE)
        .resource("http://127.0.0.1/api")
        .resource("http://127.0.0.1/other")
        .request();
    let f = common::form(&req.body);
    assert!(f.contains(&("actor_token".into(), "eyJ.actor.x".into())));
    assert!(f.contains(&(
        "actor_token_type".into(),
        keycloak_client::ACCESS_TOKEN_TYPE.into()
    )));
    assert_eq!(count(&req, "resource"), 2);
    assert!(!format!("{:?}", tx().actor_token("ACTOR-SECRET", "t")).contains("ACTOR-SECRET"));
}

#[test]
fn uma_need_info_and_request_submitted_keep_their_members() {
    let c = rs();
    let g = || {
        c.uma_grant(UmaGrantAuth::Client)
            .ticket(&keycloak_client::PermissionTicket::new("t0"))
    };
    let e = g()
        .rpt_request()
        .handle(
            Response::json(403, r#"{"error":"need_info","ticket":"eyJ.new.t",
                "required_claims":[{"claim_token_format":["http://openid.net/specs/openid-connect-core-1_0.html#IDToken"],
                "claim_type":"urn:oid:0.9.2342.19200300.100.1.3","friendly_name":"email",
                "issuer":["https://example.com/idp"],"name":"email23423453ou453"}],
                "redirect_user":"https://as.example.com/rqp_claims?id=2346576421"}"#),
            NOW,
        )
        .unwrap_err();
    let Error::OAuth { body, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(body.error, "need_info");
    assert_eq!(body.ticket.as_ref().unwrap().secret(), "eyJ.new.t");
    assert_eq!(
        body.required_claims[0].friendly_name.as_deref(),
        Some("email")
    );
    assert_eq!(body.required_claims[0].issuer, ["https://example.com/idp"]);
    assert_eq!(
        body.redirect_user.as_deref(),
        Some("https://as.example.com/rqp_claims?id=2346576421")
    );
    assert!(
        !format!("{e:?}").contains("eyJ.new.t"),
        "the ticket is redacted in Debug"
    );
    let e = g()
        .rpt_request()
        .handle(
            Response::json(
                403,
                r#"{"error":"request_submitted","ticket":"eyJ.t2.x","interval":5}"#,
            ),
            NOW,
        )
        .unwrap_err();
    let Error::OAuth { body, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (body.interval, body.ticket.as_ref().map(|t| t.secret())),
        (Some(5), Some("eyJ.t2.x"))
    );
    // pct: sent with the grant, read from the answer
    let pct = keycloak_client::PersistedClaimsToken::new("PCT-1");
    let req = g().pct(&pct).rpt_request().request();
    assert!(
        !format!("{:?}", g().pct(&pct)).contains("PCT-1"),
        "pct redacted in Debug"
    );
    assert!(common::form(&req.body).contains(&("pct".into(), "PCT-1".into())));
    let rpt = g()
        .rpt_request()
        .handle(
            Response::json(
                200,
                r#"{"access_token":"eyJ.r.p","token_type":"Bearer","pct":"PCT-2","upgraded":true}"#,
            ),
            NOW,
        )
        .unwrap();
    assert_eq!(
        (rpt.pct.as_ref().map(|p| p.secret()), rpt.upgraded),
        (Some("PCT-2"), true)
    );
    assert!(
        !format!("{rpt:?}").contains("PCT-2"),
        "pct redacted in Debug"
    );
}

// ---- 10. the device grant's interval lives in the core -----------------------------------------

#[test]
fn slow_down_grows_the_interval_inside_the_core() {
    let c = client("rkc-device", None);
    let auth = c
        .device_authorization(None)
        .unwrap()
        .handle(
            Response::json(200, r#"{"device_code":"dc","user_code":"U","verification_uri":"http://x","expires_in":60,"interval":5}"#),
            NOW,
        )
        .unwrap();
    let mut p = c.device_poller(&auth, NOW);
    assert_eq!(p.next_poll_at(), NOW.plus(5));
    let slow = || Response::json(400, r#"{"error":"slow_down"}"#);
    let pending = || Response::json(400, r#"{"error":"authorization_pending"}"#);
    p.handle(slow(), NOW.plus(5)).unwrap();
    assert_eq!((p.interval(), p.next_poll_at()), (10, NOW.plus(15)));
    p.handle(slow(), NOW.plus(15)).unwrap();
    assert_eq!((p.interval(), p.next_poll_at()), (15, NOW.plus(30)));
    // pending keeps the grown interval
    p.handle(pending(), NOW.plus(30)).unwrap();
    assert_eq!((p.interval(), p.next_poll_at()), (15, NOW.plus(45)));
    // the next poll would fall past expiry: the grant is over
    assert!(matches!(
        p.handle(pending(), NOW.plus(46)),
        Err(Error::DeviceExpired)
    ));
    let e = p
        .handle(
            Response::json(400, r#"{"error":"access_denied"}"#),
            NOW.plus(6),
        )
        .unwrap_err();
    assert!(e.is_access_denied());
}

// ---- 11. token kinds never pass for each other -------------------------------------------------

/// A token of another issuer, signed with another key: refused on `iss`, not on its key (so it
/// never costs a key lookup or a key-set refetch), for access and logout tokens alike.
#[test]
fn foreign_issuers_fail_on_iss_before_any_key_lookup() {
    let s = Signer::new();
    let foreign_header = json!({"alg": "RS256", "typ": "JWT", "kid": "the-other-realms-key"});
    let foreign =
        |claims: &serde_json::Value| signed_with_header(&s, foreign_header.clone(), claims);
    let c = rs();
    let v = loaded_validator(&c, &s);
    let other = "http://127.0.0.1:18080/realms/other";
    let at =
        json!({"iss": other, "aud": "rkc-rs", "sub": "alice", "iat": NOW.0, "exp": NOW.0 + 300});
    let e = v.validate_access_token(&foreign(&at), NOW).unwrap_err();
    assert!(e.to_string().contains("`iss` is"), "{e}");
    let lt = json!({"iss": other, "aud": "rkc-rs", "iat": NOW.0, "jti": "j", "sid": "s",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}});
    let e = v.validate_logout_token(&foreign(&lt), NOW).unwrap_err();
    assert!(e.to_string().contains("`iss` is"), "{e}");
}

#[test]
fn access_tokens_and_id_tokens_never_pass_for_each_other() {
    let s = Signer::new();
    let c = rs();
    let v = loaded_validator(&c, &s);
    let c: &'static Client = Box::leak(Box::new(c));
    // an access token (typ Bearer) offered as the ID token
    let e = login_with(
        c,
        |b| b,
        || IdTokenPolicy::Verify(v.clone()),
        &s,
        |n| with(id_claims(n), "typ", json!("Bearer")),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`Bearer` token"), "{e}");
    // an ID token offered as an access token
    let id = s.sign(&common::id_claims("rkc-rs", "alice", NOW));
    let e = v.validate_access_token(&id, NOW).unwrap_err();
    assert!(e.to_string().contains("`ID` token"), "{e}");
    // required typ: a token without it is refused on both paths
    let strict = client_with(|b| b.require_typ(true));
    let vs = loaded_validator(strict, &s);
    let e = login_with(
        strict,
        |b| b,
        || IdTokenPolicy::Verify(vs.clone()),
        &s,
        |n| without(id_claims(n), "typ"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("`typ` is missing"), "{e}");
    let untyped =
        s.sign(&json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","iat":NOW.0,"exp":NOW.0 + 60}));
    assert!(vs.validate_access_token(&untyped, NOW).is_err());
    v.validate_access_token(&untyped, NOW).unwrap();
}

// ---- 12. verification does not hold the key-set lock ------------------------------------------

/// A verifier that, while verifying, waits for another thread to read the validator's cache
/// (which takes the key-set lock). Under the lock this would time out.
struct WaitsForCacheReader(std::sync::Mutex<std::sync::mpsc::Receiver<()>>);

impl keycloak_client::JwsVerifier for WaitsForCacheReader {
    fn verify(
        &self,
        alg: keycloak_client::Algorithm,
        key: keycloak_client::VerificationKey<'_>,
        input: &[u8],
        sig: &[u8],
    ) -> Result<(), String> {
        self.0
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(5))
            .map_err(|_| "the key-set lock was held during verification".to_string())?;
        RingVerifier.verify(alg, key, input, sig)
    }
}

#[test]
fn signature_verification_runs_outside_the_key_set_lock() {
    let s = Signer::new();
    let (tx, rx) = std::sync::mpsc::channel();
    let v = Arc::new(
        TokenValidator::new(
            &rs(),
            Arc::new(WaitsForCacheReader(std::sync::Mutex::new(rx))),
        )
        .unwrap(),
    );
    v.install_keys(
        keycloak_client::JwkSet::parse(s.jwks().as_bytes()).unwrap(),
        NOW,
    );
    let reader = {
        let v = v.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let keys = v.cache().keys.keys.len(); // takes the lock
            tx.send(()).unwrap();
            keys
        })
    };
    let at = s.sign(&json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 60}));
    v.validate_access_token(&at, NOW).unwrap();
    assert_eq!(reader.join().unwrap(), 1);
}

// ---- resource-server and logout-token checks at their boundaries (found by cargo-mutants) ------

fn signed_with_header(s: &Signer, header: Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; s.0.public().modulus_len()];
    s.0.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", b64(&sig))
}

#[test]
fn access_token_times_are_exact_at_their_boundaries() {
    let s = Signer::new();
    let c = rs();
    let v = loaded_validator(&c, &s);
    assert_eq!(v.issuer(), ISS);
    assert!(format!("{v:?}").contains(ISS));
    let base =
        json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 60});
    let check = |k: &str, x: Option<u64>| {
        let mut claims = base.clone();
        match x {
            Some(x) => claims[k] = json!(x),
            None => {
                claims.as_object_mut().unwrap().remove(k);
            }
        }
        v.validate_access_token(&s.sign(&claims), NOW)
    };
    // leeway 60 s
    assert!(check("nbf", Some(NOW.0 + 60)).is_ok());
    assert!(check("nbf", Some(NOW.0 - 100)).is_ok());
    assert!(check("nbf", Some(NOW.0 + 61))
        .unwrap_err()
        .to_string()
        .contains("nbf"));
    assert!(check("iat", Some(NOW.0 + 60)).is_ok());
    assert!(check("iat", Some(NOW.0 + 61))
        .unwrap_err()
        .to_string()
        .contains("future"));
    assert!(check("exp", Some(NOW.0 - 59)).is_ok());
    assert!(check("exp", Some(NOW.0 - 60))
        .unwrap_err()
        .to_string()
        .contains("expired"));
    assert!(check("exp", None)
        .unwrap_err()
        .to_string()
        .contains("`exp` is missing"));
    assert!(check("iat", None)
        .unwrap_err()
        .to_string()
        .contains("`iat` is missing"));
}

#[test]
fn logout_tokens_follow_backchannel_logout_2_6() {
    let s = Signer::new();
    let c = rs();
    let v = loaded_validator(&c, &s);
    let good = json!({"iss":ISS,"aud":"rkc-rs","iat":NOW.0,"jti":"j1","sid":"s1","sub":"alice",
        "typ":"Logout","events":{"http://schemas.openid.net/event/backchannel-logout":{}}});
    let header = |typ: &str| json!({"alg":"RS256","typ":typ,"kid":"k1"});
    // the header `typ` values Keycloak and the spec use; anything else is refused
    for typ in ["logout+jwt", "JWT", "Logout"] {
        v.validate_logout_token(&signed_with_header(&s, header(typ), &good), NOW)
            .unwrap_or_else(|e| panic!("{typ}: {e}"));
    }
    let e = v
        .validate_logout_token(&signed_with_header(&s, header("at+jwt"), &good), NOW)
        .unwrap_err();
    assert!(e.to_string().contains("not a logout token"), "{e}");
    // `sid` alone or `sub` alone is enough; neither is not; no `exp` is fine (§2.4)
    v.validate_logout_token(&s.sign(&without(good.clone(), "sub")), NOW)
        .unwrap();
    v.validate_logout_token(&s.sign(&without(good.clone(), "sid")), NOW)
        .unwrap();
    let e = v
        .validate_logout_token(&s.sign(&without(without(good.clone(), "sid"), "sub")), NOW)
        .unwrap_err();
    assert!(e.to_string().contains("neither"), "{e}");
    for (claims, reason) in [
        (without(good.clone(), "jti"), "`jti`"),
        (without(good.clone(), "events"), "`events`"),
        (
            with(good.clone(), "events", json!({"other":{}})),
            "`events`",
        ),
        (with(good.clone(), "nonce", json!("n")), "`nonce`"),
        (with(good.clone(), "aud", json!("other")), "`aud`"),
        (with(good.clone(), "typ", json!("Bearer")), "`Bearer` token"),
        (with(good.clone(), "iat", json!(NOW.0 + 1000)), "future"),
        // §2.6 item 4 validates `iat` as for ID tokens: a token issued 11 minutes ago is too old
        (with(good.clone(), "iat", json!(NOW.0 - 660 - 1)), "too old"),
        (
            with(
                good.clone(),
                "events",
                json!({"http://schemas.openid.net/event/backchannel-logout": "x"}),
            ),
            "`events`",
        ),
        (with(good.clone(), "sid", json!("")), "`sid`"),
        (with(good.clone(), "sub", json!(7)), "`sub`"),
        // §2.4: `iat` is required (without it no age limit holds and a replay outlives the
        // `jti` memory)
        (
            {
                let mut g = good.clone();
                g.as_object_mut().unwrap().remove("iat");
                g
            },
            "`iat` is missing",
        ),
    ] {
        let e = v.validate_logout_token(&s.sign(&claims), NOW).unwrap_err();
        assert!(e.to_string().contains(reason), "{reason}: {e}");
    }
}

#[test]
fn stale_keys_are_refreshed_before_the_code_and_an_empty_fresh_set_refuses() {
    let (c, s) = (rs(), Signer::new());
    let run = |v: Arc<TokenValidator>| {
        let (flow, nonce) = start(&c, |b| b, IdTokenPolicy::Verify(v), NOW);
        let idt = s.sign(&id_claims(&nonce));
        drive(flow, NOW, |req| match req.url.path() {
            TOKEN => Response::json(200, token_body(&idt)),
            CERTS => Response::json(200, s.jwks()),
            p => panic!("unexpected {p}"),
        })
    };
    // keys older than max_age (1 h): refetched first, then the code
    let v = validator(&c);
    let long_ago = UnixTime(NOW.0 - 4000);
    v.begin_key_fetch(long_ago, keycloak_client::RefetchReason::Stale)
        .unwrap();
    v.install_keys(
        keycloak_client::JwkSet::parse(s.jwks().as_bytes()).unwrap(),
        long_ago,
    );
    let (r, sent) = run(v);
    r.unwrap();
    assert_eq!(sent, [CERTS, TOKEN]);
    // the server just answered with an empty key set: nothing to validate with, code unsent
    let v = validator(&c);
    v.begin_key_fetch(NOW, keycloak_client::RefetchReason::Stale)
        .unwrap();
    v.install_keys(keycloak_client::JwkSet::default(), NOW);
    let (r, sent) = run(v);
    assert!(matches!(r, Err(Error::KeysUnavailable)), "{r:?}");
    assert!(sent.is_empty());
}

#[test]
fn an_unknown_kid_refetches_once_even_without_a_cooldown() {
    let s = Signer::new();
    let c = rs();
    let fetches = std::cell::Cell::new(0);
    let mut other: Value = serde_json::from_str(&s.jwks()).unwrap();
    other["keys"][0]["kid"] = json!("old");
    let run = |token: &str, serve: &str| {
        let v = TokenValidator::new(&c, Arc::new(RingVerifier))
            .unwrap()
            .with_cache(JwksCache::new(JwksPolicy {
                max_age_secs: 3600,
                cooldown_secs: 0,
            }));
        v.install_keys(
            keycloak_client::JwkSet::parse(other.to_string().as_bytes()).unwrap(),
            NOW,
        );
        fetches.set(0);
        let mut flow = v.validate_flow(token, TokenKind::Access, NOW);
        let r = loop {
            match flow.poll() {
                Ok(Step::Send(_)) => {
                    fetches.set(fetches.get() + 1);
                    assert!(fetches.get() <= 1, "a second refetch for the same token");
                    flow.handle_response(Response::json(200, serve.to_string()), NOW)
                        .unwrap();
                }
                Ok(Step::WaitUntil(_) | Step::Wait(_)) => panic!("a single caller never waits"),
                Ok(Step::Done(c)) => break Ok(c),
                Err(e) => break Err(e),
            }
        };
        (r, fetches.get())
    };
    let at = s.sign(&json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 60}));
    // the realm rotated to k1: one refetch, then valid
    let (r, n) = run(&at, &s.jwks());
    assert_eq!((r.is_ok(), n), (true, 1), "{r:?}");
    // the realm still only has "old": one refetch, then the unknown key, never a loop
    let (r, n) = run(&at, &other.to_string());
    assert!(matches!(r, Err(Error::UnknownKey(_))), "{r:?}");
    assert_eq!(n, 1);
}

// ---- findings of the hostile review --------------------------------------------------------------

#[test]
fn token_exchange_checks_an_issued_id_token_for_the_requested_audience() {
    let c = rs();
    let id_for =
        |aud: &str, iat: UnixTime| common::unsigned_jwt(&common::id_claims(aud, "alice", iat));
    let answer = |id: String| {
        Response::json(
            200,
            json!({"access_token":id,"token_type":"N_A",
                "issued_token_type":keycloak_client::ID_TOKEN_TYPE})
            .to_string(),
        )
    };
    let tx = || {
        c.token_exchange("eyJ.s.t", keycloak_client::ACCESS_TOKEN_TYPE)
            .requested_token_type(keycloak_client::ID_TOKEN_TYPE)
            .audience("rkc-api")
    };
    // minted for the requested audience: accepted
    tx().handle(answer(id_for("rkc-api", NOW)), NOW).unwrap();
    // expired, or for another audience: refused
    let e = tx()
        .handle(answer(id_for("rkc-api", UnixTime(NOW.0 - 5000))), NOW)
        .unwrap_err();
    assert!(
        e.to_string().contains("expired") || e.to_string().contains("too old"),
        "{e}"
    );
    let e = tx()
        .handle(answer(id_for("someone-else", NOW)), NOW)
        .unwrap_err();
    assert!(e.to_string().contains("`aud`"), "{e}");
}

/// The signer's key set before Keycloak has created a key the allow-list fits: its one key is
/// an encryption key.
fn keys_before_first_use(s: &Signer) -> Value {
    let mut keys: Value = serde_json::from_str(&s.jwks()).unwrap();
    keys["keys"][0]["use"] = json!("enc");
    keys
}

/// A validator holding [`keys_before_first_use`], fetched at `NOW`.
fn validator_before_first_use(c: &keycloak_client::Client, s: &Signer) -> Arc<TokenValidator> {
    let v = validator(c);
    v.begin_key_fetch(NOW, keycloak_client::RefetchReason::Stale)
        .unwrap();
    v.install_keys(
        keycloak_client::JwkSet::parse(keys_before_first_use(s).to_string().as_bytes()).unwrap(),
        NOW,
    );
    v
}

/// A login started at `at` whose first step sends the code (no key fetch first); its nonce.
fn login_that_sent_its_code(
    c: &keycloak_client::Client,
    v: &Arc<TokenValidator>,
    at: UnixTime,
) -> (keycloak_client::CodeExchange, String) {
    let (mut login, nonce) = start(c, |b| b, IdTokenPolicy::Verify(v.clone()), at);
    let Ok(Step::Send(req)) = login.poll() else {
        panic!("the code goes out")
    };
    assert_eq!(req.url.path(), TOKEN, "no refetch of fresh keys first");
    (login, nonce)
}

/// The token endpoint answers with an ID token under the key Keycloak has just created: the
/// login refetches the keys once and finishes.
fn finishes_after_its_owed_refetch(
    mut login: keycloak_client::CodeExchange,
    s: &Signer,
    nonce: &str,
    at: UnixTime,
) {
    let idt = s.sign(&id_claims(nonce));
    login
        .handle_response(Response::json(200, token_body(&idt)), at)
        .unwrap();
    let Ok(Step::Send(req)) = login.poll() else {
        panic!("the owed refetch")
    };
    assert_eq!(req.url.path(), CERTS);
    login
        .handle_response(Response::json(200, s.jwks()), at)
        .unwrap();
    assert!(matches!(login.poll(), Ok(Step::Done(_))));
}

/// Keycloak creates a realm's key for an algorithm only when it first signs with it (a fresh
/// realm has no PS256 or ES256 key until a FAPI client's first token). Refusing the exchange
/// until a fitting key is published would deadlock such a realm: the code goes out, and the
/// key the ID token names is fetched once, despite the refetch cooldown.
#[test]
fn a_realm_that_creates_its_signing_key_on_first_use_lets_the_first_login_through() {
    let (c, s) = (rs(), Signer::new());
    let not_yet = keys_before_first_use(&s);
    // the key appears once Keycloak has signed with it
    let v = validator(&c);
    let (flow, nonce) = start(&c, |b| b, IdTokenPolicy::Verify(v), NOW);
    let idt = s.sign(&id_claims(&nonce));
    let certs = std::cell::Cell::new(0);
    let (r, sent) = drive(flow, NOW, |req| match req.url.path() {
        CERTS => {
            certs.set(certs.get() + 1);
            if certs.get() == 1 {
                Response::json(200, not_yet.to_string())
            } else {
                Response::json(200, s.jwks())
            }
        }
        TOKEN => Response::json(200, token_body(&idt)),
        p => panic!("unexpected {p}"),
    });
    r.unwrap();
    assert_eq!(sent, [CERTS, TOKEN, CERTS]);
    // the key never appears: one refetch, then a typed error naming the unknown key
    let v = validator(&c);
    let (flow, nonce) = start(&c, |b| b, IdTokenPolicy::Verify(v.clone()), NOW);
    let idt = s.sign(&id_claims(&nonce));
    let (r, sent) = drive(flow, NOW, |req| match req.url.path() {
        CERTS => Response::json(200, not_yet.to_string()),
        TOKEN => Response::json(200, token_body(&idt)),
        p => panic!("unexpected {p}"),
    });
    assert!(matches!(r, Err(Error::UnknownKey(_))), "{r:?}");
    assert_eq!(sent, [CERTS, TOKEN, CERTS]);
    // the owed refetch is spent: other unknown keys wait for the cooldown again
    assert!(!v.cache().first_use_refetch);
    assert!(!v
        .cache()
        .should_refetch(NOW, keycloak_client::RefetchReason::UnknownKey));
}

#[test]
fn stale_keys_serve_a_login_and_no_allowed_algorithm_sends_nothing() {
    let (c, s) = (rs(), Signer::new());
    // stale keys and a failed refetch: the cached keys still validate the login
    let v = validator(&c);
    let long_ago = UnixTime(NOW.0 - 4000);
    v.begin_key_fetch(long_ago, keycloak_client::RefetchReason::Stale)
        .unwrap();
    v.install_keys(
        keycloak_client::JwkSet::parse(s.jwks().as_bytes()).unwrap(),
        long_ago,
    );
    let (flow, nonce) = start(&c, |b| b, IdTokenPolicy::Verify(v), NOW);
    let idt = s.sign(&id_claims(&nonce));
    let (r, sent) = drive(flow, NOW, |req| match req.url.path() {
        CERTS => Response::json(503, "unavailable"),
        TOKEN => Response::json(200, token_body(&idt)),
        p => panic!("unexpected {p}"),
    });
    r.unwrap();
    assert_eq!(sent, [CERTS, TOKEN]);
    // no algorithm allowed at all: refused before anything is sent
    let v = Arc::new(
        validator(&c)
            .as_ref()
            .cache_clone_with(JwksCache::default())
            .allow_algorithms(&[]),
    );
    let (flow, _) = start(&c, |b| b, IdTokenPolicy::Verify(v), NOW);
    let (r, sent) = drive(flow, NOW, |req| panic!("sent {req:?}"));
    assert!(matches!(r, Err(Error::Config(_))), "{r:?}");
    assert!(sent.is_empty());
}

#[test]
fn a_malformed_uma_bearer_never_reaches_the_header_and_is_reported() {
    let c = rs();
    let g = || {
        c.uma_grant(UmaGrantAuth::Bearer(AccessToken::new("a b,c")))
            .audience("rkc-rs")
    };
    assert_eq!(
        g().decision().request().header_value("authorization"),
        Some("")
    );
    let ok = || Response::json(200, r#"{"result":true}"#);
    assert!(matches!(
        g().decision().handle(ok(), NOW),
        Err(Error::InvalidTokenSyntax(_))
    ));
    assert!(matches!(
        g().permissions().handle(Response::json(200, "[]"), NOW),
        Err(Error::InvalidTokenSyntax(_))
    ));
    assert!(matches!(
        g().rpt_request().handle(
            Response::json(200, r#"{"access_token":"eyJ.a.b","token_type":"Bearer"}"#),
            NOW
        ),
        Err(Error::InvalidTokenSyntax(_))
    ));
}

#[test]
fn builder_mistakes_are_reported_and_the_device_never_polls_without_waiting() {
    let c = rs();
    let e = c
        .login()
        .essential_acr(&[])
        .build(&mut CountingRng(0), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let auth: keycloak_client::DeviceAuthorization = serde_json::from_value(json!({
        "device_code":"dc","user_code":"U","verification_uri":"http://x",
        "verification_uri_complete":null,"expires_at":NOW.0 + 600,"interval":0}))
    .unwrap();
    let p = c.device_poller(&auth, NOW);
    assert_eq!((p.interval(), p.next_poll_at()), (1, NOW.plus(1)));
    // the callback's state does not reach Debug
    let params = CallbackParams::from_query("state=STATE-SECRET&code=CODE-SECRET").unwrap();
    let d = format!("{params:?}");
    assert!(
        !d.contains("STATE-SECRET") && !d.contains("CODE-SECRET"),
        "{d}"
    );
    let params = CallbackParams::from_query("state=s&iss=http%3A%2F%2Fi&error=e").unwrap();
    let d = format!("{params:?}");
    assert!(
        d.starts_with("CallbackParams") && d.contains("http://i") && d.contains("\"e\""),
        "{d}"
    );
}

#[test]
fn concurrent_logins_share_one_key_refetch_when_the_realm_rotates() {
    let c = rs();
    let s = Signer::new();
    // The validator knows only the realm's old key; the new ID tokens name `k1`.
    let old = s.jwks().replace("\"k1\"", "\"k0\"");
    let v = validator(&c);
    v.install_keys(keycloak_client::JwkSet::parse(old.as_bytes()).unwrap(), NOW);
    let (mut a, nonce) = start(&c, |b| b, IdTokenPolicy::Verify(v.clone()), NOW);
    let (mut b, _) = start(&c, |b| b, IdTokenPolicy::Verify(v.clone()), NOW);
    let mut claims = common::id_claims("rkc-rs", "alice", NOW);
    claims["nonce"] = json!(nonce);
    let tokens = Response::json(200, token_body(&s.sign(&claims)));
    for f in [&mut a, &mut b] {
        let Ok(Step::Send(req)) = f.poll() else {
            panic!("the code goes out: a usable key is loaded")
        };
        assert_eq!(req.url.path(), TOKEN);
        f.handle_response(tokens.clone(), NOW).unwrap();
    }
    let Ok(Step::Send(req)) = a.poll() else {
        panic!("the first login refetches the keys")
    };
    assert_eq!(req.url.path(), CERTS);
    let Ok(Step::Wait(w)) = b.poll() else {
        panic!(
            "the second login waits for that refetch instead of failing after its code was spent"
        )
    };
    a.handle_response(Response::json(200, s.jwks()), NOW)
        .unwrap();
    assert!(matches!(a.poll(), Ok(Step::Done(_))));
    w.wait_blocking();
    let Ok(Step::Done(login)) = b.poll() else {
        panic!("the second login validates with the refetched keys")
    };
    assert_eq!(login.id_claims.sub(), Some("alice"));
}

#[test]
fn a_login_that_waited_for_keys_validates_at_the_time_it_resumes() {
    let c = rs();
    let s = Signer::new();
    let old = s.jwks().replace("\"k1\"", "\"k0\"");
    let v = validator(&c);
    v.install_keys(keycloak_client::JwkSet::parse(old.as_bytes()).unwrap(), NOW);
    let (mut a, nonce) = start(&c, |b| b, IdTokenPolicy::Verify(v.clone()), NOW);
    let (mut b, _) = start(&c, |b| b, IdTokenPolicy::Verify(v.clone()), NOW);
    let mut claims = common::id_claims("rkc-rs", "alice", NOW);
    claims["nonce"] = json!(nonce);
    let tokens = Response::json(200, token_body(&s.sign(&claims)));
    for f in [&mut a, &mut b] {
        let _ = f.poll().unwrap();
        f.handle_response(tokens.clone(), NOW).unwrap();
    }
    let _ = a.poll().unwrap();
    let Ok(Step::Wait(w)) = b.poll() else {
        panic!("waits for the other login's refetch")
    };
    a.handle_response(Response::json(200, s.jwks()), NOW)
        .unwrap();
    w.wait_blocking();
    // The wait took long: the ID token (300 s, 60 s leeway) has expired meanwhile.
    b.handle_timeout(NOW.plus(1000));
    let e = b.poll().unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

// ---- what mutation testing asked of the shared key fetches -------------------------------------

/// Review finding: the refetch owed to a login is for the ID token the token endpoint sends,
/// not for any token naming an unknown `kid`. A bearer token (anyone can send one) with an
/// unknown key fetches nothing inside the cooldown and leaves the refetch to the login.
#[test]
fn a_bearer_token_with_an_unknown_key_cannot_spend_the_logins_owed_refetch() {
    let (c, s) = (rs(), Signer::new());
    let v = validator_before_first_use(&c, &s);
    // a login goes ahead while the keys fit none of the allowed algorithms
    let (login, nonce) = login_that_sent_its_code(&c, &v, NOW);
    // meanwhile, an attacker's bearer token naming an unknown key
    let forged = s.sign(
        &json!({"iss":ISS,"sub":"x","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 60}),
    );
    let (r, sent) = drive(
        v.validate_flow(&forged, TokenKind::Access, NOW),
        NOW,
        |req| panic!("the bearer token fetched {}", req.url.path()),
    );
    assert!(matches!(r, Err(Error::UnknownKey(_))), "{r:?}");
    assert!(sent.is_empty());
    // the login's ID token still gets its refetch
    finishes_after_its_owed_refetch(login, &s, &nonce, NOW);
}

/// Review finding: a refetch another token makes (after the cooldown) between a login's
/// `prepare` and its ID token may come before Keycloak has created the key; it does not spend
/// the refetch the login is owed.
#[test]
fn another_tokens_refetch_leaves_the_login_its_owed_refetch() {
    let (c, s) = (rs(), Signer::new());
    let not_yet = keys_before_first_use(&s);
    let v = validator_before_first_use(&c, &s);
    let later = NOW.plus(31);
    let (login, nonce) = login_that_sent_its_code(&c, &v, later);
    // a bearer token after the cooldown refetches (the key does not exist yet)
    let bearer = s.sign(&json!({"iss":ISS,"sub":"x","aud":"rkc-rs","typ":"Bearer","iat":later.0,"exp":later.0 + 60}));
    let (r, sent) = drive(
        v.validate_flow(&bearer, TokenKind::Access, later),
        later,
        |_| Response::json(200, not_yet.to_string()),
    );
    assert!(matches!(r, Err(Error::UnknownKey(_))), "{r:?}");
    assert_eq!(sent, [CERTS]);
    // Keycloak signs the ID token with the key it has just created: the login still refetches
    finishes_after_its_owed_refetch(login, &s, &nonce, later);
}

/// Review finding: a token that could never validate (another issuer, an algorithm not
/// allowed, not a JWT) is refused before any key work: it fetches nothing, and an outage
/// cannot make it look like a good token Keycloak could not check.
#[test]
fn a_token_that_could_never_validate_fetches_no_keys() {
    let (c, s) = (rs(), Signer::new());
    let v = validator(&c);
    let foreign = s.sign(&json!({"iss":"http://127.0.0.1:18080/realms/other","sub":"x","aud":"rkc-rs","iat":NOW.0,"exp":NOW.0 + 60}));
    let none = format!(
        "{}.{}.",
        b64(json!({"alg":"none"}).to_string().as_bytes()),
        b64(json!({"iss":ISS,"sub":"x","iat":NOW.0,"exp":NOW.0 + 60})
            .to_string()
            .as_bytes())
    );
    for junk in [foreign.as_str(), none.as_str(), "x", "a.b.c"] {
        let (r, sent) = drive(v.validate_flow(junk, TokenKind::Access, NOW), NOW, |req| {
            panic!("{junk}: fetched {}", req.url.path())
        });
        let e = r.unwrap_err();
        assert!(!e.is_unavailable(), "{junk}: {e:?}");
        assert!(sent.is_empty(), "{junk}");
    }
}

/// Review finding: keys that could not be fetched are an outage for every token checked in
/// the cooldown after the failed fetch, not only for the one that tried: `KeysUnavailable`
/// (the web answers 503), never `UnknownKey` (401, "your token is bad"). Once the keys come,
/// the token validates; with keys loaded, an unknown `kid` stays `UnknownKey`.
#[test]
fn tokens_checked_while_the_keys_cannot_be_fetched_are_unavailable_not_unknown() {
    let (c, s) = (rs(), Signer::new());
    let v = validator(&c);
    let at = s.sign(&json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 600}));
    let (r, sent) = drive(v.validate_flow(&at, TokenKind::Access, NOW), NOW, |_| {
        Response::json(503, r#"{"error":"temporarily_unavailable"}"#)
    });
    assert!(r.unwrap_err().is_unavailable());
    assert_eq!(sent, [CERTS]);
    let later = NOW.plus(1);
    let (r, sent) = drive(
        v.validate_flow(&at, TokenKind::Access, later),
        later,
        |req| panic!("fetched {} inside the cooldown", req.url.path()),
    );
    assert!(matches!(r, Err(Error::KeysUnavailable)), "{r:?}");
    assert!(sent.is_empty());
    let back = NOW.plus(31);
    let (r, _) = drive(v.validate_flow(&at, TokenKind::Access, back), back, |_| {
        Response::json(200, s.jwks())
    });
    r.unwrap();
    // a token naming a key the (loaded) set lacks
    let header = json!({"alg":"RS256","typ":"JWT","kid":"nope"}).to_string();
    let rest = at.split_once('.').unwrap().1;
    let other = format!("{}.{rest}", common::signer::b64(header.as_bytes()));
    let (r, _) = drive(
        v.validate_flow(&other, TokenKind::Access, back),
        back,
        |req| panic!("fetched {} inside the cooldown", req.url.path()),
    );
    assert!(matches!(r, Err(Error::UnknownKey(_))), "{r:?}");
}

/// The code goes out at once (Keycloak creates the key on first use); see
/// `a_realm_that_creates_its_signing_key_on_first_use_lets_the_first_login_through`.
#[test]
fn fresh_keys_that_fit_no_allowed_algorithm_send_the_code_without_a_refetch_first() {
    let (c, s) = (rs(), Signer::new());
    let v = validator_before_first_use(&c, &s);
    login_that_sent_its_code(&c, &v, NOW);
    assert!(v.cache().first_use_refetch, "one refetch is owed");
}

#[test]
fn an_hmac_only_validator_sends_the_code_without_fetching_keys() {
    let c = rs();
    let secret = keycloak_client::ClientSecret::new("rkc-rs-secret");
    let v = Arc::new(
        TokenValidator::new(&c, Arc::new(RingVerifier))
            .unwrap()
            .allow_algorithms(&[])
            .allow_hmac_with_client_secret(&secret, &[keycloak_client::Algorithm::HS256]),
    );
    let (mut flow, _) = start(&c, |b| b, IdTokenPolicy::Verify(v), NOW);
    let Ok(Step::Send(req)) = flow.poll() else {
        panic!("the code goes out")
    };
    assert_eq!(req.url.path(), TOKEN);
}

#[test]
fn stale_keys_serve_other_validations_while_one_refetches_them() {
    let (c, s) = (rs(), Signer::new());
    let v = validator(&c);
    v.install_keys(
        keycloak_client::JwkSet::parse(s.jwks().as_bytes()).unwrap(),
        UnixTime(NOW.0 - 4000),
    );
    let at = s.sign(&json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 60}));
    let mut refetching = v.validate_flow(&at, TokenKind::Access, NOW);
    assert!(
        matches!(refetching.poll(), Ok(Step::Send(_))),
        "stale: one flow refetches"
    );
    let mut other = v.validate_flow(&at, TokenKind::Access, NOW);
    assert!(
        matches!(other.poll(), Ok(Step::Done(_))),
        "the stale keys validate meanwhile: no wait"
    );
}

#[test]
fn a_validation_that_waited_for_keys_judges_expiry_at_the_time_it_resumes() {
    let (c, s) = (rs(), Signer::new());
    let v = validator(&c);
    let at = s.sign(&json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 60}));
    let mut first = v.validate_flow(&at, TokenKind::Access, NOW);
    assert!(matches!(first.poll(), Ok(Step::Send(_))), "no keys: fetch");
    let mut second = v.validate_flow(&at, TokenKind::Access, NOW);
    let Ok(Step::Wait(w)) = second.poll() else {
        panic!("waits for the first one's fetch")
    };
    first
        .handle_response(Response::json(200, s.jwks()), NOW)
        .unwrap();
    w.wait_blocking();
    second.handle_timeout(NOW.plus(1000));
    let e = second.poll().map(|_| ()).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

/// Review finding (DPoP): a DPoP-bound access token (`cnf.jkt`, Keycloak's payload `typ:
/// DPoP`) is not a bearer token: `validate_access_token` refuses it; only the bound-token
/// check (made together with its proof) accepts it, and a malformed `cnf` is refused by both.
#[test]
fn a_dpop_bound_token_is_never_accepted_as_a_bearer_token() {
    let s = Signer::new();
    let c = client_with(|b| b);
    let v = loaded_validator(c, &s);
    let claims = |typ: &str, cnf: serde_json::Value| json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":typ,"iat":NOW.0,"exp":NOW.0 + 300,"cnf":cnf});
    let bound = s.sign(&claims("DPoP", json!({"jkt": "jkt-1"})));
    assert!(
        v.validate_access_token(&bound, NOW).is_err(),
        "a bound token as a bearer token"
    );
    let c = v.validate_bound_access_token(&bound, NOW).unwrap();
    assert_eq!(c.0["cnf"]["jkt"], "jkt-1");
    let plain = s.sign(&json!({"iss":ISS,"sub":"alice","aud":"rkc-rs","typ":"Bearer","iat":NOW.0,"exp":NOW.0 + 300}));
    v.validate_access_token(&plain, NOW).unwrap();
    assert!(
        v.validate_bound_access_token(&plain, NOW).is_err(),
        "an unbound token is not a DPoP token"
    );
    // bound, whatever its payload `typ` says (or without one)
    for typ in ["Bearer", ""] {
        let mut cl = claims(typ, json!({"jkt": "jkt-1"}));
        if typ.is_empty() {
            cl.as_object_mut().unwrap().remove("typ");
        }
        assert!(
            v.validate_access_token(&s.sign(&cl), NOW).is_err(),
            "a bound token with typ `{typ}` as a bearer token"
        );
    }
    for odd in [
        json!({"jkt": null}),
        json!({"jkt": 7}),
        json!("x"),
        json!({"jkt": ""}),
    ] {
        let t = s.sign(&claims("DPoP", odd.clone()));
        assert!(v.validate_access_token(&t, NOW).is_err(), "{odd}");
        assert!(v.validate_bound_access_token(&t, NOW).is_err(), "{odd}");
    }
}
