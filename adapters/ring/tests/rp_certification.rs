//! One test per case of the OpenID Basic RP and Config RP certification plans (named after the
//! legacy `rp-*` ids), plus the JWT CVE regression classes, through the public API with keys and
//! tokens generated here. The "server" is a closure answering the core's requests.

use std::cell::Cell;
use std::sync::Arc;

use base64::Engine as _;
use keycloak_client::{
    Algorithm, CallbackParams, Client, ClientConfig, Discovered, Error, Flow, IdTokenPolicy,
    JwksCache, JwksPolicy, LoginTokens, ProviderMetadata, Request, Response, Step, TokenKind,
    TokenValidator, UnixTime,
};
use keycloak_client_ring::RingVerifier;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};

const ISS: &str = "http://127.0.0.1:1/realms/cert";
const CLIENT: &str = "cert-rp";
const SECRET: &str = "a-client-secret-of-at-least-32-bytes!!";
const NOW: UnixTime = UnixTime(1_800_000_000);

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

struct Keys {
    rsa: Vec<(String, RsaKeyPair)>,
    ec: (String, EcdsaKeyPair),
}

fn keys() -> Keys {
    let load = |n: &str| {
        RsaKeyPair::from_pkcs8(
            &std::fs::read(format!(
                "{}/tests/keys/{n}.pk8.der",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap(),
        )
        .unwrap()
    };
    let rng = SystemRandom::new();
    let pk8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let ec = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pk8.as_ref(),
        &rng,
    )
    .unwrap();
    Keys {
        rsa: vec![
            ("k1".into(), load("rsa1")),
            ("k2".into(), load("rsa2")),
            ("k3".into(), load("rsa3")),
        ],
        ec: ("ec1".into(), ec),
    }
}

fn rsa_jwk(kid: &str, k: &RsaKeyPair) -> Value {
    let c: signature::RsaPublicKeyComponents<Vec<u8>> = k.public().into();
    json!({"kty":"RSA","kid":kid,"use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)})
}

fn ec_jwk(kid: &str, k: &EcdsaKeyPair) -> Value {
    let p = k.public_key().as_ref();
    json!({"kty":"EC","kid":kid,"use":"sig","alg":"ES256","crv":"P-256","x":b64(&p[1..33]),"y":b64(&p[33..65])})
}

impl Keys {
    fn rsa(&self, kid: &str) -> &RsaKeyPair {
        &self.rsa.iter().find(|(k, _)| k == kid).unwrap().1
    }
    /// A JWKS with the named RSA keys (plus an encryption key, as Keycloak serves) and the EC key.
    fn jwks(&self, rsa_kids: &[&str]) -> Value {
        let mut keys: Vec<Value> = rsa_kids.iter().map(|k| rsa_jwk(k, self.rsa(k))).collect();
        let mut enc = rsa_jwk("enc1", self.rsa("k3"));
        enc["use"] = json!("enc");
        enc["alg"] = json!("RSA-OAEP");
        keys.push(enc);
        keys.push(ec_jwk(&self.ec.0, &self.ec.1));
        json!({ "keys": keys })
    }
    fn sign(&self, header: Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let alg = header["alg"].as_str().unwrap();
        let sig = match alg {
            "RS256" => {
                let kid = header["kid"].as_str().unwrap_or("k1");
                let k = self.rsa(kid);
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                sig
            }
            "ES256" => self
                .ec
                .1
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            "HS256" => ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, SECRET.as_bytes()),
                input.as_bytes(),
            )
            .as_ref()
            .to_vec(),
            other => panic!("test cannot sign {other}"),
        };
        format!("{input}.{}", b64(&sig))
    }
}

fn client() -> Client {
    let cfg = ClientConfig::issuer(ISS, CLIENT)
        .client_secret(SECRET)
        .redirect_uri("http://127.0.0.1/cb")
        .build()
        .unwrap();
    let provider: ProviderMetadata = serde_json::from_value(json!({
        "issuer": ISS,
        "authorization_endpoint": format!("{ISS}/auth"),
        "token_endpoint": format!("{ISS}/token"),
        "userinfo_endpoint": format!("{ISS}/userinfo"),
        "jwks_uri": format!("{ISS}/certs"),
        "authorization_response_iss_parameter_supported": true
    }))
    .unwrap();
    Client::new(
        cfg,
        Discovered {
            provider,
            uma: None,
            fetched_at: NOW,
        },
    )
}

fn validator(c: &Client) -> TokenValidator {
    TokenValidator::new(c, Arc::new(RingVerifier)).unwrap()
}

fn good_claims(nonce: &str) -> Value {
    json!({"iss": ISS, "sub": "user-1", "aud": CLIENT, "exp": NOW.0 + 300, "iat": NOW.0, "nonce": nonce, "typ": "ID", "email": "u@example.test"})
}

struct Outcome {
    result: Result<LoginTokens, Error>,
    jwks_fetches: usize,
}

/// Runs a login whose token endpoint returns the ID token built by `make(nonce)`; the JWKS
/// endpoint serves `jwks`.
fn login(v: Arc<TokenValidator>, jwks: &Value, make: impl Fn(&str) -> String) -> Outcome {
    let c = client();
    let (_, pending) = c.login().build(&mut rand::rng(), NOW).unwrap();
    let nonce = pending.nonce.secret().to_string();
    let q = format!(
        "state={}&iss={}&code=c1",
        pending.state.secret(),
        url::form_urlencoded::byte_serialize(ISS.as_bytes()).collect::<String>()
    );
    let mut flow = c
        .callback(
            pending,
            &CallbackParams::from_query(&q).unwrap(),
            IdTokenPolicy::Verify(v),
            NOW,
        )
        .unwrap();
    let id_token = make(&nonce);
    let fetches = Cell::new(0);
    let serve = |req: &Request| -> Response {
        match req.url.path() {
            "/realms/cert/token" => Response::json(200, json!({"access_token":"AT","token_type":"Bearer","expires_in":300,"id_token":id_token}).to_string()),
            "/realms/cert/certs" => {
                fetches.set(fetches.get() + 1);
                Response::json(200, jwks.to_string())
            }
            p => panic!("unexpected request to {p}"),
        }
    };
    let result = loop {
        match flow.poll() {
            Ok(Step::Send(req)) => {
                if let Err(e) = flow.handle_response(serve(&req), NOW) {
                    break Err(e);
                }
            }
            Ok(Step::WaitUntil(_) | Step::Wait(_)) => panic!("a single caller never waits"),
            Ok(Step::Done(t)) => break Ok(t),
            Err(e) => break Err(e),
        }
    };
    Outcome {
        result,
        jwks_fetches: fetches.get(),
    }
}

fn rs256(kid: Option<&str>) -> Value {
    match kid {
        Some(k) => json!({"alg":"RS256","typ":"JWT","kid":k}),
        None => json!({"alg":"RS256","typ":"JWT"}),
    }
}

fn expect_err(o: Outcome, needle: &str) {
    match o.result {
        Ok(_) => panic!("accepted, expected rejection containing `{needle}`"),
        Err(e) => assert!(
            e.to_string().contains(needle),
            "`{e}` should mention `{needle}`"
        ),
    }
}

fn run_with(mutate: impl Fn(&mut Value), header: Value) -> Outcome {
    let k = keys();
    let jwks = k.jwks(&["k1"]);
    let v = Arc::new(validator(&client()));
    login(v, &jwks, |n| {
        let mut c = good_claims(n);
        mutate(&mut c);
        k.sign(header.clone(), &c)
    })
}

#[test]
fn rp_response_type_code() {
    let o = run_with(|_| {}, rs256(Some("k1")));
    let t = o.result.unwrap();
    assert_eq!(t.id_claims.sub(), Some("user-1"));
    assert_eq!(o.jwks_fetches, 1, "keys fetched once for an empty cache");
}

#[test]
fn rp_id_token_issuer_mismatch() {
    expect_err(
        run_with(
            |c| c["iss"] = json!("http://127.0.0.1:1/realms/other"),
            rs256(Some("k1")),
        ),
        "`iss`",
    );
}

#[test]
fn rp_id_token_sub() {
    expect_err(
        run_with(
            |c| {
                c.as_object_mut().unwrap().remove("sub");
            },
            rs256(Some("k1")),
        ),
        "`sub` is missing",
    );
}

#[test]
fn rp_id_token_aud() {
    expect_err(
        run_with(|c| c["aud"] = json!("someone-else"), rs256(Some("k1"))),
        "`aud`",
    );
    expect_err(
        run_with(
            |c| {
                c.as_object_mut().unwrap().remove("aud");
            },
            rs256(Some("k1")),
        ),
        "`aud`",
    );
}

#[test]
fn rp_id_token_iat() {
    expect_err(
        run_with(
            |c| {
                c.as_object_mut().unwrap().remove("iat");
            },
            rs256(Some("k1")),
        ),
        "`iat` is missing",
    );
}

#[test]
fn rp_id_token_kid_absent_single_jwks() {
    let k = keys();
    // one RSA signing key (plus an enc key and an EC key that do not fit RS256)
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
        k.sign(rs256(None), &good_claims(n))
    });
    o.result.unwrap();
}

