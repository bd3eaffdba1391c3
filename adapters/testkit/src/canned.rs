//! A loopback HTTP/1.1 server with scripted answers, for adapter conformance tests.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running canned server (threads live until the process ends).
#[derive(Clone)]
pub struct CannedServer {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl CannedServer {
    /// Starts the server on an ephemeral loopback port.
    pub fn start() -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let h = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let h = h.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, h);
                });
            }
        });
        CannedServer { base, hits }
    }

    /// A URL on this server.
    pub fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("{}{}", self.base, path)).expect("url")
    }

    /// How many requests reached `path`.
    pub fn hits(&self, path: &str) -> usize {
        *self.hits.lock().unwrap().get(path).unwrap_or(&0)
    }
}

fn serve(stream: TcpStream, hits: Arc<Mutex<HashMap<String, usize>>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("/").to_string();
    let path = target.split('?').next().unwrap_or("/").to_string();
    let mut headers = vec![];
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let n = {
        let mut m = hits.lock().unwrap();
        let e = m.entry(path.clone()).or_insert(0);
        *e += 1;
        *e
    };
    let mut out = stream;
    let json = |status: u16, reason: &str, body: &str, extra: &str| {
        format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
            body.len()
        )
    };
    match path.as_str() {
        "/ok" => out.write_all(json(200, "OK", r#"{"ok":true}"#, "").as_bytes())?,
        "/redirect" => out.write_all(
            json(
                302,
                "Found",
                "{}",
                "Location: http://127.0.0.1:9/should-not-be-followed\r\n",
            )
            .as_bytes(),
        )?,
        "/oauth-error" => out.write_all(
            json(
                400,
                "Bad Request",
                r#"{"error":"invalid_grant","error_description":"Code not valid"}"#,
                "",
            )
            .as_bytes(),
        )?,
        "/huge" => {
            let size = 2 * 1024 * 1024;
            out.write_all(
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n").as_bytes(),
            )?;
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..(size / chunk.len()) {
                if out.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        "/slow" => {
            std::thread::sleep(Duration::from_secs(4));
            out.write_all(json(200, "OK", r#"{"ok":true}"#, "").as_bytes())?
        }
        "/flaky" | "/flaky-post" => {
            if n <= 2 {
                out.write_all(
                    json(
                        503,
                        "Service Unavailable",
                        r#"{"error":"temporarily_unavailable"}"#,
                        "",
                    )
                    .as_bytes(),
                )?
            } else {
                out.write_all(json(200, "OK", r#"{"ok":true}"#, "").as_bytes())?
            }
        }
        "/truncated" => {
            out.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"access")?;
            out.flush()?;
            // close early
        }
        "/echo" => {
            let v = serde_json::json!({
                "method": method,
                "target": target,
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            out.write_all(json(200, "OK", &v.to_string(), "").as_bytes())?
        }
        _ => out.write_all(json(404, "Not Found", "", "").as_bytes())?,
    }
    out.flush()
}
