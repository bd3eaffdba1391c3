//! Golden tests: the exact method, URL, headers and body of every request the core emits.

mod common;

use common::{client, form, rs, CountingRng, NOW};
use keycloak_client::uma::{
    PermissionRequest, Resource, ResourceQuery, UmaGrantAuth, UmaPolicy, UmaPolicyQuery,
};
use keycloak_client::{
    AccessToken, CallbackParams, Exchange, Flow, IdToken, Method, Password, PermissionTicket,
    RefreshToken, Request, Step, TokenSet, TokenTypeHint,
};

const ISS: &str = "http://127.0.0.1:18080/realms/rkc";
const OIDC: &str = "http://127.0.0.1:18080/realms/rkc/protocol/openid-connect";
// base64("rkc-rs:rkc-rs-secret")
const BASIC: &str = "Basic cmtjLXJzOnJrYy1ycy1zZWNyZXQ=";

fn check(
    req: &Request,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[(&str, &str)],
) {
    assert_eq!(req.method, method);
    assert_eq!(req.url.as_str(), url);
    let got: Vec<(&str, &str)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, headers, "headers of {url}");
    if req.header_value("content-type") == Some("application/json") {
        assert!(body.is_empty(), "JSON bodies are compared separately");
        return;
    }
    let f = form(&req.body);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(f, body, "body of {url}");
}

const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const ACCEPT: (&str, &str) = ("accept", "application/json");

fn tokens() -> TokenSet {
    let id = common::unsigned_jwt(&common::id_claims("rkc-rs", "u1", NOW));
    let r = keycloak_client::TokenResponse::parse(
        &keycloak_client::Response::json(
            200,
            serde_json::json!({"access_token":"AT","token_type":"Bearer","expires_in":300,
            "refresh_token":"RT","id_token":id})
            .to_string(),
        ),
        1 << 20,
    )
    .unwrap();
    TokenSet::from_response(r, NOW)
}

#[test]
fn discovery_requests() {
    let cfg = common::config("rkc-rs", None);
    let r = keycloak_client::DiscoveryRequest::new(&cfg).request();
    check(
        &r,
        Method::Get,
        &format!("{ISS}/.well-known/openid-configuration"),
        &[ACCEPT],
        &[],
    );
    let r = keycloak_client::UmaDiscoveryRequest::new(&cfg).request();
    check(
        &r,
        Method::Get,
        &format!("{ISS}/.well-known/uma2-configuration"),
        &[ACCEPT],
        &[],
    );
}

#[test]
fn authorization_url_is_exact() {
    let c = client("rkc-spa", None);
    let (url, pending) = c
        .login()
        .scope("profile email")
        .prompt("login")
        .login_hint("alice")
        .max_age(60)
        .ui_locales("de")
        .kc_idp_hint("github")
        .param("acr_values", "gold")
        .build(&mut CountingRng(0), NOW)
        .unwrap();
    // 32 bytes 0..31, 32..63, 64..95 as base64url
    assert_eq!(
        pending.state.secret(),
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    );
    assert_eq!(
        pending.nonce.secret(),
        "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8"
    );
    assert_eq!(
        pending.code_verifier.secret(),
        "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8"
    );
    let challenge = keycloak_client::pkce_challenge(&pending.code_verifier);
    let expected = format!(
        "{OIDC}/auth?response_type=code&client_id=rkc-spa&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback\
         &scope=openid+profile+email&state={}&nonce={}&code_challenge={challenge}&code_challenge_method=S256\
         &prompt=login&login_hint=alice&max_age=60&ui_locales=de&kc_idp_hint=github&acr_values=gold",
        pending.state.secret(),
        pending.nonce.secret()
    );
    assert_eq!(url.as_str(), expected);
    assert_eq!(pending.scope, "openid profile email");
    assert_eq!(pending.max_age, Some(60));
    assert_eq!(pending.created_at, NOW);
}

