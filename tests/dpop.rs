//! DPoP (RFC 9449), the client side in the core: the proof on token and resource requests,
//! `dpop_jkt`, a nonce challenge answered once, a nonce loop and an unbound token as typed
//! errors.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::NOW;
use keycloak_client::{
    Algorithm, Client, ClientConfig, Dpop, Error, Exchange, FixedClock, Flow, Request, Response,
    Single, Step,
};
use keycloak_client_ring::RingSigner;

fn dpop() -> Dpop {
    Dpop::new(
        RingSigner::generate(Algorithm::ES256).unwrap().shared(),
        Arc::new(FixedClock(NOW)),
        &mut rand::rng(),
    )
    .unwrap()
}

fn client(d: &Dpop) -> Client {
    common::client_from(
        common::builder()
            .client_secret("rkc-rs-secret")
            .dpop(d.clone())
            .build()
            .unwrap(),
    )
}

fn decode(part: &str) -> serde_json::Value {
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// The proof a request carries: header and claims, its signature checked with its own key.
fn proof(req: &Request) -> (serde_json::Value, serde_json::Value) {
    let p = req.header_value("dpop").expect("a DPoP header");
    let parts: Vec<&str> = p.split('.').collect();
    let (h, c) = (decode(parts[0]), decode(parts[1]));
    let jwk: keycloak_client::Jwk = serde_json::from_value(h["jwk"].clone()).unwrap();
    use keycloak_client::JwsVerifier as _;
    keycloak_client_ring::RingVerifier
        .verify(
            Algorithm::ES256,
            keycloak_client::VerificationKey::Public(&jwk),
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[2])
                .unwrap(),
        )
        .expect("signed by the key in its header");
    (h, c)
}

fn json(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
    let mut h: Vec<(String, String)> = vec![("content-type".into(), "application/json".into())];
    h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Response::new(status, h, body.as_bytes().to_vec())
}

const DPOP_TOKENS: &str =
    r#"{"access_token":"at-1","token_type":"DPoP","expires_in":300,"refresh_token":"rt-1"}"#;
const NONCE_PLEASE: &str = r#"{"error":"use_dpop_nonce","error_description":"nonce"}"#;

#[test]
fn token_requests_carry_a_proof_and_logins_bind_the_code() {
    let d = dpop();
    let c = client(&d);
    let req = c.pat().unwrap().request();
    let (h, claims) = proof(&req);
    assert_eq!(h["typ"], "dpop+jwt");
    assert_eq!(h["alg"], "ES256");
    assert!(h["jwk"].get("d").is_none(), "no private member");
    assert_eq!(claims["htm"], "POST");
    assert_eq!(
        claims["htu"],
        "http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/token"
    );
    assert_eq!(claims["iat"], NOW.0);
    assert!(claims.get("ath").is_none(), "no token presented");
    assert!(claims.get("nonce").is_none(), "no nonce given yet");
    let (_, again) = proof(&c.pat().unwrap().request());
    assert_ne!(claims["jti"], again["jti"], "a jti per proof");
    let (url, _) = c.login().build(&mut rand::rng(), NOW).unwrap();
    assert!(url
        .query_pairs()
        .any(|(k, v)| k == "dpop_jkt" && v == d.jkt()));
    // a resource request: `Authorization: DPoP`, `ath`, `htu` without the query
    let ui = c
        .userinfo(&keycloak_client::AccessToken::new("at-1"))
        .unwrap()
        .request();
    assert_eq!(ui.header_value("authorization"), Some("DPoP at-1"));
    let (_, claims) = proof(&ui);
    assert_eq!(claims["htm"], "GET");
    assert_eq!(claims["ath"], keycloak_client::dpop::ath("at-1"));
    let u: url::Url = "https://rs.example/api/x?page=2#frag".parse().unwrap();
    assert_eq!(keycloak_client::dpop::htu(&u), "https://rs.example/api/x");
}

/// RFC 9449 §8: `use_dpop_nonce` with a `DPoP-Nonce` header is answered once with a new
/// proof carrying the nonce; the nonce is kept for the next requests.
#[test]
fn a_nonce_challenge_is_answered_once_and_remembered() {
    let d = dpop();
    let c = client(&d);
    let mut flow = Single::new(c.pat().unwrap());
    let Ok(Step::Send(first)) = flow.poll() else {
        panic!()
    };
    assert!(proof(&first).1.get("nonce").is_none());
    flow.handle_response(json(400, &[("dpop-nonce", "n-1")], NONCE_PLEASE), NOW)
        .unwrap();
    let Ok(Step::Send(second)) = flow.poll() else {
        panic!("sent again")
    };
    assert_eq!(proof(&second).1["nonce"], "n-1");
    flow.handle_response(json(200, &[], DPOP_TOKENS), NOW)
        .unwrap();
    let Ok(Step::Done(t)) = flow.poll() else {
        panic!()
    };
    assert_eq!(t.token_type, "DPoP");
    // the next request already has it
    assert_eq!(proof(&c.refresh(&t).unwrap().request()).1["nonce"], "n-1");
}

