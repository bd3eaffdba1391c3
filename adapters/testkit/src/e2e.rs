//! End-to-end scenarios against the real Keycloak, driven through any adapter's `send`.
//! Each adapter runs all of them with [`e2e_tests!`](crate::e2e_tests).

use std::time::{SystemTime, UNIX_EPOCH};

use keycloak_client::uma::{
    Resource, ResourceOwner, ResourceQuery, UmaGrantAuth, UmaPolicy, UmaPolicyQuery,
};
use keycloak_client::{
    AccessToken, CallbackParams, Client, ClientConfig, DevicePoll, DiscoverFlow, Error, Exchange,
    Flow, IdTokenPolicy, LoginTokens, Password, PendingLogin, Single, TokenSet, TokenTypeHint,
    UmaChallenge, UnixTime,
};

use crate::browser::Browser;
use crate::conformance::Sender;
use crate::keycloak::{self, Env, DEVICE_CLIENT, REDIRECT_URI, RS_CLIENT, RS_SECRET, SPA_CLIENT};

/// A plain blocking sender for helpers (a `ureq` agent without retries), so helpers do not
/// depend on the adapters under test.
pub struct UreqLess;

impl Sender for UreqLess {
    fn send(
        &self,
        req: &keycloak_client::Request,
    ) -> Result<keycloak_client::Response, crate::conformance::Failure> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .into();
        let mut b = http::Request::builder()
            .method(req.method.as_str())
            .uri(req.url.as_str());
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let hreq = b
            .body(req.body.clone())
            .map_err(|e| crate::conformance::Failure::Other(e.to_string()))?;
        let mut resp = agent
            .run(hreq)
            .map_err(|e| crate::conformance::Failure::Other(e.to_string()))?;
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .read_to_vec()
            .map_err(|e| crate::conformance::Failure::Other(e.to_string()))?;
        Ok(keycloak_client::Response::new(
            resp.status().as_u16(),
            headers,
            body,
        ))
    }
}

/// Wall clock for the tests.
pub fn now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

/// Drives a flow; transport failures panic (they are not what these tests are about).
pub fn run<F: Flow>(s: &dyn Sender, flow: F) -> Result<F::Output, Error> {
    let send = |req: &keycloak_client::Request| {
        Ok::<_, Error>(
            s.send(req)
                .unwrap_or_else(|e| panic!("transport failure for {req:?}: {e:?}")),
        )
    };
    keycloak_client::drive(flow, send, now)
}

/// Drives one exchange.
pub fn exec<E: Exchange>(s: &dyn Sender, e: E) -> Result<E::Output, Error> {
    run(s, Single::new(e))
}

fn config(env: &Env, client_id: &str, secret: Option<&str>) -> ClientConfig {
    let mut b = ClientConfig::keycloak(&env.url, &env.realm, client_id).redirect_uri(REDIRECT_URI);
    if let Some(sec) = secret {
        b = b.client_secret(sec);
    }
    b.build().unwrap()
}

/// A discovered client of the test realm.
pub fn client(s: &dyn Sender, client_id: &str, secret: Option<&str>) -> Client {
    let env = keycloak::require();
    let cfg = config(&env, client_id, secret);
    let d = run(s, DiscoverFlow::new(&cfg, true)).expect("discovery");
    Client::new(cfg, d)
}

/// The confidential resource server.
pub fn rs(s: &dyn Sender) -> Client {
    client(s, RS_CLIENT, Some(RS_SECRET))
}

/// The public PKCE client.
pub fn spa(s: &dyn Sender) -> Client {
    client(s, SPA_CLIENT, None)
}

/// Starts a login, logs in through the real pages, returns the pending login and callback.
pub fn browser_login(
    c: &Client,
    browser: &mut Browser,
    user: &str,
    pass: &str,
) -> (PendingLogin, CallbackParams) {
    let (url, pending) = c.login().build(&mut rand::rng(), now()).unwrap();
    let cb = browser.login(url.as_str(), user, pass).unwrap();
    assert!(cb.as_str().starts_with(REDIRECT_URI), "redirected to {cb}");
    (pending, CallbackParams::from_url(&cb).unwrap())
}

/// A full login: browser, callback checks, code exchange, ID-token claim checks.
pub fn login(s: &dyn Sender, c: &Client, user: &str, pass: &str) -> LoginTokens {
    let (pending, params) = browser_login(c, &mut Browser::new(), user, pass);
    let ex = c
        .callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
        .unwrap();
    run(s, ex).unwrap()
}

