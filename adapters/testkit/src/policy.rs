//! End-to-end scenarios for Keycloak's policy enforcer in the middleware, against the
//! `rkc-pe` realm: its resource server `pe-app` has resources with `uris` (`/items/*`,
//! `/admin/*`, `/reports/*`, `/methods/*`, `/open/*`), scopes per HTTP method, a policy that
//! reads a pushed claim (`department` must be `sales`), and users who register their own
//! albums. Each framework serves its example app with a `policy-enforcer` block and runs these
//! against it.

use keycloak_client::uma::{Resource, UmaPolicy};
use keycloak_client::{Client, ClientConfig, DiscoverFlow, Password};
use serde_json::json;

use crate::browser::Browser;
use crate::e2e::{exec, run, UreqLess};
use crate::keycloak;

/// The realm.
pub const REALM: &str = "rkc-pe";
/// Its resource server (the app's own client).
pub const CLIENT: &str = "pe-app";
/// Its secret.
pub const SECRET: &str = "pe-app-secret";
/// The type of the albums users register (the configured path opts in to users' resources).
pub const ALBUM_TYPE: &str = "urn:pe-app:album";
/// The type whose resources the realm grants to every user (resources created later).
pub const LATE_TYPE: &str = "urn:pe-app:late";

/// Where `on-deny-redirect-to` sends browsers.
pub const DENIED_PAGE: &str = "/public/denied";

/// The `policy-enforcer` block the apps run with (a Quarkus user's block, unchanged).
pub fn enforcer_config() -> serde_json::Value {
    json!({
        "enforcement-mode": "ENFORCING",
        "lazy-load-paths": true,
        "http-method-as-scope": true,
        "on-deny-redirect-to": DENIED_PAGE,
        "path-cache": {"lifespan": 30000, "max-entries": 1000},
        "paths": [
            {"path": "/items/{id}", "methods": [
                {"method": "GET", "scopes": ["view"]},
                {"method": "PUT", "scopes": ["edit"]},
                {"method": "DELETE", "scopes": ["view", "edit"], "scopes-enforcement-mode": "ANY"}
            ]},
            {"name": "admin", "path": "/admin/*", "methods": [{"method": "GET", "scopes": ["view"]}]},
            {"name": "admin", "path": "/web/admin/*", "methods": [{"method": "GET", "scopes": ["view"]}]},
            {"path": "/reports/{id}", "methods": [{"method": "GET", "scopes": ["view"]}],
             "claim-information-point": {"claims": {"department": "{request.header['x-department']}"}}},
            {"path": "/albums/{id}", "type": ALBUM_TYPE, "methods": [{"method": "GET", "scopes": ["view"]}]},
            {"path": "/{ver}/tenants/{id}", "methods": [{"method": "GET", "scopes": ["view"]}]},
            {"path": "/public/*", "enforcement-mode": "DISABLED"},
            {"path": "/open/{id}", "enforcement-mode": "PERMISSIVE",
             "methods": [{"method": "PUT", "scopes": ["edit"]}]}
        ]
    })
}