/// A hostile server: a new nonce on every try. One retry, then a clear error, never a loop.
#[test]
fn a_server_demanding_a_new_nonce_every_time_gets_one_retry() {
    let c = client(&dpop());
    let mut flow = Single::new(c.pat().unwrap());
    let mut sent = 0;
    let out = loop {
        match flow.poll() {
            Ok(Step::Send(_)) => {
                sent += 1;
                assert!(sent <= 2, "never more than one retry");
                let nonce = format!("n-{sent}");
                if let Err(e) =
                    flow.handle_response(json(400, &[("dpop-nonce", &nonce)], NONCE_PLEASE), NOW)
                {
                    break e;
                }
            }
            Ok(_) => panic!("no success"),
            Err(e) => break e,
        }
    };
    assert_eq!(sent, 2);
    assert!(
        matches!(out, Error::Dpop(ref m) if m.contains("again")),
        "{out:?}"
    );
    // no nonce at all in the challenge: no retry, a clear error
    let mut flow = Single::new(c.pat().unwrap());
    let _ = flow.poll();
    let e = flow
        .handle_response(json(400, &[], NONCE_PLEASE), NOW)
        .unwrap_err();
    assert!(
        matches!(e, Error::Dpop(ref m) if m.contains("usable")),
        "{e:?}"
    );
    // a nonce that is not NQCHAR (a header injection attempt) is not used
    let mut flow = Single::new(c.pat().unwrap());
    let _ = flow.poll();
    let e = flow
        .handle_response(json(400, &[("dpop-nonce", "a\"b")], NONCE_PLEASE), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::Dpop(_)), "{e:?}");
}

/// A hostile server answering a DPoP request with a bearer token: refused, the token would not
/// be bound.
#[test]
fn a_bearer_token_after_a_dpop_request_is_refused() {
    let c = client(&dpop());
    let e = c
        .pat()
        .unwrap()
        .handle(
            json(
                200,
                &[],
                r#"{"access_token":"at","token_type":"Bearer","expires_in":60}"#,
            ),
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::Dpop(ref m) if m.contains("not bound")),
        "{e:?}"
    );
}

#[test]
fn a_symmetric_key_is_not_a_dpop_key() {
    struct Hs;
    impl keycloak_client::JwsSigner for Hs {
        fn algorithm(&self) -> Algorithm {
            Algorithm::HS256
        }
        fn key_id(&self) -> Option<&str> {
            None
        }
        fn public_jwk(&self) -> keycloak_client::Jwk {
            serde_json::from_value(serde_json::json!({"kty":"oct"})).unwrap()
        }
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, String> {
            Ok(vec![])
        }
    }
    assert!(matches!(
        Dpop::new(Arc::new(Hs), Arc::new(FixedClock(NOW)), &mut rand::rng()),
        Err(Error::Config(_))
    ));
    assert!(!format!("{:?}", dpop()).is_empty());
}

/// Review finding: two requests in flight, both challenged with the same new nonce: the one
/// that learns it second still retries (the nonce is new to its proof, not to the store).
#[test]
fn concurrent_requests_challenged_with_one_nonce_both_retry() {
    let c = client(&dpop());
    let mut a = Single::new(c.pat().unwrap());
    let mut b = Single::new(c.pat().unwrap());
    let (Ok(Step::Send(_)), Ok(Step::Send(_))) = (a.poll(), b.poll()) else {
        panic!()
    };
    let challenge = || json(400, &[("dpop-nonce", "n-shared")], NONCE_PLEASE);
    a.handle_response(challenge(), NOW).unwrap();
    b.handle_response(challenge(), NOW).unwrap();
    for f in [&mut a, &mut b] {
        let Ok(Step::Send(again)) = f.poll() else {
            panic!("both retry")
        };
        assert_eq!(proof(&again).1["nonce"], "n-shared");
    }
}

/// Discovery must list the DPoP key's algorithm (`dpop_signing_alg_values_supported`).
#[test]
fn discovery_must_list_the_dpop_algorithm() {
    use keycloak_client::DiscoveryRequest;
    let cfg = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .dpop(dpop())
        .build()
        .unwrap();
    let r = common::recorded("discovery");
    DiscoveryRequest::new(&cfg).handle(r.clone(), NOW).unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    doc["dpop_signing_alg_values_supported"] = serde_json::json!(["PS256"]);
    let edited = Response::new(r.status, r.headers.clone(), doc.to_string().into_bytes());
    let e = DiscoveryRequest::new(&cfg).handle(edited, NOW).unwrap_err();
    assert!(
        matches!(&e, Error::NotSupportedByServer { value, .. } if value == "ES256"),
        "{e:?}"
    );
}

