//! Resident bytes per stored session in the middleware's in-memory store: N sessions with
//! Keycloak-sized tokens (access ~1.4 KB, refresh ~0.8 KB, ID ~1.3 KB), RSS measured from /proc.

use keycloak_client::{Claims, TokenResponse, TokenSet, UnixTime};
use keycloak_client_web::{MemoryStore, Session, SessionStore};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap();
    s.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 4
}

fn tokens(i: usize) -> TokenSet {
    let jwt = |n: usize, tag: &str| format!("eyJ{tag}.{}{i}.{}", "x".repeat(n), "s".repeat(342));
    let r: TokenResponse = serde_json::from_value(serde_json::json!({
        "access_token": jwt(1000, "a"), "token_type": "Bearer", "expires_in": 300,
        "refresh_token": jwt(400, "r"), "refresh_expires_in": 1800, "id_token": jwt(900, "i"),
        "scope": "openid email profile", "session_state": format!("s{i}"), "not-before-policy": 0
    }))
    .unwrap();
    TokenSet::from_response(r, UnixTime(1_800_000_000))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let store = MemoryStore::new(n * 2);
    let before = rss_kib();
    for i in 0..n {
        let claims: Claims = serde_json::from_value(
            serde_json::json!({"sub": format!("user-{i}"), "sid": format!("sid-{i}"),
            "preferred_username": format!("user{i}"), "email": format!("user{i}@example.test")}),
        )
        .unwrap();
        let s = Session {
            tokens: Some(tokens(i)),
            claims: Some(claims),
            sid: Some(format!("sid-{i}")),
            created_at: UnixTime(1_800_000_000),
            ..Default::default()
        };
        store
            .store(
                &format!("{i:043}"),
                s,
                UnixTime(1_800_000_000),
                UnixTime(1_800_028_800),
            )
            .await
            .expect("an in-memory store");
    }
    let after = rss_kib();
    let per = (after - before) * 1024 / n as u64;
    println!("{n} sessions: RSS {before} KiB -> {after} KiB, {per} bytes per session");
}
