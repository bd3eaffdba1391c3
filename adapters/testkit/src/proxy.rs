//! A loopback TCP proxy that injects faults between a client and the real Keycloak: delays,
//! truncated responses, 503 bursts and refused connections.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to the next connections.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward unchanged.
    Pass,
    /// Wait this long before forwarding the request.
    Delay(Duration),
    /// Forward, but cut the response after this many bytes.
    Truncate(usize),
    /// Answer `503` to the next `n` connections without contacting upstream, then pass.
    ServiceUnavailable(usize),
    /// Close every connection immediately (the server is "down").
    Down,
    /// Read the request, wait this long, then answer `503` without contacting upstream (a
    /// struggling server behind a gateway).
    SlowUnavailable(Duration),
    /// Answer every request with this status, content type and body, without contacting
    /// upstream (a gateway's error page, say).
    Answer(u16, &'static str, &'static str),
}

/// A running proxy on 127.0.0.1.
#[derive(Clone)]
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    fault: Arc<Mutex<Fault>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`host:port`, loopback only).
    pub fn start(upstream: &str) -> FaultProxy {
        assert!(
            upstream.starts_with("127.0.0.1:") || upstream.starts_with("localhost:"),
            "loopback only"
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let f = fault.clone();
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        let upstream = upstream.to_string();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mode = {
                    let mut g = f.lock().unwrap();
                    let m = g.clone();
                    if let Fault::ServiceUnavailable(n) = &mut *g {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            *g = Fault::Pass;
                        }
                    }
                    m
                };
                let upstream = upstream.clone();
                std::thread::spawn(move || handle(client, &upstream, mode));
            }
        });
        FaultProxy {
            base,
            fault,
            connections,
        }
    }

    /// How many connections clients have opened so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sets the fault for the following connections.
    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }
}

fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    // One request per connection: ask upstream to close when done (head only; body untouched).
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(buf);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_string();
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    lines.push("Connection: close");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&buf[end + 4..]);
    Ok(out)
}

fn handle(mut client: TcpStream, upstream: &str, mode: Fault) {
    match mode {
        Fault::Down => {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        Fault::ServiceUnavailable(_) | Fault::SlowUnavailable(_) => {
            let _ = read_request(&mut client);
            if let Fault::SlowUnavailable(d) = mode {
                std::thread::sleep(d);
            }
            let body = r#"{"error":"temporarily_unavailable"}"#;
            let _ = write!(
                client,
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        Fault::Answer(status, media, body) => {
            let _ = read_request(&mut client);
            let _ = write!(
                client,
                "HTTP/1.1 {status} Fault\r\nContent-Type: {media}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            return;
        }
        _ => {}
    }
    let Ok(req) = read_request(&mut client) else {
        return;
    };
    if let Fault::Delay(d) = mode {
        std::thread::sleep(d);
    }
    let Ok(mut up) = TcpStream::connect(upstream) else {
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    if up.write_all(&req).is_err() {
        return;
    }
    let mut resp = Vec::new();
    let _ = up.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = up.read_to_end(&mut resp);
    let resp = match mode {
        Fault::Truncate(n) => resp[..n.min(resp.len())].to_vec(),
        _ => resp,
    };
    let _ = client.write_all(&resp);
    let _ = client.shutdown(Shutdown::Both);
}
