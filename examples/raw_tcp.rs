//! Drives the sans-IO core with a hand-written HTTP/1.1 exchange over `std::net::TcpStream`:
//! a custom HTTP stack needs nothing but a `send` function and the core's `drive`.
//!
//! Run against the local Keycloak (`scripts/keycloak up`):
//! `cargo run --example raw_tcp`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keycloak_client::uma::PermissionRequest;
use keycloak_client::{drive, Agent, ClientConfig, Request, Response, UnixTime};

fn now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
}

/// One HTTP/1.1 request with `Connection: close`; plain http only (loopback).
fn send(req: &Request) -> std::io::Result<Response> {
    let host = req.url.host_str().unwrap_or("127.0.0.1");
    let port = req.url.port_or_known_default().unwrap_or(80);
    let mut stream = TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut target = req.url.path().to_string();
    if let Some(q) = req.url.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n",
        req.method
    );
    for (k, v) in &req.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", req.body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(&req.body)?;
    let mut raw = Vec::new();
    stream.take(2 * 1024 * 1024).read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body).ok_or(std::io::ErrorKind::InvalidData)?;
    }
    Ok(Response::new(status, headers, body))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..eol])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let config = ClientConfig::keycloak(&server, "rkc", "rkc-rs").client_secret("rkc-rs-secret");
    let agent = Agent::builder(config).build_agent()?;
    let send = |req: &Request| send(req).map_err(Box::<dyn std::error::Error>::from);
    // One call per flow; discovery and the PAT come first on their own, once.
    let client = drive(agent.client(now()), send, now)?;
    println!("discovered issuer {}", client.provider.issuer);
    let pat = drive(agent.pat(now()), send, now)?;
    let read_doc = [PermissionRequest::new("doc-1", &["read"])];
    let ticket = drive(agent.find_ticket(&read_doc, now()), send, now)?;
    println!(
        "PAT valid for {} s; permission ticket of {} bytes",
        pat.expires_in(now()),
        ticket.secret().len()
    );
    let denied = drive(agent.rpt(&pat.access_token, &ticket, now()), send, now)
        .err()
        .ok_or("the service account must not be granted doc-1#read")?;
    println!("service account asking for doc-1#read: {denied}");
    Ok(())
}
