//! `kcc` end to end against the real Keycloak: every subcommand, logins driven through the real
//! login pages, plus usage errors and an unreachable server.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use keycloak_client_testkit::browser::Browser;
use keycloak_client_testkit::keycloak;

struct Kcc {
    cache: PathBuf,
    issuer: String,
    client_id: String,
    secret: Option<String>,
}

impl Kcc {
    fn new(client_id: &str, secret: Option<&str>) -> Kcc {
        Self::in_realm(&keycloak::require().realm, client_id, secret)
    }

    fn in_realm(realm: &str, client_id: &str, secret: Option<&str>) -> Kcc {
        let env = keycloak::require();
        let cache = std::env::temp_dir().join(format!(
            "kcc-test-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&cache).unwrap();
        Kcc {
            cache,
            issuer: format!("{}/realms/{realm}", env.url),
            client_id: client_id.into(),
            secret: secret.map(str::to_owned),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kcc"));
        c.env("XDG_CACHE_HOME", &self.cache)
            .env_remove("KEYCLOAK_SETTINGS")
            .env("KCC_ISSUER", &self.issuer)
            .env("KCC_CLIENT_ID", &self.client_id)
            .args(args);
        match &self.secret {
            Some(s) => c.env("KCC_CLIENT_SECRET", s),
            None => c.env_remove("KCC_CLIENT_SECRET"),
        };
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "kcc {args:?} failed ({:?}): {}",
            o.status.code(),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn store_file(&self) -> Option<PathBuf> {
        std::fs::read_dir(self.cache.join("kcc"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("tokens-"))
            })
    }

    fn stored_access_token(&self) -> String {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(self.store_file().unwrap()).unwrap())
                .unwrap();
        v["tokens"]["access_token"].as_str().unwrap().to_string()
    }

    /// `kcc login --no-browser`, answered by logging in through Keycloak's form and delivering
    /// the redirect to kcc's loopback listener. Returns kcc's output.
    fn browser_login(&self, extra: &[&str], user: &str) -> Output {
        self.browser_login_with(extra, &[], user)
    }

    /// `kcc [extra] login --no-browser --timeout 60 [login_args]`.
    fn login_cmd(&self, extra: &[&str], login_args: &[&str]) -> Command {
        let mut args = extra.to_vec();
        args.extend_from_slice(&["login", "--no-browser", "--timeout", "60"]);
        args.extend_from_slice(login_args);
        self.cmd(&args)
    }

    /// [`browser_login`](Self::browser_login) with options of `kcc login` itself.
    fn browser_login_with(&self, extra: &[&str], login_args: &[&str], user: &str) -> Output {
        let mut child = self
            .login_cmd(extra, login_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (url, reader) = authorization_url_of(&mut child);
        let redirect = Browser::new()
            .login(&url, user, &format!("{user}-pass"))
            .unwrap();
        assert!(
            redirect.as_str().starts_with("http://127.0.0.1:") && redirect.path() == "/callback",
            "{redirect}"
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let resp = agent.get(redirect.as_str()).call().unwrap();
        let status = resp.status().as_u16();
        let out = child.wait_with_output().unwrap();
        let stderr = reader.join().unwrap();
        assert!(
            status == 200 || !out.status.success(),
            "callback page {status} for a successful login"
        );
        Output {
            status: out.status,
            stdout: out.stdout,
            stderr: stderr.into_bytes(),
        }
    }
}

impl Kcc {
    /// The login in `out` succeeded, its stored access token is DPoP-bound (`cnf.jkt`), and
    /// userinfo (with the global flags `extra`) names `user`.
    fn assert_dpop_login(&self, out: &Output, extra: &[&str], user: &str) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let claims = keycloak_client::jwt::decode_unverified(&self.stored_access_token())
            .unwrap()
            .claims;
        assert!(claims.0["cnf"]["jkt"].is_string(), "DPoP-bound");
        let mut args = extra.to_vec();
        args.push("userinfo");
        assert_eq!(self.json(&args)["preferred_username"], user);
    }

    /// `kcc login --redirect-uri URI`, answered by logging in through Keycloak's form and pasting
    /// the lines `paste` makes of the address the browser lands on into kcc's stdin (then
    /// closed).
    fn pasted_login(
        &self,
        extra: &[&str],
        login_args: &[&str],
        user: &str,
        password: &str,
        paste: impl FnOnce(url::Url) -> Vec<String>,
    ) -> Output {
        let mut child = self
            .login_cmd(extra, login_args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (url, reader) = authorization_url_of(&mut child);
        let landed = Browser::new().login(&url, user, password).unwrap();
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().unwrap();
            for line in paste(landed) {
                writeln!(stdin, "{line}").unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        Output {
            status: out.status,
            stdout: out.stdout,
            stderr: reader.join().unwrap().into_bytes(),
        }
    }
}

/// The authorization URL a running `kcc login` prints on stderr, and a reader that collects all
/// of its stderr.
fn authorization_url_of(
    child: &mut std::process::Child,
) -> (String, std::thread::JoinHandle<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("http://127.0.0.1")
                && line.contains("/protocol/openid-connect/auth?")
            {
                let _ = tx.send(line.clone());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("kcc printed the authorization URL");
    (url, reader)
}

/// A key file of the `rkc-fapi` realm's clients (`tests/keycloak/keys`).
fn fapi_key(name: &str) -> String {
    let keys = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/keycloak/keys");
    keys.join(name).to_str().unwrap().to_owned()
}

/// The global flags of the `fapi2-dpop` client: `private_key_jwt` with `key_file` (PS256),
/// DPoP, and PS256 allowed for validation (the profile signs ID tokens with it).
fn fapi2_flags(key_file: &str) -> [&str; 7] {
    [
        "--private-key",
        key_file,
        "--key-alg",
        "PS256",
        "--dpop",
        "--alg",
        "PS256",
    ]
}

/// `flags` followed by `cmd`.
fn with<'a>(flags: &[&'a str], cmd: &[&'a str]) -> Vec<&'a str> {
    flags.iter().chain(cmd).copied().collect()
}

impl Drop for Kcc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}

#[test]
fn login_userinfo_refresh_rpt_verify_logout() {
    let k = Kcc::new("rkc-rs", Some("rkc-rs-secret"));
    let out = k.browser_login(&[], "alice");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("logged in as alice"), "{stdout}");
    let file = k.store_file().expect("token file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let info = k.json(&["userinfo"]);
    assert_eq!(info["preferred_username"], "alice");
    assert!(k.ok(&["userinfo"]).contains("email: alice@example.test"));
    let r = k.json(&["refresh"]);
    assert_eq!(r["refreshed"], true);
    // UMA with the stored user token
    assert_eq!(
        k.ok(&["rpt", "--permission", "doc-1#write", "--decision"])
            .trim(),
        "granted"
    );
    let ticket = k
        .ok(&["ticket", "--resource", "doc-1", "--scope", "read"])
        .trim()
        .to_string();
    assert!(ticket.starts_with("eyJ"));
    let rpt = k.json(&["rpt", "--ticket", &ticket]);
    let rpt_token = rpt["access_token"].as_str().unwrap().to_string();
    let intro = k.json(&["introspect", &rpt_token, "--hint", "requesting_party_token"]);
    assert_eq!(intro["active"], true);
    assert_eq!(intro["permissions"][0]["rsname"], "doc-1");
    // verify / decode
    let at = k.stored_access_token();
    let v = k.ok(&["verify", &at]);
    assert!(v.starts_with("VALID"), "{v}");
    let last = if at.ends_with('A') { "B" } else { "A" };
    let tampered = format!("{}{last}", &at[..at.len() - 1]);
    let o = k.run(&["verify", &tampered]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("kcc: rejected:") && err.lines().count() == 1,
        "{err}"
    );
    let o = k.run(&["verify", "--audience", "someone-else", &at]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("`aud`"));
    let d = k.ok(&["decode", &at]);
    assert!(d.starts_with("UNVERIFIED"), "{d}");
    assert!(d.contains("\"preferred_username\": \"alice\""));
    // logout: session ended, file removed, further use refused
    assert!(k.ok(&["logout"]).contains("logged out"));
    assert!(k.store_file().is_none());
    let o = k.run(&["userinfo"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not logged in"));
    assert!(
        k.ok(&["logout"]).contains("nothing to do"),
        "logging out twice is harmless"
    );
    // the old access token is dead at the server
    let intro = k.json(&["introspect", &at]);
    assert_eq!(intro["active"], false);
}

#[test]
fn id_token_validation_failure_prints_no_token() {
    let k = Kcc::new("rkc-rs", Some("rkc-rs-secret"));
    // Only PS256 allowed: Keycloak signs this client's ID token with RS256, which is refused
    // with the reason. (The code goes out: Keycloak creates a realm's PS256 key only when it
    // first signs with it, so a realm without one is no proof that the login cannot validate.)
    let out = k.browser_login(&["--alg", "PS256"], "carol");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "no token printed");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("kcc: ") && last.contains("`RS256` is not allowed"),
        "{err}"
    );
    assert!(k.store_file().is_none(), "nothing stored");
}

impl Kcc {
    /// `kcc login --device` (with `extra` flags before the command), approved in a browser
    /// as `user`; the finished process's output.
    fn device_login(&self, extra: &[&str], user: &str, password: &str) -> Output {
        let mut args = extra.to_vec();
        args.extend(["login", "--device", "--timeout", "60"]);
        let mut child = self
            .cmd(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let (etx, erx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(u) = line.strip_prefix("or open ") {
                    let _ = tx.send(u.to_string());
                }
                all.push_str(&line);
                all.push('\n');
            }
            let _ = etx.send(all);
        });
        if let Ok(url) = rx.recv_timeout(Duration::from_secs(30)) {
            Browser::new().approve_device(&url, user, password).unwrap();
        }
        let mut out = child.wait_with_output().unwrap();
        out.stderr = erx.recv().unwrap_or_default().into_bytes();
        out
    }
}

#[test]
fn device_login() {
    let k = Kcc::new("rkc-device", None);
    let out = k.device_login(&[], "alice", "alice-pass");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("logged in as alice"));
    assert_eq!(k.json(&["userinfo"])["preferred_username"], "alice");
}

/// Keycloak's `oauth-2-1-for-public-client` profile: the device grant with PKCE (Keycloak
/// requires it for this client) and DPoP-bound tokens; userinfo, refresh and logout (by
/// revocation: Keycloak's logout endpoint cannot check a DPoP-bound refresh token) work, and
/// the session is over afterwards.
#[test]
fn oauth_2_1_public_client_profile_through_the_device_grant() {
    use keycloak_client_testkit::{client_auth, fapi_profiles};
    let k = Kcc::in_realm(
        client_auth::REALM,
        fapi_profiles::OAUTH21_PUBLIC_CLIENT,
        None,
    );
    let out = k.device_login(&["--dpop"], client_auth::USER, "fiona-pass");
    k.assert_dpop_login(&out, &["--dpop"], client_auth::USER);
    k.ok(&["--dpop", "refresh"]);
    // keep the tokens: after logout they must be dead at Keycloak, not only forgotten here
    let store = k.store_file().expect("tokens stored");
    let kept = std::fs::read(&store).unwrap();
    k.ok(&["--dpop", "logout"]);
    assert!(k.store_file().is_none(), "forgotten");
    std::fs::write(&store, kept).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&store, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let again = k.run(&["--dpop", "refresh"]);
    assert!(!again.status.success(), "refresh after logout");
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("invalid_grant"), "{err}");
}

/// Keycloak's `fapi-2-dpop-security-profile` from kcc: `private_key_jwt` (PS256), DPoP, and the
/// device grant with PKCE (a CLI cannot receive the profile's `https` redirect); userinfo,
/// refresh, PAT, introspection and logout, all with proofs and assertions.
#[test]
fn fapi_2_dpop_profile_through_the_device_grant() {
    use keycloak_client_testkit::{client_auth, fapi_profiles};
    let ps = fapi_key("fapi-ps256.pem");
    let key = fapi2_flags(&ps);
    let k = Kcc::in_realm(client_auth::REALM, fapi_profiles::FAPI2_CLIENT, None);
    let out = k.device_login(&key, client_auth::USER, "fiona-pass");
    k.assert_dpop_login(&out, &key, client_auth::USER);
    k.ok(&with(&key, &["refresh"]));
    k.ok(&with(&key, &["pat"]));
    let at = k.stored_access_token();
    let i = k.json(&with(&key, &["introspect", &at]));
    assert_eq!(i["active"], true, "{i}");
    k.ok(&with(&key, &["logout"]));
    // without DPoP the profile refuses
    let plain = k.run(&["--private-key", &ps, "--key-alg", "PS256", "pat"]);
    assert!(
        !plain.status.success(),
        "FAPI 2.0 DPoP profile without DPoP"
    );
    let err = String::from_utf8_lossy(&plain.stderr);
    assert!(err.contains("DPoP proof is missing"), "{err}");
}

/// Keycloak's `fapi-2-dpop-security-profile` from kcc through the authorization code flow: the
/// profile's `https` redirect has no listener here, so the address the browser lands on is
/// pasted. PAR, PKCE, `private_key_jwt` (PS256) and DPoP; userinfo, refresh and logout follow. A
/// paste of another address is refused before Keycloak is asked (kcc asks again; the code, still
/// unspent, then logs in).
#[test]
fn fapi_2_dpop_profile_through_the_authorization_code_flow() {
    use keycloak_client_testkit::{client_auth, fapi_profiles};
    let ps = fapi_key("fapi-ps256.pem");
    let key = fapi2_flags(&ps);
    let k = Kcc::in_realm(client_auth::REALM, fapi_profiles::FAPI2_CLIENT, None);
    let login = ["--par", "--redirect-uri", "https://127.0.0.1/callback"];

    // a paste of another address: refused by kcc, nothing is exchanged
    let mut code_of_wrong_paste = None;
    let wrong = k.pasted_login(&key, &login, client_auth::USER, "fiona-pass", |landed| {
        assert!(
            landed.as_str().starts_with("https://127.0.0.1/callback?"),
            "{landed}"
        );
        code_of_wrong_paste = landed
            .query_pairs()
            .find(|(k, _)| k == "code")
            .map(|(_, v)| v.into_owned());
        vec![landed.as_str().replacen("/callback", "/elsewhere", 1)]
    });
    assert_eq!(wrong.status.code(), Some(2), "usage error");
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        err.contains("not the redirect URI https://127.0.0.1/callback"),
        "{err}"
    );
    assert!(
        !err.contains(code_of_wrong_paste.as_deref().unwrap()),
        "the code is never printed"
    );
    assert!(k.store_file().is_none(), "nothing stored");

    // a wrong paste, then the right one: kcc asks again, and the code was not spent
    let out = k.pasted_login(&key, &login, client_auth::USER, "fiona-pass", |landed| {
        vec![
            landed.as_str().replacen("https:", "http:", 1),
            String::new(),
            landed.to_string(),
        ]
    });
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("paste the address again"), "{err}");
    k.assert_dpop_login(&out, &key, client_auth::USER);
    let before = k.stored_access_token();
    k.json(&with(&key, &["refresh"]));
    assert_ne!(k.stored_access_token(), before, "refreshed");
    let at = k.stored_access_token();
    assert_eq!(k.json(&with(&key, &["introspect", &at]))["active"], true);
    // `--private-key` with `--alg` alone signs with the first listed algorithm that fits the
    // key (the profile refuses an RS256 assertion)
    k.ok(&["--private-key", &ps, "--alg", "PS256", "--dpop", "pat"]);
    k.ok(&with(&key, &["logout"]));
    assert_eq!(
        k.json(&with(&key, &["introspect", &at]))["active"],
        false,
        "the session ended at Keycloak"
    );
}

