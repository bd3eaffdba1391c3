//! Response handling on bodies recorded from Keycloak 26.7.3 (refresh: `scripts/record`).

mod common;

use common::{recorded, rs, NOW};
use keycloak_client::uma::{PermissionRequest, ResourceQuery, UmaGrantAuth};
use keycloak_client::{
    AccessToken, DiscoverFlow, Error, Exchange, Flow, RefreshToken, Step, TokenTypeHint,
};

#[test]
fn discovery_documents() {
    let c = rs();
    assert_eq!(c.provider.issuer, "http://127.0.0.1:18080/realms/rkc");
    assert!(c.provider.authorization_response_iss_parameter_supported);
    assert!(c
        .provider
        .code_challenge_methods_supported
        .contains(&"S256".to_string()));
    assert!(c.provider.device_authorization_endpoint.is_some());
    assert!(
        c.provider.extra.contains_key("mtls_endpoint_aliases"),
        "unknown fields kept"
    );
    let uma = c.uma_metadata.unwrap();
    assert!(uma
        .permission_endpoint
        .as_str()
        .ends_with("/authz/protection/permission"));
    assert!(uma.introspection_endpoint.is_some());
}

#[test]
fn discover_flow_drives_both_documents() {
    let cfg = common::config("rkc-rs", None);
    let mut f = DiscoverFlow::new(&cfg, true);
    let Step::Send(r1) = f.poll().unwrap() else {
        panic!()
    };
    assert!(r1
        .url
        .as_str()
        .ends_with("/.well-known/openid-configuration"));
    f.handle_response(recorded("discovery"), NOW).unwrap();
    let Step::Send(r2) = f.poll().unwrap() else {
        panic!()
    };
    assert!(r2.url.as_str().ends_with("/.well-known/uma2-configuration"));
    f.handle_response(recorded("uma_discovery"), NOW).unwrap();
    let Step::Done(d) = f.poll().unwrap() else {
        panic!()
    };
    assert!(d.uma.is_some());
    assert!(matches!(f.poll().unwrap_err(), Error::FlowState(_)));
}

