//! `kcc login`: authorization code + PKCE through a loopback redirect (RFC 8252 §7.3), or the
//! device authorization grant (RFC 8628).

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use keycloak_client::{IdTokenExpectations, IdTokenValidator};
use keycloak_client_ureq::now;

use crate::store::Saved;
use crate::{Ctx, Failure, Result};

fn open_browser(url: &str) -> bool {
    for cmd in ["xdg-open", "open"] {
        if std::process::Command::new(cmd)
            .arg(url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
        {
            return true;
        }
    }
    false
}

fn page(stream: &mut std::net::TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!DOCTYPE html><html><head><title>kcc</title></head><body><p>{text}</p></body></html>"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

pub fn browser(
    ctx: &Ctx,
    port: u16,
    no_browser: bool,
    par: bool,
    scopes: &[String],
    timeout: u64,
) -> Result<Saved> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| Failure::usage(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let client = ctx.kc.client()?;
    let mut b = client.login().redirect_uri(&redirect);
    for s in scopes {
        b = b.scope(s);
    }
    let (url, pending) = if par || b.must_push() {
        // RFC 9126: the parameters go to Keycloak first; the URL carries only a request_uri.
        ctx.kc
            .http()
            .exec(b.build_pushed(&mut rand::rng(), now())?)?
    } else {
        b.build(&mut rand::rng(), now())?
    };
    eprintln!("Open this URL in a browser to log in:\n{url}");
    if !no_browser && !open_browser(url.as_str()) {
        eprintln!("(could not open a browser; open the URL yourself)");
    }
    eprintln!("Waiting for the redirect on {redirect} ...");
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        if Instant::now() > deadline {
            return Err(Failure::protocol(format!("no login within {timeout} s")));
        }
        let (mut stream, _) = match listener.accept() {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        stream.set_nonblocking(false)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut line = String::new();
        BufReader::new(stream.try_clone()?).read_line(&mut line)?;
        let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
        if path != "/callback" {
            page(&mut stream, "404 Not Found", "Not the login callback.");
            continue;
        }
        return match ctx.kc.callback(pending, query) {
            Ok(login) => {
                page(
                    &mut stream,
                    "200 OK",
                    "Login complete. You can close this window and return to the terminal.",
                );
                Ok(Saved::new(
                    &ctx.kc.config().issuer,
                    &ctx.kc.config().client_id,
                    login.tokens,
                    Some(&login.id_claims),
                ))
            }
            Err(e) => {
                page(
                    &mut stream,
                    "400 Bad Request",
                    "Login failed; see the terminal.",
                );
                Err(Failure::from(e))
            }
        };
    }
}

pub fn device(ctx: &Ctx, scopes: &[String], timeout: u64) -> Result<Saved> {
    let scope = scopes.join(" ");
    let auth = ctx
        .kc
        .device_authorization(if scope.is_empty() { None } else { Some(&scope) })?;
    eprintln!(
        "To log in, visit {} and enter the code {}",
        auth.verification_uri, auth.user_code
    );
    if let Some(c) = &auth.verification_uri_complete {
        eprintln!("or open {c}");
    }
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let spinner = ['|', '/', '-', '\\'];
    let mut tick = 0usize;
    let expires_at = auth.expires_at;
    let tokens = ctx.kc.device_wait(&auth, move |interval| {
        tick += 1;
        let waited = started.elapsed().as_secs();
        if tty {
            eprint!(
                "\r{} waiting for approval ({waited} s, polling every {interval} s)",
                spinner[tick % 4]
            );
        } else {
            eprintln!("waiting for approval ({waited} s)");
        }
        waited < timeout && now() < expires_at
    });
    if tty {
        eprintln!();
    }
    let tokens = match tokens {
        Err(e) if matches!(e.keycloak(), Some(keycloak_client::Error::Cancelled(_))) => {
            return Err(Failure::protocol(format!("no approval within {timeout} s")));
        }
        other => other?,
    };
    // The ID token of a device login is validated like any other (no nonce in this grant).
    let claims = match &tokens.id_token {
        Some(id) => {
            // The agent loads the realm's keys (once, shared) before handing the validator out.
            let v = ctx
                .kc
                .token_validator()?
                .ok_or_else(|| Failure::protocol("no verifier"))?;
            let expect = IdTokenExpectations::for_client(ctx.kc.config());
            Some(v.validate_id_token(id, Some(&tokens.access_token), &expect, now())?)
        }
        None => None,
    };
    Ok(Saved::new(
        &ctx.kc.config().issuer,
        &ctx.kc.config().client_id,
        tokens,
        claims.as_ref(),
    ))
}
