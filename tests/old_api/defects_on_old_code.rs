// Compiled only by scripts/defects-on-old-code, against the commit before the fix.
//! The defects of issue 13, written against the API before the fix: every test here must FAIL
//! on the old code (each assertion states the fixed behaviour).

mod common;

use base64::Engine as _;
use common::{recorded, rs, CountingRng, NOW};
use keycloak_client::uma::{PermissionRequest, UmaGrantAuth};
use keycloak_client::{
    CallbackParams, DiscoverFlow, Error, Exchange, Flow, Response, Step,
};

const ISS: &str = "http://127.0.0.1:18080/realms/rkc";

fn unsigned(claims: serde_json::Value) -> String {
    let e = |v: serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!("{}.{}.c2ln", e(serde_json::json!({"alg":"RS256","kid":"k1"})), e(claims))
}

#[test]
fn d1_max_age_is_enforced() {
    let c = rs();
    let (_, p) = c.login().max_age(60).build(&mut CountingRng(0), NOW).unwrap();
    let nonce = p.nonce.secret().to_string();
    let q = format!(
        "state={}&iss={}&code=c",
        p.state.secret(),
        url::form_urlencoded::byte_serialize(ISS.as_bytes()).collect::<String>()
    );
    let ex = c
        .callback(p, &CallbackParams::from_query(&q).unwrap(), NOW)
        .unwrap()
        .danger_skip_id_token_signature();
    let id = unsigned(serde_json::json!({"iss":ISS,"sub":"u","aud":"rkc-rs","iat":NOW.0,
        "exp":NOW.0 + 300,"nonce":nonce,"auth_time":NOW.0 - 100_000}));
    let body = serde_json::json!({"access_token":"eyJ.a.b","token_type":"Bearer","id_token":id});
    let r = ex.handle(Response::json(200, body.to_string()), NOW);
    assert!(r.is_err(), "authenticated 100000 s ago with max_age 60: accepted");
}

#[test]
fn d3_refresh_checks_the_id_token() {
    let c = rs();
    let old = keycloak_client::TokenSet::from_response(
        keycloak_client::parse::token_response(&Response::json(
            200,
            r#"{"access_token":"eyJ.a.b","token_type":"Bearer","refresh_token":"r"}"#,
        ))
        .unwrap(),
        NOW,
    );
    let foreign = unsigned(serde_json::json!({"iss":"http://evil","sub":"u","aud":"other",
        "iat":NOW.0 - 100_000,"exp":NOW.0 - 90_000}));
    let body = serde_json::json!({"access_token":"eyJ.a.b","token_type":"Bearer","id_token":foreign});
    let r = c.refresh(&old).unwrap().handle(Response::json(200, body.to_string()), NOW);
    assert!(r.is_err(), "an expired foreign ID token was stored on refresh");
}