/// Keycloak's `oauth-2-1-for-public-client` profile from kcc through the authorization code
/// flow to its private-use redirect (RFC 8252 §7.1), pasted: PKCE and DPoP, then userinfo.
#[test]
fn oauth_2_1_public_client_profile_through_the_authorization_code_flow() {
    use keycloak_client_testkit::{client_auth, fapi_profiles};
    let k = Kcc::in_realm(
        client_auth::REALM,
        fapi_profiles::OAUTH21_PUBLIC_CLIENT,
        None,
    );
    let out = k.pasted_login(
        &["--dpop"],
        &["--redirect-uri", "org.example.rkc:/callback"],
        client_auth::USER,
        "fiona-pass",
        |landed| {
            assert!(
                landed.as_str().starts_with("org.example.rkc:/callback?"),
                "{landed}"
            );
            vec![landed.to_string()]
        },
    );
    k.assert_dpop_login(&out, &["--dpop"], client_auth::USER);
    k.ok(&["--dpop", "logout"]);
}

#[test]
fn client_credentials_pat_introspect_discover() {
    let k = Kcc::new("rkc-rs", Some("rkc-rs-secret"));
    let d = k.json(&["discover"]);
    assert_eq!(d["provider"]["issuer"], k.issuer.as_str());
    assert!(d["uma"]["permission_endpoint"]
        .as_str()
        .unwrap()
        .ends_with("/authz/protection/permission"));
    let t = k.ok(&["token"]).trim().to_string();
    assert!(t.starts_with("eyJ"));
    let p = k.json(&["pat"]);
    assert!(p["expires_in"].as_u64().unwrap() > 0);
    let i = k.json(&["introspect", &t]);
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], "rkc-rs");
    // token on stdin
    let mut c = k
        .cmd(&["--json", "introspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(c.stdin.as_mut().unwrap(), t.as_bytes()).unwrap();
    drop(c.stdin.take());
    let o = c.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"active\": true"));
}

