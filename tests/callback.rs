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
        keycloak_client::TokenResponse::parse(
            &keycloak_client::Response::json(
                200,
                r#"{"access_token":"AT-SECRET","token_type":"Bearer","refresh_token":"RT-SECRET"}"#,
            ),
            1 << 20,
        )
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

// ---- boundaries and fields the mutation run showed untested ----------------------------------

#[test]
fn query_length_limit_is_exactly_64_kib() {
    let pad = |n: usize| format!("state=s&x={}", "a".repeat(n - "state=s&x=".len()));
    assert!(CallbackParams::from_query(&pad(64 * 1024)).is_ok());
    assert!(CallbackParams::from_query(&pad(2000)).is_ok());
    let e = CallbackParams::from_query(&pad(64 * 1024 + 1)).unwrap_err();
    assert!(matches!(e, Error::InvalidCallback(_)), "{e:?}");
}

#[test]
fn every_parameter_is_read_and_from_url_reads_the_query() {
    let u = url::Url::parse(
        "http://127.0.0.1/cb?code=c&state=s&iss=i&session_state=ss&error=e&error_description=d&error_uri=http%3A%2F%2Fu",
    )
    .unwrap();
    let p = CallbackParams::from_url(&u).unwrap();
    assert_eq!(p.code.unwrap().secret(), "c");
    assert_eq!(
        (
            p.state.as_deref(),
            p.iss.as_deref(),
            p.session_state.as_deref(),
            p.error.as_deref(),
            p.error_description.as_deref(),
            p.error_uri.as_deref()
        ),
        (
            Some("s"),
            Some("i"),
            Some("ss"),
            Some("e"),
            Some("d"),
            Some("http://u")
        )
    );
    for k in [
        "session_state",
        "error_uri",
        "error_description",
        "error",
        "iss",
    ] {
        let e = CallbackParams::from_query(&format!("{k}=a&{k}=b")).unwrap_err();
        assert!(e.to_string().contains(k), "{k}: {e}");
    }
}

#[test]
fn authorization_error_keeps_its_uri() {
    let (c, p) = pending();
    let s = p.state.secret().to_string();
    let e = c
        .callback(
            p,
            &q(&format!(
                "error=access_denied&error_uri=http%3A%2F%2Fhelp&state={s}&{ISS_Q}"
            )),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap_err();
    let Error::Authorization(body) = e else {
        panic!("{e:?}")
    };
    assert_eq!(body.error_uri.as_deref(), Some("http://help"));
}

#[test]
fn missing_iss_is_fine_when_the_server_does_not_advertise_it() {
    let mut c = client("rkc-spa", None);
    c.provider.authorization_response_iss_parameter_supported = false;
    let (_, p) = c.login().build(&mut CountingRng(0), NOW).unwrap();
    let s = p.state.secret().to_string();
    c.callback(
        p,
        &q(&format!("state={s}&code=c")),
        IdTokenPolicy::DangerSkipSignature,
        NOW,
    )
    .unwrap();
}

#[test]
fn pending_login_is_valid_up_to_its_deadline_inclusive() {
    let (c, p) = pending();
    let s = p.state.secret().to_string();
    c.callback(
        p,
        &q(&format!("state={s}&{ISS_Q}&code=c")),
        IdTokenPolicy::DangerSkipSignature,
        NOW.plus(600),
    )
    .unwrap();
}

#[test]
fn an_openid_login_without_an_id_token_is_refused() {
    use keycloak_client::{Flow, Response, Step};
    let c = client("rkc-spa", None);
    let (_, p) = c.login().build(&mut CountingRng(0), NOW).unwrap();
    assert_eq!(p.scope, "openid");
    let s = p.state.secret().to_string();
    let mut ex = c
        .callback(
            p,
            &q(&format!("state={s}&{ISS_Q}&code=c")),
            IdTokenPolicy::DangerSkipSignature,
            NOW,
        )
        .unwrap();
    assert!(matches!(ex.poll(), Ok(Step::Send(_))));
    let e = ex
        .handle_response(
            Response::json(200, r#"{"access_token":"eyJ.a.b","token_type":"Bearer"}"#),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::MissingIdToken), "{e:?}");
}

#[test]
fn policies_and_challenges_have_readable_debug() {
    assert_eq!(
        format!("{:?}", IdTokenPolicy::DangerSkipSignature),
        "DangerSkipSignature"
    );
    let ch =
        keycloak_client::Challenge::parse(r#"Bearer realm="rkc", error="invalid_token""#).unwrap();
    let d = format!("{ch:?}");
    assert!(
        d.contains("Bearer") && d.contains("invalid_token") && d.contains("rkc"),
        "{d}"
    );
}