/// The device grant's polling answers a nonce challenge by polling again at once with the
/// nonce; a second challenge in a row ends the grant with `Error::Dpop`.
#[test]
fn device_polling_follows_one_nonce_challenge_at_a_time() {
    let c = client(&dpop());
    let auth: keycloak_client::DeviceAuthorization = serde_json::from_value(serde_json::json!({
        "device_code":"d","user_code":"u","verification_uri":"http://x/",
        "expires_at": NOW.0 + 600, "interval": 5
    }))
    .unwrap();
    let mut p = c.device_poller(&auth, NOW);
    let _ = p.request();
    let out = p
        .handle(json(400, &[("dpop-nonce", "n-1")], NONCE_PLEASE), NOW)
        .unwrap();
    assert!(
        matches!(out, keycloak_client::DevicePoll::Pending { next_poll_at, .. } if next_poll_at == NOW),
        "{out:?}"
    );
    assert_eq!(proof(&p.request()).1["nonce"], "n-1");
    let e = p
        .handle(json(400, &[("dpop-nonce", "n-2")], NONCE_PLEASE), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::Dpop(_)), "{e:?}");
}

/// The agent's logout of a public DPoP client's DPoP-bound tokens revokes the refresh token
/// (with a proof): Keycloak's logout endpoint does not read DPoP proofs and refuses a
/// DPoP-bound refresh token. Everyone else keeps the logout endpoint: a confidential DPoP
/// client, a public client without DPoP, and a public DPoP client holding Bearer tokens.
#[test]
fn agent_logout_of_a_public_dpop_client_revokes_the_refresh_token() {
    use keycloak_client::{drive, Agent, TokenSet};
    let tokens = |token_type: &str| -> TokenSet {
        serde_json::from_value(serde_json::json!({
            "access_token": "eyJ.a.b", "token_type": token_type, "refresh_token": "eyJ.r.t",
            "expires_at": NOW.0 + 300, "received_at": NOW.0
        }))
        .unwrap()
    };
    let revoke = "/realms/rkc/protocol/openid-connect/revoke";
    let logout = "/realms/rkc/protocol/openid-connect/logout";
    // (secret, dpop, token type, endpoint)
    let cases = [
        (false, true, "DPoP", revoke),
        (true, true, "DPoP", logout),
        (false, false, "Bearer", logout),
        (false, true, "Bearer", logout),
    ];
    for (secret, with_dpop, token_type, path) in cases {
        let mut b = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs");
        if with_dpop {
            b = b.dpop(dpop());
        }
        if secret {
            b = b.client_secret("rkc-rs-secret");
        }
        let agent = Agent::builder(b).build_agent().unwrap();
        let sent = std::cell::RefCell::new(vec![]);
        drive(
            agent.logout(&tokens(token_type), NOW),
            |r: &Request| {
                sent.borrow_mut().push(r.clone());
                Ok::<_, Error>(match r.url.path() {
                    "/realms/rkc/.well-known/openid-configuration" => common::recorded("discovery"),
                    "/realms/rkc/.well-known/uma2-configuration" => {
                        common::recorded("uma_discovery")
                    }
                    p if p == revoke => Response::new(200, vec![], ""),
                    _ => Response::new(204, vec![], ""),
                })
            },
            || NOW,
        )
        .unwrap();
        let case = format!("secret {secret}, dpop {with_dpop}, {token_type}");
        let last = sent.borrow().last().cloned().unwrap();
        assert_eq!(last.url.path(), path, "{case}");
        assert_eq!(last.header_value("dpop").is_some(), with_dpop, "{case}");
        let form = common::form(&last.body);
        if path == revoke {
            assert!(
                form.contains(&("token".into(), "eyJ.r.t".into())),
                "{form:?}"
            );
            assert!(form.contains(&("token_type_hint".into(), "refresh_token".into())));
        } else {
            assert!(
                form.contains(&("refresh_token".into(), "eyJ.r.t".into())),
                "{case}: {form:?}"
            );
        }
    }
}

