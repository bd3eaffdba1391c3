//! End-to-end scenarios against Keycloak's own client profiles (client policies in the
//! `rkc-fapi` realm): `fapi-2-dpop-security-profile` (confidential, `private_key_jwt`, PAR,
//! PKCE, DPoP, consent, PS256) and `oauth-2-1-for-public-client` (public native client: PKCE,
//! DPoP, a private-use URI scheme redirect, the device grant with PKCE).

use std::sync::Arc;

use keycloak_client::TokenValidator;
use keycloak_client::{
    Algorithm, CallbackParams, Client, ClientAssertion, ClientConfig, DiscoverFlow, Dpop,
    IdTokenPolicy, LoginTokens,
};
use keycloak_client_ring::{RingVerifier, SystemClock};

use crate::browser::Browser;
use crate::client_auth::{registered_key, REALM, USER};
use crate::conformance::Sender;
use crate::dpop::fresh_dpop;
use crate::e2e::{exec, now, run};
use crate::keycloak;

/// A client whose ID tokens Keycloak signs with PS384: a realm has no PS384 key until
/// Keycloak first signs with it.
pub const FIRST_USE_CLIENT: &str = "first-use-ps384";

/// The client under `fapi-2-dpop-security-profile`.
pub const FAPI2_CLIENT: &str = "fapi2-dpop";
/// Its redirect URI (https, as the profile wants; never fetched).
pub const FAPI2_REDIRECT: &str = "https://127.0.0.1/callback";

fn discovered(s: &dyn Sender, cfg: ClientConfig) -> Client {
    let d = run(s, DiscoverFlow::new(&cfg, false)).expect("discovery");
    Client::new(cfg, d)
}

/// The FAPI 2.0 client (`private_key_jwt` with PS256), with or without DPoP and PAR.
pub fn fapi2_client(s: &dyn Sender, dpop: Option<Dpop>, push: bool) -> Client {
    let env = keycloak::require();
    let a = ClientAssertion::private_key_jwt(
        registered_key("ps256", Algorithm::PS256).shared(),
        Arc::new(SystemClock),
        &mut rand::rng(),
    );
    let mut b = ClientConfig::keycloak(&env.url, REALM, FAPI2_CLIENT)
        .client_assertion(a)
        .redirect_uri(FAPI2_REDIRECT)
        .pushed_authorization_requests(push);
    if let Some(d) = dpop {
        b = b.dpop(d);
    }
    discovered(s, b.build().unwrap())
}

/// Logs in (pushed when configured), consent granted; the raw authorization response.
fn authorize(c: &Client) -> (keycloak_client::PendingLogin, CallbackParams, url::Url) {
    let s = crate::e2e::UreqLess;
    let (url, pending) = if c.login().must_push() {
        exec(&s, c.login().build_pushed(&mut rand::rng(), now()).unwrap()).expect("PAR")
    } else {
        c.login().build(&mut rand::rng(), now()).unwrap()
    };
    let cb = Browser::new()
        .login(url.as_str(), USER, "fiona-pass")
        .expect("the login reaches the redirect URI");
    (pending, CallbackParams::from_url(&cb).unwrap(), cb)
}

/// Logs in and finishes with the ID token verified (PS256 only: the profile's algorithm).
fn finish(s: &dyn Sender, c: &Client) -> Result<LoginTokens, keycloak_client::Error> {
    let (pending, params, _) = authorize(c);
    let v = TokenValidator::new(c, Arc::new(RingVerifier))?.allow_algorithms(&[Algorithm::PS256]);
    run(
        s,
        c.callback(pending, &params, IdTokenPolicy::Verify(Arc::new(v)), now())?,
    )
}

fn lifecycle(s: &dyn Sender, c: &Client, t: &LoginTokens) {
    assert!(t.tokens.token_type.eq_ignore_ascii_case("dpop"));
    let me = exec(s, c.userinfo(&t.tokens.access_token).unwrap()).expect("userinfo");
    assert_eq!(me.preferred_username.as_deref(), Some(USER));
    let r = exec(s, c.refresh(&t.tokens).unwrap()).expect("refresh");
    exec(s, c.userinfo(&r.access_token).unwrap()).expect("userinfo after refresh");
    exec(s, c.logout(r.refresh_token.as_ref().unwrap()).unwrap()).expect("logout");
}

