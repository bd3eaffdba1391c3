//! The policy enforcer's sans-IO part: path patterns (with properties: the most specific
//! pattern wins and insertion order never matters), request-path normalisation, the
//! `policy-enforcer` configuration read strictly, the claim-information-point and the
//! permission check. Regression tests for three bugs of Keycloak's Java enforcer.

use std::collections::BTreeMap;

use keycloak_client::policy_enforcer::claims::{encode_claim_token, ClaimRequest, ClaimsTemplate};
use keycloak_client::policy_enforcer::{
    check_permissions, normalize_request_path, EnforcementMode, PathMatcher, PathPattern,
    PathRules, PolicyEnforcerConfig, Requirement, Route, ScopesEnforcementMode, Verdict,
};
use proptest::prelude::*;
use serde_json::json;

fn winner(patterns: &[&str], path: &str) -> Option<String> {
    let m = PathMatcher::new(
        patterns
            .iter()
            .map(|p| (PathPattern::parse(p).unwrap(), p.to_string())),
    )
    .unwrap();
    let path = normalize_request_path(path).unwrap();
    m.find(&path).map(|(_, v, _)| v.clone())
}

#[test]
fn each_kind_of_pattern_matches_what_keycloak_documents() {
    let cases: &[(&str, &str, bool)] = &[
        ("/api", "/api", true),
        ("/api", "/api/", true),
        ("/api", "/api?x=1", true),
        ("/api", "/apix", false),
        ("/api", "/api/x", false),
        ("/api/*", "/api", true),
        ("/api/*", "/api/", true),
        ("/api/*", "/api/a/b", true),
        ("/api/*", "/apix", false),
        ("/*", "/", true),
        ("/*", "/anything/at/all", true),
        ("/", "/", true),
        ("/", "/anything", false),
        ("/albums/{id}", "/albums/42", true),
        ("/albums/{id}", "/albums", false),
        ("/albums/{id}", "/albums/42/photos", false),
        ("/albums/{id}/*", "/albums/42", true),
        ("/albums/{id}/*", "/albums/42/photos/1", true),
        ("/{ver}/tenants/{id}", "/v1/tenants/1", true),
        ("/*.html", "/a/b/c.html", true),
        ("/*.html", "/index.html", true),
        ("/*.html", "/index.htm", false),
        ("/*.html", "/.html", false),
        ("/static/*.css", "/static/site.css", true),
        ("/static/*.css", "/static/deep/site.css", true),
        ("/static/*.css", "/other/site.css", false),
        ("/caf%C3%A9", "/caf%c3%a9", true),
        ("/a-b", "/%61-b", true),
    ];
    for (pattern, path, expect) in cases {
        let p = PathPattern::parse(pattern).unwrap();
        let n = normalize_request_path(path).unwrap();
        assert_eq!(p.matches(&n).is_some(), *expect, "{pattern} vs {path}");
    }
    let p = PathPattern::parse("/{ver}/tenants/{id}/*").unwrap();
    let m = p.matches("/v2/tenants/7/users").unwrap();
    assert_eq!(
        m.params,
        vec![("ver".into(), "v2".into()), ("id".into(), "7".into())]
    );
    assert_eq!(p.concrete(&m), "/v2/tenants/7");
}