fn user_token(s: &dyn Sender, c: &Client, user: &str) -> AccessToken {
    login(s, c, user, &format!("{user}-pass"))
        .tokens
        .access_token
}

/// Discovery of both documents with the issuer checked; a wrong issuer is refused.
pub fn discovery(s: &dyn Sender) {
    let env = keycloak::require();
    let c = rs(s);
    assert_eq!(c.provider.issuer, env.issuer());
    assert!(c.provider.authorization_response_iss_parameter_supported);
    let uma = c.uma_metadata.as_ref().unwrap();
    assert!(uma
        .resource_registration_endpoint
        .as_str()
        .ends_with("/authz/protection/resource_set"));
    assert!(uma.policy_endpoint.is_some());
    assert!(c.provider.introspection_endpoint.is_some());
    let bad = ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT)
        .expected_issuer("http://127.0.0.1:1/realms/other")
        .build()
        .unwrap();
    let e = run(s, DiscoverFlow::new(&bad, false)).unwrap_err();
    assert!(matches!(e, Error::IssuerMismatch { .. }), "{e}");
    let missing = ClientConfig::keycloak(&env.url, "no-such-realm", RS_CLIENT)
        .build()
        .unwrap();
    let e = run(s, DiscoverFlow::new(&missing, false)).unwrap_err();
    assert_eq!(e.http_status(), Some(404), "{e}");
}

/// Public client: login with PKCE, userinfo with `sub` check, refresh, back-channel logout,
/// then refresh fails with `invalid_grant`.
pub fn public_client_lifecycle(s: &dyn Sender) {
    let c = spa(s);
    let t = login(s, &c, "alice", "alice-pass");
    let sub = t.id_claims.sub().unwrap().to_string();
    assert!(t.tokens.refresh_token.is_some() && t.tokens.id_token.is_some());
    assert!(t.tokens.expires_at.unwrap() > now());
    let info = exec(
        s,
        c.userinfo(&t.tokens.access_token)
            .unwrap()
            .expect_subject(&sub),
    )
    .unwrap();
    assert_eq!(info.preferred_username.as_deref(), Some("alice"));
    assert_eq!(info.email.as_deref(), Some("alice@example.test"));
    assert_eq!(info.given_name.as_deref(), Some("Alice"));
    let e = exec(
        s,
        c.userinfo(&t.tokens.access_token)
            .unwrap()
            .expect_subject("someone-else"),
    )
    .unwrap_err();
    assert!(matches!(e, Error::SubjectMismatch));
    let refreshed = exec(s, c.refresh(&t.tokens).unwrap()).unwrap();
    assert_ne!(
        refreshed.access_token.secret(),
        t.tokens.access_token.secret()
    );
    exec(
        s,
        c.logout(refreshed.refresh_token.as_ref().unwrap()).unwrap(),
    )
    .unwrap();
    let e = exec(s, c.refresh(&refreshed).unwrap()).unwrap_err();
    assert!(e.is_invalid_grant(), "{e}");
    assert_eq!(e.http_status(), Some(400));
}

/// Confidential client with `client_secret_basic` and `client_secret_post`.
pub fn confidential_client_login(s: &dyn Sender) {
    let env = keycloak::require();
    let basic = rs(s);
    let t = login(s, &basic, "carol", "carol-pass");
    assert_eq!(t.id_claims.str("azp"), Some(RS_CLIENT));
    let cfg = ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT)
        .client_secret(RS_SECRET)
        .client_secret_post()
        .redirect_uri(REDIRECT_URI)
        .build()
        .unwrap();
    let post = Client::new(
        cfg,
        run(s, DiscoverFlow::new(&basic.config, false)).unwrap(),
    );
    let t = login(s, &post, "carol", "carol-pass");
    assert!(exec(s, post.refresh(&t.tokens).unwrap()).is_ok());
}