#[test]
fn rp_id_token_kid_absent_multiple_jwks() {
    // Decision: several candidate keys and no kid is rejected as ambiguous (the plan allows
    // rejecting or trying each key).
    let k = keys();
    let o = login(
        Arc::new(validator(&client())),
        &k.jwks(&["k1", "k2"]),
        |n| k.sign(rs256(None), &good_claims(n)),
    );
    expect_err(o, "several keys");
}

#[test]
fn rp_id_token_sig_rs256() {
    run_with(|_| {}, rs256(Some("k1"))).result.unwrap();
}

#[test]
fn rp_id_token_sig_none() {
    let k = keys();
    for alg in ["none", "None", "nOnE", "NONE"] {
        let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
            let t = k.sign(rs256(Some("k1")), &good_claims(n));
            let parts: Vec<&str> = t.split('.').collect();
            format!(
                "{}.{}.",
                b64(json!({"alg": alg}).to_string().as_bytes()),
                parts[1]
            )
        });
        assert!(o.result.is_err(), "alg {alg} accepted");
    }
}

#[test]
fn rp_id_token_bad_sig_rs256() {
    let k = keys();
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
        let t = k.sign(rs256(Some("k1")), &good_claims(n));
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        let mut claims = good_claims(n);
        claims["sub"] = json!("admin");
        parts[1] = b64(claims.to_string().as_bytes());
        parts.join(".")
    });
    assert!(
        matches!(o.result, Err(Error::InvalidSignature(_))),
        "{:?}",
        o.result.err()
    );
}

