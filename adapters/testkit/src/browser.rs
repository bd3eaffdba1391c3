//! Logging in through Keycloak's real login pages without a browser: a cookie-keeping HTTP
//! client that never follows redirects, plus just enough HTML form handling.

use std::collections::BTreeMap;
use std::time::Duration;

/// A page or redirect received.
#[derive(Debug)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `Location` header of a redirect.
    pub location: Option<String>,
    /// Body text.
    pub body: String,
    /// The URL requested.
    pub url: url::Url,
    /// Whether the response said `Referrer-Policy: no-referrer`.
    pub headers_contain_no_referrer: bool,
    /// The raw `Set-Cookie` headers, as sent.
    pub set_cookies: Vec<String>,
}

/// A form found in a page.
#[derive(Debug, Clone)]
pub struct Form {
    /// Absolute action URL.
    pub action: url::Url,
    /// Hidden inputs.
    pub hidden: Vec<(String, String)>,
}

impl Form {
    /// The hidden inputs as form fields, to extend with the visible ones.
    pub fn fields(&self) -> Vec<(&str, &str)> {
        self.hidden
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

/// A tiny browser: cookie jar, no redirects followed automatically, no JavaScript.
pub struct Browser {
    agent: ureq::Agent,
    cookies: BTreeMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    for q in ['"', '\''] {
        let pat = format!("{name}={q}");
        let mut from = 0;
        while let Some(i) = tag[from..].find(&pat) {
            let start = from + i;
            // make sure it's a whole attribute name
            let ok = start == 0 || tag.as_bytes()[start - 1].is_ascii_whitespace();
            let vstart = start + pat.len();
            if ok {
                let end = tag[vstart..].find(q)? + vstart;
                return Some(unescape(&tag[vstart..end]));
            }
            from = vstart;
        }
    }
    None
}

/// The `<title>` of a page (for error messages).
pub fn title(body: &str) -> String {
    let lower = body.to_ascii_lowercase();
    match (lower.find("<title>"), lower.find("</title>")) {
        (Some(a), Some(b)) if b > a => body[a + 7..b].trim().to_string(),
        _ => String::from("(no title)"),
    }
}

/// Extracts the first form whose action contains `needle` (or any form if `needle` is empty).
pub fn find_form(page: &Page, needle: &str) -> Option<Form> {
    let body = &page.body;
    let mut from = 0;
    while let Some(i) = body[from..].find("<form") {
        let start = from + i;
        let tag_end = body[start..].find('>')? + start;
        let tag = &body[start..=tag_end];
        let form_end = body[tag_end..]
            .find("</form>")
            .map(|e| e + tag_end)
            .unwrap_or(body.len());
        if let Some(action) = attr(tag, "action") {
            if needle.is_empty() || action.contains(needle) || tag.contains(needle) {
                let action = page.url.join(&action).ok()?;
                let inner = &body[tag_end..form_end];
                let mut hidden = vec![];
                let mut j = 0;
                while let Some(k) = inner[j..].find("<input") {
                    let s = j + k;
                    let e = inner[s..]
                        .find('>')
                        .map(|e| e + s)
                        .unwrap_or(inner.len() - 1);
                    let itag = &inner[s..=e];
                    if attr(itag, "type").as_deref() == Some("hidden") {
                        if let Some(n) = attr(itag, "name") {
                            hidden.push((n, attr(itag, "value").unwrap_or_default()));
                        }
                    }
                    j = e + 1;
                }
                return Some(Form { action, hidden });
            }
        }
        from = tag_end;
    }
    None
}

impl Browser {
    /// A fresh browser with an empty cookie jar.
    pub fn new() -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Browser {
            agent,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> Option<String> {
        if self.cookies.is_empty() {
            None
        } else {
            Some(
                self.cookies
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        }
    }

    fn absorb(&mut self, resp: &http::Response<ureq::Body>) {
        for v in resp.headers().get_all("set-cookie") {
            let s = String::from_utf8_lossy(v.as_bytes()).to_string();
            let first = s.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                let expired = s.to_ascii_lowercase().contains("max-age=0");
                if v.is_empty() || expired {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }

    fn finish(
        &mut self,
        url: url::Url,
        mut resp: http::Response<ureq::Body>,
    ) -> Result<Page, String> {
        self.absorb(&resp);
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string());
        let headers_contain_no_referrer = resp
            .headers()
            .get("referrer-policy")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"no-referrer"));
        let set_cookies = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).to_string())
            .collect();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        Ok(Page {
            status,
            location,
            body,
            url,
            headers_contain_no_referrer,
            set_cookies,
        })
    }

    /// GET with cookies.
    pub fn get(&mut self, url: &str) -> Result<Page, String> {
        let u = url::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
        let mut req = self.agent.get(url).header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        );
        if let Some(c) = self.cookie_header() {
            req = req.header("cookie", &c);
        }
        let resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
        self.finish(u, resp)
    }