#[test]
fn resources_crud() {
    let k = Kcc::new("rkc-rs", Some("rkc-rs-secret"));
    let name = format!("kcc-res-{}", rand::random::<u32>());
    let created = k.json(&[
        "resources",
        "create",
        "--name",
        &name,
        "--scope",
        "read",
        "--scope",
        "write",
        "--uri",
        "/kcc/1",
    ]);
    let id = created["_id"].as_str().unwrap().to_string();
    let got = k.json(&["resources", "get", &id]);
    assert_eq!(got["name"], name.as_str());
    k.ok(&[
        "resources",
        "update",
        &id,
        "--name",
        &name,
        "--scope",
        "read",
        "--uri",
        "/kcc/1",
        "--uri",
        "/kcc/2",
    ]);
    assert_eq!(
        k.json(&["resources", "get", &id])["uris"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let ids = k.json(&["resources", "list", "--name", &name, "--exact"]);
    assert_eq!(ids, serde_json::json!([id]));
    let deep = k.json(&["resources", "list", "--name", &name, "--deep"]);
    assert_eq!(deep[0]["name"], name.as_str());
    k.ok(&["resources", "delete", &id]);
    let o = k.run(&["resources", "get", &id]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("404"));
}

#[test]
fn usage_errors_unreachable_and_completions() {
    let k = Kcc::new("rkc-rs", Some("rkc-rs-secret"));
    assert_eq!(k.run(&["rpt", "--bogus"]).status.code(), Some(2));
    assert_eq!(k.run(&[]).status.code(), Some(2));
    assert_eq!(k.run(&["--alg", "none", "token"]).status.code(), Some(2));
    let o = Command::new(env!("CARGO_BIN_EXE_kcc"))
        .env("XDG_CACHE_HOME", &k.cache)
        .env_remove("KCC_ISSUER")
        .env_remove("KEYCLOAK_SETTINGS")
        .arg("discover")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--config"));
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let o = k
        .cmd(&[
            "--issuer",
            &format!("http://127.0.0.1:{port}/realms/x"),
            "discover",
        ])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("kcc: cannot connect") && err.lines().count() == 1,
        "{err}"
    );
    // wrong secret: protocol failure, exit 1, Keycloak's reason shown
    let o = k
        .cmd(&["token"])
        .env("KCC_CLIENT_SECRET", "wrong")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unauthorized_client"));
    // -v traces requests on stderr without secrets
    let o = k.run(&["-v", "token"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("keycloak request"), "{err}");
    assert!(!err.contains("rkc-rs-secret"));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(!err.contains(&token[token.len() - 20..]));
    // keycloak.json via --config / KEYCLOAK_SETTINGS
    let cfg = k.cache.join("keycloak.json");
    let env = keycloak::require();
    std::fs::write(&cfg, format!(r#"{{"realm":"{}","auth-server-url":"{}/","resource":"rkc-rs","credentials":{{"secret":"rkc-rs-secret"}}}}"#, env.realm, env.url)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_kcc"))
        .env("XDG_CACHE_HOME", &k.cache)
        .env_remove("KCC_ISSUER")
        .env("KEYCLOAK_SETTINGS", &cfg)
        .args(["pat"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(k.ok(&["completions", "bash"]).contains("_kcc"));
    for sub in ["login", "rpt", "resources", "verify", "decode"] {
        assert!(k.ok(&[sub, "--help"]).contains("Usage: kcc"));
    }
}

#[test]
fn faults_give_clear_exit_codes() {
    use keycloak_client_testkit::proxy::{Fault, FaultProxy};
    let env = keycloak::require();
    let proxy = FaultProxy::start(env.url.trim_start_matches("http://"));
    let k = Kcc::new("rkc-rs", Some("rkc-rs-secret"));
    // the issuer stays Keycloak's; the back channel goes through the proxy
    let cfg = k.cache.join("proxied.json");
    std::fs::write(
        &cfg,
        format!(r#"{{"realm":"{}","auth-server-url":"{}/","resource":"rkc-rs","credentials":{{"secret":"rkc-rs-secret"}}}}"#, env.realm, proxy.base),
    )
    .unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_kcc"))
            .env("XDG_CACHE_HOME", &k.cache)
            .env_remove("KCC_ISSUER")
            .env_remove("KCC_CLIENT_ID")
            .env_remove("KCC_CLIENT_SECRET")
            .args(["--config", cfg.to_str().unwrap(), "pat"])
            .output()
            .unwrap()
    };
    // The proxied base changes the issuer Keycloak reports (it is derived from --hostname, so it
    // stays 127.0.0.1:18080): discovery through the proxy is refused as an issuer mismatch.
    let o = run();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("issuer mismatch"));
    // server down: exit 3, one line
    proxy.set(Fault::Down);
    let o = run();
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
    // 503 burst longer than the retries: exit 1 with the server's reason
    proxy.set(Fault::ServiceUnavailable(10));
    let o = run();
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("503"));
    // truncated discovery: exit 1, no panic
    proxy.set(Fault::Truncate(100));
    let o = run();
    assert!(
        matches!(o.status.code(), Some(1) | Some(3)),
        "{:?} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!String::from_utf8_lossy(&o.stderr).contains("panicked"));
}

/// `--private-key` (`private_key_jwt`) and `--client-secret-jwt` against the `rkc-fapi` realm:
/// login, userinfo, refresh, PAT, introspection and logout; an unregistered key is refused by
/// Keycloak with a clear message.
#[test]
fn jwt_client_authentication() {
    use keycloak_client_testkit::client_auth;
    let es = fapi_key("fapi-es256.pem");
    let es = es.as_str();
    let k = Kcc::in_realm(client_auth::REALM, client_auth::JWT_CLIENT, None);
    let o = k.browser_login(&["--private-key", es], client_auth::USER);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let me = k.json(&["--private-key", es, "userinfo"]);
    assert_eq!(me["preferred_username"], client_auth::USER);
    k.ok(&["--private-key", es, "refresh"]);
    let at = k.stored_access_token();
    let i = k.json(&["--private-key", es, "introspect", &at]);
    assert_eq!(i["active"], true, "{i}");
    k.ok(&["--private-key", es, "logout"]);
    let ps = fapi_key("fapi-ps256.pem");
    k.ok(&["--private-key", &ps, "--key-alg", "PS256", "pat"]);
    let ed = fapi_key("fapi-eddsa.pem");
    k.ok(&["--private-key", &ed, "pat"]);

    let s = Kcc::in_realm(
        client_auth::REALM,
        client_auth::SECRET_JWT_CLIENT,
        Some(client_auth::SECRET_JWT_SECRET),
    );
    s.ok(&["--client-secret-jwt", "pat"]);
    let basic = s.run(&["pat"]);
    assert!(
        !basic.status.success(),
        "the client accepts only client_secret_jwt"
    );

    let stranger = std::env::temp_dir().join(format!("kcc-stranger-{}.pem", std::process::id()));
    let key = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .output()
        .unwrap();
    std::fs::write(&stranger, &key.stdout).unwrap();
    let o = k.run(&["--private-key", stranger.to_str().unwrap(), "pat"]);
    let _ = std::fs::remove_file(&stranger);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("invalid_client"), "{err}");
}

/// `kcc login --par` pushes the authorization request; a client that requires PAR is served
/// without the flag too (the client configuration does not know, so `--par` it is).
#[test]
fn login_with_pushed_authorization_request() {
    use keycloak_client_testkit::{client_auth, par};
    let k = Kcc::in_realm(client_auth::REALM, par::PAR_CLIENT, Some(par::PAR_SECRET));
    let o = k.browser_login(&[], client_auth::USER);
    assert!(!o.status.success(), "Keycloak refuses the unpushed login");
    let o = k.browser_login_with(&[], &["--par"], client_auth::USER);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let me = k.json(&["userinfo"]);
    assert_eq!(me["preferred_username"], client_auth::USER);
}

/// `--dpop`: the tokens are bound to a key kept beside them (0600); login, userinfo, refresh,
/// PAT, introspection and logout all carry proofs, against a client that requires DPoP.
#[test]
fn dpop_bound_tokens_across_runs() {
    use keycloak_client_testkit::{client_auth, dpop};
    let k = Kcc::in_realm(
        client_auth::REALM,
        dpop::DPOP_CLIENT,
        Some(dpop::DPOP_SECRET),
    );
    let o = k.browser_login(&["--dpop"], client_auth::USER);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let at = k.stored_access_token();
    let claims = keycloak_client::jwt::decode_unverified(&at).unwrap().claims;
    assert!(
        claims.0["cnf"]["jkt"].is_string(),
        "bound: {:?}",
        claims.0.get("cnf")
    );
    let key_file = std::fs::read_dir(k.cache.join("kcc"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("dpop-")
        })
        .expect("the DPoP key is kept");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let me = k.json(&["--dpop", "userinfo"]);
    assert_eq!(me["preferred_username"], client_auth::USER);
    k.ok(&["--dpop", "refresh"]);
    k.ok(&["--dpop", "pat"]);
    let i = k.json(&["--dpop", "introspect", &k.stored_access_token()]);
    assert_eq!(i["active"], true);
    // without the key the bound token is useless
    let without = k.run(&["userinfo"]);
    assert!(!without.status.success(), "a bound token without its proof");
    k.ok(&["--dpop", "logout"]);
}
