//! Multi-tenancy through actix with two realms (`rkc` as tenant `a`, `rkc-pe` as `b`) and one
//! shared session store: each realm's tokens and sessions are refused by the other tenant.

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use keycloak_client_actix::{tenant_bearer_auth, tenant_browser_auth, CurrentTenant, User};
use keycloak_client_testkit::api::password_token;
use keycloak_client_testkit::browser::Browser;
use keycloak_client_testkit::policy;
use keycloak_client_testkit::tenants::two_realms;

async fn who(t: CurrentTenant, User(u): User) -> String {
    format!("{}:{}", t.name, u.username.as_deref().unwrap_or_default())
}

fn serve() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
            let tenants = web::Data::new(two_realms(&base));
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(tenants.clone())
                    .service(
                        web::scope("/api")
                            .wrap(from_fn(tenant_bearer_auth))
                            .route("/me", web::get().to(who)),
                    )
                    .service(
                        web::scope("/{tenant}/api")
                            .wrap(from_fn(tenant_bearer_auth))
                            .route("/me", web::get().to(who)),
                    )
                    .service(
                        web::scope("/{tenant}")
                            .wrap(from_fn(tenant_browser_auth))
                            .route("/web/me", web::get().to(who)),
                    )
            })
            .workers(2)
            .listen(listener)
            .unwrap()
            .run();
            tx.send(base).unwrap();
            server.await.unwrap();
        })
    });
    rx.recv().unwrap()
}

#[test]
fn each_realm_accepts_only_its_own_tokens_and_sessions() {
    let base = serve();
    let u = |p: &str| format!("{base}{p}");
    let get = |p: &str, t: &str| keycloak_client_testkit::api::get(&u(p), Some(t)).0;
    let rkc = password_token("rkc-rs", "rkc-rs-secret", "carol");
    let pe = policy::token("bob");
    assert_eq!(
        keycloak_client_testkit::api::get(&u("/api/me"), Some(&rkc)).2,
        "a:carol"
    );
    assert_eq!(
        keycloak_client_testkit::api::get(&u("/api/me"), Some(&pe)).2,
        "b:bob"
    );
    assert_eq!(get("/a/api/me", &pe), 401, "realm b's token on tenant a");
    // actix routes `/%61/api/me` to `/{tenant}/api/me` as `a`: the tenant is a's too
    assert_eq!(get("/%61/api/me", &pe), 401, "escaped prefix");
    assert_eq!(get("/%61/api/me", &rkc), 200);
    assert_eq!(get("/b/api/me", &rkc), 401, "realm a's token on tenant b");
    // sessions: log in on a, offer the session to b under b's cookie name
    let mut b = Browser::new();
    let p = b.get(&u("/a/web/me")).unwrap();
    let cb = b
        .login(p.location.as_deref().unwrap(), "carol", "carol-pass")
        .unwrap();
    let p = b.get(cb.as_str()).unwrap();
    let page = b.get(&u(p.location.as_deref().unwrap())).unwrap();
    assert_eq!((page.status, page.body.as_str()), (200, "a:carol"));
    let session = b.cookie("kc_session_a").unwrap().to_string();
    let mut thief = Browser::new();
    thief.set_cookie("kc_session_b", &session);
    let p = thief.get(&u("/b/web/me")).unwrap();
    assert_eq!(p.status, 302, "{}", p.body);
    assert!(p.location.unwrap_or_default().contains(&format!(
        "/realms/{}/protocol/openid-connect/auth?",
        policy::REALM
    )));
}
