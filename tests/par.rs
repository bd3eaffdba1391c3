//! Pushed authorization requests (RFC 9126) in the core: the raw request, the browser URL
//! built from the answer, typed errors, and when a login must be pushed.

mod common;

use common::{recorded, NOW};
use keycloak_client::{Client, Discovered, Error, Exchange, Method, Response};

fn client(push: bool, require: bool) -> Client {
    let cfg = common::builder()
        .client_secret("rkc-rs-secret")
        .pushed_authorization_requests(push)
        .build()
        .unwrap();
    let mut provider = common::provider();
    provider.require_pushed_authorization_requests = require;
    Client::new(
        cfg,
        Discovered {
            provider,
            uma: None,
            fetched_at: NOW,
        },
    )
}

fn json(status: u16, body: &str) -> Response {
    Response::new(
        status,
        vec![("content-type".into(), "application/json".into())],
        body.as_bytes().to_vec(),
    )
}

#[test]
fn the_parameters_go_over_the_back_channel_and_the_url_holds_only_the_request_uri() {
    let c = client(false, false);
    let pushed = c
        .login()
        .scope("email")
        .build_pushed(&mut rand::rng(), NOW)
        .unwrap();
    let req = pushed.request();
    assert_eq!(req.method, Method::Post);
    assert_eq!(
        req.url.as_str(),
        "http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/ext/par/request"
    );
    assert!(req
        .header_value("authorization")
        .unwrap()
        .starts_with("Basic "));
    let form = common::form(&req.body);
    let names: Vec<&str> = form.iter().map(|(k, _)| k.as_str()).collect();
    for required in [
        "response_type",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ] {
        assert_eq!(
            names.iter().filter(|n| **n == required).count(),
            1,
            "`{required}` once in {names:?}"
        );
    }
    assert!(
        !names.contains(&"client_id"),
        "Basic carries the client: {names:?}"
    );
    assert!(!names.contains(&"request_uri"));
    let state = form.iter().find(|(k, _)| k == "state").unwrap().1.clone();
    assert_eq!(pushed.pending().state.secret(), state);
    let (url, pending) = pushed
        .handle(
            json(
                201,
                r#"{"request_uri":"urn:ietf:params:oauth:request_uri:x-1","expires_in":60}"#,
            ),
            NOW,
        )
        .unwrap();
    assert_eq!(
        url.as_str(),
        "http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/auth?client_id=rkc-rs&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax-1"
    );
    assert_eq!(pending.state.secret(), state);
}

#[test]
fn refusals_and_odd_answers_are_typed_errors() {
    let c = client(false, false);
    let push = || c.login().build_pushed(&mut rand::rng(), NOW).unwrap();
    let e = push()
        .handle(
            json(
                400,
                r#"{"error":"invalid_request","error_description":"bad scope"}"#,
            ),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(e, Error::OAuth { status: 400, .. }), "{e:?}");
    assert_eq!(e.oauth_error(), Some("invalid_request"));
    for body in [
        r#"{"request_uri":"","expires_in":60}"#,
        r#"{"request_uri":"urn:x\r\nSet-Cookie: a=b","expires_in":60}"#,
        r#"{"expires_in":60}"#,
        r#"{"request_uri":"urn:x"}"#,
        "not json",
    ] {
        assert!(push().handle(json(201, body), NOW).is_err(), "{body}");
    }
    let html = Response::new(
        502,
        vec![("content-type".into(), "text/html".into())],
        b"<html><title>Bad Gateway</title></html>".to_vec(),
    );
    assert!(matches!(
        push().handle(html, NOW),
        Err(Error::HtmlResponse { status: 502, .. })
    ));
}

#[test]
fn a_login_that_must_be_pushed_is_never_built_as_a_plain_url() {
    for (push, require) in [(true, false), (false, true), (true, true)] {
        let c = client(push, require);
        assert!(c.login().must_push());
        assert!(matches!(
            c.login().build(&mut rand::rng(), NOW),
            Err(Error::Config(_))
        ));
    }
    assert!(!client(false, false).login().must_push());
    // no PAR endpoint discovered: a typed error, not a guess
    let cfg = common::config("rkc-rs", Some("s"));
    let mut provider = common::provider();
    provider.pushed_authorization_request_endpoint = None;
    let c = Client::new(
        cfg,
        Discovered {
            provider,
            uma: None,
            fetched_at: NOW,
        },
    );
    assert!(matches!(
        c.login().build_pushed(&mut rand::rng(), NOW),
        Err(Error::MissingEndpoint(_))
    ));
    let _ = recorded("discovery");
}
