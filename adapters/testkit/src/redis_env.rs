//! The local Redis servers of `scripts/redis`: a single node and a 3-master cluster on
//! loopback. Tests that need them fail loudly when they are not running (never skip).

use std::net::TcpStream;
use std::time::Duration;

fn require(var: &str, default: &str) -> String {
    let url = std::env::var(var).unwrap_or_else(|_| default.to_string());
    let first = url
        .trim_start_matches("redis+cluster://")
        .trim_start_matches("redis://")
        .split([',', '/'])
        .next()
        .unwrap_or("")
        .to_string();
    assert!(
        first.starts_with("127.0.0.1:") || first.starts_with("localhost:"),
        "{var} must be a loopback address, got {url}"
    );
    let addr = first.replace("localhost", "127.0.0.1");
    let sock = addr
        .parse()
        .unwrap_or_else(|e| panic!("{var}: {addr}: {e}"));
    TcpStream::connect_timeout(&sock, Duration::from_secs(2)).unwrap_or_else(|e| {
        panic!("these tests need the local Redis ({url}: {e}); run `scripts/redis up` (or `scripts/test`)")
    });
    url
}

/// `REDIS_URL_SINGLE`, default `redis://127.0.0.1:16379`.
pub fn single() -> String {
    require("REDIS_URL_SINGLE", "redis://127.0.0.1:16379")
}

/// `REDIS_URL_CLUSTER`, default `redis+cluster://127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003`.
pub fn cluster() -> String {
    require(
        "REDIS_URL_CLUSTER",
        "redis+cluster://127.0.0.1:17001,127.0.0.1:17002,127.0.0.1:17003",
    )
}

/// A fresh base64url 32-byte sealing key.
pub fn sealing_key() -> String {
    use base64::Engine as _;
    let mut k = [0u8; 32];
    rand::fill(&mut k);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(k)
}