/// Where Keycloak's Java matcher depends on list order or prefers a wildcard, the most
/// specific pattern wins here, in any order.
#[test]
fn the_most_specific_pattern_wins_in_any_order() {
    let table: &[(&[&str], &str, &str)] = &[
        (&["/*", "/api/*"], "/api/a", "/api/*"),
        (&["/api/*", "/api/a/*"], "/api/a/b", "/api/a/*"),
        (&["/a/*", "/*.html"], "/a/b/c.html", "/*.html"),
        (&["/api/*", "/api"], "/api", "/api"),
        (&["/api/{id}", "/api/admin"], "/api/admin", "/api/admin"),
        (&["/api/{x}/{y}", "/api/a/{y}"], "/api/a/b", "/api/a/{y}"),
        (&["/api/{x}/b", "/api/a/{y}"], "/api/a/b", "/api/a/{y}"),
        (&["/api/{id}/*", "/api/{id}"], "/api/1", "/api/{id}"),
        (&["/api/{id}/*", "/api/{id}/x"], "/api/1/x", "/api/{id}/x"),
        (
            &["/*.html", "/static/*.html"],
            "/static/a.html",
            "/static/*.html",
        ),
        (&["/*", "/*.js"], "/app.js", "/*.js"),
        (&["/albums/{id}", "/albums/*"], "/albums/42", "/albums/{id}"),
    ];
    for (patterns, path, expect) in table {
        let mut forward: Vec<&str> = patterns.to_vec();
        assert_eq!(
            winner(&forward, path).as_deref(),
            Some(*expect),
            "{patterns:?} {path}"
        );
        forward.reverse();
        assert_eq!(
            winner(&forward, path).as_deref(),
            Some(*expect),
            "{forward:?} {path}"
        );
    }
    assert_eq!(winner(&["/resource/{id}"], "/resource/1/x"), None);
    assert_eq!(winner(&["/resource/{id}"], "/resource"), None);
    assert_eq!(winner(&["/"], "/anything"), None);
}

#[test]
fn patterns_that_cannot_be_read_one_way_are_refused() {
    for bad in [
        "api",
        "/api/*/x",
        "/api/x*",
        "/a/{x}-{y}/b",
        "/a/{}/b",
        "/a/{x/b",
        "/a//b",
        "/a/../b",
        "/a/%2e%2e/b",
        "/a/%2F/b",
        "/*.",
        "/*.a*b",
        "/a?b",
        "/{id}/{id}",
    ] {
        assert!(PathPattern::parse(bad).is_err(), "{bad}");
    }
    let dup = PathMatcher::new([
        (PathPattern::parse("/a/{x}").unwrap(), 1),
        (PathPattern::parse("/a/{y}/").unwrap(), 2),
    ]);
    assert!(dup.is_err(), "the same pattern twice");
}

/// A router and the enforcer must see the same path: anything they could read differently is
/// refused rather than normalised into another rule's reach.
#[test]
fn request_paths_a_router_may_read_differently_are_refused() {
    for bad in [
        "api",
        "/a//b",
        "//a",
        "/a/./b",
        "/a/../admin",
        "/a/%2e%2E/admin",
        "/a/%2Fadmin",
        "/a/%5cadmin",
        "/a\\admin",
        "/a/%00",
        "/a/\u{7}b",
        "/a/%zz",
        "/a/%4",
        "/a/%ff",
        "/a/%C3",
    ] {
        assert!(normalize_request_path(bad).is_err(), "{bad:?}");
    }
    assert_eq!(normalize_request_path("/a/b/?q=1#f").unwrap(), "/a/b");
    assert_eq!(normalize_request_path("/").unwrap(), "/");
    assert_eq!(normalize_request_path("/%7Euser/%61").unwrap(), "/~user/a");
    // escapes decode as the frameworks' extractors decode them, except `%25`
    assert_eq!(normalize_request_path("/a%20b").unwrap(), "/a b");
    assert_eq!(normalize_request_path("/adm%69n").unwrap(), "/admin");
    assert_eq!(normalize_request_path("/caf%C3%A9").unwrap(), "/café");
    assert_eq!(normalize_request_path("/100%25").unwrap(), "/100%25");
    assert_eq!(normalize_request_path("/100%2525").unwrap(), "/100%2525");
}

fn config(json: serde_json::Value) -> PolicyEnforcerConfig {
    PolicyEnforcerConfig::from_json(&json.to_string()).unwrap()
}

/// keycloak-client #185: a path with `{…}` and no `*` (`/{ver}/tenants/{id}`) must be routed to
/// its own resource by the concrete path, not denied for want of a wildcard.
#[test]
fn regression_keycloak_client_185_a_template_without_a_wildcard_routes_by_its_concrete_path() {
    let rules = PathRules::new(config(json!({
        "lazy-load-paths": true,
        "http-method-as-scope": false,
        // as Quarkus writes it: `tenant-resource` is the map key, not a resource name
        "paths": [{"path": "/{ver}/tenants/{id}",
                   "methods": [{"method": "GET", "scopes": ["scope:omg:view"]}]}]
    })))
    .unwrap();
    let Route::Configured {
        path,
        concrete,
        scopes,
        mode,
    } = rules.route("/v1/tenants/1", "GET").unwrap()
    else {
        panic!("not routed to the configured path");
    };
    assert_eq!(
        path.name, None,
        "looked up by its concrete path, not by a name"
    );
    assert_eq!(concrete, "/v1/tenants/1");
    assert_eq!(scopes, vec!["scope:omg:view".to_string()]);
    assert_eq!(mode, ScopesEnforcementMode::All);
}

