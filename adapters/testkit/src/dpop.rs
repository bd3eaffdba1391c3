//! End-to-end scenarios for DPoP (RFC 9449), the client side, against the local Keycloak's
//! `rkc-fapi` realm: a confidential client whose tokens must be DPoP-bound (`fapi-dpop`) and a
//! public one (`fapi-public-dpop`, whose refresh tokens are bound too).

use std::sync::Arc;

use keycloak_client::{
    Algorithm, CallbackParams, Client, ClientConfig, DiscoverFlow, Dpop, Error, IdTokenPolicy,
    LoginTokens, TokenSet, TokenTypeHint,
};
use keycloak_client_ring::{RingSigner, SystemClock};

use crate::browser::Browser;
use crate::client_auth::{REALM, USER};
use crate::conformance::Sender;
use crate::e2e::{exec, now, run};
use crate::keycloak::{self, REDIRECT_URI};

/// The confidential client that requires DPoP-bound tokens.
pub const DPOP_CLIENT: &str = "fapi-dpop";
/// Its secret.
pub const DPOP_SECRET: &str = "fapi-dpop-secret";
/// The public client with DPoP-bound tokens.
pub const PUBLIC_DPOP_CLIENT: &str = "fapi-public-dpop";

/// A fresh DPoP key.
pub fn fresh_dpop(alg: Algorithm) -> Dpop {
    Dpop::new(
        RingSigner::generate(alg).unwrap().shared(),
        Arc::new(SystemClock),
        &mut rand::rng(),
    )
    .unwrap()
}

/// A discovered client of the realm, with `dpop` when given.
pub fn client(s: &dyn Sender, id: &str, secret: Option<&str>, dpop: Option<Dpop>) -> Client {
    client_with_uma(s, id, secret, dpop, false)
}

/// The same, with UMA discovery when `uma`.
pub fn client_with_uma(
    s: &dyn Sender,
    id: &str,
    secret: Option<&str>,
    dpop: Option<Dpop>,
    uma: bool,
) -> Client {
    let env = keycloak::require();
    let mut b = ClientConfig::keycloak(&env.url, REALM, id).redirect_uri(REDIRECT_URI);
    if let Some(sec) = secret {
        b = b.client_secret(sec);
    }
    if let Some(d) = dpop {
        b = b.dpop(d);
    }
    let cfg = b.build().unwrap();
    let d = run(s, DiscoverFlow::new(&cfg, uma)).expect("discovery");
    Client::new(cfg, d)
}

fn login(s: &dyn Sender, c: &Client) -> LoginTokens {
    let (url, pending) = c.login().build(&mut rand::rng(), now()).unwrap();
    let jkt = c.config.dpop.as_ref().unwrap().jkt().to_string();
    assert!(
        url.query_pairs().any(|(k, v)| k == "dpop_jkt" && v == jkt),
        "the code is bound to the key: {url}"
    );
    let cb = Browser::new()
        .login(url.as_str(), USER, "fiona-pass")
        .unwrap();
    run(
        s,
        c.callback(
            pending,
            &CallbackParams::from_url(&cb).unwrap(),
            IdTokenPolicy::DangerSkipSignature,
            now(),
        )
        .unwrap(),
    )
    .expect("code exchange with a proof")
}

/// The `cnf.jkt` of an access token.
fn cnf_jkt(t: &TokenSet) -> Option<String> {
    let claims = keycloak_client::jwt::decode_unverified(t.access_token.secret())
        .unwrap()
        .claims;
    claims
        .0
        .get("cnf")?
        .get("jkt")?
        .as_str()
        .map(str::to_string)
}

fn assert_unauthorized(e: &Error, what: &str) {
    assert!(
        matches!(
            e,
            Error::OAuth { status: 401, .. } | Error::UnexpectedStatus { status: 401, .. }
        ),
        "{what}: {e:?}"
    );
}

