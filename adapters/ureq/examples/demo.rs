//! The main job: every flow of the seed library against the local Keycloak, printed readably.
//!
//! `scripts/demo` starts Keycloak and runs this. Without `--interactive` the demo user (alice)
//! is logged in automatically through Keycloak's real login form; with `--interactive` you open
//! the printed URL in a browser and the demo waits for the redirect on 127.0.0.1:18081.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;

use keycloak_client::uma::PermissionRequest;
use keycloak_client::{ClientConfig, TokenTypeHint};
use keycloak_client_testkit::browser::Browser;
use keycloak_client_ureq::Keycloak;

const REDIRECT: &str = "http://127.0.0.1:18081/callback";

fn wait_for_redirect() -> Result<String, Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:18081")?;
    let (mut stream, _) = listener.accept()?;
    let mut line = String::new();
    BufReader::new(stream.try_clone()?).read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let query = target
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap_or_default();
    let body = "Logged in. You can close this tab and return to the terminal.";
    write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    Ok(query)
}

fn step(n: u32, title: &str) {
    println!("\n== {n}. {title}");
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let interactive = std::env::args().any(|a| a == "--interactive");
    let server = std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let config = ClientConfig::keycloak(&server, "rkc", "rkc-rs")
        .client_secret("rkc-rs-secret")
        .redirect_uri(REDIRECT)
        .scope("profile email");
    // ID tokens are verified with the realm's keys (ring backend), fetched from its JWKS.
    let kc = Keycloak::builder(config)
        .jws_verifier(std::sync::Arc::new(keycloak_client_ring::RingVerifier))
        .build()?;

    step(
        1,
        "login(): authorization URL with state, nonce and PKCE S256",
    );
    let (url, pending) = kc.login()?;
    println!("{url}");
    let query = if interactive {
        println!("Open the URL above in a browser and log in (alice / alice-pass)...");
        wait_for_redirect()?
    } else {
        println!("(logging in as alice through Keycloak's login form; pass --interactive to do it yourself)");
        let cb = Browser::new()
            .login(url.as_str(), "alice", "alice-pass")
            .map_err(|e| e.to_string())?;
        cb.query().unwrap_or("").to_string()
    };

    step(
        2,
        "callback(code): state, iss and PKCE checked, code exchanged, ID token verified (RS256, realm JWKS)",
    );
    let login = kc.callback(pending, &query)?;
    let now = keycloak_client_ureq::now();
    println!(
        "access token expires in {} s, refresh token: {}, ID token for sub {}",
        login.tokens.expires_in(now),
        if login.tokens.refresh_token.is_some() {
            "yes"
        } else {
            "no"
        },
        login.id_claims.sub().unwrap_or("?")
    );

    let claims = kc.validate_access_token(login.tokens.access_token.secret())?;
    println!(
        "access token verified locally: aud {:?}, realm roles {:?}",
        claims.aud(),
        claims.realm_roles()
    );

    step(3, "fetch_userinfo(access_token)");
    let user = kc.fetch_userinfo(&login.tokens.access_token)?;
    println!(
        "{} <{}> ({} {})",
        user.preferred_username.as_deref().unwrap_or("?"),
        user.email.as_deref().unwrap_or("?"),
        user.given_name.as_deref().unwrap_or(""),
        user.family_name.as_deref().unwrap_or("")
    );

    step(
        4,
        "pat(): Protection API Token (client credentials, cached)",
    );
    let pat = kc.pat()?;
    println!(
        "PAT valid for {} s, scope: {}",
        pat.expires_in(now),
        pat.scope.as_deref().unwrap_or("")
    );

    step(5, "find_ticket(): permission ticket for doc-1#read");
    let ticket = kc.find_ticket(&[PermissionRequest::new("doc-1", &["read"])])?;
    println!(
        "ticket: {}…",
        &ticket.secret()[..24.min(ticket.secret().len())]
    );

    step(
        6,
        "rpt(): alice redeems the ticket for a Requesting Party Token",
    );
    let rpt = kc.rpt(&login.tokens.access_token, &ticket)?;
    let intro = kc.introspect(
        rpt.tokens.access_token.secret(),
        Some(TokenTypeHint::RequestingPartyToken),
    )?;
    for p in intro.permissions.unwrap_or_default() {
        println!("granted: {} {:?}", p.rsname.unwrap_or(p.rsid), p.scopes);
    }

    step(7, "decisions: alice may write doc-1; bob may not read it");
    println!(
        "alice doc-1#write -> {}",
        kc.decision(&login.tokens.access_token, "rkc-rs", "doc-1", &["write"])?
    );
    let (url, pending) = kc.login()?;
    let bob_query = if interactive {
        None
    } else {
        let cb = Browser::new()
            .login(url.as_str(), "bob", "bob-pass")
            .map_err(|e| e.to_string())?;
        Some(cb.query().unwrap_or("").to_string())
    };
    if let Some(q) = bob_query {
        let bob = kc.callback(pending, &q)?;
        println!(
            "bob   doc-1#read  -> {}",
            kc.decision(&bob.tokens.access_token, "rkc-rs", "doc-1", &["read"])?
        );
        kc.logout(&bob.tokens)?;
    }

    step(8, "refresh, then logout");
    let refreshed = kc.refresh(&login.tokens)?;
    println!(
        "refreshed; new access token valid for {} s",
        refreshed.expires_in(keycloak_client_ureq::now())
    );
    kc.logout(&refreshed)?;
    match kc.refresh(&refreshed) {
        Err(e) => println!("after logout, refresh fails as it should: {e}"),
        Ok(_) => return Err("refresh after logout unexpectedly succeeded".into()),
    }
    println!("\ndemo complete");
    Ok(())
}