/// keycloak #42782: the first request to a templated path must be decided on the resource the
/// concrete path names; the route carries that concrete path on every request, so nothing
/// cached from an earlier match can stand in for it.
#[test]
fn regression_keycloak_42782_every_request_carries_its_own_concrete_path() {
    let rules = PathRules::new(config(json!({
        "path-cache": {"lifespan": 1000, "max-entries": 1000},
        "paths": [{"path": "/{ver}/tenants/{id}"}]
    })))
    .unwrap();
    for (req, expect) in [
        ("/v1/tenants/1", "/v1/tenants/1"),
        ("/v1/tenants/2", "/v1/tenants/2"),
        ("/v1/tenants/1", "/v1/tenants/1"),
    ] {
        match rules.route(req, "GET").unwrap() {
            Route::Configured { concrete, .. } => assert_eq!(concrete, expect),
            other => panic!("{other:?}"),
        }
    }
}

/// keycloak-client #221: configured template paths with a `name` keep naming that resource;
/// a server-side catch-all (Keycloak's `Default Resource`, `/*`) never takes their place, and
/// the most specific configured path is chosen however the paths are listed.
#[test]
fn regression_keycloak_client_221_named_template_paths_keep_their_resource() {
    let paths = json!([
        {"name": "Default Resource", "path": "/*"},
        {"name": "album", "path": "/albums/{id}", "methods": [{"method": "GET", "scopes": ["view"]}]},
        {"name": "album-photos", "path": "/albums/{id}/photos/*"}
    ]);
    for order in [
        paths.clone(),
        json!(paths.as_array().unwrap().iter().rev().collect::<Vec<_>>()),
    ] {
        let rules = PathRules::new(config(json!({"paths": order}))).unwrap();
        let name = |p: &str| match rules.route(p, "GET").unwrap() {
            Route::Configured { path, .. } => path.name.clone().unwrap(),
            other => panic!("{other:?}"),
        };
        assert_eq!(name("/albums/42"), "album");
        assert_eq!(name("/albums/42/photos/7"), "album-photos");
        assert_eq!(name("/other"), "Default Resource");
    }
}

#[test]
fn routes_follow_the_enforcement_modes_and_methods() {
    let rules = PathRules::new(config(json!({
        "enforcement-mode": "ENFORCING",
        "http-method-as-scope": true,
        "on-deny-redirect-to": "/denied",
        "paths": [
            {"path": "/public/*", "enforcement-mode": "DISABLED"},
            {"path": "/docs/{id}", "scopes": ["read"],
             "methods": [{"method": "delete", "scopes": ["delete", "admin"], "scopes-enforcement-mode": "ANY"}]}
        ]
    })))
    .unwrap();
    assert!(matches!(
        rules.route("/public/x", "GET").unwrap(),
        Route::Open
    ));
    assert!(matches!(
        rules.route("/denied", "GET").unwrap(),
        Route::Open
    ));
    match rules.route("/docs/1", "DELETE").unwrap() {
        Route::Configured { scopes, mode, .. } => {
            assert_eq!(scopes, vec!["delete".to_string(), "admin".to_string()]);
            assert_eq!(mode, ScopesEnforcementMode::Any);
        }
        other => panic!("{other:?}"),
    }
    // no method entry: the method is the scope (`http-method-as-scope`)
    match rules.route("/docs/1", "PUT").unwrap() {
        Route::Configured { scopes, .. } => assert_eq!(scopes, vec!["PUT".to_string()]),
        other => panic!("{other:?}"),
    }
    match rules.route("/elsewhere", "GET").unwrap() {
        Route::Unmatched { path } => assert_eq!(path, "/elsewhere"),
        other => panic!("{other:?}"),
    }
    assert!(rules.route("/a/../docs/1", "GET").is_err());
    let off = PathRules::new(config(
        json!({"enforcement-mode": "DISABLED", "paths": [{"path": "/x"}]}),
    ))
    .unwrap();
    assert!(matches!(off.route("/x", "GET").unwrap(), Route::Open));
    // without http-method-as-scope, the path's scopes
    let plain = PathRules::new(config(
        json!({"paths": [{"path": "/docs/{id}", "scopes": ["read"]}]}),
    ))
    .unwrap();
    match plain.route("/docs/1", "GET").unwrap() {
        Route::Configured { scopes, .. } => assert_eq!(scopes, vec!["read".to_string()]),
        other => panic!("{other:?}"),
    }
}

