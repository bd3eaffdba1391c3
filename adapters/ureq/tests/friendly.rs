//! The seed vocabulary (`login`, `callback`, `fetch_userinfo`, `pat`, `find_ticket`, ...) of the
//! blocking client against the real Keycloak.

use keycloak_client::uma::{PermissionRequest, Resource, ResourceQuery};
use keycloak_client::{ClientConfig, TokenTypeHint};
use keycloak_client_testkit::browser::Browser;
use keycloak_client_testkit::keycloak::{self, REDIRECT_URI, RS_CLIENT, RS_SECRET};
use keycloak_client_ureq::Keycloak;

fn kc() -> Keycloak {
    let env = keycloak::require();
    Keycloak::builder(
        ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT).client_secret(RS_SECRET),
    )
    .redirect_uri(REDIRECT_URI)
    .jws_verifier(std::sync::Arc::new(keycloak_client_ring::RingVerifier))
    .build()
    .unwrap()
}

#[test]
fn seed_vocabulary_end_to_end() {
    let kc = kc();
    let (url, pending) = kc.login().unwrap();
    let cb = Browser::new()
        .login(url.as_str(), "alice", "alice-pass")
        .unwrap();
    let login = kc.callback(pending, cb.query().unwrap()).unwrap();
    let user = kc.fetch_userinfo(&login.tokens.access_token).unwrap();
    assert_eq!(user.preferred_username.as_deref(), Some("alice"));
    assert_eq!(Some(user.sub.as_str()), login.id_claims.sub());
    // the ID token was verified with the realm's keys; the access token validates locally too
    let claims = kc
        .validate_access_token(login.tokens.access_token.secret())
        .unwrap();
    assert_eq!(claims.str("preferred_username"), Some("alice"));
    assert!(claims.aud().contains(&RS_CLIENT));
    let forged = format!(
        "{}x",
        &login.tokens.access_token.secret()[..login.tokens.access_token.secret().len() - 1]
    );
    assert!(kc.validate_access_token(&forged).is_err());
    let refreshed = kc.refresh(&login.tokens).unwrap();
    let pat1 = kc.pat().unwrap();
    let pat2 = kc.pat().unwrap();
    assert_eq!(
        pat1.access_token.secret(),
        pat2.access_token.secret(),
        "PAT cached"
    );
    let ticket = kc
        .find_ticket(&[PermissionRequest::new("doc-1", &["read"])])
        .unwrap();
    let rpt = kc.rpt(&refreshed.access_token, &ticket).unwrap();
    let intro = kc
        .introspect(
            rpt.tokens.access_token.secret(),
            Some(TokenTypeHint::RequestingPartyToken),
        )
        .unwrap();
    assert!(intro.active);
    assert!(kc
        .decision(&refreshed.access_token, RS_CLIENT, "doc-1", &["write"])
        .unwrap());
    let name = format!("friendly-ureq-{}", std::process::id());
    let created = kc
        .create_resource(&Resource::new(&name, &["read"]))
        .unwrap();
    let id = created.id.clone().unwrap();
    let q = ResourceQuery {
        name: Some(name.clone()),
        exact_name: true,
        ..Default::default()
    };
    assert_eq!(kc.query_resources(&q).unwrap(), vec![id.clone()]);
    kc.delete_resource(&id).unwrap();
    kc.logout(&refreshed).unwrap();
    let e = kc.refresh(&refreshed).unwrap_err();
    assert!(e.keycloak().unwrap().is_invalid_grant(), "{e}");
}

#[test]
fn missing_id_token_policy_is_refused() {
    let env = keycloak::require();
    let kc = Keycloak::builder(
        ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT).client_secret(RS_SECRET),
    )
    .redirect_uri(REDIRECT_URI)
    .build()
    .unwrap();
    let (url, pending) = kc.login().unwrap();
    let cb = Browser::new()
        .login(url.as_str(), "carol", "carol-pass")
        .unwrap();
    let e = kc.callback(pending, cb.query().unwrap()).unwrap_err();
    assert!(
        matches!(
            e.keycloak(),
            Some(keycloak_client::Error::NoIdTokenValidator)
        ),
        "{e}"
    );
}

#[test]
fn unreachable_server_is_a_transport_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let kc = Keycloak::builder(ClientConfig::keycloak(
        &format!("http://127.0.0.1:{port}"),
        "rkc",
        "x",
    ))
    .build()
    .unwrap();
    let e = kc.login().unwrap_err();
    assert!(
        matches!(
            e,
            keycloak_client_ureq::Error::Transport(
                keycloak_client_ureq::TransportError::Connect { .. }
            )
        ),
        "{e}"
    );
}