/// The settings block as a JSON file for `KeycloakSettings::policy_enforcer_json`, with
/// `changes` merged in at the top level.
pub fn enforcer_file(changes: serde_json::Value) -> String {
    let mut c = enforcer_config();
    if let (Some(c), Some(ch)) = (c.as_object_mut(), changes.as_object()) {
        for (k, v) in ch {
            c.insert(k.clone(), v.clone());
        }
    }
    let path = std::env::temp_dir().join(format!(
        "policy-enforcer-{}-{}.json",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::write(&path, json!({ "policy-enforcer": c }).to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn client() -> Client {
    let env = keycloak::require();
    let cfg = ClientConfig::keycloak(&env.url, REALM, CLIENT)
        .client_secret(SECRET)
        .build()
        .unwrap();
    let d = run(&UreqLess, DiscoverFlow::new(&cfg, true)).unwrap();
    Client::new(cfg, d)
}

/// An access token of `user` (password `<user>-pass`) in the realm.
pub fn token(user: &str) -> String {
    let t = exec(
        &UreqLess,
        client().danger_password_grant(user, &Password::new(format!("{user}-pass")), "openid"),
    )
    .unwrap();
    t.access_token.secret().to_string()
}

/// One API request: status, `WWW-Authenticate`, `Location`.
pub fn call(
    method: &str,
    url: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Option<String>, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = bearer {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b.body(()).unwrap();
    let resp = agent
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .map(|v| v.to_str().unwrap_or("").to_string())
    };
    (resp.status().as_u16(), h("www-authenticate"), h("location"))
}

fn status(method: &str, url: &str, user: &str, headers: &[(&str, &str)]) -> u16 {
    call(method, url, Some(&token(user)), headers).0
}

/// `user` registers an album of their own at `/albums/<n>` (the protection API with their own
/// token: they hold `uma_protection`) and lets only themselves view it (a user-managed
/// policy). Returns the album's path.
pub fn own_album(user: &str) -> String {
    let n = rand::random::<u32>();
    let c = client();
    let t = keycloak_client::AccessToken::new(token(user));
    let mut r = Resource::new(&format!("album-{user}-{n}"), &["view"]);
    r.uris = vec![format!("/albums/{n}")];
    r.owner_managed_access = Some(true);
    r.resource_type = Some(ALBUM_TYPE.into());
    let created = exec(&UreqLess, c.resources().create(&t, &r).unwrap()).expect("album");
    let rid = created.id.unwrap();
    let p = UmaPolicy {
        name: format!("own-album-{n}"),
        scopes: vec!["view".into()],
        users: vec![user.into()],
        ..Default::default()
    };
    exec(&UreqLess, c.uma_policies().create(&t, &rid, &p).unwrap()).expect("owner policy");
    format!("/albums/{n}")
}

/// `user` registers a resource of their own at `path` with `scopes`, granted to them (as
/// [`own_album`], but with no `type`: an attempt to take a path over).
fn own_resource(user: &str, path: &str, scopes: &[&str]) {
    let c = client();
    let t = keycloak_client::AccessToken::new(token(user));
    let mut r = Resource::new(&format!("mine-{}", rand::random::<u32>()), scopes);
    r.uris = vec![path.to_string()];
    r.owner_managed_access = Some(true);
    let created = exec(&UreqLess, c.resources().create(&t, &r).unwrap()).expect("resource");
    let p = UmaPolicy {
        name: format!("own-{}", rand::random::<u32>()),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        users: vec![user.into()],
        ..Default::default()
    };
    exec(
        &UreqLess,
        c.uma_policies()
            .create(&t, &created.id.unwrap(), &p)
            .unwrap(),
    )
    .expect("owner policy");
}

/// The resource server registers a resource at `path` after start-up (with its PAT), of the
/// type the realm grants to every user.
fn server_resource(path: &str) {
    let c = client();
    let pat = exec(&UreqLess, c.pat().unwrap()).expect("PAT").access_token;
    let mut r = Resource::new(&format!("late-{}", rand::random::<u32>()), &["GET"]);
    r.uris = vec![path.to_string()];
    r.resource_type = Some(LATE_TYPE.into());
    exec(&UreqLess, c.resources().create(&pat, &r).unwrap()).expect("resource");
}

/// The API checks against an app running [`enforcer_config`] at `base`: allowed and denied by
/// path, method and scope; a resource found by name; a lazy-loaded resource; owner-only albums;
/// a resource created after start-up found without a restart; the claim-information-point
/// deciding; `DISABLED` and `PERMISSIVE` paths; an ambiguous path refused.
pub fn api_scenarios(base: &str) {
    let u = |p: &str| format!("{base}{p}");
    // path + method → scope (bob: user; alice: user + admin; carol: neither)
    assert_eq!(status("GET", &u("/items/1"), "bob", &[]), 200, "view");
    assert_eq!(status("GET", &u("/items/1"), "carol", &[]), 403, "no role");
    assert_eq!(
        status("PUT", &u("/items/1"), "bob", &[]),
        403,
        "edit needs admin"
    );
    assert_eq!(
        status("PUT", &u("/items/1"), "alice", &[]),
        200,
        "admin edits"
    );
    assert_eq!(
        status("DELETE", &u("/items/1"), "bob", &[]),
        200,
        "ANY of view, edit"
    );
    assert_eq!(
        status("DELETE", &u("/items/1"), "carol", &[]),
        403,
        "none of them"
    );
    // a path whose resource is found by name
    assert_eq!(status("GET", &u("/admin/panel"), "alice", &[]), 200);
    assert_eq!(status("GET", &u("/admin/panel"), "bob", &[]), 403);
    // a path not configured, found on the server (`/methods/*`), method as scope
    assert_eq!(status("GET", &u("/methods/a"), "bob", &[]), 200, "lazy GET");
    assert_eq!(
        status("POST", &u("/methods/a"), "bob", &[]),
        403,
        "lazy POST"
    );
    assert_eq!(
        status("POST", &u("/methods/a"), "alice", &[]),
        200,
        "admin POST"
    );
    // a path no resource answers: denied while ENFORCING
    assert_eq!(status("GET", &u("/nowhere/x"), "alice", &[]), 403);
    // the claim-information-point decides
    assert_eq!(
        status(
            "GET",
            &u("/reports/q1"),
            "bob",
            &[("x-department", "sales")]
        ),
        200,
        "sales"
    );
    assert_eq!(
        status("GET", &u("/reports/q1"), "bob", &[("x-department", "hr")]),
        403,
        "hr"
    );
    assert_eq!(
        status("GET", &u("/reports/q1"), "bob", &[]),
        403,
        "no claim"
    );
    // owner-only albums: each user's own, found by its concrete path
    let alices = own_album("alice");
    assert_eq!(status("GET", &u(&alices), "alice", &[]), 200, "the owner");
    assert_eq!(status("GET", &u(&alices), "bob", &[]), 403, "another user");
    let bobs = own_album("bob");
    assert_eq!(status("GET", &u(&bobs), "bob", &[]), 200);
    assert_eq!(status("GET", &u(&bobs), "alice", &[]), 403);
    // a resource created after start-up is found without a restart (misses are kept briefly)
    let late = format!("/late/{}", rand::random::<u32>());
    assert_eq!(status("GET", &u(&late), "bob", &[]), 403, "not there yet");
    server_resource(&late);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let s = status("GET", &u(&late), "bob", &[]);
        if s == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never found: {s}");
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
    // keycloak #42782: a server resource whose URI is itself a template decides the very
    // first request to a configured template path
    assert_eq!(
        status("GET", &u("/v1/tenants/1"), "bob", &[]),
        200,
        "first request"
    );
    assert_eq!(status("GET", &u("/v2/tenants/1"), "bob", &[]), 200);
    assert_eq!(
        status("GET", &u("/v1/tenants/2"), "bob", &[]),
        403,
        "no such tenant"
    );
    // a user cannot take over a path of the resource server by registering it
    own_resource("bob", "/items/1", &["edit"]);
    own_resource("bob", "/admin/panel", &["view"]);
    assert_eq!(
        status("PUT", &u("/items/1"), "bob", &[]),
        403,
        "still the server's items"
    );
    assert_eq!(status("PUT", &u("/items/1"), "alice", &[]), 200);
    assert_eq!(status("GET", &u("/admin/panel"), "bob", &[]), 403);
    // a user's own resource at a path nobody configured is not lazily taken either
    let squat = format!("/squat/{}", rand::random::<u32>());
    own_resource("bob", &squat, &["GET"]);
    assert_eq!(status("GET", &u(&squat), "bob", &[]), 403);
    // HEAD needs what GET needs
    assert_eq!(status("HEAD", &u("/items/1"), "carol", &[]), 403);
    assert_eq!(status("HEAD", &u("/items/1"), "bob", &[]), 200);
    // DISABLED and PERMISSIVE paths
    assert_eq!(
        status("GET", &u("/public/x"), "carol", &[]),
        200,
        "DISABLED"
    );
    assert_eq!(
        status("GET", &u("/open/1"), "carol", &[]),
        200,
        "PERMISSIVE"
    );
    assert_eq!(
        status("PUT", &u("/open/1"), "carol", &[]),
        200,
        "PERMISSIVE, no permission"
    );
    // ... but a token that holds a permission for the resource which falls short is denied
    // (Keycloak's rule): alice's RPT grants `open#view`, not `edit`
    let rpt = exec(
        &UreqLess,
        client()
            .uma_grant(keycloak_client::uma::UmaGrantAuth::Bearer(
                keycloak_client::AccessToken::new(token("alice")),
            ))
            .audience(CLIENT)
            .permission("open", &["view"])
            .rpt_request(),
    )
    .expect("an RPT for open#view");
    let rpt = rpt.tokens.access_token.secret().to_string();
    assert_eq!(
        call("PUT", &u("/open/1"), Some(&rpt), &[]).0,
        403,
        "held, but short"
    );
    // a path a router could read differently is refused
    assert_eq!(status("GET", &u("/items/..%2Fadmin"), "alice", &[]), 400);
    assert_eq!(status("GET", &u("/items/%2e%2e"), "alice", &[]), 400);
    // no token: the authentication layer answers first
    assert_eq!(call("GET", &u("/items/1"), None, &[]).0, 401);
}

/// With `user-managed-access`, a denied API request gets a UMA permission ticket.
pub fn uma_ticket_scenario(base: &str) {
    let (s, www, _) = call("PUT", &format!("{base}/items/1"), Some(&token("bob")), &[]);
    assert_eq!(s, 401, "{www:?}");
    let www = www.unwrap_or_default();
    assert!(www.starts_with("UMA "), "{www}");
    assert!(www.contains("ticket=\""), "{www}");
    assert!(
        www.contains(&format!(
            "as_uri=\"{}/realms/{REALM}\"",
            keycloak::require().url
        )),
        "{www}"
    );
}

/// Global `PERMISSIVE` (Keycloak's meaning): a path no resource answers is let through; a
/// configured path still enforces.
pub fn permissive_scenario(base: &str) {
    assert_eq!(
        status("GET", &format!("{base}/nowhere/x"), "carol", &[]),
        200
    );
    assert_eq!(status("PUT", &format!("{base}/items/1"), "carol", &[]), 403);
    assert_eq!(status("GET", &format!("{base}/items/1"), "bob", &[]), 200);
}

/// Global `DISABLED`: every authenticated request passes; anonymous ones still need a token.
pub fn disabled_scenario(base: &str) {
    assert_eq!(status("PUT", &format!("{base}/items/1"), "carol", &[]), 200);
    assert_eq!(call("GET", &format!("{base}/items/1"), None, &[]).0, 401);
}

/// Logs `user` in through the app at `base` (protected page → Keycloak → callback) and
/// returns the answer to the protected page itself.
fn browser_page(base: &str, path: &str, user: &str) -> crate::browser::Page {
    let mut b = Browser::new();
    let p = b.get(&format!("{base}{path}")).unwrap();
    assert_eq!(p.status, 302, "the page sends the browser to Keycloak");
    let kc = p.location.clone().unwrap();
    let cb = b.login(&kc, user, &format!("{user}-pass")).unwrap();
    let p = b.get(cb.as_str()).unwrap();
    assert_eq!(p.status, 302, "callback: {}", p.body);
    let back = p.location.clone().unwrap();
    b.get(&format!("{base}{back}")).unwrap()
}

/// Browser mode: `/web/admin/*` (the `admin` resource, by name) for a logged-in user; a
/// denied user is sent to `on-deny-redirect-to`.
pub fn browser_scenario(base: &str) {
    let page = browser_page(base, "/web/admin/panel", "alice");
    assert_eq!(page.status, 200, "{}", page.body);
    let page = browser_page(base, "/web/admin/panel", "carol");
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some(DENIED_PAGE));
}