/// A Quarkus user's block reads unchanged; anything unknown or not implemented is refused by
/// name.
#[test]
fn the_configuration_is_read_strictly() {
    let kc = json!({
        "realm": "rkc", "auth-server-url": "http://127.0.0.1:18080", "resource": "rkc-rs",
        "credentials": {"secret": "hunter2"},
        "policy-enforcer": {
            "enforcement-mode": "PERMISSIVE",
            "lazy-load-paths": true,
            "path-cache": {"lifespan": -1, "max-entries": 50},
            "user-managed-access": {},
            "claim-information-point": {"claims": {"department": "{request.header['x-dept']}"}},
            "paths": [{"name": "albums", "path": "/albums/{id}", "type": "album",
                       "methods": [{"method": "GET", "scopes": ["album:view"]}],
                       "claim-information-point": {"claims": {"a": ["x", "{request.parameter['a']}"]}}}]
        }
    });
    let c = PolicyEnforcerConfig::from_keycloak_json(&kc.to_string())
        .unwrap()
        .unwrap();
    assert_eq!(c.enforcement_mode, EnforcementMode::Permissive);
    assert!(c.lazy_load_paths && c.user_managed_access);
    assert_eq!(c.path_cache.lifespan_ms, None);
    assert_eq!(c.path_cache.max_entries, 50);
    assert!(c.claims.is_some() && c.paths[0].claims.is_some());
    assert_eq!(c.paths[0].resource_type.as_deref(), Some("album"));
    assert!(PolicyEnforcerConfig::from_keycloak_json(r#"{"realm":"r"}"#)
        .unwrap()
        .is_none());
    let default = config(json!({}));
    assert_eq!(default.path_cache.lifespan_ms, Some(30_000));
    assert_eq!(default.path_cache.max_entries, 1000);
    assert_eq!(default.enforcement_mode, EnforcementMode::Enforcing);

    let refused = |v: serde_json::Value, needle: &str| {
        let e = PolicyEnforcerConfig::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    };
    refused(json!({"enforcement-mod": "ENFORCING"}), "enforcement-mod");
    refused(json!({"enforcement-mode": "LENIENT"}), "LENIENT");
    refused(
        json!({"paths": [{"path": "/a", "invalidated": true}]}),
        "invalidated",
    );
    refused(json!({"paths": [{"path": "/a", "static": true}]}), "static");
    refused(
        json!({"paths": [{"name": "only-a-name"}]}),
        "paths[0].path is required",
    );
    refused(json!({"paths": [{"path": "/a/*/b"}]}), "paths[0]");
    refused(
        json!({"paths": [{"path": "/a", "methods": [{"method": "GET"}, {"method": "get"}]}]}),
        "twice",
    );
    refused(
        json!({"paths": [{"path": "/a", "methods": [{"method": "GET", "scopes-enforcement-mode": "SOME"}]}]}),
        "SOME",
    );
    refused(
        json!({"claim-information-point": {"http": {"url": "http://127.0.0.1:1"}}}),
        "http",
    );
    refused(
        json!({"claim-information-point": {"mine": {}}}),
        "unknown provider",
    );
    refused(
        json!({"claim-information-point": {"claims": {"a": "{request.nope}"}}}),
        "unknown placeholder",
    );
    refused(
        json!({"claim-information-point": {"claims": {"a": "{request.body['no-slash']}"}}}),
        "JSON Pointer",
    );
    refused(json!({"path-cache": {"lifespan": -5}}), "lifespan");
    refused(json!({"path-cache": {"max-entries": 0}}), "max-entries");
    refused(
        json!({"on-deny-redirect-to": "javascript:alert(1)"}),
        "on-deny-redirect-to",
    );
    refused(
        json!({"on-deny-redirect-to": "//evil.example/x"}),
        "on-deny-redirect-to",
    );
    // a secret in the wrong shape is not echoed back
    let e =
        PolicyEnforcerConfig::from_json(&json!({"credentials": "hunter2", "bogus": 1}).to_string())
            .unwrap_err()
            .to_string();
    assert!(!e.contains("hunter2"), "{e}");
    // two paths with the same pattern
    assert!(PathRules::new(config(
        json!({"paths": [{"path": "/a/{x}"}, {"path": "/a/{y}"}]})
    ))
    .is_err());
}

#[test]
fn the_claim_information_point_reads_the_request_and_the_token() {
    let cfg: serde_json::Map<String, serde_json::Value> = serde_json::from_value(json!({
        "param": "{request.parameter['a']}",
        "header": "{request.header[\"x-h\"]}",
        "cookie": "{request.cookie['c']}",
        "body": "{request.body['/order/items']}",
        "object": "{request.body['/order']}",
        "text": "id-{request.parameter['a']}-{request.method}",
        "uri": "{request.uri}",
        "rel": "{request.relativePath}",
        "secure": "{request.secure}",
        "addr": "{request.remoteAddr}",
        "dept": "{keycloak.access_token['/dept']}",
        "none": "{request.parameter['missing']}",
        "twice": "{request.parameter['b']}",
        "static": ["a", "b"]
    }))
    .unwrap();
    let t = ClaimsTemplate::parse(&cfg).unwrap();
    assert!(t.reads_body());
    let headers = vec![
        ("X-H".to_string(), "one".to_string()),
        ("x-h".to_string(), "two".to_string()),
        (
            "cookie".to_string(),
            "z=0; c=cookie-v; c=second".to_string(),
        ),
        (
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ),
    ];
    let body = json!({"order": {"items": ["i1", 2]}}).to_string();
    let token = json!({"dept": ["sales"]});
    let r = ClaimRequest {
        method: "POST",
        uri: "/orders/1?a=A%20B&b=1&b=2",
        relative_path: "/orders/1",
        query: Some("a=A%20B&b=1&b=2"),
        secure: true,
        remote_addr: Some("127.0.0.1"),
        headers: &headers,
        body: body.as_bytes(),
        access_token: Some("eyJ.a.b"),
        token_claims: Some(&token),
    };
    let c = t.resolve(&r);
    let v = |k: &str| c.get(k).cloned().unwrap_or_default();
    assert_eq!(v("param"), vec!["A B"]);
    assert_eq!(v("header"), vec!["one", "two"]);
    assert_eq!(v("cookie"), vec!["cookie-v"]);
    assert_eq!(v("body"), vec!["i1", "2"]);
    assert_eq!(v("object"), vec![r#"{"items":["i1",2]}"#]);
    assert_eq!(v("text"), vec!["id-A B-POST"]);
    assert_eq!(v("uri"), vec!["/orders/1?a=A%20B&b=1&b=2"]);
    assert_eq!(v("rel"), vec!["/orders/1"]);
    assert_eq!(v("secure"), vec!["true"]);
    assert_eq!(v("addr"), vec!["127.0.0.1"]);
    assert_eq!(v("dept"), vec!["sales"]);
    assert_eq!(v("static"), vec!["a", "b"]);
    assert!(
        !c.contains_key("none"),
        "claims without values are left out"
    );
    // a non-JSON body has no pointers
    let plain = vec![("content-type".to_string(), "text/plain".to_string())];
    let r2 = ClaimRequest {
        headers: &plain,
        ..r
    };
    assert!(!t.resolve(&r2).contains_key("body"));
    // the claim token is base64 of the JSON object, as Keycloak's enforcer sends it
    let mut m = BTreeMap::new();
    m.insert("a".to_string(), vec!["1".to_string()]);
    assert_eq!(encode_claim_token(&m), "eyJhIjpbIjEiXX0=");
}

#[test]
fn granted_permissions_are_checked_with_keycloaks_scope_rules() {
    let need = |scopes: &[&str], mode| Requirement {
        resource_id: "r1".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        mode,
        enforcement: EnforcementMode::Enforcing,
    };
    let token = |perms: serde_json::Value| json!({"authorization": {"permissions": perms}});
    let none = BTreeMap::new();
    use ScopesEnforcementMode::*;
    let t = token(json!([{"rsid": "r1", "scopes": ["read", "write"]}, {"rsid": "r2"}]));
    assert_eq!(
        check_permissions(&t, &need(&["read"], All), &none),
        Verdict::Granted
    );
    assert_eq!(
        check_permissions(&t, &need(&["read", "write"], All), &none),
        Verdict::Granted
    );
    assert_eq!(
        check_permissions(&t, &need(&["read", "admin"], All), &none),
        Verdict::Insufficient
    );
    assert_eq!(
        check_permissions(&t, &need(&["read", "admin"], Any), &none),
        Verdict::Granted
    );
    assert_eq!(
        check_permissions(&t, &need(&["admin"], Any), &none),
        Verdict::Insufficient
    );
    assert_eq!(
        check_permissions(&t, &need(&["admin"], Disabled), &none),
        Verdict::Granted
    );
    // a permission without scopes covers the resource
    let whole = token(json!([{"rsid": "r1"}]));
    assert_eq!(
        check_permissions(&whole, &need(&["admin"], All), &none),
        Verdict::Granted
    );
    // another resource, or no authorization at all
    let other = token(json!([{"rsid": "r9", "scopes": ["read"]}]));
    assert_eq!(
        check_permissions(&other, &need(&["read"], All), &none),
        Verdict::NoPermission
    );
    assert_eq!(
        check_permissions(&json!({}), &need(&["read"], All), &none),
        Verdict::NoPermission
    );
    assert_eq!(
        check_permissions(&json!({"authorization": 1}), &need(&[], All), &none),
        Verdict::NoPermission
    );
    // claims pushed with the request must be among the permission's claims
    let claimed = token(json!([{"rsid": "r1", "claims": {"dept": ["sales", "ops"]}}]));
    let mut pushed = BTreeMap::new();
    pushed.insert("dept".to_string(), vec!["sales".to_string()]);
    assert_eq!(
        check_permissions(&claimed, &need(&[], All), &pushed),
        Verdict::Granted
    );
    pushed.insert("dept".to_string(), vec!["hr".to_string()]);
    assert_eq!(
        check_permissions(&claimed, &need(&[], All), &pushed),
        Verdict::Insufficient
    );
    assert_eq!(
        check_permissions(&claimed, &need(&[], All), &none),
        Verdict::Insufficient
    );
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("api".to_string()),
        Just("{x}".to_string()),
        Just("{y}".to_string()),
    ]
}

fn pattern() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(segment(), 0..4),
        prop_oneof![Just(""), Just("/*"), Just("/*.html")],
    )
        .prop_map(|(segs, tail)| {
            // distinct parameter names within one pattern
            let mut n = 0;
            let segs: Vec<String> = segs
                .into_iter()
                .map(|s| {
                    if s.starts_with('{') {
                        n += 1;
                        format!("{{p{n}}}")
                    } else {
                        s
                    }
                })
                .collect();
            let base = format!("/{}", segs.join("/"));
            match (base.as_str(), tail) {
                ("/", "") => "/".to_string(),
                ("/", t) => t.to_string(),
                (b, t) => format!("{b}{t}"),
            }
        })
}

