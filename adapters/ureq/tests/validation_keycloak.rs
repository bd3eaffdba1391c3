//! Token validation against the real Keycloak: tokens of the test realm validate with the
//! realm's keys; after a realm key rotation through the admin API (new key active, old key
//! disabled) the next token with the new `kid` validates after exactly one JWKS refetch.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use keycloak_client::{
    Client, ClientConfig, DiscoverFlow, Error, Exchange, Flow, IdTokenPolicy, JwksCache,
    JwksPolicy, Password, Request, Response, Single, TokenKind, TokenValidator,
};
use keycloak_client_ring::RingVerifier;
use keycloak_client_testkit::e2e::{browser_login, now};
use keycloak_client_testkit::keycloak::{self, RS_CLIENT, RS_SECRET};
use keycloak_client_ureq::HttpClient;
use serde_json::{json, Value};

/// Drives a flow through ureq with the core's driver, counting requests to the JWKS endpoint.
/// Workers share one validator, so a caller may wait on another's key fetch: the driver does.
fn run<F: Flow>(
    http: &HttpClient,
    flow: F,
    jwks_fetches: &Cell<usize>,
) -> Result<F::Output, Error> {
    keycloak_client::drive(
        flow,
        |req: &Request| -> Result<Response, Error> {
            if req.url.path().ends_with("/protocol/openid-connect/certs") {
                jwks_fetches.set(jwks_fetches.get() + 1);
            }
            Ok(http.send(req).expect("transport"))
        },
        now,
    )
}

fn discovered(http: &HttpClient, cfg: ClientConfig) -> Client {
    let d = run(http, DiscoverFlow::new(&cfg, false), &Cell::new(0)).unwrap();
    Client::new(cfg, d)
}

#[test]
fn realm_tokens_validate_with_realm_keys() {
    let env = keycloak::require();
    let http = HttpClient::default();
    let cfg = ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT)
        .client_secret(RS_SECRET)
        .redirect_uri(keycloak::REDIRECT_URI)
        .build()
        .unwrap();
    let c = discovered(&http, cfg);
    let v = Arc::new(TokenValidator::new(&c, Arc::new(RingVerifier)).unwrap());
    let (pending, params) = browser_login(
        &c,
        &mut keycloak_client_testkit::browser::Browser::new(),
        "alice",
        "alice-pass",
    );
    let fetches = Cell::new(0);
    let login = run(
        &http,
        c.callback(pending, &params, IdTokenPolicy::Verify(v.clone()), now())
            .unwrap(),
        &fetches,
    )
    .unwrap();
    assert_eq!(fetches.get(), 1, "one JWKS fetch for an empty cache");
    assert_eq!(login.id_claims.str("preferred_username"), Some("alice"));
    assert!(
        v.cache()
            .keys
            .keys
            .iter()
            .any(|k| k.use_.as_deref() == Some("enc")),
        "realm JWKS has an enc key too"
    );
    let claims = run(
        &http,
        v.validate_flow(login.tokens.access_token.secret(), TokenKind::Access, now()),
        &fetches,
    )
    .unwrap();
    assert_eq!(fetches.get(), 1, "cached keys reused");
    assert!(claims.realm_roles().contains(&"user"));
    // the refresh token (HS512, Keycloak-internal) is not an access token of ours
    let rt = login.tokens.refresh_token.unwrap();
    assert!(run(
        &http,
        v.validate_flow(rt.secret(), TokenKind::Access, now()),
        &fetches
    )
    .is_err());
}

fn admin_token(http: &HttpClient, base: &str) -> String {
    let cfg = ClientConfig::keycloak(base, "master", "admin-cli")
        .build()
        .unwrap();
    let c = discovered(http, cfg);
    let t = run(
        http,
        Single::new(c.danger_password_grant("admin", &Password::new("admin"), "openid")),
        &Cell::new(0),
    )
    .unwrap();
    t.access_token.secret().to_string()
}