/// RP-initiated logout: Keycloak accepts the URL and redirects to the post-logout URI with state.
pub fn rp_initiated_logout(s: &dyn Sender) {
    let c = spa(s);
    let mut browser = Browser::new();
    let (pending, params) = browser_login(&c, &mut browser, "alice", "alice-pass");
    let t = run(
        s,
        c.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap(),
    )
    .unwrap();
    let url = c
        .logout_url()
        .id_token_hint(t.tokens.id_token.as_ref().unwrap())
        .post_logout_redirect_uri("http://127.0.0.1/logged-out")
        .state("bye-123")
        .build()
        .unwrap();
    let page = browser.get(url.as_str()).unwrap();
    assert_eq!(
        page.status,
        302,
        "logout page: {}",
        crate::browser::title(&page.body)
    );
    assert_eq!(
        page.location.as_deref(),
        Some("http://127.0.0.1/logged-out?state=bye-123")
    );
    // The SSO session is gone: the refresh token no longer works.
    let e = exec(s, c.refresh(&t.tokens).unwrap()).unwrap_err();
    assert!(e.is_invalid_grant(), "{e}");
}

/// PAT, permission ticket (by name and by id), RPT allowed for alice and denied for bob,
/// RPT introspection with permissions, UMA challenge round trip.
pub fn uma_ticket_and_rpt(s: &dyn Sender) {
    let c = rs(s);
    let pat = exec(s, c.pat().unwrap()).unwrap();
    assert!(
        pat.refresh_token.is_none(),
        "client credentials carry no refresh token by default"
    );
    let doc1_read = [keycloak_client::uma::PermissionRequest::new(
        "doc-1",
        &["read"],
    )];
    let ticket = exec(
        s,
        c.permission_ticket(&pat.access_token, &doc1_read).unwrap(),
    )
    .unwrap();
    // The resource server would send this challenge to the client:
    let challenge = UmaChallenge {
        realm: Some("rkc".into()),
        as_uri: c.config.issuer.parse().unwrap(),
        ticket: ticket.clone(),
    };
    let parsed = UmaChallenge::parse(&challenge.to_header_value()).unwrap();
    let alice = user_token(s, &c, "alice");
    let rpt = exec(s, c.rpt_for_ticket(&alice, &parsed.ticket)).unwrap();
    let intro = exec(
        s,
        c.introspect(
            rpt.tokens.access_token.secret(),
            Some(TokenTypeHint::RequestingPartyToken),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(intro.active);
    let perms = intro.permissions.unwrap();
    assert!(perms.iter().any(|p| p.rsname.as_deref() == Some("doc-1") && p.scopes.contains(&"read".to_string())), "{perms:?}");
    // bob lacks the `user` role: denied.
    let bob = user_token(s, &c, "bob");
    let ticket = exec(
        s,
        c.permission_ticket(&pat.access_token, &doc1_read).unwrap(),
    )
    .unwrap();
    let e = exec(
        s,
        c.uma_grant(UmaGrantAuth::Bearer(bob))
            .ticket(&ticket)
            .submit_request(false)
            .rpt_request(),
    )
    .unwrap_err();
    assert!(e.is_access_denied(), "{e}");
    assert_eq!(e.http_status(), Some(403));
    // ticket by resource id
    let ids = exec(
        s,
        c.resources()
            .query(
                &pat.access_token,
                &ResourceQuery {
                    name: Some("doc-1".into()),
                    exact_name: true,
                    ..Default::default()
                },
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(ids.len(), 1);
    let t = exec(
        s,
        c.permission_ticket(
            &pat.access_token,
            &[keycloak_client::uma::PermissionRequest::new(
                &ids[0],
                &["write"],
            )],
        )
        .unwrap(),
    )
    .unwrap();
    let rpt = exec(s, c.rpt_for_ticket(&alice, &t)).unwrap();
    assert!(rpt.tokens.expires_at.is_some());
    // invalid scope → typed OAuth error
    let e = exec(
        s,
        c.permission_ticket(
            &pat.access_token,
            &[keycloak_client::uma::PermissionRequest::new(
                "doc-1",
                &["fly"],
            )],
        )
        .unwrap(),
    )
    .unwrap_err();
    assert_eq!(e.oauth_error(), Some("invalid_scope"), "{e}");
}

/// Decision and permissions response modes, allowed and denied.
pub fn uma_decision_and_permissions(s: &dyn Sender) {
    let c = rs(s);
    let alice = user_token(s, &c, "alice");
    let carol = user_token(s, &c, "carol");
    let bob = user_token(s, &c, "bob");
    let decide = |t: &AccessToken, scope: &str| {
        exec(
            s,
            c.uma_grant(UmaGrantAuth::Bearer(t.clone()))
                .audience(RS_CLIENT)
                .permission("doc-1", &[scope])
                .decision(),
        )
        .unwrap()
    };
    assert!(decide(&alice, "read"));
    assert!(decide(&alice, "write"));
    assert!(decide(&carol, "read"));
    assert!(!decide(&carol, "write"));
    assert!(!decide(&bob, "read"));
    let perms = exec(
        s,
        c.uma_grant(UmaGrantAuth::Bearer(alice))
            .audience(RS_CLIENT)
            .permissions(),
    )
    .unwrap();
    let doc = perms
        .iter()
        .find(|p| p.rsname.as_deref() == Some("doc-1"))
        .expect("doc-1 granted");
    let mut scopes = doc.scopes.clone();
    scopes.sort();
    assert_eq!(scopes, ["read", "write"]);
    let e = exec(
        s,
        c.uma_grant(UmaGrantAuth::Bearer(bob))
            .audience(RS_CLIENT)
            .permission("doc-1", &["read"])
            .permissions(),
    )
    .unwrap_err();
    assert!(e.is_access_denied(), "{e}");
    // Missing audience without ticket: Keycloak's clear refusal
    let e = exec(
        s,
        c.uma_grant(UmaGrantAuth::Bearer(carol))
            .permission("doc-1", &["read"])
            .decision(),
    )
    .unwrap_err();
    assert_eq!(e.oauth_error(), Some("invalid_request"), "{e}");
}

/// Introspection of active, revoked and garbage tokens.
pub fn introspection_and_revocation(s: &dyn Sender) {
    let c = rs(s);
    let t = login(s, &c, "carol", "carol-pass");
    let i = exec(
        s,
        c.introspect(
            t.tokens.access_token.secret(),
            Some(TokenTypeHint::AccessToken),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(i.active);
    assert_eq!(i.username.as_deref(), Some("carol"));
    assert_eq!(i.client_id.as_deref(), Some(RS_CLIENT));
    let aud = i.aud.clone().unwrap();
    assert!(
        aud.to_string().contains("rkc-api"),
        "audience mapper: {aud}"
    );
    exec(
        s,
        c.revoke(
            t.tokens.refresh_token.as_ref().unwrap().secret(),
            Some(TokenTypeHint::RefreshToken),
        )
        .unwrap(),
    )
    .unwrap();
    let e = exec(s, c.refresh(&t.tokens).unwrap()).unwrap_err();
    assert!(e.is_invalid_grant(), "{e}");
    let pat = exec(s, c.pat().unwrap()).unwrap();
    exec(
        s,
        c.revoke(pat.access_token.secret(), Some(TokenTypeHint::AccessToken))
            .unwrap(),
    )
    .unwrap();
    let i = exec(s, c.introspect(pat.access_token.secret(), None).unwrap()).unwrap();
    assert!(!i.active, "revoked access token must be inactive");
    let i = exec(s, c.introspect("not-a-token", None).unwrap()).unwrap();
    assert!(!i.active);
    // invalid token revocation is not an error (RFC 7009 §2.2)
    exec(s, c.revoke("not-a-token", None).unwrap()).unwrap();
    // a public client may not introspect: refused before any request
    assert!(matches!(
        spa(s).introspect("x", None).unwrap_err(),
        Error::Config(_)
    ));
}

/// Resource registration: create, read, update, query (ids and deep), delete, 404.
pub fn resource_crud(s: &dyn Sender) {
    let c = rs(s);
    let pat = exec(s, c.pat().unwrap()).unwrap().access_token;
    let name = format!("e2e-res-{}", rand::random::<u32>());
    let mut r = Resource::new(&name, &["read", "write"]);
    r.resource_type = Some("urn:rkc-rs:resources:e2e".into());
    r.uris = vec!["/e2e/1".into()];
    let created = exec(s, c.resources().create(&pat, &r).unwrap()).unwrap();
    let id = created.id.clone().expect("id");
    let mut names = created.scope_names();
    names.sort();
    assert_eq!(names, ["read", "write"]);
    let e = exec(s, c.resources().create(&pat, &r).unwrap()).unwrap_err();
    assert_eq!(e.http_status(), Some(409), "duplicate name: {e}");
    let got = exec(s, c.resources().get(&pat, &id).unwrap()).unwrap();
    assert_eq!(got.name, name);
    let mut upd = got.clone();
    upd.uris.push("/e2e/2".into());
    exec(s, c.resources().update(&pat, &id, &upd).unwrap()).unwrap();
    let got = exec(s, c.resources().get(&pat, &id).unwrap()).unwrap();
    assert_eq!(got.uris.len(), 2);
    let q = ResourceQuery {
        name: Some(name.clone()),
        exact_name: true,
        ..Default::default()
    };
    assert_eq!(
        exec(s, c.resources().query(&pat, &q).unwrap()).unwrap(),
        vec![id.clone()]
    );
    let deep = exec(s, c.resources().query_deep(&pat, &q).unwrap()).unwrap();
    assert_eq!(deep.len(), 1);
    assert_eq!(deep[0].id.as_deref(), Some(id.as_str()));
    let q = ResourceQuery {
        resource_type: Some("urn:rkc-rs:resources:e2e".into()),
        max: Some(100),
        ..Default::default()
    };
    assert!(exec(s, c.resources().query(&pat, &q).unwrap())
        .unwrap()
        .contains(&id));
    exec(s, c.resources().delete(&pat, &id).unwrap()).unwrap();
    let e = exec(s, c.resources().get(&pat, &id).unwrap()).unwrap_err();
    assert_eq!(e.http_status(), Some(404), "{e}");
}

/// User-managed permissions: alice owns `alice-album` (imported with the realm: Keycloak 26.6.2+
/// ignores `owner` on protection-API creates, keycloak/keycloak#49910) and grants bob `read`
/// through the policy API; bob's decision follows the policy's lifetime.
pub fn uma_policy(s: &dyn Sender) {
    let c = rs(s);
    let pat = exec(s, c.pat().unwrap()).unwrap().access_token;
    let q = ResourceQuery {
        name: Some("alice-album".into()),
        exact_name: true,
        ..Default::default()
    };
    let found = exec(s, c.resources().query_deep(&pat, &q).unwrap()).unwrap();
    let res = found.first().expect("alice-album imported with the realm");
    assert!(
        matches!(&res.owner, Some(ResourceOwner::Object { name: Some(n), .. }) if n == "alice"),
        "{:?}",
        res.owner
    );
    let rid = res.id.clone().unwrap();
    let alice = user_token(s, &c, "alice");
    let bob = user_token(s, &c, "bob");
    let decide = |t: &AccessToken| {
        exec(
            s,
            c.uma_grant(UmaGrantAuth::Bearer(t.clone()))
                .audience(RS_CLIENT)
                .permission(&rid, &["read"])
                .decision(),
        )
        .unwrap()
    };
    // Leftovers of an interrupted earlier run would make the first check meaningless.
    let q = UmaPolicyQuery {
        resource: Some(rid.clone()),
        ..Default::default()
    };
    for old in exec(s, c.uma_policies().query(&alice, &q).unwrap()).unwrap() {
        exec(
            s,
            c.uma_policies()
                .delete(&alice, old.id.as_deref().unwrap())
                .unwrap(),
        )
        .unwrap();
    }
    assert!(!decide(&bob), "bob has no access before the policy");
    let p = UmaPolicy {
        name: format!("bob can read alice-album {}", rand::random::<u32>()),
        scopes: vec!["read".into()],
        users: vec!["bob".into()],
        ..Default::default()
    };
    let created = exec(s, c.uma_policies().create(&alice, &rid, &p).unwrap()).unwrap();
    let pid = created.id.clone().unwrap();
    assert_eq!(created.users, ["bob"]);
    assert!(decide(&bob), "bob may read after alice's grant");
    let listed = exec(
        s,
        c.uma_policies()
            .query(
                &alice,
                &UmaPolicyQuery {
                    resource: Some(rid.clone()),
                    ..Default::default()
                },
            )
            .unwrap(),
    )
    .unwrap();
    assert!(
        listed.iter().any(|x| x.id.as_deref() == Some(pid.as_str())),
        "{listed:?}"
    );
    let mut upd = created.clone();
    upd.description = Some("updated".into());
    exec(s, c.uma_policies().update(&alice, &pid, &upd).unwrap()).unwrap();
    // bob cannot manage alice's resource
    let e = exec(s, c.uma_policies().create(&bob, &rid, &p).unwrap()).unwrap_err();
    assert_eq!(e.http_status(), Some(400), "{e}");
    exec(s, c.uma_policies().delete(&alice, &pid).unwrap()).unwrap();
    assert!(!decide(&bob), "access removed with the policy");
}

/// Device grant: pending while the user has not approved, then tokens.
pub fn device_grant(s: &dyn Sender) {
    let c = client(s, DEVICE_CLIENT, None);
    let auth = exec(s, c.device_authorization(Some("profile")).unwrap()).unwrap();
    assert!(auth.user_code.len() >= 8);
    let mut poller = c.device_poller(&auth, now());
    let pending = poller.handle(s.send(&poller.request()).unwrap(), now());
    assert!(
        matches!(pending, Ok(DevicePoll::Pending { .. })),
        "tokens or an error before approval: {pending:?}"
    );
    Browser::new()
        .approve_device(
            auth.verification_uri_complete.as_deref().unwrap(),
            "alice",
            "alice-pass",
        )
        .unwrap();
    // The core carries the interval and the next poll time; this loop only sleeps.
    let tokens: TokenSet = loop {
        std::thread::sleep(std::time::Duration::from_secs(
            now().until(poller.next_poll_at()),
        ));
        match poller
            .handle(s.send(&poller.request()).unwrap(), now())
            .unwrap()
        {
            DevicePoll::Done(t) => break *t,
            DevicePoll::Pending { .. } => {}
        }
        assert!(now() < auth.expires_at);
    };
    assert!(tokens.id_token.is_some());
    let info = exec(s, c.userinfo(&tokens.access_token).unwrap()).unwrap();
    assert_eq!(info.preferred_username.as_deref(), Some("alice"));
}

/// Token exchange (RFC 8693): Keycloak 26's standard token exchange for the confidential client.
pub fn token_exchange(s: &dyn Sender) {
    let c = rs(s);
    let t = login(s, &c, "alice", "alice-pass");
    let r = exec(
        s,
        c.token_exchange(
            t.tokens.access_token.secret(),
            keycloak_client::ACCESS_TOKEN_TYPE,
        )
        .audience("rkc-api"),
    );
    match r {
        Ok(ex) => {
            assert_eq!(
                ex.issued_token_type.as_deref(),
                Some(keycloak_client::ACCESS_TOKEN_TYPE)
            );
            // The new token is for rkc-api (so rkc-rs may not introspect it): read its claims.
            let jwt = keycloak_client::jwt::decode_unverified(ex.access_token.secret()).unwrap();
            assert_eq!(jwt.claims.aud(), ["rkc-api"]);
            assert_eq!(jwt.claims.str("azp"), Some(RS_CLIENT));
            assert_eq!(jwt.claims.str("preferred_username"), Some("alice"));
        }
        Err(e) => panic!("token exchange is enabled for rkc-rs in the test realm, yet: {e}"),
    }
    // A public client is refused clearly.
    let spa = spa(s);
    let e = exec(
        s,
        spa.token_exchange(
            t.tokens.access_token.secret(),
            keycloak_client::ACCESS_TOKEN_TYPE,
        ),
    )
    .unwrap_err();
    assert!(e.oauth_error().is_some(), "{e}");
}

/// Bad cases: each yields the right typed error.
pub fn bad_cases(s: &dyn Sender) {
    let env = keycloak::require();
    let c = rs(s);
    // wrong client secret
    let wrong = Client::new(
        config(&env, RS_CLIENT, Some("wrong")),
        run(s, DiscoverFlow::new(&c.config, false)).unwrap(),
    );
    let e = exec(s, wrong.pat().unwrap()).unwrap_err();
    assert_eq!(e.oauth_error(), Some("unauthorized_client"), "{e}");
    assert_eq!(e.http_status(), Some(401));
    assert!(
        e.to_string()
            .contains("Invalid client or Invalid client credentials"),
        "{e}"
    );
    // reused code
    let spa = spa(s);
    let mut b = Browser::new();
    let (pending, params) = browser_login(&spa, &mut b, "carol", "carol-pass");
    let verifier = pending.code_verifier.secret().to_string();
    let state = pending.state.secret().to_string();
    let redirect = pending.redirect_uri.clone();
    run(
        s,
        spa.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap(),
    )
    .unwrap();
    let again = PendingLogin {
        state: keycloak_client::State::new(state),
        nonce: keycloak_client::Nonce::new("n"),
        code_verifier: keycloak_client::PkceVerifier::new(verifier),
        redirect_uri: redirect,
        scope: "openid".into(),
        created_at: now(),
        ttl_secs: 600,
        max_age: None,
        essential_acr: None,
        return_to: None,
    };
    let e = run(
        s,
        spa.callback(again, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap(),
    )
    .unwrap_err();
    assert!(e.is_invalid_grant(), "reused code: {e}");
    // wrong redirect_uri
    let (mut pending, params) = browser_login(&spa, &mut b, "carol", "carol-pass");
    pending.redirect_uri = "http://127.0.0.1/other".into();
    let e = run(
        s,
        spa.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap(),
    )
    .unwrap_err();
    assert!(
        e.is_invalid_grant() && e.to_string().contains("redirect_uri"),
        "{e}"
    );
    // PKCE verifier mismatch
    let (mut pending, params) = browser_login(&spa, &mut b, "carol", "carol-pass");
    pending.code_verifier =
        keycloak_client::PkceVerifier::new(keycloak_client::random_token(&mut rand::rng()));
    let e = run(
        s,
        spa.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap(),
    )
    .unwrap_err();
    assert!(
        e.is_invalid_grant() && e.to_string().contains("PKCE"),
        "{e}"
    );
    // tampered state: refused before any request
    let (pending, mut params) = browser_login(&spa, &mut b, "carol", "carol-pass");
    params.state = Some("forged".into());
    assert!(matches!(
        spa.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap_err(),
        Error::StateMismatch
    ));
    // missing iss although advertised
    let (pending, mut params) = browser_login(&spa, &mut b, "carol", "carol-pass");
    params.iss = None;
    assert!(matches!(
        spa.callback(pending, &params, IdTokenPolicy::DangerSkipSignature, now())
            .unwrap_err(),
        Error::CallbackIssuer(_)
    ));
    // authorization error delivered to the redirect URI (prompt=none without a session)
    let (url, pending) = spa
        .login()
        .prompt("none")
        .build(&mut rand::rng(), now())
        .unwrap();
    let page = Browser::new().get(url.as_str()).unwrap();
    let cb = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    let e = spa
        .callback(
            pending,
            &CallbackParams::from_url(&cb).unwrap(),
            IdTokenPolicy::DangerSkipSignature,
            now(),
        )
        .unwrap_err();
    assert_eq!(e.oauth_error(), Some("login_required"), "{e}");
    // password grant disabled on the public client
    let e = exec(
        s,
        spa.danger_password_grant("carol", &Password::new("carol-pass"), "openid"),
    )
    .unwrap_err();
    assert!(e.oauth_error().is_some(), "{e}");
}

/// Generates one `#[test]` per scenario for an adapter's `Sender`.
#[macro_export]
macro_rules! e2e_tests {
    ($sender:expr) => {
        #[test]
        fn e2e_discovery() {
            $crate::e2e::discovery(&$sender)
        }
        #[test]
        fn e2e_public_client_lifecycle() {
            $crate::e2e::public_client_lifecycle(&$sender)
        }
        #[test]
        fn e2e_confidential_client_login() {
            $crate::e2e::confidential_client_login(&$sender)
        }
        #[test]
        fn e2e_rp_initiated_logout() {
            $crate::e2e::rp_initiated_logout(&$sender)
        }
        #[test]
        fn e2e_uma_ticket_and_rpt() {
            $crate::e2e::uma_ticket_and_rpt(&$sender)
        }
        #[test]
        fn e2e_uma_decision_and_permissions() {
            $crate::e2e::uma_decision_and_permissions(&$sender)
        }
        #[test]
        fn e2e_introspection_and_revocation() {
            $crate::e2e::introspection_and_revocation(&$sender)
        }
        #[test]
        fn e2e_resource_crud() {
            $crate::e2e::resource_crud(&$sender)
        }
        #[test]
        fn e2e_uma_policy() {
            $crate::e2e::uma_policy(&$sender)
        }
        #[test]
        fn e2e_device_grant() {
            $crate::e2e::device_grant(&$sender)
        }
        #[test]
        fn e2e_token_exchange() {
            $crate::e2e::token_exchange(&$sender)
        }
        #[test]
        fn e2e_bad_cases() {
            $crate::e2e::bad_cases(&$sender)
        }
    };
}