#[test]
fn rp_id_token_sig_es256_opt_in() {
    let k = keys();
    let header = json!({"alg":"ES256","kid":"ec1"});
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
        k.sign(header.clone(), &good_claims(n))
    });
    assert!(
        matches!(o.result, Err(Error::DisallowedAlgorithm(_))),
        "ES256 is off by default"
    );
    let v = validator(&client()).allow_algorithms(&[Algorithm::RS256, Algorithm::ES256]);
    let o = login(Arc::new(v), &k.jwks(&["k1"]), |n| {
        k.sign(header.clone(), &good_claims(n))
    });
    o.result.unwrap();
}

#[test]
fn rp_id_token_bad_sig_es256() {
    let k = keys();
    let v = validator(&client()).allow_algorithms(&[Algorithm::ES256]);
    let o = login(Arc::new(v), &k.jwks(&["k1"]), |n| {
        let t = k.sign(json!({"alg":"ES256","kid":"ec1"}), &good_claims(n));
        let mut b = t.into_bytes();
        let last = b.len() - 3;
        b[last] = if b[last] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).unwrap()
    });
    assert!(o.result.is_err());
}

#[test]
fn rp_id_token_sig_hs256_opt_in_and_bad_sig() {
    let k = keys();
    let header = json!({"alg":"HS256"});
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
        k.sign(header.clone(), &good_claims(n))
    });
    assert!(
        matches!(o.result, Err(Error::DisallowedAlgorithm(_))),
        "HS256 is off by default"
    );
    let secret = keycloak_client::ClientSecret::new(SECRET);
    let mk = || {
        Arc::new(validator(&client()).allow_hmac_with_client_secret(&secret, &[Algorithm::HS256]))
    };
    login(mk(), &k.jwks(&["k1"]), |n| {
        k.sign(header.clone(), &good_claims(n))
    })
    .result
    .unwrap();
    let o = login(mk(), &k.jwks(&["k1"]), |n| {
        let t = k.sign(header.clone(), &good_claims(n));
        format!("{}x", &t[..t.len() - 1])
    });
    assert!(o.result.is_err());
}

