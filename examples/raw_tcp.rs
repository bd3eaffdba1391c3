//! Drives the sans-IO core with a hand-written HTTP/1.1 exchange over `std::net::TcpStream`:
//! a custom HTTP stack needs nothing from this crate but `poll()`/`request()` and
//! `handle_response()`/`handle()`.
//!
//! Run against the local Keycloak (`scripts/keycloak up`):
//! `cargo run --example raw_tcp`

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keycloak_client::uma::PermissionRequest;
use keycloak_client::{
    Client, ClientConfig, DiscoverFlow, Error, Flow, Request, Response, Step, UnixTime,
};

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

/// The one generic loop every flow needs.
fn run<F: Flow>(mut flow: F) -> Result<F::Output, Box<dyn std::error::Error>> {
    loop {
        match flow.poll()? {
            Step::Send(req) => {
                let resp = send(&req)?;
                flow.handle_response(resp, now())?;
            }
            Step::Done(out) => return Ok(out),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let config = ClientConfig::keycloak(&server, "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret")
        .build()?;
    let discovered = run(DiscoverFlow::new(&config, true))?;
    println!("discovered issuer {}", discovered.provider.issuer);
    let client = Client::new(config, discovered);
    let (ticket, pat) = run(client.find_ticket(
        None,
        vec![PermissionRequest::new("doc-1", &["read"])],
        now(),
    )?)?;
    println!(
        "PAT valid for {} s; permission ticket of {} bytes",
        pat.expires_in(now()),
        ticket.secret().len()
    );
    let e: Error = run(client
        .uma_grant(keycloak_client::uma::UmaGrantAuth::Client)
        .ticket(&ticket)
        .submit_request(false)
        .rpt_request()
        .into_flow())
    .err()
    .and_then(|e| e.downcast::<Error>().ok().map(|b| *b))
    .ok_or("the service account must not be granted doc-1#read")?;
    println!("service account asking for doc-1#read: {e}");
    Ok(())
}

trait IntoFlow: keycloak_client::Exchange + Sized {
    fn into_flow(self) -> keycloak_client::Single<Self> {
        keycloak_client::Single::new(self)
    }
}
impl<E: keycloak_client::Exchange> IntoFlow for E {}
