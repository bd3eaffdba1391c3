//! The authorization response checks (RFC 6749 §4.1.2, §10.12; RFC 9207) without a server.

mod common;

use common::{client, CountingRng, NOW};
use keycloak_client::{CallbackParams, Error, IdTokenPolicy};

const ISS_Q: &str = "iss=http%3A%2F%2F127.0.0.1%3A18080%2Frealms%2Frkc";

fn pending() -> (keycloak_client::Client, keycloak_client::PendingLogin) {
    let c = client("rkc-spa", None);
    let (_, p) = c.login().build(&mut CountingRng(0), NOW).unwrap();
    (c, p)
}

fn q(s: &str) -> CallbackParams {
    CallbackParams::from_query(s).unwrap()
}

#[test]
fn matching_callback_yields_exchange() {
    let (c, p) = pending();
    let state = p.state.secret().to_string();
    assert!(c
        .callback(
            p,
            &q(&format!("state={state}&{ISS_Q}&code=c")),
            IdTokenPolicy::DangerSkipSignature,
            NOW
        )
        .is_ok());
}

#[test]
fn state_missing_forged_or_default_is_refused() {
    for bad in [
        "",
        "state=",
        "state=unknown",
        "state=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh",
        "state=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8x",
    ] {
        let (c, p) = pending();
        let e = c
            .callback(
                p,
                &q(&format!("{bad}&{ISS_Q}&code=c")),
                IdTokenPolicy::DangerSkipSignature,
                NOW,
            )
            .unwrap_err();
        assert!(matches!(e, Error::StateMismatch), "{bad}: {e:?}");
    }
}

#[test]
fn issuer_mixup_and_missing_iss_are_refused() {
    let (c, p) = pending();
    let s = p.state.secret().to_string();
    let e = c
        .callback(
            p,
            &q(&format!(
                "state={s}&iss=http%3A%2F%2Fevil%2Frealms%2Frkc&code=c"
            )),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap_err();
    assert!(
        matches!(e, Error::CallbackIssuer(ref m) if m.contains("mix-up")),
        "{e:?}"
    );
    let (c, p) = pending();
    let s = p.state.secret().to_string();
    let e = c
        .callback(
            p,
            &q(&format!("state={s}&code=c")),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::CallbackIssuer(_)), "{e:?}");
}

#[test]
fn authorization_error_is_typed_after_state_check() {
    let (c, p) = pending();
    let s = p.state.secret().to_string();
    let e = c
        .callback(
            p,
            &q(&format!(
                "error=access_denied&error_description=User+said+no&state={s}&{ISS_Q}"
            )),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "authorization failed: access_denied: User said no"
    );
    // an error with a forged state is a CSRF attempt, not an authorization error
    let (c, p) = pending();
    let e = c
        .callback(
            p,
            &q(&format!("error=access_denied&state=x&{ISS_Q}")),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::StateMismatch));
}

#[test]
fn expired_pending_login_and_missing_code() {
    let (c, p) = pending();
    let s = p.state.secret().to_string();
    let e = c
        .callback(
            p,
            &q(&format!("state={s}&{ISS_Q}&code=c")),
            IdTokenPolicy::DangerSkipSignature,
            NOW.plus(601),
        )
        .unwrap_err();
    assert!(matches!(e, Error::LoginExpired(1)), "{e:?}");
    let (c, p) = pending();
    let s = p.state.secret().to_string();
    let e = c
        .callback(
            p,
            &q(&format!("state={s}&{ISS_Q}")),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::InvalidCallback(_)), "{e:?}");
}

#[test]
fn repeated_parameters_are_refused() {
    assert!(CallbackParams::from_query("code=a&code=b").is_err());
    assert!(CallbackParams::from_query("state=a&state=b").is_err());
    assert!(CallbackParams::from_query("iss=a&iss=b").is_err());
    assert!(CallbackParams::from_query(&"a".repeat(70_000)).is_err());
}

#[test]
fn pending_login_round_trips_through_json_and_redacts_debug() {
    let (_, p) = pending();
    let json = serde_json::to_string(&p).unwrap();
    let back: keycloak_client::PendingLogin = serde_json::from_str(&json).unwrap();
    assert_eq!(back.state.secret(), p.state.secret());
    let dbg = format!("{p:?}");
    assert!(
        !dbg.contains(p.state.secret()) && !dbg.contains(p.code_verifier.secret()),
        "{dbg}"
    );
}

#[test]
fn redirect_uri_override_is_validated() {
    let c = client("rkc-spa", None);
    let e = c
        .login()
        .redirect_uri("not a url")
        .build(&mut CountingRng(0), NOW)
        .unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e:?}");
    let (url, p) = c
        .login()
        .redirect_uri("http://127.0.0.1:9/cb")
        .build(&mut CountingRng(0), NOW)
        .unwrap();
    assert_eq!(p.redirect_uri, "http://127.0.0.1:9/cb");
    assert!(url
        .as_str()
        .contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"));
}

#[test]
fn debug_of_every_step_redacts_secrets() {
    let c = client("rkc-spa", None);
    let (_, p) = c.login().build(&mut CountingRng(0), NOW).unwrap();
    let verifier = p.code_verifier.secret().to_string();
    let s = p.state.secret().to_string();
    let ex = c
        .callback(
            p,
            &q(&format!("state={s}&{ISS_Q}&code=the-secret-code")),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap();
    let dbg = format!("{ex:?}");
    assert!(
        !dbg.contains("the-secret-code") && !dbg.contains(&verifier),
        "{dbg}"
    );
    let rs = common::rs();
    let t = keycloak_client::TokenSet::from_response(
        keycloak_client::parse::token_response(&keycloak_client::Response::json(
            200,
            r#"{"access_token":"AT-SECRET","token_type":"Bearer","refresh_token":"RT-SECRET"}"#,
        ))
        .unwrap(),
        NOW,
    );
    for d in [
        format!("{:?}", rs.refresh(&t).unwrap()),
        format!(
            "{:?}",
            rs.danger_password_grant("u", &keycloak_client::Password::new("PW-SECRET"), "openid")
        ),
        format!(
            "{:?}",
            rs.token_exchange("SUBJ-SECRET", keycloak_client::ACCESS_TOKEN_TYPE)
        ),
        format!("{:?}", rs.introspect("INTRO-SECRET", None).unwrap()),
        format!(
            "{:?}",
            rs.logout(t.refresh_token.as_ref().unwrap()).unwrap()
        ),
        format!("{t:?}"),
        format!("{rs:?}"),
    ] {
        for secret in [
            "AT-SECRET",
            "RT-SECRET",
            "PW-SECRET",
            "SUBJ-SECRET",
            "INTRO-SECRET",
            "rkc-rs-secret",
        ] {
            assert!(!d.contains(secret), "{secret} in {d}");
        }
    }
}