#[test]
fn rp_id_token_bad_at_hash() {
    let o = run_with(
        |c| c["at_hash"] = json!("AAAAAAAAAAAAAAAAAAAAAA"),
        rs256(Some("k1")),
    );
    expect_err(o, "at_hash");
    // the correct at_hash of "AT" passes
    use sha2_like::left_half_sha256;
    let good = left_half_sha256("AT");
    run_with(
        move |c| c["at_hash"] = json!(good.clone()),
        rs256(Some("k1")),
    )
    .result
    .unwrap();
}

mod sha2_like {
    pub fn left_half_sha256(s: &str) -> String {
        let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
        super::b64(&d.as_ref()[..16])
    }
}

#[test]
fn rp_nonce_invalid() {
    expect_err(
        run_with(|c| c["nonce"] = json!("not-the-nonce"), rs256(Some("k1"))),
        "nonce",
    );
    expect_err(
        run_with(
            |c| {
                c.as_object_mut().unwrap().remove("nonce");
            },
            rs256(Some("k1")),
        ),
        "nonce",
    );
}

#[test]
fn rp_userinfo_bad_sub_claim() {
    let c = client();
    let t = run_with(|_| {}, rs256(Some("k1"))).result.unwrap();
    use keycloak_client::Exchange;
    let req = c
        .userinfo(&t.tokens.access_token)
        .unwrap()
        .expect_subject(t.id_claims.sub().unwrap());
    let e = req
        .handle(
            Response::json(200, r#"{"sub":"someone-else","email":"x@example.test"}"#),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::SubjectMismatch));
}

#[test]
fn rp_scope_userinfo_claims() {
    use keycloak_client::Exchange;
    let c = client();
    let u = c
        .userinfo(&keycloak_client::AccessToken::new("AT"))
        .unwrap()
        .expect_subject("user-1")
        .handle(Response::json(200, r#"{"sub":"user-1","email":"u@example.test","email_verified":true,"name":"U Ser","address":{"country":"NZ"},"phone_number":"+64"}"#), NOW)
        .unwrap();
    assert_eq!(u.email.as_deref(), Some("u@example.test"));
    assert_eq!(u.extra["address"]["country"], "NZ");
    assert_eq!(u.extra["phone_number"], "+64");
}

#[test]
fn rp_token_endpoint_client_secret_basic() {
    let c = client();
    let (_, pending) = c.login().build(&mut rand::rng(), NOW).unwrap();
    let q = format!(
        "state={}&iss={}&code=c1",
        pending.state.secret(),
        url::form_urlencoded::byte_serialize(ISS.as_bytes()).collect::<String>()
    );
    let Ok(Step::Send(req)) = c
        .callback(
            pending,
            &CallbackParams::from_query(&q).unwrap(),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap()
        .poll()
    else {
        panic!("the code exchange sends the code first")
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{CLIENT}:{}",
            url::form_urlencoded::byte_serialize(SECRET.as_bytes()).collect::<String>()
        ))
    );
    assert_eq!(req.header_value("authorization"), Some(expected.as_str()));
    assert!(!String::from_utf8(req.body)
        .unwrap()
        .contains("client_secret"));
}

#[test]
fn rp_discovery_issuer_not_matching_config() {
    use keycloak_client::Exchange;
    let cfg = ClientConfig::issuer(ISS, CLIENT).build().unwrap();
    let e = keycloak_client::DiscoveryRequest::new(&cfg)
        .handle(Response::json(200, json!({"issuer":"http://127.0.0.1:1/realms/evil","authorization_endpoint":"http://127.0.0.1:1/a","token_endpoint":"http://127.0.0.1:1/t"}).to_string()), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::IssuerMismatch { .. }), "{e}");
}

#[test]
fn rp_discovery_jwks_uri_keys() {
    // The validator fetches keys from the discovered jwks_uri, not from anywhere else.
    let v = validator(&client());
    let r = v
        .begin_key_fetch(NOW, keycloak_client::RefetchReason::Stale)
        .unwrap();
    use keycloak_client::Exchange;
    assert_eq!(r.request().url.as_str(), format!("{ISS}/certs"));
}

#[test]
fn rp_key_rotation() {
    // signing-key-rotation: the OP rotates from k1 to k2; the first token with k2 triggers
    // exactly one refetch; a token with an unknown kid inside the cooldown triggers none.
    let k = keys();
    let v = Arc::new(validator(&client()));
    let o = login(v.clone(), &k.jwks(&["k1"]), |n| {
        k.sign(rs256(Some("k1")), &good_claims(n))
    });
    o.result.unwrap();
    assert_eq!(o.jwks_fetches, 1);
    // 31 s later (past the 30 s cooldown) the OP signs with k2
    let later = NOW.plus(31);
    let run_at = |kid: &'static str, jwks: Value, at: UnixTime| {
        let c = client();
        let (_, pending) = c.login().build(&mut rand::rng(), at).unwrap();
        let nonce = pending.nonce.secret().to_string();
        let q = format!(
            "state={}&iss={}&code=c",
            pending.state.secret(),
            url::form_urlencoded::byte_serialize(ISS.as_bytes()).collect::<String>()
        );
        let mut flow = c
            .callback(
                pending,
                &CallbackParams::from_query(&q).unwrap(),
                IdTokenPolicy::Verify(v.clone()),
                at,
            )
            .unwrap();
        let mut claims = good_claims(&nonce);
        claims["iat"] = json!(at.0);
        let idt = k.sign(rs256(Some(kid)), &claims);
        let mut fetches = 0;
        let r = loop {
            match flow.poll() {
                Ok(Step::Send(req)) => {
                    let resp = if req.url.path().ends_with("/certs") {
                        fetches += 1;
                        Response::json(200, jwks.to_string())
                    } else {
                        Response::json(
                            200,
                            json!({"access_token":"AT","token_type":"Bearer","id_token":idt})
                                .to_string(),
                        )
                    };
                    if let Err(e) = flow.handle_response(resp, at) {
                        break Err(e);
                    }
                }
                Ok(Step::WaitUntil(_) | Step::Wait(_)) => panic!("a single caller never waits"),
                Ok(Step::Done(t)) => break Ok(t),
                Err(e) => break Err(e),
            }
        };
        (r, fetches)
    };
    let (r, fetches) = run_at("k2", k.jwks(&["k2"]), later);
    r.unwrap();
    assert_eq!(fetches, 1, "exactly one refetch for the rotated key");
    let (r, fetches) = run_at("k3", k.jwks(&["k2"]), later.plus(1));
    assert!(matches!(r, Err(Error::UnknownKey(_))));
    assert_eq!(fetches, 0, "no refetch inside the cooldown");
}

// ---- CVE regression classes -----------------------------------------------------------

#[test]
fn cve_alg_confusion_hs256_with_rsa_public_key() {
    let k = keys();
    let jwk = rsa_jwk("k1", k.rsa("k1"));
    // The attacker HMACs with the public key material as the secret.
    let forge = |n: &str| {
        let input = format!(
            "{}.{}",
            b64(json!({"alg":"HS256","kid":"k1"}).to_string().as_bytes()),
            b64(good_claims(n).to_string().as_bytes())
        );
        let secret = jwk.to_string();
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes()),
            input.as_bytes(),
        );
        format!("{input}.{}", b64(tag.as_ref()))
    };
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), forge);
    assert!(
        matches!(o.result, Err(Error::DisallowedAlgorithm(_))),
        "{:?}",
        o.result.err()
    );
    // Even with HS256 enabled, the key is the client secret, never a public key.
    let v = validator(&client()).allow_hmac_with_client_secret(
        &keycloak_client::ClientSecret::new(SECRET),
        &[Algorithm::HS256],
    );
    let o = login(Arc::new(v), &k.jwks(&["k1"]), forge);
    assert!(
        matches!(o.result, Err(Error::InvalidSignature(_))),
        "{:?}",
        o.result.err()
    );
}