#[test]
fn optional_uma_discovery_tolerates_404_only() {
    let cfg = common::config("rkc-rs", None);
    let mut f = DiscoverFlow::with_optional_uma(&cfg);
    let _ = f.poll().unwrap();
    f.handle_response(recorded("discovery"), NOW).unwrap();
    let _ = f.poll().unwrap();
    f.handle_response(
        keycloak_client::Response::json(404, r#"{"error":"not found"}"#),
        NOW,
    )
    .unwrap();
    let Step::Done(d) = f.poll().unwrap() else {
        panic!()
    };
    assert!(d.uma.is_none());
    // mandatory UMA: the same 404 is an error
    let mut f = DiscoverFlow::new(&cfg, true);
    let _ = f.poll().unwrap();
    f.handle_response(recorded("discovery"), NOW).unwrap();
    let _ = f.poll().unwrap();
    assert_eq!(
        f.handle_response(keycloak_client::Response::json(404, "{}"), NOW)
            .unwrap_err()
            .http_status(),
        Some(404)
    );
    // optional UMA: a 500 is still an error
    let mut f = DiscoverFlow::with_optional_uma(&cfg);
    let _ = f.poll().unwrap();
    f.handle_response(recorded("discovery"), NOW).unwrap();
    let _ = f.poll().unwrap();
    assert!(f
        .handle_response(keycloak_client::Response::json(500, "{}"), NOW)
        .is_err());
}

#[test]
fn token_responses() {
    let c = rs();
    let t = c
        .pat()
        .unwrap()
        .handle(recorded("token_client_credentials"), NOW)
        .unwrap();
    assert!(t.refresh_token.is_none());
    assert_eq!(t.expires_at, Some(NOW.plus(300)));
    assert_eq!(t.not_before_policy, Some(0));
    let old = keycloak_client::TokenResponse::parse(&recorded("token_password"), 1 << 20).unwrap();
    assert!(old.id_token.is_some() && old.refresh_token.is_some() && old.session_state.is_some());
    assert_eq!(old.refresh_expires_in, Some(1800));
    // Recorded at 1795803638 (the ID tokens' `iat`); refresh checks the new ID token's claims.
    let recorded_at = keycloak_client::UnixTime(1_795_803_638);
    let set = keycloak_client::TokenSet::from_response(old, recorded_at);
    let raw = keycloak_client::TokenResponse::parse(&recorded("token_refresh"), 1 << 20).unwrap();
    let r = c
        .refresh(&set)
        .unwrap()
        .handle(recorded("token_refresh"), recorded_at.plus(5))
        .unwrap();
    // The rotated refresh token from the response, not the old one kept by the fallback.
    let (new_rt, old_rt) = (r.refresh_token.unwrap(), set.refresh_token.clone().unwrap());
    assert_eq!(new_rt.secret(), raw.refresh_token.unwrap().secret());
    assert_ne!(new_rt.secret(), old_rt.secret());
    assert_eq!(r.id_token.unwrap().secret(), raw.id_token.unwrap().secret());
    // The same refresh response long after its ID token's `iat` is refused, not stored.
    let e = c
        .refresh(&set)
        .unwrap()
        .handle(recorded("token_refresh"), recorded_at.plus(3600))
        .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

#[test]
fn userinfo_ok_and_bad_token() {
    let c = rs();
    let at = AccessToken::new("x");
    let u = c
        .userinfo(&at)
        .unwrap()
        .handle(recorded("userinfo"), NOW)
        .unwrap();
    assert_eq!(u.preferred_username.as_deref(), Some("alice"));
    assert_eq!(u.email_verified, Some(true));
    let e = c
        .userinfo(&at)
        .unwrap()
        .handle(recorded("userinfo_bad_token"), NOW)
        .unwrap_err();
    assert_eq!(e.http_status(), Some(401));
    assert_eq!(e.oauth_error(), Some("invalid_token"), "{e}");
}

#[test]
fn introspection_active_inactive_rpt() {
    let c = rs();
    let i = c
        .introspect("x", None)
        .unwrap()
        .handle(recorded("introspect_active"), NOW)
        .unwrap();
    assert!(i.active && i.username.as_deref() == Some("alice"));
    let i = c
        .introspect("x", None)
        .unwrap()
        .handle(recorded("introspect_inactive"), NOW)
        .unwrap();
    assert!(!i.active && i.username.is_none());
    let i = c
        .introspect("x", Some(TokenTypeHint::RequestingPartyToken))
        .unwrap()
        .handle(recorded("introspect_rpt"), NOW)
        .unwrap();
    let p = &i.permissions.unwrap()[0];
    assert_eq!(p.rsname.as_deref(), Some("doc-1"));
    assert_eq!(p.scopes, ["read"]);
}

#[test]
fn oauth_errors_and_html() {
    let c = rs();
    let e = c
        .pat()
        .unwrap()
        .handle(recorded("error_unauthorized_client"), NOW)
        .unwrap_err();
    assert_eq!(e.to_string(), "client credentials: server answered HTTP 401 with OAuth error unauthorized_client: Invalid client or Invalid client credentials");
    let e = c
        .pat()
        .unwrap()
        .handle(recorded("error_invalid_grant"), NOW)
        .unwrap_err();
    assert!(e.is_invalid_grant());
    let e = c
        .pat()
        .unwrap()
        .handle(recorded("error_html_bad_redirect"), NOW)
        .unwrap_err();
    assert!(
        matches!(e, Error::HtmlResponse { status: 400, .. }),
        "{e:?}"
    );
    let e = c
        .pat()
        .unwrap()
        .handle(recorded("refresh_after_logout"), NOW)
        .unwrap_err();
    assert!(
        e.to_string().contains("Session not active")
            || e.to_string().contains("Token is not active"),
        "{e}"
    );
}

#[test]
fn uma_ticket_rpt_decision_permissions_denied() {
    let c = rs();
    let pat = AccessToken::new("pat");
    let t = c
        .permission_ticket(&pat, &[PermissionRequest::new("doc-1", &["read"])])
        .unwrap()
        .handle(recorded("permission_ticket"), NOW)
        .unwrap();
    assert!(t.secret().starts_with("eyJ"));
    let rpt = c
        .rpt_for_ticket(&pat, &t)
        .handle(recorded("rpt"), NOW)
        .unwrap();
    assert!(!rpt.upgraded, "Keycloak answered `upgraded: false`");
    // The same recorded body with `upgraded: true` must read as upgraded.
    let mut body: serde_json::Value = serde_json::from_slice(&recorded("rpt").body).unwrap();
    body["upgraded"] = serde_json::json!(true);
    let up = c
        .rpt_for_ticket(&pat, &t)
        .handle(keycloak_client::Response::json(200, body.to_string()), NOW)
        .unwrap();
    assert!(up.upgraded);
    let g = || {
        c.uma_grant(UmaGrantAuth::Bearer(pat.clone()))
            .audience("rkc-rs")
    };
    assert!(g()
        .decision()
        .handle(recorded("uma_decision"), NOW)
        .unwrap());
    assert!(!g().decision().handle(recorded("uma_denied"), NOW).unwrap());
    let perms = g()
        .permissions()
        .handle(recorded("uma_permissions"), NOW)
        .unwrap();
    assert!(perms.iter().any(|p| p.rsname.as_deref() == Some("doc-1")));
    let e = g()
        .permissions()
        .handle(recorded("uma_denied"), NOW)
        .unwrap_err();
    assert!(
        e.is_access_denied() && e.to_string().contains("not_authorized"),
        "{e}"
    );
}

#[test]
fn resources_list_deep_get_missing() {
    let c = rs();
    let pat = AccessToken::new("pat");
    let ids = c
        .resources()
        .query(&pat, &ResourceQuery::default())
        .unwrap()
        .handle(recorded("resource_list"), NOW)
        .unwrap();
    assert_eq!(ids.len(), 1);
    let deep = c
        .resources()
        .query_deep(&pat, &ResourceQuery::default())
        .unwrap()
        .handle(recorded("resource_list_deep"), NOW)
        .unwrap();
    assert_eq!(deep[0].id.as_ref(), Some(&ids[0]));
    assert_eq!(deep[0].scope_names().len(), 2);
    let r = c
        .resources()
        .get(&pat, &ids[0])
        .unwrap()
        .handle(recorded("resource_get"), NOW)
        .unwrap();
    assert_eq!(r.name, "doc-1");
    assert_eq!(r.uris, ["/docs/1"]);
    let e = c
        .resources()
        .get(&pat, "x")
        .unwrap()
        .handle(recorded("resource_missing"), NOW)
        .unwrap_err();
    // Keycloak 26.7 answers an unknown id with {"error":"HTTP 404 Not Found"}.
    assert_eq!(e.http_status(), Some(404), "{e:?}");
    let e = c
        .resources()
        .get(&pat, "x")
        .unwrap()
        .handle(recorded("protection_no_bearer"), NOW)
        .unwrap_err();
    assert_eq!(e.oauth_error(), Some("invalid_bearer_token"), "{e}");
}

#[test]
fn device_and_logout() {
    let c = keycloak_client::Client::new(common::config("rkc-device", None), {
        let provider = common::provider();
        keycloak_client::Discovered {
            provider,
            uma: None,
            fetched_at: NOW,
        }
    });
    let a = c
        .device_authorization(None)
        .unwrap()
        .handle(recorded("device_authorization"), NOW)
        .unwrap();
    assert_eq!(a.expires_at, NOW.plus(600));
    assert_eq!(a.interval, 1);
    let mut poller = c.device_poller(&a, NOW);
    assert_eq!(poller.next_poll_at(), NOW.plus(1));
    match poller
        .handle(recorded("device_pending"), NOW.plus(1))
        .unwrap()
    {
        keycloak_client::DevicePoll::Pending {
            interval,
            next_poll_at,
        } => assert_eq!((interval, next_poll_at), (1, NOW.plus(2))),
        other => panic!("{other:?}"),
    }
    let e = poller
        .handle(recorded("device_pending"), NOW.plus(601))
        .unwrap_err();
    assert!(matches!(e, Error::DeviceExpired));
    let rs = rs();
    rs.logout(&RefreshToken::new("rt"))
        .unwrap()
        .handle(recorded("logout"), NOW)
        .unwrap();
}

#[test]
fn recorded_bodies_truncated_anywhere_never_panic() {
    let c = rs();
    let full = recorded("token_password");
    for cut in 0..full.body.len() {
        let mut r = full.clone();
        r.body.truncate(cut);
        let e = c.pat().unwrap().handle(r, NOW).unwrap_err();
        assert!(
            matches!(e, Error::TruncatedBody { .. } | Error::MalformedJson { .. }),
            "cut at {cut}: {e:?}"
        );
    }
}