#[test]
fn code_exchange_public_and_confidential() {
    for (c, auth_header, auth_form) in [
        (
            client("rkc-spa", None),
            None,
            Some(("client_id", "rkc-spa")),
        ),
        (rs(), Some(("authorization", BASIC)), None),
    ] {
        let (_, pending) = c.login().build(&mut CountingRng(0), NOW).unwrap();
        let q = format!(
            "state={}&session_state=s&iss=http%3A%2F%2F127.0.0.1%3A18080%2Frealms%2Frkc&code=CODE",
            pending.state.secret()
        );
        let mut ex = c
            .callback(
                pending,
                &CallbackParams::from_query(&q).unwrap(),
                keycloak_client::IdTokenPolicy::DangerSkipSignature,
                NOW,
            )
            .unwrap();
        let Step::Send(r) = ex.poll().unwrap() else {
            panic!("the code exchange must send the code first")
        };
        let mut headers = vec![ACCEPT];
        headers.extend(auth_header);
        headers.push(FORM);
        let mut body = vec![
            ("grant_type", "authorization_code"),
            ("code", "CODE"),
            ("redirect_uri", "http://127.0.0.1/callback"),
            (
                "code_verifier",
                "QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8",
            ),
        ];
        body.extend(auth_form);
        check(&r, Method::Post, &format!("{OIDC}/token"), &headers, &body);
    }
}

#[test]
fn client_secret_post() {
    let cfg = keycloak_client::ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .client_secret("s&cret")
        .client_secret_post()
        .build()
        .unwrap();
    let c = keycloak_client::Client::new(cfg, {
        let p = common::provider();
        keycloak_client::Discovered {
            provider: p,
            uma: None,
            fetched_at: NOW,
        }
    });
    let r = c.pat().unwrap().request();
    assert_eq!(
        String::from_utf8(r.body.clone()).unwrap(),
        "grant_type=client_credentials&client_id=rkc-rs&client_secret=s%26cret"
    );
}