fn request_path() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![Just("a"), Just("b"), Just("api"), Just("x"), Just("p.html"),],
        0..5,
    )
    .prop_map(|s| format!("/{}", s.join("/")))
}

fn unique(patterns: Vec<String>) -> Vec<PathPattern> {
    let mut seen = std::collections::HashSet::new();
    patterns
        .into_iter()
        .map(|p| PathPattern::parse(&p).unwrap())
        .filter(|p| seen.insert(p.canonical()))
        .collect()
}

proptest! {
    /// The winner never depends on the order the patterns were given in.
    #[test]
    fn matching_never_depends_on_insertion_order(
        patterns in proptest::collection::vec(pattern(), 1..8),
        path in request_path(),
        seed in any::<u64>(),
    ) {
        let ps = unique(patterns);
        let forward = PathMatcher::new(ps.iter().cloned().map(|p| { let c = p.canonical(); (p, c) })).unwrap();
        let mut shuffled = ps.clone();
        // a deterministic shuffle from the seed
        let mut s = seed;
        for i in (1..shuffled.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (s >> 33) as usize % (i + 1));
        }
        let other = PathMatcher::new(shuffled.into_iter().map(|p| { let c = p.canonical(); (p, c) })).unwrap();
        let a = forward.find(&path).map(|(_, v, _)| v.clone());
        let b = other.find(&path).map(|(_, v, _)| v.clone());
        prop_assert_eq!(a, b);
    }

    /// The winner matches, and no other matching pattern is more specific than it; removing
    /// any other pattern leaves the winner in place.
    #[test]
    fn the_winner_is_the_most_specific_match(
        patterns in proptest::collection::vec(pattern(), 1..8),
        path in request_path(),
    ) {
        let ps = unique(patterns);
        let m = PathMatcher::new(ps.iter().cloned().map(|p| { let c = p.canonical(); (p, c) })).unwrap();
        if let Some((w, _, _)) = m.find(&path) {
            prop_assert!(w.matches(&path).is_some());
            for p in &ps {
                if p.matches(&path).is_some() && p.canonical() != w.canonical() {
                    prop_assert_eq!(w.specificity(p), std::cmp::Ordering::Less);
                    let without: Vec<PathPattern> = ps.iter().filter(|q| q.canonical() != p.canonical()).cloned().collect();
                    let m2 = PathMatcher::new(without.into_iter().map(|q| { let c = q.canonical(); (q, c) })).unwrap();
                    prop_assert_eq!(m2.find(&path).map(|(_, v, _)| v.clone()), Some(w.canonical()));
                }
            }
            // an exact pattern for the path always wins
            let mut with_exact = ps.clone();
            if PathPattern::parse(&path).map(|e| ps.iter().all(|q| q.canonical() != e.canonical())).unwrap_or(false) {
                with_exact.push(PathPattern::parse(&path).unwrap());
                let m3 = PathMatcher::new(with_exact.into_iter().map(|q| { let c = q.canonical(); (q, c) })).unwrap();
                prop_assert_eq!(m3.find(&path).map(|(_, v, _)| v.clone()), Some(PathPattern::parse(&path).unwrap().canonical()));
            }
        } else {
            prop_assert!(ps.iter().all(|p| p.matches(&path).is_none()));
        }
    }

    /// Normalisation is idempotent and never panics.
    #[test]
    fn normalisation_is_idempotent(path in "[/a-z.%0-9A-F?#~-]{0,24}") {
        if let Ok(n) = normalize_request_path(&path) {
            prop_assert_eq!(normalize_request_path(&n).unwrap(), n.clone());
            prop_assert!(n.starts_with('/'));
        }
    }
}

