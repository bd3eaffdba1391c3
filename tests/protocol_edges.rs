//! Edges of the core's plumbing that the mutation run found untested: response classification
//! and limits, error helpers, HTTP vocabulary, configuration URLs, token-set arithmetic, the
//! one-trip steps without a body, and the public parsers.

mod common;

use common::{recorded, rs, NOW};
use keycloak_client::{
    realm_url, ClientConfig, Error, Exchange, Method, RefreshToken, Response, TokenSet,
    TokenTypeHint, UnixTime,
};

fn typed(status: u16, ct: &str, body: &str) -> Response {
    Response::new(status, vec![("content-type".into(), ct.into())], body)
}

#[test]
fn body_limit_is_inclusive() {
    let c = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .client_secret("s")
        .max_body_bytes(64)
        .build()
        .unwrap();
    let c = keycloak_client::Client::new(
        c,
        keycloak_client::Discovered {
            provider: rs().provider,
            uma: None,
            fetched_at: NOW,
        },
    );
    let body = |n: usize| {
        let base = r#"{"access_token":"eyJ.a.b","token_type":"Bearer","x":""}"#;
        let pad = "a".repeat(n - base.len());
        format!(r#"{{"access_token":"eyJ.a.b","token_type":"Bearer","x":"{pad}"}}"#)
    };
    assert!(c
        .pat()
        .unwrap()
        .handle(Response::json(200, body(64)), NOW)
        .is_ok());
    let e = c
        .pat()
        .unwrap()
        .handle(Response::json(200, body(65)), NOW)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::BodyTooLarge {
                len: 65,
                limit: 64,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn html_pages_are_recognised_by_type_or_by_their_first_bytes() {
    let c = rs();
    let html = |r: Response| c.pat().unwrap().handle(r, NOW).unwrap_err();
    for r in [
        typed(502, "text/html", "gateway"),
        typed(502, "application/xhtml+xml", "gateway"),
        typed(502, "text/plain", "  \n<!DOCTYPE html><title>Proxy</title>"),
        typed(
            502,
            "application/octet-stream",
            "<HTML><head><TITLE> Bad gateway </TITLE>",
        ),
    ] {
        let e = html(r);
        assert!(
            matches!(e, Error::HtmlResponse { status: 502, .. }),
            "{e:?}"
        );
    }
    let e = html(typed(
        502,
        "text/html",
        "<html><title>Proxy error</title></html>",
    ));
    assert!(
        matches!(e, Error::HtmlResponse { title: Some(ref t), .. } if t == "Proxy error"),
        "{e:?}"
    );
    // a title within the first 64 KiB is found, one beyond is not searched; an empty one is none
    let near = format!("<html>{}<title>found</title>", " ".repeat(2_000));
    assert!(
        matches!(html(typed(502, "text/html", &near)), Error::HtmlResponse { title: Some(ref t), .. } if t == "found")
    );
    let far = format!("<html>{}<title>late</title>", " ".repeat(70_000));
    assert!(matches!(
        html(typed(502, "text/html", &far)),
        Error::HtmlResponse { title: None, .. }
    ));
    assert!(matches!(
        html(typed(502, "text/html", "<html><title>  </title>")),
        Error::HtmlResponse { title: None, .. }
    ));
    // not HTML: plain text becomes the detail, other bodies their size
    let e = html(typed(503, "text/plain", "maintenance"));
    assert!(
        matches!(e, Error::UnexpectedStatus { status: 503, detail: Some(ref d), .. } if d == "maintenance"),
        "{e:?}"
    );
    let e = html(typed(503, "application/octet-stream", "xyz"));
    assert!(
        matches!(e, Error::UnexpectedStatus { detail: Some(ref d), .. } if d == "3 byte body"),
        "{e:?}"
    );
    let e = html(typed(503, "text/plain", ""));
    assert!(
        matches!(e, Error::UnexpectedStatus { detail: None, .. }),
        "{e:?}"
    );
}

#[test]
fn json_media_types_and_oauth_error_fields() {
    let c = rs();
    // `application/<x>+json` is JSON; `text/json+x` is not
    let ok = |ct: &str| {
        c.pat().unwrap().handle(
            typed(
                200,
                ct,
                r#"{"access_token":"eyJ.a.b","token_type":"Bearer"}"#,
            ),
            NOW,
        )
    };
    assert!(ok("application/json").is_ok());
    assert!(ok("application/vnd.kc+json").is_ok());
    assert!(matches!(
        ok("text/vnd.kc+json"),
        Err(Error::WrongContentType { .. })
    ));
    let e = c
        .pat()
        .unwrap()
        .handle(
            Response::json(
                400,
                r#"{"error":"invalid_client","error_description":"bad","error_uri":"http://doc"}"#,
            ),
            NOW,
        )
        .unwrap_err();
    let Error::OAuth { body, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (body.error_description.as_deref(), body.error_uri.as_deref()),
        (Some("bad"), Some("http://doc"))
    );
    // the same fields from a Bearer challenge with an empty body (RFC 6750 §3)
    let e = c
        .userinfo(&keycloak_client::AccessToken::new("eyJ.a.b"))
        .unwrap()
        .handle(
            Response::new(
                401,
                vec![(
                    "www-authenticate".into(),
                    r#"Bearer error="invalid_token", error_description="expired", error_uri="http://doc""#.into(),
                )],
                "",
            ),
            NOW,
        )
        .unwrap_err();
    let Error::OAuth { body, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (
            body.error.as_str(),
            body.error_description.as_deref(),
            body.error_uri.as_deref()
        ),
        ("invalid_token", Some("expired"), Some("http://doc"))
    );
}

#[test]
fn error_helpers_say_what_they_name() {
    let e = |code: &str| Error::OAuth {
        what: "x",
        status: 400,
        body: Box::new(keycloak_client::OAuthError::new(code)),
    };
    assert!(e("access_denied").is_access_denied() && !e("invalid_grant").is_access_denied());
    assert!(e("invalid_grant").is_invalid_grant() && !e("access_denied").is_invalid_grant());
    assert!(!Error::StateMismatch.is_access_denied() && !Error::StateMismatch.is_invalid_grant());
    // server text is cut at 300 characters, with a marker only when cut
    let long = |n: usize| {
        Error::OAuth {
            what: "x",
            status: 400,
            body: Box::new(keycloak_client::OAuthError::new("a".repeat(n))),
        }
        .to_string()
    };
    assert!(!long(300).contains('…') && long(300).contains(&"a".repeat(300)));
    assert!(long(301).contains('…') && !long(301).contains(&"a".repeat(301)));
}

#[test]
fn methods_and_secret_fields() {
    let all = [
        (Method::Get, "GET", true),
        (Method::Post, "POST", false),
        (Method::Put, "PUT", true),
        (Method::Delete, "DELETE", true),
    ];
    for (m, name, idempotent) in all {
        assert_eq!(
            (m.as_str(), m.to_string().as_str(), m.is_idempotent()),
            (name, name, idempotent)
        );
    }
    // only secret form fields are redacted in a request's Debug
    let req = rs().pat().unwrap().scope("uma_protection").request();
    let d = format!("{req:?}");
    assert!(
        d.contains("uma_protection") && d.contains("client_credentials"),
        "{d}"
    );
    // a response's Debug names status and headers, redacting secret ones
    let r = Response::new(
        200,
        vec![
            ("content-type".into(), "application/json".into()),
            ("set-cookie".into(), "SESSION=x".into()),
        ],
        "{}",
    );
    let d = format!("{r:?}");
    assert!(
        d.contains("200") && d.contains("application/json") && !d.contains("SESSION=x"),
        "{d}"
    );
}

#[test]
fn configuration_urls_must_be_http() {
    let https = ClientConfig::issuer("https://id.example/realms/r", "c")
        .build()
        .unwrap();
    assert_eq!(https.issuer, "https://id.example/realms/r");
    assert!(ClientConfig::issuer("http://127.0.0.1/realms/r", "c")
        .build()
        .is_ok());
    assert!(ClientConfig::issuer("ftp://id.example/r", "c")
        .build()
        .is_err());
    let u = |s: &str| url::Url::parse(s).unwrap();
    assert!(realm_url(&u("https://id.example/auth"), "r").is_ok());
    for bad in ["ftp://id.example/", "mailto:a@b", "data:text/plain,x"] {
        assert!(realm_url(&u(bad), "r").is_err(), "{bad}");
    }
}

#[test]
fn token_set_arithmetic() {
    let set = |body: &str| {
        TokenSet::from_response(
            keycloak_client::TokenResponse::parse(&Response::json(200, body), 1 << 20).unwrap(),
            NOW,
        )
    };
    let t = set(
        r#"{"access_token":"eyJ.a.b","token_type":"Bearer","expires_in":300,"refresh_token":"r","refresh_expires_in":0}"#,
    );
    assert_eq!(
        t.refresh_expires_at, None,
        "0 means no expiry (offline tokens)"
    );
    assert!(!t.is_expired(NOW.plus(299)) && t.is_expired(NOW.plus(300)));
    assert_eq!(
        (t.expires_in(NOW.plus(100)), t.expires_in(NOW.plus(400))),
        (200, 0)
    );
    let t = set(
        r#"{"access_token":"eyJ.a.b","token_type":"Bearer","refresh_token":"r","refresh_expires_in":1}"#,
    );
    assert_eq!(t.refresh_expires_at, Some(NOW.plus(1)));
    assert_eq!(NOW.minus(10), UnixTime(NOW.0 - 10));
    assert_eq!(UnixTime(5).minus(10), UnixTime(0));
}

#[test]
fn device_grant_expiry_is_reported() {
    let c = common::client("rkc-device", None);
    let auth = c
        .device_authorization(None)
        .unwrap()
        .handle(recorded("device_authorization"), NOW)
        .unwrap();
    let mut p = c.device_poller(&auth, NOW);
    assert_eq!(p.expires_at(), NOW.plus(600));
    let e = p
        .handle(
            Response::json(400, r#"{"error":"expired_token"}"#),
            NOW.plus(5),
        )
        .unwrap_err();
    assert!(matches!(e, Error::DeviceExpired), "{e:?}");
}

#[test]
fn bodiless_steps_still_report_errors() {
    let c = rs();
    let denied = || Response::json(400, r#"{"error":"invalid_grant"}"#);
    let e = c
        .logout(&RefreshToken::new("r"))
        .unwrap()
        .handle(denied(), NOW)
        .unwrap_err();
    assert!(e.is_invalid_grant());
    let e = c
        .revoke("t", Some(TokenTypeHint::RefreshToken))
        .unwrap()
        .handle(denied(), NOW)
        .unwrap_err();
    assert!(e.is_invalid_grant());
    let pat = keycloak_client::AccessToken::new("pat");
    let e = c
        .resources()
        .delete(&pat, "42")
        .unwrap()
        .handle(
            Response::json(404, r#"{"error":"HTTP 404 Not Found"}"#),
            NOW,
        )
        .unwrap_err();
    assert_eq!(e.http_status(), Some(404));
    let step = c.resources().get(&pat, "42").unwrap();
    assert!(format!("{step:?}").contains("get resource"));
}

#[test]
fn the_flows_parse_what_keycloak_recorded() {
    let c = rs();
    let pat = keycloak_client::AccessToken::new("pat");
    let list = c.resources().query_deep(&pat, &Default::default()).unwrap();
    assert!(!list
        .handle(recorded("resource_list_deep"), NOW)
        .unwrap()
        .is_empty());
    let perms = [keycloak_client::uma::PermissionRequest::new(
        "doc-1",
        &["read"],
    )];
    let t = c.permission_ticket(&pat, &perms).unwrap();
    let t = t.handle(recorded("permission_ticket"), NOW).unwrap();
    assert!(t.secret().starts_with("eyJ"));
    let g = c
        .uma_grant(keycloak_client::uma::UmaGrantAuth::Client)
        .permissions();
    assert!(!g
        .handle(recorded("uma_permissions"), NOW)
        .unwrap()
        .is_empty());
}

#[test]
fn steps_show_what_they_are_and_signed_userinfo_is_named() {
    let c = rs();
    let d = format!("{:?}", c.pat().unwrap().scope("uma_protection"));
    assert!(
        d.contains("TokenCall") && d.contains("client credentials") && d.contains("uma_protection"),
        "{d}"
    );
    let e = c
        .userinfo(&keycloak_client::AccessToken::new("eyJ.a.b"))
        .unwrap()
        .handle(typed(200, "application/jwt", "eyJ.a.b"), NOW)
        .unwrap_err();
    assert!(
        e.to_string().contains("signed userinfo is not enabled"),
        "{e}"
    );
}

#[test]
fn only_a_refusal_or_an_invalid_token_is_definitive_and_outages_are_unavailable() {
    let from = |status: u16, media: &str, body: &str| {
        let headers = vec![("content-type".to_string(), media.to_string())];
        keycloak_client::Error::from_response(&Response::new(status, headers, body.to_string()))
    };
    let invalid_grant = from(400, "application/json", r#"{"error":"invalid_grant"}"#);
    assert!(invalid_grant.is_definitive() && !invalid_grant.is_unavailable());
    let unauthorized = from(401, "application/json", r#"{"error":"invalid_client"}"#);
    assert!(unauthorized.is_definitive());
    for outage in [
        from(500, "application/json", r#"{"error":"unknown_error"}"#),
        from(502, "text/html", "<html>Bad Gateway</html>"),
        from(
            503,
            "application/json",
            r#"{"error":"temporarily_unavailable"}"#,
        ),
        from(504, "text/plain", "timeout"),
    ] {
        assert!(!outage.is_definitive(), "{outage:?}");
    }
    assert!(from(503, "text/html", "<html>down</html>").is_unavailable());
    assert!(!from(500, "text/html", "<html>oops</html>").is_unavailable());
    assert!(keycloak_client::Error::TokenValidation("x".into()).is_definitive());
    assert!(!keycloak_client::Error::KeysUnavailable.is_definitive());
    // keys that could not be loaded (and may not be fetched again yet) are an outage too
    assert!(keycloak_client::Error::KeysUnavailable.is_unavailable());
    assert!(!keycloak_client::Error::UnknownKey(None).is_unavailable());
}

#[test]
fn a_gateway_or_limiter_answering_json_is_not_a_verdict() {
    for status in [404u16, 408, 429] {
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let e = keycloak_client::Error::from_response(&Response::new(
            status,
            headers,
            r#"{"error":"invalid_grant"}"#.to_string(),
        ));
        assert!(!e.is_definitive(), "{status}: {e:?}");
    }
}

/// PKCE on the device grant (RFC 7636 with RFC 8628): the challenge is `S256` of the verifier,
/// the verifier travels in the authorization (never in `Debug`) and every poll carries it.
/// Keycloak refuses a device request without it for a PKCE-enforcing client (OAuth 2.1).
#[test]
fn device_grant_with_pkce_sends_the_verifier_on_every_poll() {
    use sha2::Digest;
    let c = common::client("rkc-device", None);
    let step = c
        .device_authorization(None)
        .unwrap()
        .pkce(&mut common::CountingRng(7));
    let sent = common::form(&step.request().body);
    let get = |f: &[(String, String)], k: &str| {
        let v: Vec<_> = f
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .collect();
        assert!(v.len() <= 1, "{k} repeated: {f:?}");
        v.into_iter().next()
    };
    assert_eq!(get(&sent, "code_challenge_method").as_deref(), Some("S256"));
    let challenge = get(&sent, "code_challenge").expect("a challenge");
    let auth = step.handle(recorded("device_authorization"), NOW).unwrap();
    let verifier = auth.code_verifier.clone().expect("the verifier is kept");
    assert!(verifier.secret().len() >= 43, "RFC 7636 §4.1 length");
    let expect = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        sha2::Sha256::digest(verifier.secret().as_bytes()),
    );
    assert_eq!(challenge, expect);
    assert!(!format!("{auth:?}").contains(verifier.secret()));
    // survives storage (kcc keeps authorizations between runs)
    let stored: keycloak_client::DeviceAuthorization =
        serde_json::from_str(&serde_json::to_string(&auth).unwrap()).unwrap();
    let p = c.device_poller(&stored, NOW);
    let poll = common::form(&p.request().body);
    assert_eq!(
        get(&poll, "code_verifier").as_deref(),
        Some(verifier.secret())
    );
    // without PKCE, no verifier is sent
    let plain = c
        .device_authorization(None)
        .unwrap()
        .handle(recorded("device_authorization"), NOW)
        .unwrap();
    assert!(plain.code_verifier.is_none());
    let poll = common::form(&c.device_poller(&plain, NOW).request().body);
    assert_eq!(get(&poll, "code_verifier"), None);
    assert_eq!(
        get(
            &common::form(&c.device_authorization(None).unwrap().request().body),
            "code_challenge"
        ),
        None
    );
}