/// `fapi-2-dpop-security-profile`: the whole flow works with `private_key_jwt` (PS256), PAR,
/// PKCE and DPoP; without DPoP, or without PAR, Keycloak's profile refuses.
pub fn fapi2_dpop_profile(s: &dyn Sender) {
    let c = fapi2_client(s, Some(fresh_dpop(Algorithm::ES256)), true);
    let t = finish(s, &c).expect("the FAPI 2.0 DPoP flow");
    assert_eq!(
        keycloak_client::jwt::decode_unverified(t.tokens.id_token.as_ref().unwrap().secret())
            .unwrap()
            .header["alg"],
        "PS256",
        "the profile signs ID tokens with PS256"
    );
    lifecycle(s, &c, &t);

    // No DPoP: refused by the profile's dpop-bind-enforcer.
    let plain = fapi2_client(s, None, true);
    let refused = match authorize_result(&plain) {
        Err(_) => true,
        Ok((pending, params)) => run(
            s,
            plain
                .callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
                .unwrap(),
        )
        .is_err(),
    };
    assert!(refused, "FAPI 2.0 DPoP without DPoP");
    // No PAR: refused at the authorization endpoint (Keycloak's error page: "PAR request_uri
    // not included").
    let unpushed = fapi2_client(s, Some(fresh_dpop(Algorithm::ES256)), false);
    let (url, _) = unpushed.login().build(&mut rand::rng(), now()).unwrap();
    let page = Browser::new().get(url.as_str()).unwrap();
    assert_eq!(page.status, 400, "FAPI 2.0 without PAR");
}

/// The public client under `oauth-2-1-for-public-client`.
pub const OAUTH21_PUBLIC_CLIENT: &str = "oauth21-public";
/// Its redirect URI: a private-use URI scheme (RFC 8252 §7.1). Keycloak 26.7's built-in profile
/// refuses `http` loopback redirects (its `secure-redirect-uris-enforcer` lacks
/// `allow-http-scheme`), and an `https` loopback redirect cannot carry the native app's port.
pub const OAUTH21_REDIRECT: &str = "org.example.rkc:/callback";

/// The OAuth 2.1 public client, with or without DPoP, redirecting to `redirect`.
pub fn oauth21_client(s: &dyn Sender, dpop: Option<Dpop>, redirect: &str) -> Client {
    let env = keycloak::require();
    let mut b =
        ClientConfig::keycloak(&env.url, REALM, OAUTH21_PUBLIC_CLIENT).redirect_uri(redirect);
    if let Some(d) = dpop {
        b = b.dpop(d);
    }
    discovered(s, b.build().unwrap())
}

/// `oauth-2-1-for-public-client`: code + PKCE + DPoP with a private-use scheme redirect, then
/// userinfo, refresh and logout; the device grant with PKCE and DPoP. Refused by the profile:
/// no DPoP, an `http` loopback redirect, a device request without PKCE.
pub fn oauth21_public_profile(s: &dyn Sender) {
    let c = oauth21_client(s, Some(fresh_dpop(Algorithm::ES256)), OAUTH21_REDIRECT);
    let (url, pending) = c.login().build(&mut rand::rng(), now()).unwrap();
    let cb = Browser::new()
        .login(url.as_str(), USER, "fiona-pass")
        .expect("the login reaches the private-use scheme redirect");
    assert_eq!(cb.scheme(), "org.example.rkc", "{cb}");
    let t = run(
        s,
        c.callback(
            pending,
            &CallbackParams::from_url(&cb).unwrap(),
            IdTokenPolicy::DangerSkipSignature,
            now(),
        )
        .unwrap(),
    )
    .expect("the OAuth 2.1 public flow");
    let at = keycloak_client::jwt::decode_unverified(t.tokens.access_token.secret()).unwrap();
    assert!(at.claims.0["cnf"]["jkt"].is_string(), "DPoP-bound");
    let me = exec(s, c.userinfo(&t.tokens.access_token).unwrap()).expect("userinfo");
    assert_eq!(me.preferred_username.as_deref(), Some(USER));
    let r = exec(s, c.refresh(&t.tokens).unwrap()).expect("refresh");
    exec(s, c.userinfo(&r.access_token).unwrap()).expect("userinfo after refresh");
    let rt = r.refresh_token.as_ref().unwrap();
    // Keycloak's logout endpoint does not read DPoP proofs, so it cannot end a session by a
    // DPoP-bound refresh token (26.7); revocation (with a proof) does, and is what the agent's
    // `logout` uses for such clients.
    let e = exec(s, c.logout(rt).unwrap()).expect_err("Keycloak's logout endpoint and DPoP");
    assert_eq!(e.oauth_error(), Some("invalid_grant"), "{e}");
    assert!(e.to_string().contains("DPoP proof is missing"), "{e}");
    exec(s, c.refresh(&r).unwrap()).expect("the session survived the refused logout");
    exec(
        s,
        c.revoke(
            rt.secret(),
            Some(keycloak_client::TokenTypeHint::RefreshToken),
        )
        .unwrap(),
    )
    .expect("revocation with a proof");
    let e = exec(s, c.refresh(&r).unwrap()).expect_err("the session is over");
    assert_eq!(e.oauth_error(), Some("invalid_grant"), "{e}");

    // Without DPoP the profile's dpop-bind-enforcer refuses the code exchange.
    let plain = oauth21_client(s, None, OAUTH21_REDIRECT);
    let (url, pending) = plain.login().build(&mut rand::rng(), now()).unwrap();
    let cb = Browser::new()
        .login(url.as_str(), USER, "fiona-pass")
        .unwrap();
    let e = run(
        s,
        plain
            .callback(
                pending,
                &CallbackParams::from_url(&cb).unwrap(),
                IdTokenPolicy::DangerSkipSignature,
                now(),
            )
            .unwrap(),
    )
    .expect_err("OAuth 2.1 public client without DPoP");
    assert_eq!(e.oauth_error(), Some("invalid_request"), "{e}");

    // An http loopback redirect is refused at the authorization endpoint.
    let http = oauth21_client(
        s,
        Some(fresh_dpop(Algorithm::ES256)),
        "http://127.0.0.1:48123/callback",
    );
    let (url, _) = http.login().build(&mut rand::rng(), now()).unwrap();
    let page = Browser::new().get(url.as_str()).unwrap();
    assert_eq!(page.status, 400, "http loopback under OAuth 2.1");

    // The device grant: Keycloak requires PKCE for this client; with it (and DPoP) it works.
    let e = exec(s, c.device_authorization(None).unwrap()).expect_err("no PKCE");
    assert_eq!(e.oauth_error(), Some("invalid_request"), "{e}");
    let auth = exec(
        s,
        c.device_authorization(None).unwrap().pkce(&mut rand::rng()),
    )
    .expect("device authorization with PKCE");
    Browser::new()
        .approve_device(
            auth.verification_uri_complete.as_deref().unwrap(),
            USER,
            "fiona-pass",
        )
        .unwrap();
    let tokens = run(
        s,
        keycloak_client::DeviceWait::new(c.device_poller(&auth, now()), now(), None),
    )
    .expect("device tokens");
    assert!(tokens.token_type.eq_ignore_ascii_case("dpop"));
    let me = exec(s, c.userinfo(&tokens.access_token).unwrap()).expect("userinfo");
    assert_eq!(me.preferred_username.as_deref(), Some(USER));
}

