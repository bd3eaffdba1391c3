//! The middleware under load (scripts/bench drives it with wrk): howdy's axum app plus an
//! unprotected `/hello`, in one of three modes.
//!
//! * `ours`: howdy as shipped (verified-bearer-token cache on).
//! * `ours-nocache`: the same with `bearer_cache_size = 0`, so every bearer request is verified.
//! * `ours-redis`: howdy with sessions in Redis (`REDIS_URL`, `SESSION_KEYS`).
//! * `akc`: `/bearer/hello` and `/api/me` guarded by axum-keycloak-auth 0.8.3 instead.
//!
//! `/hello` has no middleware; `/bearer/hello` and `/session/hello` are the same handler behind
//! the bearer and the session layer, so the difference is the middleware alone.
//!
//! `/stats` (modes `ours*`) answers the store's session and pending-login counts and the RSS.
//!
//! `middleware_server <mode> <port> <keycloak-url> <out-dir> <sessions>` logs alice in once with
//! the password grant, writes her access token to `<out-dir>/token`, and (modes `ours*`) stores
//! `<sessions>` sessions holding copies of her real tokens, their ids in `<out-dir>/cookies`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Extension, Json, Router};
use axum_keycloak_auth::instance::{KeycloakAuthInstance, KeycloakConfig};
use axum_keycloak_auth::layer::KeycloakAuthLayer;
use axum_keycloak_auth::{decode::KeycloakToken, role::KeycloakRole, PassthroughMode};
use keycloak_client::{ClientConfig, Password, UnixTime};
use keycloak_client_axum::{bearer_auth, browser_auth};
use keycloak_client_reqwest::{now, HttpClient, Keycloak};
use keycloak_client_web::{MemoryStore, Session, SessionStore};

fn rss_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn akc_me(Extension(t): Extension<KeycloakToken<String>>) -> Json<serde_json::Value> {
    let roles: Vec<&String> = t
        .roles
        .iter()
        .filter_map(|r| match r {
            KeycloakRole::Realm { role } => Some(role),
            _ => None,
        })
        .collect();
    Json(
        serde_json::json!({"sub": t.subject, "username": t.extra.profile.preferred_username, "realm_roles": roles}),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let [mode, port, kc_url, out, sessions] = &a[..] else {
        return Err("usage: middleware_server <ours|ours-nocache|ours-redis|akc> <port> <keycloak-url> <out-dir> <sessions>".into());
    };
    let port: u16 = port.parse()?;
    let sessions: usize = sessions.parse()?;
    let out = std::path::Path::new(out);
    std::fs::create_dir_all(out)?;

    let http = HttpClient::new(Duration::from_secs(5), Duration::from_secs(30));
    let kc = Keycloak::builder(
        ClientConfig::keycloak(kc_url, "rkc", "rkc-rs").client_secret("rkc-rs-secret"),
    )
    .http(http.clone())
    .build()?;
    let client = kc.client().await?;
    let alice = http
        .exec(client.danger_password_grant("alice", &Password::new("alice-pass"), "openid"))
        .await?;
    std::fs::write(out.join("token"), alice.access_token.secret())?;

    let hello = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .merge(
            // the cost of any `from_fn` middleware, for reference
            Router::new()
                .route("/noop/hello", get(|| async { "hello" }))
                .layer(axum::middleware::from_fn(
                    |r: axum::extract::Request, n: axum::middleware::Next| n.run(r),
                )),
        );
    let app_url = format!("http://127.0.0.1:{port}");
    let rss_before = rss_kib("VmRSS:");
    let app = match mode.as_str() {
        "ours" | "ours-nocache" | "ours-redis" => {
            let memory = Arc::new(MemoryStore::new(sessions.max(1) * 2));
            let store: Arc<dyn SessionStore> = if mode == "ours-redis" {
                Arc::new(keycloak_client_redis::from_env()?.ok_or("ours-redis needs REDIS_URL and SESSION_KEYS")?)
            } else {
                memory.clone()
            };
            let nocache = mode == "ours-nocache";
            let auth = howdy::web_auth_with_store(kc_url, &app_url, None, store.clone(), |w| {
                if nocache {
                    w.bearer_cache_size = 0;
                }
            })?;
            let id_claims = alice
                .id_token
                .as_ref()
                .map(|t| keycloak_client::jwt::decode_unverified(t.secret()))
                .transpose()?
                .map(|j| j.claims);
            let sid = id_claims
                .as_ref()
                .and_then(|c| c.str("sid"))
                .map(String::from);
            let mut cookies = std::io::BufWriter::new(std::fs::File::create(out.join("cookies"))?);
            let t = now();
            for i in 0..sessions {
                let id = format!("bench{i:038}");
                let s = Session {
                    tokens: Some(alice.clone()),
                    claims: id_claims.clone(),
                    sid: sid.clone(),
                    created_at: t,
                    ..Default::default()
                };
                store.store(&id, s, t, UnixTime(t.0 + 8 * 3600)).await?;
                writeln!(cookies, "{id}")?;
            }
            cookies.flush()?;
            // The same handler as `/hello`, behind each of our layers; plus howdy's own routes.
            let bearer = Router::new()
                .route("/bearer/hello", get(|| async { "hello" }))
                .layer(from_fn_with_state(auth.clone(), bearer_auth));
            let session = Router::new()
                .route("/session/hello", get(|| async { "hello" }))
                .layer(from_fn_with_state(auth.clone(), browser_auth));
            // What the store holds, for the memory run.
            let stats = Router::new().route(
                "/stats",
                get(move || {
                    let store = memory.clone();
                    async move {
                        Json(serde_json::json!({
                            "sessions": store.len(), "pending_logins": store.pending_len(),
                            "rss_kib": rss_kib("VmRSS:"),
                        }))
                    }
                }),
            );
            hello
                .merge(bearer)
                .merge(session)
                .merge(stats)
                .merge(howdy::app(auth))
        }
        "akc" => {
            let instance = KeycloakAuthInstance::new(
                KeycloakConfig::builder()
                    .server(url::Url::parse(kc_url)?)
                    .realm("rkc".to_string())
                    .build(),
            );
            let guarded = Router::new()
                .route("/bearer/hello", get(|| async { "hello" }))
                .route("/api/me", get(akc_me))
                .layer(
                    KeycloakAuthLayer::<String>::builder()
                        .instance(instance)
                        .passthrough_mode(PassthroughMode::Block)
                        .persist_raw_claims(false)
                        .expected_audiences(vec!["rkc-api".to_string()])
                        .build(),
                );
            hello.merge(guarded)
        }
        m => return Err(format!("unknown mode {m}").into()),
    };
    let rss_after = rss_kib("VmRSS:");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!(
        "ready {mode} on {app_url}: {sessions} sessions, RSS {rss_before} KiB -> {rss_after} KiB"
    );
    axum::serve(listener, app).await?;
    Ok(())
}