fn resource(v: serde_json::Value) -> keycloak_client::uma::Resource {
    serde_json::from_value(v).unwrap()
}

/// keycloak-client #221 and the take-over it allows: the protection API answers with
/// resources of every owner and with catch-alls; only a resource that may stand for the path
/// is chosen.
#[test]
fn regression_keycloak_client_221_lookups_never_take_a_catch_all_or_a_users_resource() {
    use keycloak_client::policy_enforcer::{choose_by_name, choose_by_path, PathLookup};
    let server = json!({"name": "pe-app", "id": "c1"});
    let default = resource(
        json!({"_id": "default", "name": "Default Resource", "uris": ["/*"], "owner": server}),
    );
    let items =
        resource(json!({"_id": "items", "name": "items", "uris": ["/items/*"], "owner": server}));
    let item1 =
        resource(json!({"_id": "item-1", "name": "item-1", "uris": ["/items/1"], "owner": server}));
    let bobs = resource(json!({"_id": "bobs", "name": "bobs", "uris": ["/items/1"],
        "owner": {"name": "bob", "id": "u1"}, "ownerManagedAccess": true, "type": "album"}));
    let album = resource(
        json!({"_id": "album-7", "name": "a7", "uris": ["/albums/7"],
        "owner": {"name": "alice", "id": "u2"}, "ownerManagedAccess": true, "type": "album"}),
    );
    let at = |path, user_type, configured| PathLookup {
        path,
        server: "pe-app",
        user_type,
        configured,
    };
    // #221: a configured path is never answered by the server's catch-all
    assert_eq!(
        choose_by_path(std::slice::from_ref(&default), &at("/items/1", None, true)).unwrap(),
        None
    );
    // a path no configuration names may fall to it (Keycloak's own lazy loading does)
    assert_eq!(
        choose_by_path(std::slice::from_ref(&default), &at("/x", None, false))
            .unwrap()
            .as_deref(),
        Some("default")
    );
    // the most specific of the server's resources, whatever the order
    for found in [
        vec![default.clone(), items.clone(), item1.clone()],
        vec![item1.clone(), items.clone(), default.clone()],
    ] {
        assert_eq!(
            choose_by_path(&found, &at("/items/1", None, true))
                .unwrap()
                .as_deref(),
            Some("item-1")
        );
        assert_eq!(
            choose_by_path(&found, &at("/items/2", None, true))
                .unwrap()
                .as_deref(),
            Some("items")
        );
    }
    // a user's resource never takes over a path of the server's ...
    for user_type in [None, Some("album")] {
        assert_eq!(
            choose_by_path(
                &[bobs.clone(), items.clone()],
                &at("/items/1", user_type, true)
            )
            .unwrap()
            .as_deref(),
            Some("items")
        );
    }
    // ... nor stands for a path that did not opt in with its type
    assert_eq!(
        choose_by_path(std::slice::from_ref(&bobs), &at("/items/1", None, true)).unwrap(),
        None
    );
    assert_eq!(
        choose_by_path(
            std::slice::from_ref(&album),
            &at("/albums/7", Some("photo"), true)
        )
        .unwrap(),
        None
    );
    assert_eq!(
        choose_by_path(
            std::slice::from_ref(&album),
            &at("/albums/7", Some("album"), true)
        )
        .unwrap()
        .as_deref(),
        Some("album-7")
    );
    // a resource whose URIs do not match the path is not chosen
    assert_eq!(
        choose_by_path(std::slice::from_ref(&item1), &at("/items/2", None, true)).unwrap(),
        None
    );
    // two equally specific resources: ambiguous, refused
    let twin =
        resource(json!({"_id": "twin", "name": "twin", "uris": ["/items/1"], "owner": server}));
    assert!(choose_by_path(&[item1.clone(), twin], &at("/items/1", None, true)).is_err());
    // by name: exactly that name, owned by the server
    let bob_admin = resource(json!({"_id": "fake", "name": "admin", "owner": {"name": "bob"}}));
    let admin = resource(json!({"_id": "admin", "name": "admin", "owner": server}));
    let adminx = resource(json!({"_id": "adminx", "name": "admin-x", "owner": server}));
    assert_eq!(
        choose_by_name(&[bob_admin.clone(), adminx, admin], "admin", "pe-app").as_deref(),
        Some("admin")
    );
    assert_eq!(choose_by_name(&[bob_admin], "admin", "pe-app"), None);
}

/// `HEAD` needs what `GET` needs unless it has an entry of its own.
#[test]
fn head_needs_what_get_needs() {
    let rules = PathRules::new(config(json!({"http-method-as-scope": true, "paths": [
        {"path": "/a", "methods": [{"method": "GET", "scopes": ["view"]}]},
        {"path": "/b", "methods": [{"method": "GET", "scopes": ["view"]}, {"method": "HEAD", "scopes": ["peek"]}]},
        {"path": "/c"}
    ]})))
    .unwrap();
    let scopes = |p: &str| match rules.route(p, "HEAD").unwrap() {
        Route::Configured { scopes, .. } => scopes,
        other => panic!("{other:?}"),
    };
    assert_eq!(scopes("/a"), vec!["view".to_string()]);
    assert_eq!(scopes("/b"), vec!["peek".to_string()]);
    assert_eq!(scopes("/c"), vec!["GET".to_string()]);
}
