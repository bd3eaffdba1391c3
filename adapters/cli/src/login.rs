//! `kcc login`: authorization code + PKCE through a loopback redirect (RFC 8252 §7.3) or a pasted
//! redirect (any registered redirect URI), or the device authorization grant (RFC 8628).

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
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

/// The authorization URL for `redirect`, pushed first (RFC 9126) when asked or required.
fn authorization_url(
    ctx: &Ctx,
    redirect: &str,
    par: bool,
    scopes: &[String],
) -> Result<(url::Url, keycloak_client::PendingLogin)> {
    let client = ctx.kc.client()?;
    let mut b = client.login().redirect_uri(redirect);
    for s in scopes {
        b = b.scope(s);
    }
    Ok(if par || b.must_push() {
        // RFC 9126: the parameters go to Keycloak first; the URL carries only a request_uri.
        ctx.kc
            .http()
            .exec(b.build_pushed(&mut rand::rng(), now())?)?
    } else {
        b.build(&mut rand::rng(), now())?
    })
}

fn show(url: &url::Url, no_browser: bool) {
    eprintln!("Open this URL in a browser to log in:\n{url}");
    if !no_browser && !open_browser(url.as_str()) {
        eprintln!("(could not open a browser; open the URL yourself)");
    }
}

fn saved(ctx: &Ctx, login: keycloak_client::LoginTokens) -> Saved {
    Saved::new(
        &ctx.kc.config().issuer,
        &ctx.kc.config().client_id,
        login.tokens,
        Some(&login.id_claims),
    )
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
    let (url, pending) = authorization_url(ctx, &redirect, par, scopes)?;
    show(&url, no_browser);
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
                Ok(saved(ctx, login))
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

/// The query of `pasted`, which must be the address the browser was sent to: `redirect` with
/// the authorization response in its query (RFC 6749 §4.1.2). Anything else is refused before
/// Keycloak is asked, so a mistyped paste never spends the code.
fn response_query(redirect: &url::Url, pasted: &str) -> Result<String> {
    let pasted = url::Url::parse(pasted.trim()).map_err(|e| {
        Failure::usage(format!(
            "the pasted text is not an address ({e}); paste the whole address the browser was sent to"
        ))
    })?;
    if pasted[..url::Position::AfterPath] != redirect[..url::Position::AfterPath] {
        return Err(Failure::usage(format!(
            "the pasted address is not the redirect URI {}",
            &redirect[..url::Position::AfterPath]
        )));
    }
    match pasted.query() {
        Some(q) if !q.is_empty() => Ok(q.to_owned()),
        _ => Err(Failure::usage(
            "the pasted address has no query: paste the whole address, with its `?code=...`",
        )),
    }
}

/// Authorization code + PKCE to a redirect URI nobody listens on here: a FAPI 2.0 client's
/// `https` redirect, or a private-use scheme (RFC 8252 §7.1). The user pastes the address the
/// browser was sent to on stdin; `state`, `iss` and PKCE are checked as for the listener.
pub fn pasted(
    ctx: &Ctx,
    redirect: &str,
    no_browser: bool,
    par: bool,
    scopes: &[String],
    timeout: u64,
) -> Result<Saved> {
    let redirect_url = url::Url::parse(redirect)
        .map_err(|e| Failure::usage(format!("--redirect-uri {redirect}: {e}")))?;
    if redirect_url.query().is_some() || redirect_url.fragment().is_some() {
        return Err(Failure::usage(
            "--redirect-uri takes a URI without query or fragment (a fragment is never allowed, RFC 6749 §3.1.2; kcc reads the response from the query)",
        ));
    }
    let (url, pending) = authorization_url(ctx, redirect, par, scopes)?;
    show(&url, no_browser);
    eprintln!(
        "After the login the browser is sent to {redirect}?... \
         Copy that whole address from the browser and paste it here:"
    );
    // Lines come from a reader thread (stdin cannot be read with a deadline), each at most
    // MAX_PASTE bytes. A paste that is not the redirect is refused before Keycloak is asked,
    // and the user may paste again until the deadline: the code is still unspent.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        loop {
            let mut line = Vec::new();
            let read = (&mut stdin)
                .take(MAX_PASTE as u64 + 1)
                .read_until(b'\n', &mut line);
            let end = matches!(read, Ok(0) | Err(_));
            if tx.send(read.map(|_| line)).is_err() || end {
                return;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(read) => read?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                return Err(Failure::protocol(format!("no login within {timeout} s")))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::usage("nothing was pasted"))
            }
        };
        if line.is_empty() {
            return Err(Failure::usage("nothing was pasted (end of input)"));
        }
        if line.len() > MAX_PASTE {
            return Err(Failure::usage(format!(
                "the pasted text is longer than {MAX_PASTE} bytes"
            )));
        }
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        match response_query(&redirect_url, &text) {
            Ok(query) => return Ok(saved(ctx, ctx.kc.callback(pending, &query)?)),
            Err(e) => eprintln!("{}; paste the address again:", e.message),
        }
    }
}

/// Longest pasted line read (an authorization response is far shorter).
const MAX_PASTE: usize = 64 * 1024;

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

#[cfg(test)]
mod tests {
    use super::response_query;

    fn redirect() -> url::Url {
        url::Url::parse("https://127.0.0.1/callback").unwrap()
    }

    #[test]
    fn a_pasted_redirect_gives_its_query() {
        let q = response_query(
            &redirect(),
            "  https://127.0.0.1/callback?state=s&code=c&iss=x \n",
        )
        .unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(q, "state=s&code=c&iss=x");
        let private_use = url::Url::parse("org.example.rkc:/callback").unwrap();
        assert_eq!(
            response_query(&private_use, "org.example.rkc:/callback?code=c&state=s")
                .unwrap_or_else(|e| panic!("{}", e.message)),
            "code=c&state=s"
        );
    }

    #[test]
    fn anything_but_the_redirect_uri_is_refused_before_keycloak_is_asked() {
        for other in [
            "https://127.0.0.2/callback?code=c&state=s",
            "https://127.0.0.1:8443/callback?code=c&state=s",
            "http://127.0.0.1/callback?code=c&state=s",
            "https://127.0.0.1/callback/x?code=c&state=s",
            "https://127.0.0.1/?code=c&state=s",
            "https://127.0.0.1/callback",
            "https://127.0.0.1/callback?",
            "https://127.0.0.1/callback#code=c&state=s",
            "code=c&state=s",
            "",
        ] {
            match response_query(&redirect(), other) {
                Ok(q) => panic!("{other} gave {q}"),
                Err(e) => assert_eq!(e.code, 2, "{other}: a usage error"),
            }
        }
    }
}