fn admin(
    http: &HttpClient,
    token: &str,
    method: keycloak_client::Method,
    url: &str,
    body: Option<Value>,
) -> Response {
    let mut headers = vec![
        ("authorization".to_string(), format!("Bearer {token}")),
        ("accept".into(), "application/json".into()),
    ];
    let body = match body {
        Some(b) => {
            headers.push(("content-type".into(), "application/json".into()));
            b.to_string().into_bytes()
        }
        None => vec![],
    };
    let r = http
        .send(&Request {
            method,
            url: url.parse().unwrap(),
            headers,
            body,
        })
        .expect("admin API");
    assert!(
        (200..300).contains(&r.status),
        "{method} {url}: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r
}

#[test]
fn key_rotation_needs_exactly_one_refetch() {
    let env = keycloak::require();
    let http = HttpClient::default();
    let realm = "rkc-rotate";
    let cfg = ClientConfig::keycloak(&env.url, realm, "rotate-rs")
        .client_secret("rotate-rs-secret")
        .build()
        .unwrap();
    let c = discovered(&http, cfg);
    // a short cooldown keeps the test quick; the policy is the same code path
    let policy = JwksPolicy {
        max_age_secs: 3600,
        cooldown_secs: 2,
    };
    let v = TokenValidator::new(&c, Arc::new(RingVerifier))
        .unwrap()
        .access_token_audience("rotate-rs")
        .with_cache(JwksCache::new(policy));
    let token = || {
        run(
            &http,
            Single::new(c.danger_password_grant("dora", &Password::new("dora-pass"), "openid")),
            &Cell::new(0),
        )
        .unwrap()
        .access_token
    };
    let fetches = Cell::new(0);
    let before = token();
    run(
        &http,
        v.validate_flow(before.secret(), TokenKind::Access, now()),
        &fetches,
    )
    .unwrap();
    assert_eq!(fetches.get(), 1);
    let old_kid = keycloak_client::jwt::decode_unverified(before.secret())
        .unwrap()
        .header["kid"]
        .clone();

    // rotate: a new RS256 key with a higher priority, the old one disabled
    let adm = admin_token(&http, &env.url);
    let base = format!("{}/admin/realms/{realm}", env.url);
    let realm_id = serde_json::from_slice::<Value>(
        &admin(&http, &adm, keycloak_client::Method::Get, &base, None).body,
    )
    .unwrap()["id"]
        .clone();
    let comps: Vec<Value> = serde_json::from_slice(
        &admin(
            &http,
            &adm,
            keycloak_client::Method::Get,
            &format!("{base}/components?type=org.keycloak.keys.KeyProvider"),
            None,
        )
        .body,
    )
    .unwrap();
    let rsa_providers: Vec<&Value> = comps
        .iter()
        .filter(|c| c["providerId"] == "rsa-generated")
        .collect();
    assert!(!rsa_providers.is_empty());
    admin(
        &http,
        &adm,
        keycloak_client::Method::Post,
        &format!("{base}/components"),
        Some(json!({
            "name": format!("rsa-rotated-{}", now().0),
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": { "priority": ["1000"], "keySize": ["2048"], "active": ["true"], "enabled": ["true"], "algorithm": ["RS256"] }
        })),
    );
    for p in rsa_providers {
        let mut p = p.clone();
        p["config"]["enabled"] = json!(["false"]);
        p["config"]["active"] = json!(["false"]);
        admin(
            &http,
            &adm,
            keycloak_client::Method::Put,
            &format!("{base}/components/{}", p["id"].as_str().unwrap()),
            Some(p),
        );
    }

    std::thread::sleep(Duration::from_secs(3)); // past the cooldown of the first fetch
    let after = token();
    let new_kid = keycloak_client::jwt::decode_unverified(after.secret())
        .unwrap()
        .header["kid"]
        .clone();
    assert_ne!(new_kid, old_kid, "Keycloak signs with the new key");
    let fetches = Cell::new(0);
    let claims = run(
        &http,
        v.validate_flow(after.secret(), TokenKind::Access, now()),
        &fetches,
    )
    .unwrap();
    assert_eq!(claims.str("preferred_username"), Some("dora"));
    assert_eq!(
        fetches.get(),
        1,
        "exactly one JWKS refetch after the rotation"
    );
    // The old key is gone from the JWKS: a token signed with it now fails, without another
    // fetch inside the cooldown.
    let e = run(
        &http,
        v.validate_flow(before.secret(), TokenKind::Access, now()),
        &fetches,
    )
    .unwrap_err();
    assert!(matches!(e, Error::UnknownKey(_)), "{e}");
    assert_eq!(fetches.get(), 1, "no refetch inside the cooldown");
    // A second rotation, under load: four threads keep minting and validating tokens while the
    // key changes. Tokens signed by the new key must always validate; only tokens minted with
    // the old key just before it was disabled may be refused; refetches stay within the policy.
    let v = Arc::new(v);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let fetch_count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (v, stop, fc, c) = (v.clone(), stop.clone(), fetch_count.clone(), c.clone());
            std::thread::spawn(move || {
                let http = HttpClient::default();
                let (mut ok, mut refused_old) = (0usize, 0usize);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = http
                        .exec(c.danger_password_grant(
                            "dora",
                            &Password::new("dora-pass"),
                            "openid",
                        ))
                        .unwrap()
                        .access_token;
                    let kid = keycloak_client::jwt::decode_unverified(t.secret())
                        .unwrap()
                        .header["kid"]
                        .clone();
                    let cell = Cell::new(0);
                    let r = run(
                        &http,
                        v.validate_flow(t.secret(), TokenKind::Access, now()),
                        &cell,
                    );
                    fc.fetch_add(cell.get(), std::sync::atomic::Ordering::Relaxed);
                    match r {
                        Ok(_) => ok += 1,
                        Err(e) => {
                            let current = v.cache().keys.keys.iter().any(|k| {
                                k.kid.as_ref().map(|x| serde_json::json!(x)) == Some(kid.clone())
                            });
                            assert!(
                                !current && matches!(e, Error::UnknownKey(_)),
                                "a token of a published key was refused: {e}"
                            );
                            refused_old += 1;
                        }
                    }
                }
                (ok, refused_old)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let comps: Vec<Value> = serde_json::from_slice(
        &admin(
            &http,
            &adm,
            keycloak_client::Method::Get,
            &format!("{base}/components?type=org.keycloak.keys.KeyProvider"),
            None,
        )
        .body,
    )
    .unwrap();
    let old: Vec<Value> = comps
        .into_iter()
        .filter(|c| c["providerId"] == "rsa-generated")
        .collect();
    admin(
        &http,
        &adm,
        keycloak_client::Method::Post,
        &format!("{base}/components"),
        Some(json!({
            "name": format!("rsa-under-load-{}", now().0),
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm_id,
            "config": { "priority": ["2000"], "keySize": ["2048"], "active": ["true"], "enabled": ["true"], "algorithm": ["RS256"] }
        })),
    );
    for p in old {
        let mut p = p.clone();
        p["config"]["enabled"] = json!(["false"]);
        p["config"]["active"] = json!(["false"]);
        admin(
            &http,
            &adm,
            keycloak_client::Method::Put,
            &format!("{base}/components/{}", p["id"].as_str().unwrap()),
            Some(p),
        );
    }
    std::thread::sleep(Duration::from_secs(4));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut refused) = (0, 0);
    for w in workers {
        let (o, r) = w.join().unwrap();
        ok += o;
        refused += r;
    }
    let fetches = fetch_count.load(std::sync::atomic::Ordering::Relaxed);
    let secs = started.elapsed().as_secs() as usize;
    println!("rotation under load: {ok} tokens validated, {refused} old-key tokens refused, {fetches} JWKS fetches in {secs} s");
    assert!(ok > 20, "load was applied ({ok} validations)");
    assert!(
        fetches >= 1 && fetches <= 1 + secs / 2,
        "{fetches} fetches in {secs} s with a 2 s cooldown"
    );

    // the JWKS endpoint itself: checked through the core's request
    let r = v
        .begin_key_fetch(now().plus(10), keycloak_client::RefetchReason::UnknownKey)
        .unwrap();
    assert!(r
        .request()
        .url
        .as_str()
        .ends_with("/realms/rkc-rotate/protocol/openid-connect/certs"));
}