#[test]
fn token_grants() {
    let c = rs();
    check(
        &c.pat().unwrap().scope("uma_protection").request(),
        Method::Post,
        &format!("{OIDC}/token"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[
            ("grant_type", "client_credentials"),
            ("scope", "uma_protection"),
        ],
    );
    check(
        &c.refresh(&tokens()).unwrap().request(),
        Method::Post,
        &format!("{OIDC}/token"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[("grant_type", "refresh_token"), ("refresh_token", "RT")],
    );
    check(
        &c.danger_password_grant("alice", &Password::new("pw"), "openid")
            .request(),
        Method::Post,
        &format!("{OIDC}/token"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
            ("scope", "openid"),
        ],
    );
    check(
        &c.token_exchange("AT", keycloak_client::ACCESS_TOKEN_TYPE)
            .audience("rkc-api")
            .request(),
        Method::Post,
        &format!("{OIDC}/token"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", "AT"),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", "rkc-api"),
        ],
    );
}

#[test]
fn userinfo_logout_revoke_introspect() {
    let c = rs();
    check(
        &c.userinfo(&AccessToken::new("AT")).unwrap().request(),
        Method::Get,
        &format!("{OIDC}/userinfo"),
        &[("authorization", "Bearer AT"), ACCEPT],
        &[],
    );
    check(
        &c.logout(&RefreshToken::new("RT")).unwrap().request(),
        Method::Post,
        &format!("{OIDC}/logout"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[("refresh_token", "RT")],
    );
    check(
        &c.revoke("RT", Some(TokenTypeHint::RefreshToken))
            .unwrap()
            .request(),
        Method::Post,
        &format!("{OIDC}/revoke"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[("token", "RT"), ("token_type_hint", "refresh_token")],
    );
    check(
        &c.introspect("RPT", Some(TokenTypeHint::RequestingPartyToken))
            .unwrap()
            .request(),
        Method::Post,
        &format!("{OIDC}/token/introspect"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[
            ("token", "RPT"),
            ("token_type_hint", "requesting_party_token"),
        ],
    );
    let url = c
        .logout_url()
        .id_token_hint(&IdToken::new("IT"))
        .post_logout_redirect_uri("http://127.0.0.1/bye")
        .state("S")
        .build()
        .unwrap();
    assert_eq!(url.as_str(), format!("{OIDC}/logout?id_token_hint=IT&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%2Fbye&client_id=rkc-rs&state=S"));
}

#[test]
fn device_requests() {
    let c = client("rkc-device", None);
    check(
        &c.device_authorization(Some("profile")).unwrap().request(),
        Method::Post,
        &format!("{OIDC}/auth/device"),
        &[ACCEPT, FORM],
        &[("scope", "openid profile"), ("client_id", "rkc-device")],
    );
    let auth: keycloak_client::DeviceAuthorization = serde_json::from_value(serde_json::json!({
        "device_code": "DC", "user_code": "U", "verification_uri": "v",
        "expires_at": NOW.0 + 600, "interval": 5
    }))
    .unwrap();
    check(
        &c.device_poller(&auth, NOW).request(),
        Method::Post,
        &format!("{OIDC}/token"),
        &[ACCEPT, FORM],
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", "DC"),
            ("client_id", "rkc-device"),
        ],
    );
}

#[test]
fn uma_requests() {
    let c = rs();
    let pat = AccessToken::new("PAT");
    let r = c
        .permission_ticket(&pat, &[PermissionRequest::new("doc-1", &["read", "write"])])
        .unwrap()
        .request();
    check(
        &r,
        Method::Post,
        &format!("{ISS}/authz/protection/permission"),
        &[
            ("authorization", "Bearer PAT"),
            ACCEPT,
            ("content-type", "application/json"),
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"[{"resource_id":"doc-1","resource_scopes":["read","write"]}]"#
    );
    let g = c
        .uma_grant(UmaGrantAuth::Bearer(AccessToken::new("UT")))
        .ticket(&PermissionTicket::new("TK"))
        .permission("doc-1", &["read", "write"])
        .audience("rkc-rs")
        .claim_token("e30", keycloak_client::uma::CLAIM_TOKEN_FORMAT_JWT)
        .rpt(&AccessToken::new("OLD"))
        .submit_request(false);
    check(
        &g.clone().decision().request(),
        Method::Post,
        &format!("{OIDC}/token"),
        &[ACCEPT, ("authorization", "Bearer UT"), FORM],
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:uma-ticket"),
            ("ticket", "TK"),
            ("permission", "doc-1#read,write"),
            ("audience", "rkc-rs"),
            ("claim_token", "e30"),
            ("claim_token_format", "urn:ietf:params:oauth:token-type:jwt"),
            ("rpt", "OLD"),
            ("submit_request", "false"),
            ("response_mode", "decision"),
        ],
    );
    let r = c
        .uma_grant(UmaGrantAuth::Client)
        .audience("rkc-rs")
        .permissions()
        .request();
    check(
        &r,
        Method::Post,
        &format!("{OIDC}/token"),
        &[ACCEPT, ("authorization", BASIC), FORM],
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:uma-ticket"),
            ("audience", "rkc-rs"),
            ("response_mode", "permissions"),
        ],
    );
}

#[test]
fn resource_and_policy_requests() {
    let c = rs();
    let pat = AccessToken::new("PAT");
    let rs_url = format!("{ISS}/authz/protection/resource_set");
    let mut res = Resource::new("r 1", &["read"]);
    res.uris = vec!["/a".into()];
    let r = c.resources().create(&pat, &res).unwrap().request();
    check(
        &r,
        Method::Post,
        &rs_url,
        &[
            ("authorization", "Bearer PAT"),
            ("content-type", "application/json"),
        ],
        &[],
    );
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"{"name":"r 1","uris":["/a"],"resource_scopes":[{"name":"read"}]}"#
    );
    check(
        &c.resources().get(&pat, "id/1").unwrap().request(),
        Method::Get,
        &format!("{rs_url}/id%2F1"),
        &[("authorization", "Bearer PAT"), ACCEPT],
        &[],
    );
    check(
        &c.resources().delete(&pat, "id1").unwrap().request(),
        Method::Delete,
        &format!("{rs_url}/id1"),
        &[("authorization", "Bearer PAT")],
        &[],
    );
    assert_eq!(
        c.resources()
            .update(&pat, "id1", &res)
            .unwrap()
            .request()
            .method,
        Method::Put
    );
    let q = ResourceQuery {
        name: Some("doc".into()),
        exact_name: true,
        uri: Some("/a".into()),
        owner: Some("alice".into()),
        resource_type: Some("t".into()),
        scope: Some("read".into()),
        first: Some(0),
        max: Some(10),
        ..Default::default()
    };
    assert_eq!(c.resources().query_deep(&pat, &q).unwrap().request().url.as_str(),
        format!("{rs_url}?name=doc&exactName=true&uri=%2Fa&owner=alice&type=t&scope=read&first=0&max=10&deep=true"));
    let p = UmaPolicy {
        name: "p".into(),
        scopes: vec!["read".into()],
        users: vec!["bob".into()],
        ..Default::default()
    };
    let r = c.uma_policies().create(&pat, "rid", &p).unwrap().request();
    assert_eq!(
        r.url.as_str(),
        format!("{ISS}/authz/protection/uma-policy/rid")
    );
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"{"name":"p","scopes":["read"],"users":["bob"]}"#
    );
    let r = c
        .uma_policies()
        .query(
            &pat,
            &UmaPolicyQuery {
                resource: Some("rid".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .request();
    assert_eq!(
        r.url.as_str(),
        format!("{ISS}/authz/protection/uma-policy?resource=rid")
    );
}
