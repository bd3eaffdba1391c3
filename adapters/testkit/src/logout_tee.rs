//! Receives Keycloak's back-channel logout requests on a fixed port (the realm's
//! `backchannel.logout.url`), keeps each body, and forwards it to the application, so a test
//! can replay a genuine logout token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A recording forwarder of back-channel logout requests.
pub struct LogoutTee {
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    target: Arc<Mutex<String>>,
}

impl LogoutTee {
    /// Listens on `127.0.0.1:port` and forwards each POST body to `target` (the app's
    /// back-channel logout URL), answering Keycloak with the app's status.
    pub fn start(port: u16, target: &str) -> LogoutTee {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("logout tee on port {port}: {e}"));
        let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let target = Arc::new(Mutex::new(target.to_string()));
        let (keep, to) = (bodies.clone(), target.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut reader = BufReader::new(conn);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        if k.eq_ignore_ascii_case("content-length") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0; length.min(1 << 20)];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                keep.lock().unwrap().push(body.clone());
                let target = to.lock().unwrap().clone();
                let status = post_form(&target, &body);
                let _ = reader.get_mut().write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
        });
        LogoutTee { bodies, target }
    }

    /// Forwards from now on to `target`.
    pub fn retarget(&self, target: &str) {
        *self.target.lock().unwrap() = target.to_string();
    }

    /// The bodies received so far.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap().clone()
    }
}

/// POSTs a form body; the status code (0 when the app could not be reached).
pub fn post_form(url: &str, body: &[u8]) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(body)
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}