/// A confidential client: login (with `dpop_jkt`), code exchange, userinfo, refresh, client
/// credentials and introspection with proofs; every token is bound to the key (`cnf.jkt`);
/// the access token is refused by Keycloak without its proof or with another key's.
pub fn dpop_confidential_client(s: &dyn Sender) {
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let dpop = fresh_dpop(alg);
        let jkt = dpop.jkt().to_string();
        let c = client(s, DPOP_CLIENT, Some(DPOP_SECRET), Some(dpop));
        let t = login(s, &c);
        assert!(
            t.tokens.token_type.eq_ignore_ascii_case("dpop"),
            "{}",
            t.tokens.token_type
        );
        assert_eq!(
            cnf_jkt(&t.tokens).as_deref(),
            Some(jkt.as_str()),
            "{alg}: bound"
        );
        let me =
            exec(s, c.userinfo(&t.tokens.access_token).unwrap()).expect("userinfo with a proof");
        assert_eq!(me.preferred_username.as_deref(), Some(USER));

        // The token without its proof (as Bearer), and with another key's proof.
        let plain = client(s, DPOP_CLIENT, Some(DPOP_SECRET), None);
        let e = exec(s, plain.userinfo(&t.tokens.access_token).unwrap()).unwrap_err();
        assert_unauthorized(&e, "a DPoP-bound token as Bearer");
        let thief = client(
            s,
            DPOP_CLIENT,
            Some(DPOP_SECRET),
            Some(fresh_dpop(Algorithm::ES256)),
        );
        let e = exec(s, thief.userinfo(&t.tokens.access_token).unwrap()).unwrap_err();
        assert_unauthorized(&e, "another key's proof");

        let r = exec(s, c.refresh(&t.tokens).unwrap()).expect("refresh with a proof");
        assert_eq!(cnf_jkt(&r).as_deref(), Some(jkt.as_str()));
        let pat = exec(s, c.pat().unwrap()).expect("client credentials with a proof");
        assert_eq!(cnf_jkt(&pat).as_deref(), Some(jkt.as_str()));
        let i = exec(
            s,
            c.introspect(r.access_token.secret(), Some(TokenTypeHint::AccessToken))
                .unwrap(),
        )
        .unwrap();
        assert!(i.active);
        exec(s, c.logout(r.refresh_token.as_ref().unwrap()).unwrap()).unwrap();
    }
}

/// A public client: its refresh token is bound too, so a stolen one is useless without the
/// key, and refreshing with the key works.
pub fn dpop_public_client_refresh_is_bound(s: &dyn Sender) {
    let c = client(
        s,
        PUBLIC_DPOP_CLIENT,
        None,
        Some(fresh_dpop(Algorithm::ES256)),
    );
    let t = login(s, &c);
    let thief = client(
        s,
        PUBLIC_DPOP_CLIENT,
        None,
        Some(fresh_dpop(Algorithm::ES256)),
    );
    let e = exec(s, thief.refresh(&t.tokens).unwrap()).unwrap_err();
    assert!(
        e.is_definitive(),
        "a stolen refresh token with another key: {e}"
    );
    let no_key = client(s, PUBLIC_DPOP_CLIENT, None, None);
    let e = exec(s, no_key.refresh(&t.tokens).unwrap()).unwrap_err();
    assert!(
        e.is_definitive(),
        "a stolen refresh token without a key: {e}"
    );
    let r = exec(s, c.refresh(&t.tokens).unwrap()).expect("the owner refreshes");
    assert!(r.token_type.eq_ignore_ascii_case("dpop"));
}

/// The protection API (resource registration, permission tickets) with a DPoP-bound PAT: each
/// call carries `Authorization: DPoP` and a proof with `ath`; Keycloak accepts them, and refuses
/// the same bound PAT without its proof. (Keycloak 26.7 refuses a DPoP-bound token as the UMA
/// grant's bearer, proof or not: "Invalid bearer token".)
pub fn dpop_protection_api(s: &dyn Sender) {
    use keycloak_client::uma::{PermissionRequest, Resource, ResourceQuery};
    let dpop = fresh_dpop(Algorithm::ES256);
    let c = client_with_uma(s, DPOP_CLIENT, Some(DPOP_SECRET), Some(dpop), true);
    let pat = exec(s, c.pat().unwrap()).expect("a bound PAT");
    assert!(cnf_jkt(&pat).is_some());
    let name = format!("dpop-doc-{}", rand::random::<u32>());
    let created = exec(
        s,
        c.resources()
            .create(&pat.access_token, &Resource::new(&name, &["read"]))
            .unwrap(),
    )
    .expect("create a resource with a proof");
    let id = created.id.clone().unwrap();
    let got = exec(s, c.resources().get(&pat.access_token, &id).unwrap()).expect("read it");
    assert_eq!(got.name, name);
    let q = ResourceQuery {
        name: Some(name.clone()),
        exact_name: true,
        ..Default::default()
    };
    let ids = exec(s, c.resources().query(&pat.access_token, &q).unwrap()).expect("query");
    assert_eq!(ids, vec![id.clone()]);
    let ticket = exec(
        s,
        c.permission_ticket(&pat.access_token, &[PermissionRequest::new(&id, &["read"])])
            .unwrap(),
    )
    .expect("a permission ticket with a proof");
    assert!(!ticket.secret().is_empty());
    // the bound PAT without its proof is refused
    let plain = client_with_uma(s, DPOP_CLIENT, Some(DPOP_SECRET), None, true);
    let e = exec(s, plain.resources().get(&pat.access_token, &id).unwrap())
        .expect_err("a bound PAT as Bearer");
    // Keycloak answers 403 `invalid_bearer_token` ("Could not obtain bearer access_token")
    assert!(matches!(e.http_status(), Some(401 | 403)), "{e}");
    exec(s, c.resources().delete(&pat.access_token, &id).unwrap()).expect("delete");
}