fn authorize_result(
    c: &Client,
) -> Result<(keycloak_client::PendingLogin, CallbackParams), keycloak_client::Error> {
    let s = crate::e2e::UreqLess;
    let (url, pending) = exec(&s, c.login().build_pushed(&mut rand::rng(), now()).unwrap())?;
    let cb = Browser::new()
        .login(url.as_str(), USER, "fiona-pass")
        .map_err(keycloak_client::Error::Config)?;
    Ok((pending, CallbackParams::from_url(&cb).unwrap()))
}

/// The profile scenarios as `#[test]`s for one adapter's sender.
#[macro_export]
macro_rules! fapi_profile_tests {
    ($sender:expr) => {
        #[test]
        fn keycloak_fapi_2_dpop_security_profile() {
            $crate::fapi_profiles::fapi2_dpop_profile(&$sender)
        }

        #[test]
        fn keycloak_oauth_2_1_for_public_client_profile() {
            $crate::fapi_profiles::oauth21_public_profile(&$sender)
        }

        #[test]
        fn a_signing_key_keycloak_creates_on_first_use_verifies_the_first_login() {
            $crate::fapi_profiles::first_use_signing_key(&$sender)
        }
    };
}

/// Keycloak creates a realm's key for an algorithm only when it first signs with it (a fresh
/// realm has no PS256, PS384 or ES256 key). A login validated with that algorithm alone must
/// still go through: the code goes out while the published keys fit none of the allowed
/// algorithms, and the new key is fetched for the ID token, which is verified.
///
/// It deletes the `rkc-fapi` realm's PS384 key providers: only the `first-use-ps384` client
/// signs with PS384, and the ureq and reqwest suites that run this are separate test binaries,
/// which cargo runs one after the other.
pub fn first_use_signing_key(s: &dyn Sender) {
    let env = keycloak::require();
    let deleted = crate::api::admin_delete_signing_keys(REALM, "PS384");
    let c = discovered(
        s,
        ClientConfig::keycloak(&env.url, REALM, FIRST_USE_CLIENT)
            .client_secret("first-use-ps384-secret")
            .redirect_uri("http://127.0.0.1/callback")
            .build()
            .unwrap(),
    );
    let jwks_uri = c.provider.jwks_uri.clone().expect("jwks_uri");
    let published = exec(s, keycloak_client::JwksRequest::new(jwks_uri, 1 << 20)).expect("keys");
    assert!(
        published
            .keys
            .iter()
            .all(|k| k.alg.as_deref() != Some("PS384")),
        "no PS384 key before the login (deleted {deleted})"
    );
    let v = Arc::new(
        TokenValidator::new(&c, Arc::new(RingVerifier))
            .unwrap()
            .allow_algorithms(&[Algorithm::PS384]),
    );
    let (pending, params, _) = authorize(&c);
    let t = run(
        s,
        c.callback(pending, &params, IdTokenPolicy::Verify(v.clone()), now())
            .unwrap(),
    )
    .expect("the first PS384 login, verified");
    assert_eq!(
        keycloak_client::jwt::decode_unverified(t.tokens.id_token.as_ref().unwrap().secret())
            .unwrap()
            .header["alg"],
        "PS384"
    );
    assert!(
        v.cache()
            .keys
            .keys
            .iter()
            .any(|k| k.alg.as_deref() == Some("PS384")),
        "the new key was fetched"
    );
}
