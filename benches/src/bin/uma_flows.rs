//! Client CPU per UMA flow against the real Keycloak, through the reqwest adapter: N flows of
//! PAT (client credentials) + permission ticket for `doc-1#read` + RPT decision for that ticket
//! on behalf of alice, `CONCURRENCY` at a time. Prints one JSON line: flows, wall seconds and
//! this process's CPU seconds (user + system, from /proc/self/stat).
//!
//! `uma_flows <keycloak-url> <flows> <concurrency>`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use keycloak_client::uma::{PermissionRequest, ResourceQuery, UmaGrantAuth};
use keycloak_client::{AccessToken, Client, ClientConfig, Password};
use keycloak_client_reqwest::{HttpClient, Keycloak};

/// utime + stime of this process, in seconds.
fn cpu_seconds() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &s[s.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

async fn one_flow(
    http: &HttpClient,
    c: &Client,
    user: &AccessToken,
    resource_id: &str,
) -> Result<bool, keycloak_client_reqwest::Error> {
    let pat = http.exec(c.pat()?).await?;
    let ticket = http
        .exec(c.permission_ticket(
            &pat.access_token,
            &[PermissionRequest::new(resource_id, &["read"])],
        )?)
        .await?;
    http.exec(
        c.uma_grant(UmaGrantAuth::Bearer(user.clone()))
            .ticket(&ticket)
            .decision(),
    )
    .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:18080".into());
    let flows: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(1000);
    let concurrency: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(16);

    let http = HttpClient::new(Duration::from_secs(5), Duration::from_secs(30));
    let kc = Keycloak::builder(
        ClientConfig::keycloak(&url, "rkc", "rkc-rs").client_secret("rkc-rs-secret"),
    )
    .http(http.clone())
    .build()?;
    let c = Arc::new(kc.client().await?);
    // Outside the measured loop: alice's token and doc-1's id.
    let alice = http
        .exec(c.danger_password_grant("alice", &Password::new("alice-pass"), "openid"))
        .await?
        .access_token;
    let pat = http.exec(c.pat()?).await?;
    let q = ResourceQuery {
        name: Some("doc-1".into()),
        exact_name: true,
        ..Default::default()
    };
    let id = http
        .exec(c.resources().query(&pat.access_token, &q)?)
        .await?
        .into_iter()
        .next()
        .ok_or("doc-1 is not registered")?;
    // Warm-up: connections and allocator.
    assert!(one_flow(&http, &c, &alice, &id).await?);

    let next = Arc::new(AtomicUsize::new(0));
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (http, c, alice, id, next) = (
            http.clone(),
            c.clone(),
            alice.clone(),
            id.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut granted = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < flows {
                if one_flow(&http, &c, &alice, &id).await? {
                    granted += 1;
                }
            }
            Ok::<usize, keycloak_client_reqwest::Error>(granted)
        }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += t.await??;
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    if granted != flows {
        return Err(format!("only {granted} of {flows} decisions granted").into());
    }
    println!("{{\"client\":\"keycloak-client-rs (reqwest)\",\"flows\":{flows},\"wall_s\":{wall:.3},\"cpu_s\":{cpu:.3}}}");
    Ok(())
}
