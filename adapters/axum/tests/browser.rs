//! A real browser: headless Chromium (Debian's `chromium` + `chromium-driver`) driven over the
//! WebDriver protocol opens /howdy, types the credentials into Keycloak's real login page,
//! lands on the protected page, then logs out. `scripts/test` installs the browser.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keycloak_client_testkit::keycloak;
use serde_json::{json, Value};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    base: String,
    child: Child,
    agent: ureq::Agent,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    fn start() -> Option<Driver> {
        let present = |p: &str| std::path::Path::new(p).exists();
        if !present("/usr/bin/chromium") || !present("/usr/bin/chromedriver") {
            if std::env::var_os("CI").is_some() {
                panic!("headless Chromium is required in CI: apt-get install chromium chromium-driver (scripts/test does)");
            }
            eprintln!("skipped: /usr/bin/chromium or /usr/bin/chromedriver missing (scripts/test installs them)");
            return None;
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let child = Command::new("/usr/bin/chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let d = Driver {
            base: format!("http://127.0.0.1:{port}"),
            child,
            agent,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut r) = d.agent.get(&format!("{}/status", d.base)).call() {
                let v: Value =
                    serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
                        .unwrap_or_default();
                if v["value"]["ready"] == true {
                    return Some(d);
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("chromedriver did not become ready");
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let mut resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(b.unwrap_or(json!({})).to_string()),
        }
        .unwrap();
        let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap()).unwrap();
        v["value"].clone()
    }
}

struct Session<'a> {
    d: &'a Driver,
    id: String,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // closes Chromium even when an assertion failed
        let _ = self
            .d
            .agent
            .delete(&format!("{}/session/{}", self.d.base, self.id))
            .call();
    }
}

impl Session<'_> {
    fn find(&self, css: &str, wait: Duration) -> String {
        let deadline = Instant::now() + wait;
        loop {
            let v = self.d.call(
                "POST",
                &format!("/session/{}/element", self.id),
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(e) = v[ELEMENT].as_str() {
                return e.to_string();
            }
            if Instant::now() > deadline {
                let src = self
                    .d
                    .call("GET", &format!("/session/{}/source", self.id), None);
                panic!(
                    "element {css} not found ({v}); page:\n{}",
                    src.as_str()
                        .unwrap_or("")
                        .chars()
                        .take(300)
                        .collect::<String>()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    fn go(&self, url: &str) {
        self.d.call(
            "POST",
            &format!("/session/{}/url", self.id),
            Some(json!({ "url": url })),
        );
    }
    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css, Duration::from_secs(20));
        self.d.call(
            "POST",
            &format!("/session/{}/element/{e}/value", self.id),
            Some(json!({ "text": text })),
        );
    }
    fn click(&self, css: &str) {
        let e = self.find(css, Duration::from_secs(20));
        self.d.call(
            "POST",
            &format!("/session/{}/element/{e}/click", self.id),
            Some(json!({})),
        );
    }
    fn text(&self, css: &str) -> String {
        let e = self.find(css, Duration::from_secs(20));
        self.d
            .call(
                "GET",
                &format!("/session/{}/element/{e}/text", self.id),
                None,
            )
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    fn url(&self) -> String {
        self.d
            .call("GET", &format!("/session/{}/url", self.id), None)
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

#[test]
fn headless_chromium_logs_in_and_out() {
    let env = keycloak::require();
    let Some(driver) = Driver::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let auth = howdy::web_auth(&env.url, &base, None).unwrap();
    rt.spawn(async move { axum::serve(listener, howdy::app(auth)).await });

    let profile = std::env::temp_dir().join(format!("kc-chromium-{}", std::process::id()));
    let caps = json!({"capabilities": {"alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display())]
        }
    }}});
    let v = driver.call("POST", "/session", Some(caps));
    let id = v["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
        .to_string();
    let s = Session { d: &driver, id };

    s.go(&format!("{base}/howdy"));
    // Keycloak's real login page
    s.type_into("#username", "alice");
    s.type_into("#password", "alice-pass");
    s.click("#kc-login");
    assert_eq!(s.text("#greeting"), "Howdy, Alice!");
    assert_eq!(s.url(), format!("{base}/howdy"));
    // log out through the app and Keycloak's RP-initiated logout
    s.click("#logout");
    assert_eq!(s.text("#bye"), "Logged out.");
    // protected again: back on Keycloak's login page
    s.go(&format!("{base}/howdy"));
    s.find("#username", Duration::from_secs(20));
    assert!(
        s.url().starts_with(&format!("{}/realms/rkc/", env.url)),
        "{}",
        s.url()
    );
    drop(s);
    let _ = std::fs::remove_dir_all(profile);
}