    /// Sets a cookie by hand (e.g. an attacker-planted session id).
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_string(), value.to_string());
    }

    /// A cookie's current value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// GET with extra headers (e.g. `accept: application/json`).
    pub fn get_with(&mut self, url: &str, headers: &[(&str, &str)]) -> Result<Page, String> {
        let u = url::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(c) = self.cookie_header() {
            req = req.header("cookie", &c);
        }
        let resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
        self.finish(u, resp)
    }

    /// POST (empty body) or OPTIONS with cookies and extra headers, as a script on some page
    /// would send it.
    pub fn send_with(
        &mut self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Page, String> {
        let u = url::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
        let mut b = http::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        if let Some(c) = self.cookie_header() {
            b = b.header("cookie", c);
        }
        let req = b
            .body(Vec::<u8>::new())
            .map_err(|e| format!("{method} {url}: {e}"))?;
        let resp = self
            .agent
            .run(req)
            .map_err(|e| format!("{method} {url}: {e}"))?;
        self.finish(u, resp)
    }

    /// POST a form with cookies.
    pub fn post_form(&mut self, url: &url::Url, fields: &[(&str, &str)]) -> Result<Page, String> {
        let mut req = self.agent.post(url.as_str());
        if let Some(c) = self.cookie_header() {
            req = req.header("cookie", &c);
        }
        let resp = req
            .send_form(fields.iter().copied())
            .map_err(|e| format!("POST {url}: {e}"))?;
        self.finish(url.clone(), resp)
    }

    /// Follows redirects that stay on the page's origin, until a non-redirect page.
    pub fn follow(&mut self, mut page: Page) -> Result<Page, String> {
        for _ in 0..10 {
            if !(300..400).contains(&page.status) {
                return Ok(page);
            }
            let loc = page.location.clone().ok_or("redirect without Location")?;
            let next = page.url.join(&loc).map_err(|e| e.to_string())?;
            if next.origin() != page.url.origin() {
                return Ok(page);
            }
            page = self.get(next.as_str())?;
        }
        Err("too many redirects".into())
    }

    /// Submits Keycloak's login form on `page` with the credentials.
    pub fn submit_login(
        &mut self,
        page: &Page,
        username: &str,
        password: &str,
    ) -> Result<Page, String> {
        let form = find_form(page, "login-actions/authenticate").ok_or_else(|| {
            format!(
                "no login form on page `{}` (HTTP {})",
                title(&page.body),
                page.status
            )
        })?;
        let mut fields = form.fields();
        fields.push(("username", username));
        fields.push(("password", password));
        self.post_form(&form.action, &fields)
    }

    /// Opens an authorization URL, logs in, and returns the redirect back to the client
    /// (`redirect_uri?state=...&code=...&iss=...`). Reuses an existing SSO session.
    pub fn login(
        &mut self,
        authorize_url: &str,
        username: &str,
        password: &str,
    ) -> Result<url::Url, String> {
        // Redirects within Keycloak are followed, as a browser does.
        let opened = self.get(authorize_url)?;
        let first = self.follow(opened)?;
        let after = if first.status == 302 {
            first
        } else {
            let posted = self.submit_login(&first, username, password)?;
            self.follow(posted)?
        };
        // A client that requires consent (FAPI 2.0 profiles): grant it.
        let after = match find_form(&after, "login-actions/consent") {
            Some(form) if after.status == 200 => {
                let mut fields = form.fields();
                fields.push(("accept", "Yes"));
                let granted = self.post_form(&form.action, &fields)?;
                self.follow(granted)?
            }
            _ => after,
        };
        if after.status != 302 {
            return Err(format!(
                "login did not complete: HTTP {} page `{}`",
                after.status,
                title(&after.body)
            ));
        }
        let loc = after.location.ok_or("redirect without Location")?;
        after.url.join(&loc).map_err(|e| e.to_string())
    }

    /// Logs in at any provider with simple HTML forms (e.g. oidc-provider's dev interactions):
    /// follows same-origin redirects, fills `login`/`username` and `password` plus hidden inputs
    /// of each form, and returns the first redirect that leaves the provider (the callback).
    pub fn login_generic(
        &mut self,
        authorize_url: &str,
        username: &str,
        password: &str,
    ) -> Result<url::Url, String> {
        let start = url::Url::parse(authorize_url).map_err(|e| e.to_string())?;
        let mut page = self.get(authorize_url)?;
        for _ in 0..12 {
            if (300..400).contains(&page.status) {
                let loc = page.location.clone().ok_or("redirect without Location")?;
                let next = page.url.join(&loc).map_err(|e| e.to_string())?;
                if next.origin() != start.origin() {
                    return Ok(next);
                }
                page = self.get(next.as_str())?;
                continue;
            }
            let form = find_form(&page, "").ok_or_else(|| {
                format!("no form on `{}` (HTTP {})", title(&page.body), page.status)
            })?;
            let mut fields = form.fields();
            if page.body.contains("name=\"login\"") {
                fields.push(("login", username));
            }
            if page.body.contains("name=\"username\"") {
                fields.push(("username", username));
            }
            if page.body.contains("name=\"password\"") {
                fields.push(("password", password));
            }
            page = self.post_form(&form.action, &fields)?;
        }
        Err("too many steps".into())
    }

    /// Approves a device authorization as `username` (RFC 8628 §3.3) through Keycloak's pages.
    pub fn approve_device(
        &mut self,
        verification_uri_complete: &str,
        username: &str,
        password: &str,
    ) -> Result<(), String> {
        let page = self.get(verification_uri_complete)?;
        let page = self.follow(page)?;
        let page = if find_form(&page, "login-actions/authenticate").is_some() {
            let p = self.submit_login(&page, username, password)?;
            self.follow(p)?
        } else {
            page
        };
        let consent = find_form(&page, "consent").ok_or_else(|| {
            format!(
                "no consent form on page `{}` (HTTP {})",
                title(&page.body),
                page.status
            )
        })?;
        let mut fields = consent.fields();
        fields.push(("accept", "Yes"));
        let done = self.post_form(&consent.action, &fields)?;
        match done.location.as_deref() {
            Some(l) if l.contains("/device/status") => Ok(()),
            other => Err(format!(
                "device approval ended at {other:?} (HTTP {})",
                done.status
            )),
        }
    }
}