/// The protection API with a DPoP client: resource registration, the permission endpoint and
/// the user-managed policy API present the (bound) token as `Authorization: DPoP` with a proof
/// for that request carrying `ath`; never as Bearer. A token that is not a `b64token` is
/// refused before anything is sent.
#[test]
fn protection_api_calls_of_a_dpop_client_carry_a_proof_with_ath() {
    use keycloak_client::uma::{PermissionRequest, Resource, ResourceQuery, UmaPolicy};
    use sha2::Digest;
    let d = dpop();
    let c = client(&d);
    let pat = keycloak_client::AccessToken::new("eyJ.pat.1");
    let ath =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(b"eyJ.pat.1"));
    let r = c.resources();
    let p = c.uma_policies();
    let q = ResourceQuery::default();
    let requests = vec![
        r.create(&pat, &Resource::new("doc", &["read"]))
            .unwrap()
            .request(),
        r.get(&pat, "42").unwrap().request(),
        r.update(&pat, "42", &Resource::new("doc", &["read"]))
            .unwrap()
            .request(),
        r.delete(&pat, "42").unwrap().request(),
        r.query(&pat, &q).unwrap().request(),
        r.query_deep(&pat, &q).unwrap().request(),
        c.permission_ticket(&pat, &[PermissionRequest::new("42", &["read"])])
            .unwrap()
            .request(),
        p.create(&pat, "42", &UmaPolicy::default())
            .unwrap()
            .request(),
        p.delete(&pat, "p1").unwrap().request(),
    ];
    let mut jtis = std::collections::HashSet::new();
    for req in &requests {
        assert_eq!(
            req.header_value("authorization"),
            Some("DPoP eyJ.pat.1"),
            "{req:?}"
        );
        let (h, claims) = proof(req);
        assert_eq!(h["typ"], "dpop+jwt");
        assert_eq!(claims["htm"], req.method.as_str());
        assert_eq!(
            claims["htu"].as_str().unwrap(),
            keycloak_client::dpop::htu(&req.url)
        );
        assert_eq!(claims["ath"], ath.as_str(), "{req:?}");
        assert!(jtis.insert(claims["jti"].as_str().unwrap().to_string()));
    }
    let bad = keycloak_client::AccessToken::new("eyJ pat\r\nX: y");
    assert!(matches!(
        r.get(&bad, "42").unwrap_err(),
        Error::InvalidTokenSyntax(_)
    ));
    assert!(matches!(
        c.permission_ticket(&bad, &[PermissionRequest::new("42", &["read"])])
            .unwrap_err(),
        Error::InvalidTokenSyntax(_)
    ));
    // without DPoP: Bearer, no proof
    let plain = common::client_from(common::builder().client_secret("s").build().unwrap());
    let req = plain.resources().get(&pat, "42").unwrap().request();
    assert_eq!(req.header_value("authorization"), Some("Bearer eyJ.pat.1"));
    assert!(req.header_value("dpop").is_none());
}

/// Review finding: the protection API built its proof once, so a second send (a retry) reused
/// the `jti` and never carried a nonce. Every send now gets a new proof; a nonce challenge is
/// answered once; a user token that is not bound to the client's key (a JWT without `cnf`)
/// goes as Bearer.
#[test]
fn protection_api_proofs_are_fresh_per_send_and_follow_one_nonce_challenge() {
    let d = dpop();
    let c = client(&d);
    let pat = keycloak_client::AccessToken::new("eyJ.pat.1");
    let call = c.resources().get(&pat, "42").unwrap();
    let (first, second) = (call.request(), call.request());
    let jti = |r: &Request| proof(r).1["jti"].as_str().unwrap().to_string();
    assert_ne!(jti(&first), jti(&second), "a new proof per send");
    let challenge = json(
        401,
        &[
            ("www-authenticate", "DPoP error=\"use_dpop_nonce\""),
            ("dpop-nonce", "n-42"),
        ],
        "{}",
    );
    assert!(call.retry(&challenge), "the first challenge is answered");
    let again = call.request();
    assert_eq!(proof(&again).1["nonce"], "n-42");
    assert!(!call.retry(&challenge), "never a second time");
    // a JWT without `cnf` (another client's user token): Bearer, no proof
    let unbound = common::unsigned_jwt(&serde_json::json!({"sub": "alice"}));
    let r = c
        .uma_policies()
        .delete(&keycloak_client::AccessToken::new(&unbound), "p1")
        .unwrap()
        .request();
    assert_eq!(
        r.header_value("authorization"),
        Some(format!("Bearer {unbound}").as_str())
    );
    assert!(r.header_value("dpop").is_none());
    // bound to this key: DPoP
    let bound = common::unsigned_jwt(&serde_json::json!({"sub": "alice", "cnf": {"jkt": d.jkt()}}));
    let r = c
        .uma_policies()
        .delete(&keycloak_client::AccessToken::new(&bound), "p1")
        .unwrap()
        .request();
    assert!(r
        .header_value("authorization")
        .unwrap()
        .starts_with("DPoP "));
    // the escape hatch refuses a token that would inject headers
    let req = Request {
        method: keycloak_client::Method::Get,
        url: "http://127.0.0.1:1/api".parse().unwrap(),
        headers: vec![],
        body: vec![],
    };
    assert!(matches!(
        d.authorize(req, "a b\r\nx: y"),
        Err(Error::InvalidTokenSyntax(_))
    ));
}