#[test]
fn d4_rpt_upgraded_is_read() {
    let c = rs();
    let rpt = c
        .rpt_for_ticket(
            &keycloak_client::AccessToken::new("pat"),
            &keycloak_client::PermissionTicket::new("t"),
        )
        .handle(
            Response::json(200, r#"{"access_token":"eyJ.a.b","token_type":"Bearer","upgraded":true}"#),
            NOW,
        )
        .unwrap();
    assert!(rpt.upgraded, "upgraded: true read as false");
}

#[test]
fn d6_discovery_after_a_failed_mandatory_uma_fetch_never_succeeds() {
    let cfg = common::config("rkc-rs", None);
    let mut f = DiscoverFlow::new(&cfg, true);
    let Ok(Step::Send(_)) = f.poll() else { panic!() };
    f.handle_response(recorded("discovery"), NOW).unwrap();
    let Ok(Step::Send(_)) = f.poll() else { panic!() };
    assert!(f.handle_response(Response::json(500, "{}"), NOW).is_err());
    assert!(
        !matches!(f.poll(), Ok(Step::Done(_))),
        "mandatory UMA failed, yet the flow finished"
    );
}

#[test]
fn d6_pat_ticket_flow_repeats_its_error() {
    let c = rs();
    let mut f = c
        .find_ticket(None, vec![PermissionRequest::new("doc-1", &["read"])], NOW)
        .unwrap();
    let Ok(Step::Send(_)) = f.poll() else { panic!() };
    let e = f
        .handle_response(Response::json(401, r#"{"error":"unauthorized_client"}"#), NOW)
        .unwrap_err();
    let again = f.poll().map(|_| ()).unwrap_err();
    assert_eq!(again.to_string(), e.to_string(), "stuck instead of repeating the error");
}

#[test]
fn d7_hmac_secret_not_in_debug() {
    let k = keycloak_client::VerificationKey::Secret(b"hmac-client-secret");
    assert!(!format!("{k:?}").contains("104"), "secret bytes printed: {k:?}");
}

#[test]
fn d7_ticket_not_in_challenge_debug() {
    let ch = keycloak_client::Challenge::parse(r#"UMA as_uri="http://a", ticket="TICKET-SECRET""#)
        .unwrap();
    assert!(!format!("{ch:?}").contains("TICKET-SECRET"));
}

#[test]
fn d7_crlf_token_from_a_server_is_refused() {
    let body = serde_json::json!({"access_token":"a\r\nx-evil: 1","token_type":"Bearer"});
    assert!(rs().pat().unwrap().handle(Response::json(200, body.to_string()), NOW).is_err());
}

#[test]
fn d7_issuer_mismatch_is_sanitized() {
    let cfg = common::config("rkc-rs", None);
    let body = serde_json::json!({"issuer":"http://e\r\nvil","authorization_endpoint":"http://e/a","token_endpoint":"http://e/t"});
    let e = keycloak_client::DiscoveryRequest::new(&cfg)
        .handle(Response::json(200, body.to_string()), NOW)
        .unwrap_err();
    assert!(!e.to_string().contains('\r'), "{e:?}");
}

#[test]
fn d8_single_valued_parameters_are_sent_once() {
    let req = rs()
        .uma_grant(UmaGrantAuth::Client)
        .scope("a")
        .scope("b")
        .rpt_request()
        .request();
    let n = common::form(&req.body).iter().filter(|(k, _)| k == "scope").count();
    assert_eq!(n, 1);
}

#[test]
fn d8_reserved_login_parameter_is_an_error() {
    assert!(rs()
        .login()
        .param("state", "attacker")
        .build(&mut CountingRng(0), NOW)
        .is_err());
}

#[test]
fn d9_token_exchange_requires_issued_token_type() {
    let r = rs()
        .token_exchange("eyJ.s.t", keycloak_client::ACCESS_TOKEN_TYPE)
        .handle(Response::json(200, r#"{"access_token":"eyJ.a.b","token_type":"Bearer"}"#), NOW);
    assert!(r.is_err());
}

#[test]
fn d9_need_info_keeps_the_ticket() {
    let e = rs()
        .uma_grant(UmaGrantAuth::Client)
        .rpt_request()
        .handle(Response::json(403, r#"{"error":"need_info","ticket":"NEW-TICKET","redirect_user":"http://r"}"#), NOW)
        .unwrap_err();
    assert!(format!("{e:?}").contains("redirect_user"), "{e:?}");
}

#[test]
fn d11_an_access_token_is_not_an_id_token_without_a_signature_check_either() {
    let c = rs();
    let (_, p) = c.login().build(&mut CountingRng(0), NOW).unwrap();
    let nonce = p.nonce.secret().to_string();
    let q = format!(
        "state={}&iss={}&code=c",
        p.state.secret(),
        url::form_urlencoded::byte_serialize(ISS.as_bytes()).collect::<String>()
    );
    let ex = c
        .callback(p, &CallbackParams::from_query(&q).unwrap(), NOW)
        .unwrap()
        .danger_skip_id_token_signature();
    let id = unsigned(serde_json::json!({"iss":ISS,"sub":"u","aud":"rkc-rs","iat":NOW.0,
        "exp":NOW.0 + 300,"nonce":nonce,"typ":"Bearer"}));
    let body = serde_json::json!({"access_token":"eyJ.a.b","token_type":"Bearer","id_token":id});
    assert!(ex.handle(Response::json(200, body.to_string()), NOW).is_err());
}

#[allow(dead_code)]
fn unused(_: &dyn Flow<Output = ()>) {}