#[test]
fn cve_embedded_jwk_header_is_ignored() {
    // The attacker signs with their own key (k3, not in the JWKS) and embeds it as `jwk`.
    let k = keys();
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
        let header = json!({"alg":"RS256","kid":"k3","jwk": rsa_jwk("k3", k.rsa("k3"))});
        k.sign(header, &good_claims(n))
    });
    assert!(
        matches!(o.result, Err(Error::UnknownKey(_))),
        "{:?}",
        o.result.err()
    );
    // ... and with the victim's kid: the signature fails against the real k1.
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
        let header = json!({"alg":"RS256","kid":"k3","jwk": rsa_jwk("k1", k.rsa("k3"))});
        let t = k.sign(header, &good_claims(n));
        let parts: Vec<&str> = t.split('.').collect();
        let h = json!({"alg":"RS256","kid":"k1","jwk": rsa_jwk("k1", k.rsa("k3"))});
        format!(
            "{}.{}.{}",
            b64(h.to_string().as_bytes()),
            parts[1],
            parts[2]
        )
    });
    assert!(
        matches!(o.result, Err(Error::InvalidSignature(_))),
        "{:?}",
        o.result.err()
    );
}

#[test]
fn cve_exp_as_string_is_an_error() {
    expect_err(
        run_with(|c| c["exp"] = json!("1900000000"), rs256(Some("k1"))),
        "exp",
    );
    expect_err(
        run_with(|c| c["iat"] = json!("1800000000"), rs256(Some("k1"))),
        "iat",
    );
}

