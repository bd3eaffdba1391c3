//! Minimal HTTP request and response descriptions exchanged with the caller's HTTP stack.
//!
//! The core never performs I/O: every flow emits a [`Request`] and consumes a [`Response`].
//! Adapters convert these to and from their HTTP library's types. Adapters must not follow
//! redirects and should cap the body they read (see [`DEFAULT_MAX_BODY_BYTES`]).

use std::fmt;

/// Default upper bound on a response body the core accepts (1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
}

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Whether repeating the request has no additional effect (RFC 9110 §9.2.2).
    /// Adapters only retry idempotent requests.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, Method::Post)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header names whose values are always redacted in `Debug` output.
const SECRET_HEADERS: &[&str] = &["authorization", "cookie", "set-cookie", "dpop"];

/// Form fields whose values are redacted in `Debug` output.
const SECRET_FORM_FIELDS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "state",
    "nonce",
    "pct",
    "code",
    "code_verifier",
    "refresh_token",
    "access_token",
    "token",
    "subject_token",
    "actor_token",
    "password",
    "device_code",
    "claim_token",
    "rpt",
    "ticket",
    "id_token_hint",
    "client_assertion",
];

/// An HTTP request for the caller to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// Absolute URL, including the query string.
    pub url: url::Url,
    /// Header list, lower-case names, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes (empty when none).
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn new(method: Method, url: url::Url) -> Self {
        Request {
            method,
            url,
            headers: vec![],
            body: vec![],
        }
    }

    /// Adds a header. A value with a control character (CR, LF, NUL, ...) never reaches the
    /// header list: it is replaced by an empty value, so the request fails closed at the server
    /// instead of smuggling a header (RFC 9110 §5.5). Callers check tokens before this.
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        let mut value = value.into();
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            value.clear();
        }
        self.headers.push((name.to_ascii_lowercase(), value));
        self
    }

    pub(crate) fn form(mut self, fields: &[(&str, &str)]) -> Self {
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        self.body = ser.finish().into_bytes();
        self.header("content-type", "application/x-www-form-urlencoded")
    }

    pub(crate) fn json(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self.header("content-type", "application/json")
    }

    /// First value of a header, by case-insensitive name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Whether a form or query parameter carries a secret (redacted in `Debug` and logs).
pub(crate) fn is_secret_field(name: &str) -> bool {
    SECRET_FORM_FIELDS.contains(&name)
}

/// Redacts secret query parameters of a URL for logs and `Debug`.
pub fn redacted_url(url: &url::Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let secret = SECRET_FORM_FIELDS.contains(&k.as_ref()) || k == "state" || k == "nonce";
            let v = if secret {
                "<redacted>".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}

fn redacted_body(headers: &[(String, String)], body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    let is_form = find_header(headers, "content-type")
        .map(|c| c.starts_with("application/x-www-form-urlencoded"))
        .unwrap_or(false);
    if is_form {
        let parts: Vec<String> = url::form_urlencoded::parse(body)
            .map(|(k, v)| {
                if SECRET_FORM_FIELDS.contains(&k.as_ref()) {
                    format!("{k}=<redacted>")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        parts.join("&")
    } else {
        format!("<{} bytes>", body.len())
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &redacted_url(&self.url))
            .field("headers", &headers)
            .field("body", &redacted_body(&self.headers, &self.body))
            .finish()
    }
}

/// An HTTP response received by the caller's HTTP stack.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header list as received (names compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// Body bytes (adapters cap the size they read).
    pub body: Vec<u8>,
}

impl Response {
    /// A response with the given status, headers and body.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers,
            body: body.into(),
        }
    }

    /// A JSON response (test and fixture helper).
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response::new(
            status,
            vec![("content-type".into(), "application/json".into())],
            body,
        )
    }

    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The media type of `Content-Type`, lower-cased and without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = if SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
                    "<redacted>"
                } else {
                    v.as_str()
                };
                (k.as_str(), v)
            })
            .collect();
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_authorization_and_secret_form_fields() {
        let req = Request::new(Method::Post, "http://127.0.0.1/token".parse().unwrap())
            .header("Authorization", "Basic c2VjcmV0")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "the-code"),
                ("code_verifier", "the-verifier"),
                ("client_secret", "s3cr3t"),
            ]);
        let dbg = format!("{req:?}");
        assert!(!dbg.contains("c2VjcmV0"), "{dbg}");
        assert!(!dbg.contains("the-code"), "{dbg}");
        assert!(!dbg.contains("the-verifier"), "{dbg}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(dbg.contains("grant_type=authorization_code"), "{dbg}");
    }

    #[test]
    fn redacted_url_hides_hint_and_state() {
        let u: url::Url = "http://h/logout?id_token_hint=abc.def.ghi&state=xyz&client_id=c"
            .parse()
            .unwrap();
        let r = redacted_url(&u);
        assert!(!r.contains("abc.def.ghi") && !r.contains("xyz"), "{r}");
        assert!(r.contains("client_id=c"));
    }

    #[test]
    fn media_type_strips_parameters() {
        let r = Response::new(
            200,
            vec![(
                "Content-Type".into(),
                "Application/JSON; charset=utf-8".into(),
            )],
            "{}",
        );
        assert_eq!(r.media_type().as_deref(), Some("application/json"));
    }

    #[test]
    fn header_values_never_carry_control_characters_but_keep_tabs() {
        let u = url::Url::parse("http://127.0.0.1/").unwrap();
        let r = Request::new(Method::Get, u)
            .header("X-Evil", "a\r\nx-injected: 1")
            .header("x-nul", "a\0b")
            .header("x-tab", "a\tb");
        assert_eq!(r.header_value("x-evil"), Some(""));
        assert_eq!(r.header_value("x-nul"), Some(""));
        assert_eq!(r.header_value("x-tab"), Some("a\tb"));
    }
}