/// Keycloak's token endpoint refuses bad proofs with a typed error: a proof for another URL
/// (`htu`), `alg: none`, and HS256 (a symmetric key can prove nothing). Each is the client
/// credentials request of the DPoP client with its `DPoP` header swapped.
pub fn keycloak_refuses_bad_proofs(s: &dyn Sender) {
    use base64::Engine as _;
    use keycloak_client::Exchange as _;
    let dpop = fresh_dpop(Algorithm::ES256);
    let c = client(s, DPOP_CLIENT, Some(DPOP_SECRET), Some(dpop.clone()));
    let b64 = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let now = now().0;
    let claims = |htu: &str| {
        serde_json::json!({"jti": format!("j-{}", rand::random::<u64>()), "htm": "POST",
            "htu": htu, "iat": now})
    };
    let token_url = c.provider.token_endpoint.to_string();
    let mut elsewhere: url::Url = token_url.parse().unwrap();
    elsewhere.set_path("/realms/rkc-fapi/protocol/openid-connect/userinfo");
    let wrong_htu = dpop
        .proof(keycloak_client::Method::Post, &elsewhere, None)
        .unwrap();
    let jwk = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
    let none = format!(
        "{}.{}.",
        b64(serde_json::json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk})),
        b64(claims(&token_url))
    );
    let hs_input = format!(
        "{}.{}",
        b64(serde_json::json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk})),
        b64(claims(&token_url))
    );
    let hs = {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
        let tag = ring::hmac::sign(&key, hs_input.as_bytes());
        format!(
            "{hs_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    };
    for (proof, what) in [
        (wrong_htu, "a proof for another URL"),
        (none, "alg none"),
        (hs, "HS256"),
    ] {
        let call = c.pat().unwrap();
        let mut req = call.request();
        req.headers.retain(|(k, _)| !k.eq_ignore_ascii_case("dpop"));
        req.headers.push(("dpop".into(), proof));
        let resp = s.send(&req).expect("sent");
        let e = call.handle(resp, crate::e2e::now()).expect_err(what);
        assert_eq!(e.http_status(), Some(400), "{what}: {e}");
        // RFC 9449 §5.2 says `invalid_dpop_proof`; Keycloak 26.7 answers `invalid_request`
        // with a DPoP description ("DPoP HTTP URL mismatch", ...)
        let typed = match e.oauth_error() {
            Some("invalid_dpop_proof") => true,
            Some("invalid_request") => e.to_string().contains("DPoP"),
            _ => false,
        };
        assert!(typed, "{what}: {e}");
    }
}

/// The DPoP scenarios as `#[test]`s for one adapter's sender.
#[macro_export]
macro_rules! dpop_tests {
    ($sender:expr) => {
        #[test]
        fn dpop_confidential_client() {
            $crate::dpop::dpop_confidential_client(&$sender)
        }
        #[test]
        fn dpop_public_client_refresh_is_bound() {
            $crate::dpop::dpop_public_client_refresh_is_bound(&$sender)
        }
        #[test]
        fn dpop_protection_api() {
            $crate::dpop::dpop_protection_api(&$sender)
        }
        #[test]
        fn keycloak_refuses_bad_dpop_proofs() {
            $crate::dpop::keycloak_refuses_bad_proofs(&$sender)
        }
    };
}

/// A DPoP-bound access token of the `fapi-dpop` service account, and its key.
pub fn bound_service_token() -> (keycloak_client::AccessToken, Dpop) {
    let s = crate::e2e::UreqLess;
    let dpop = fresh_dpop(Algorithm::ES256);
    let c = client(&s, DPOP_CLIENT, Some(DPOP_SECRET), Some(dpop.clone()));
    let t = exec(&s, c.pat().unwrap()).expect("a DPoP-bound token");
    assert_eq!(cnf_jkt(&t).as_deref(), Some(dpop.jkt()));
    (t.access_token, dpop)
}

fn get(url: &url::Url, headers: Vec<(String, String)>) -> keycloak_client::Response {
    use crate::conformance::Sender as _;
    let req = keycloak_client::Request {
        method: keycloak_client::Method::Get,
        url: url.clone(),
        headers,
        body: vec![],
    };
    crate::e2e::UreqLess.send(&req).expect("sent")
}

fn refused(r: &keycloak_client::Response, error: &str, what: &str) {
    assert_eq!(r.status, 401, "{what}");
    let www = r.header("www-authenticate").unwrap_or_default();
    assert!(www.starts_with("DPoP "), "{what}: {www}");
    assert!(www.contains(&format!("error=\"{error}\"")), "{what}: {www}");
    assert!(www.contains("algs=\"ES256"), "{what}: {www}");
}

/// Two instances of a middleware configured for the `fapi-dpop` client that share one session
/// store and serve one public URL (`public`, as behind a load balancer; `first` and `second`
/// are where each listens, same path): a proof accepted by the first is refused by the second
/// ("used before"), and a fresh proof passes there.
pub fn replay_across_instances(public: &str, first: &str, second: &str) {
    let (public, first, second): (url::Url, url::Url, url::Url) = (
        public.parse().unwrap(),
        first.parse().unwrap(),
        second.parse().unwrap(),
    );
    let (at, dpop) = bound_service_token();
    let at = at.secret().to_string();
    let auth = ("authorization".to_string(), format!("DPoP {at}"));
    let proof = dpop
        .proof(keycloak_client::Method::Get, &public, Some(&at))
        .unwrap();
    let ok = get(&first, vec![auth.clone(), ("dpop".into(), proof.clone())]);
    assert_eq!(
        ok.status,
        200,
        "first instance: {:?}",
        ok.header("www-authenticate")
    );
    let replayed = get(&second, vec![auth.clone(), ("dpop".into(), proof)]);
    refused(
        &replayed,
        "invalid_dpop_proof",
        "a proof replayed to another instance",
    );
    let www = replayed.header("www-authenticate").unwrap_or_default();
    assert!(www.contains("used before"), "{www}");
    let fresh = dpop
        .proof(keycloak_client::Method::Get, &public, Some(&at))
        .unwrap();
    let ok = get(&second, vec![auth, ("dpop".into(), fresh)]);
    assert_eq!(
        ok.status,
        200,
        "a fresh proof on the second instance: {:?}",
        ok.header("www-authenticate")
    );
}

/// An API route of a middleware configured for the `rkc-fapi` realm's `fapi-dpop` client
/// (`api_url`): a DPoP-bound token is accepted with its proof, and refused as Bearer, with a
/// replayed proof, another key's proof, a proof for another URL or method, or no proof.
pub fn resource_server_checks(api_url: &str) {
    let url: url::Url = api_url.parse().unwrap();
    let (at, dpop) = bound_service_token();
    let at = at.secret().to_string();
    let auth = ("authorization".to_string(), format!("DPoP {at}"));
    let proof = dpop
        .proof(keycloak_client::Method::Get, &url, Some(&at))
        .unwrap();
    let ok = get(&url, vec![auth.clone(), ("dpop".into(), proof.clone())]);
    assert_eq!(
        ok.status,
        200,
        "with its proof: {:?}",
        ok.header("www-authenticate")
    );
    refused(
        &get(&url, vec![auth.clone(), ("dpop".into(), proof)]),
        "invalid_dpop_proof",
        "a replayed proof",
    );
    let r = get(&url, vec![("authorization".into(), format!("Bearer {at}"))]);
    assert_eq!(r.status, 401, "a bound token as Bearer");
    let thief = fresh_dpop(Algorithm::ES256);
    let p = thief
        .proof(keycloak_client::Method::Get, &url, Some(&at))
        .unwrap();
    refused(
        &get(&url, vec![auth.clone(), ("dpop".into(), p)]),
        "invalid_dpop_proof",
        "another key's proof",
    );
    let mut elsewhere = url.clone();
    elsewhere.set_path("/api/other");
    let p = dpop
        .proof(keycloak_client::Method::Get, &elsewhere, Some(&at))
        .unwrap();
    refused(
        &get(&url, vec![auth.clone(), ("dpop".into(), p)]),
        "invalid_dpop_proof",
        "a proof for another URL",
    );
    let p = dpop
        .proof(keycloak_client::Method::Post, &url, Some(&at))
        .unwrap();
    refused(
        &get(&url, vec![auth.clone(), ("dpop".into(), p)]),
        "invalid_dpop_proof",
        "a proof for another method",
    );
    let p = dpop
        .proof(keycloak_client::Method::Get, &url, Some("other-token"))
        .unwrap();
    refused(
        &get(&url, vec![auth.clone(), ("dpop".into(), p)]),
        "invalid_dpop_proof",
        "a proof for another token",
    );
    refused(
        &get(&url, vec![auth.clone()]),
        "invalid_dpop_proof",
        "no proof",
    );
    let p1 = dpop
        .proof(keycloak_client::Method::Get, &url, Some(&at))
        .unwrap();
    let p2 = dpop
        .proof(keycloak_client::Method::Get, &url, Some(&at))
        .unwrap();
    refused(
        &get(
            &url,
            vec![auth.clone(), ("dpop".into(), p1), ("dpop".into(), p2)],
        ),
        "invalid_dpop_proof",
        "two proofs",
    );
    // a fresh proof works again
    let p = dpop
        .proof(keycloak_client::Method::Get, &url, Some(&at))
        .unwrap();
    assert_eq!(get(&url, vec![auth, ("dpop".into(), p)]).status, 200);
}

/// The lifetime of server nonces in the apps [`resource_server_nonces`] runs against.
pub const NONCE_LIFETIME_SECS: u64 = 10;

/// An API route of a middleware issuing DPoP nonces (RFC 9449 §9) with a
/// [`NONCE_LIFETIME_SECS`] lifetime: a proof without a nonce, with a nonce not issued there, or
/// with a stale one is refused with `use_dpop_nonce` and a fresh `DPoP-Nonce`; with the fresh
/// nonce the request passes, and the nonce serves several proofs while it lives.
pub fn resource_server_nonces(api_url: &str) {
    let url: url::Url = api_url.parse().unwrap();
    let (at, dpop) = bound_service_token();
    let at = at.secret().to_string();
    let auth = ("authorization".to_string(), format!("DPoP {at}"));
    let send = |d: &Dpop| {
        let p = d
            .proof(keycloak_client::Method::Get, &url, Some(&at))
            .unwrap();
        get(&url, vec![auth.clone(), ("dpop".into(), p)])
    };
    let challenged = |r: &keycloak_client::Response, what: &str| {
        assert_eq!(r.status, 401, "{what}");
        let www = r.header("www-authenticate").unwrap_or_default();
        assert!(www.contains("error=\"use_dpop_nonce\""), "{what}: {www}");
        let nonce = r.header("dpop-nonce").expect("a fresh nonce");
        assert_eq!(nonce.len(), 32, "{what}");
    };
    let first = send(&dpop);
    challenged(&first, "a proof without a nonce");
    assert!(dpop.learn_nonce(&url, &first));
    let p = dpop
        .proof(keycloak_client::Method::Get, &url, Some(&at))
        .unwrap();
    let ok = get(&url, vec![auth.clone(), ("dpop".into(), p.clone())]);
    assert_eq!(
        ok.status,
        200,
        "with the nonce: {:?}",
        ok.header("www-authenticate")
    );
    // the answer hands out the next nonce (RFC 9449 §8.2), which serves at once
    let next = ok.header("dpop-nonce").expect("a nonce on the answer");
    assert_eq!(next.len(), 32);
    dpop.learn_nonce(&url, &ok);
    refused(
        &get(&url, vec![auth.clone(), ("dpop".into(), p)]),
        "invalid_dpop_proof",
        "a replayed proof with a good nonce",
    );
    let again = send(&dpop);
    assert_eq!(again.status, 200, "the nonce serves another proof");
    // a nonce the server did not issue
    let forged =
        keycloak_client::Response::new(401, vec![("dpop-nonce".into(), "A".repeat(32))], "");
    assert!(dpop.learn_nonce(&url, &forged));
    let r = send(&dpop);
    challenged(&r, "a forged nonce");
    assert!(dpop.learn_nonce(&url, &r));
    assert_eq!(send(&dpop).status, 200, "after the challenge");
    // a stale nonce
    std::thread::sleep(std::time::Duration::from_secs(NONCE_LIFETIME_SECS + 2));
    let r = send(&dpop);
    challenged(&r, "a stale nonce");
    assert!(dpop.learn_nonce(&url, &r));
    assert_eq!(send(&dpop).status, 200, "with the renewed nonce");
    // refusals for other reasons carry a nonce too
    let r = get(&url, vec![auth.clone()]);
    assert_eq!(r.status, 401);
    assert!(r.header("dpop-nonce").is_some(), "no proof: still a nonce");
}