#[test]
fn cve_token_from_another_issuers_key() {
    // Same kid, different key (another issuer's k1 is our k2's material).
    let k = keys();
    let o = login(Arc::new(validator(&client())), &k.jwks(&["k1"]), |n| {
        let t = k.sign(rs256(Some("k2")), &good_claims(n));
        let parts: Vec<&str> = t.split('.').collect();
        format!(
            "{}.{}.{}",
            b64(rs256(Some("k1")).to_string().as_bytes()),
            parts[1],
            parts[2]
        )
    });
    assert!(matches!(o.result, Err(Error::InvalidSignature(_))));
}

#[test]
fn expired_and_future_tokens() {
    expect_err(
        run_with(|c| c["exp"] = json!(NOW.0 - 61), rs256(Some("k1"))),
        "expired",
    );
    run_with(|c| c["exp"] = json!(NOW.0 - 59), rs256(Some("k1")))
        .result
        .unwrap();
    expect_err(
        run_with(|c| c["iat"] = json!(NOW.0 + 120), rs256(Some("k1"))),
        "future",
    );
    expect_err(
        run_with(|c| c["nbf"] = json!(NOW.0 + 120), rs256(Some("k1"))),
        "nbf",
    );
    expect_err(
        run_with(|c| c["typ"] = json!("Refresh"), rs256(Some("k1"))),
        "not an `ID` token",
    );
}

// ---- access tokens and logout tokens ---------------------------------------------------

fn validate(
    kind: TokenKind,
    v: &TokenValidator,
    jwks: &Value,
    token: &str,
) -> Result<keycloak_client::Claims, Error> {
    let mut flow = v.validate_flow(token, kind, NOW);
    loop {
        match flow.poll()? {
            Step::Send(_) => flow.handle_response(Response::json(200, jwks.to_string()), NOW)?,
            Step::WaitUntil(_) | Step::Wait(_) => panic!("a single caller never waits"),
            Step::Done(c) => return Ok(c),
        }
    }
}

