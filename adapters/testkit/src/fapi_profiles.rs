//! End-to-end scenarios against Keycloak's own client profiles (client policies in the
//! `rkc-fapi` realm): `fapi-2-dpop-security-profile` (confidential, `private_key_jwt`, PAR,
//! PKCE, DPoP, consent, PS256).

use std::sync::Arc;

use keycloak_client::{
    Algorithm, CallbackParams, Client, ClientAssertion, ClientConfig, DiscoverFlow, Dpop,
    IdTokenPolicy, LoginTokens,
};
use keycloak_client_ring::SystemClock;

use crate::browser::Browser;
use crate::client_auth::{registered_key, REALM, USER};
use crate::conformance::Sender;
use crate::dpop::fresh_dpop;
use crate::e2e::{exec, now, run};
use crate::keycloak;

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

fn finish(s: &dyn Sender, c: &Client) -> Result<LoginTokens, keycloak_client::Error> {
    let (pending, params, _) = authorize(c);
    run(
        s,
        c.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())?,
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
    };
}
