//! Revocation-aware routes next to local validation, against the real Keycloak: one bearer
//! token checked `N` times, `CONCURRENCY` at a time, through the web engine with the
//! verified-token cache off, in three ways, interleaved for three rounds (median reported):
//! local validation only; validation + introspection asked every time (`max_age` 0); and
//! validation + introspection cached (`max_age` 30 s). Prints a Markdown table.
//!
//! `introspection <keycloak-url> <requests> <concurrency>`

use std::sync::Arc;
use std::time::Instant;

use keycloak_client::{Client, ClientConfig, Password};
use keycloak_client_reqwest::HttpClient;
use keycloak_client_web::{AuthStatus, GuardOutcome, MemoryStore, WebAuth, WebConfig};

#[derive(Clone, Copy)]
enum Way {
    Local,
    IntrospectEveryTime,
    IntrospectCached,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Local => "local validation (signature + claims)",
            Way::IntrospectEveryTime => "+ introspection, every request",
            Way::IntrospectCached => "+ introspection, cached 30 s",
        }
    }
}

fn engine(url: &str, way: Way) -> Arc<WebAuth> {
    let mut w = WebConfig::new("http://127.0.0.1:1").unwrap();
    w.api_audience = Some("rkc-api".into());
    w.bearer_cache_size = 0;
    w.introspection_max_age_secs = match way {
        Way::IntrospectEveryTime => 0,
        _ => 30,
    };
    let kc = ClientConfig::keycloak(url, "rkc", "rkc-rs").client_secret("rkc-rs-secret");
    Arc::new(WebAuth::new(kc, w, Arc::new(MemoryStore::default())).unwrap())
}

async fn run(auth: Arc<WebAuth>, way: Way, token: Arc<String>, n: usize, c: usize) -> f64 {
    let per = n / c;
    let start = Instant::now();
    let tasks: Vec<_> = (0..c)
        .map(|_| {
            let (auth, token) = (auth.clone(), token.clone());
            tokio::spawn(async move {
                for _ in 0..per {
                    let AuthStatus::Authenticated(i) = auth.bearer_token_status(Some(&token)).await
                    else {
                        panic!("the token is valid");
                    };
                    if !matches!(way, Way::Local) {
                        let ok = matches!(
                            auth.require_active_token(Some(&i)).await,
                            GuardOutcome::Allow
                        );
                        assert!(ok, "the token is active");
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per * c) as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).cloned().unwrap_or("http://127.0.0.1:18080".into());
    let n: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let c: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(16);
    let http = HttpClient::new(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(15),
    );
    let cfg = ClientConfig::keycloak(&url, "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret")
        .build()
        .unwrap();
    let d = http
        .run(keycloak_client::DiscoverFlow::new(&cfg, false))
        .await
        .unwrap();
    let client = Client::new(cfg, d);
    let t = http
        .exec(client.danger_password_grant("carol", &Password::new("carol-pass"), "openid"))
        .await
        .unwrap();
    let token = Arc::new(t.access_token.secret().to_string());
    let ways = [Way::Local, Way::IntrospectEveryTime, Way::IntrospectCached];
    let engines: Vec<_> = ways.iter().map(|w| engine(&url, *w)).collect();
    // warm up: keys fetched, connections open
    for (e, w) in engines.iter().zip(ways) {
        run(e.clone(), w, token.clone(), c * 4, c).await;
    }
    let mut rates = vec![vec![]; ways.len()];
    for _round in 0..3 {
        for (i, (e, w)) in engines.iter().zip(ways).enumerate() {
            rates[i].push(run(e.clone(), w, token.clone(), n, c).await);
        }
    }
    println!("| check | requests/s | mean latency | vs local |");
    println!("|---|---|---|---|");
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let base = median(&mut rates[0].clone());
    for (i, w) in ways.iter().enumerate() {
        let r = median(&mut rates[i]);
        println!(
            "| {} | {:.0} | {:.0} µs | {:.2}x |",
            w.name(),
            r,
            c as f64 / r * 1e6,
            r / base
        );
    }
}