#[test]
fn access_tokens_for_a_resource_server() {
    let k = keys();
    let jwks = k.jwks(&["k1"]);
    let v = validator(&client()).access_token_audience("api");
    let at = |m: &dyn Fn(&mut Value)| {
        let mut c = json!({"iss":ISS,"sub":"u","aud":["api","account"],"exp":NOW.0+300,"iat":NOW.0,"typ":"Bearer","azp":"web",
            "realm_access":{"roles":["user"]},"resource_access":{"api":{"roles":["reader"]}}});
        m(&mut c);
        k.sign(rs256(Some("k1")), &c)
    };
    let c = validate(TokenKind::Access, &v, &jwks, &at(&|_| {})).unwrap();
    assert_eq!(c.realm_roles(), ["user"]);
    assert_eq!(c.client_roles("api"), ["reader"]);
    assert!(validate(
        TokenKind::Access,
        &v,
        &jwks,
        &at(&|c| c["aud"] = json!("other"))
    )
    .is_err());
    assert!(validate(
        TokenKind::Access,
        &v,
        &jwks,
        &at(&|c| c["exp"] = json!(NOW.0 - 100))
    )
    .is_err());
    assert!(
        validate(
            TokenKind::Access,
            &v,
            &jwks,
            &at(&|c| c["typ"] = json!("ID"))
        )
        .is_err(),
        "ID token as access token"
    );
    assert!(validate(
        TokenKind::Access,
        &v,
        &jwks,
        &at(&|c| c["iss"] = json!("http://127.0.0.1:1/realms/x"))
    )
    .is_err());
}

#[test]
fn backchannel_logout_tokens() {
    let k = keys();
    let jwks = k.jwks(&["k1"]);
    let v = validator(&client());
    let lt = |m: &dyn Fn(&mut Value)| {
        let mut c = json!({"iss":ISS,"aud":CLIENT,"iat":NOW.0,"exp":NOW.0+120,"jti":"j1","sid":"s1","sub":"u",
            "events":{"http://schemas.openid.net/event/backchannel-logout":{}},"typ":"Logout"});
        m(&mut c);
        k.sign(json!({"alg":"RS256","kid":"k1","typ":"logout+jwt"}), &c)
    };
    let c = validate(TokenKind::Logout, &v, &jwks, &lt(&|_| {})).unwrap();
    assert_eq!(c.str("sid"), Some("s1"));
    type Mutation<'a> = (&'a str, &'a dyn Fn(&mut Value));
    let bad: [Mutation; 6] = [
        ("no events", &|c| {
            c.as_object_mut().unwrap().remove("events");
        }),
        ("wrong event", &|c| {
            c["events"] = json!({"http://example/other":{}})
        }),
        ("nonce", &|c| c["nonce"] = json!("n")),
        ("no sub/sid", &|c| {
            let o = c.as_object_mut().unwrap();
            o.remove("sub");
            o.remove("sid");
        }),
        ("no jti", &|c| {
            c.as_object_mut().unwrap().remove("jti");
        }),
        ("wrong aud", &|c| c["aud"] = json!("other")),
    ];
    for (name, m) in bad {
        assert!(
            validate(TokenKind::Logout, &v, &jwks, &lt(m)).is_err(),
            "{name} accepted"
        );
    }
}

#[test]
fn jwks_cache_never_refetches_within_cooldown() {
    let policy = JwksPolicy {
        max_age_secs: 300,
        cooldown_secs: 30,
    };
    let v = validator(&client()).with_cache(JwksCache::new(policy));
    let mut fetch_times = vec![];
    for t in 0..2000u64 {
        let now = NOW.plus(t / 2);
        let reason = if t % 3 == 0 {
            keycloak_client::RefetchReason::Stale
        } else {
            keycloak_client::RefetchReason::UnknownKey
        };
        if v.begin_key_fetch(now, reason).is_some() {
            fetch_times.push(now.0);
            if t % 5 != 0 {
                v.install_keys(Default::default(), now);
            }
        }
    }
    assert!(fetch_times.len() > 5);
    for w in fetch_times.windows(2) {
        assert!(w[1] - w[0] >= 30, "fetches {} s apart", w[1] - w[0]);
    }
}
