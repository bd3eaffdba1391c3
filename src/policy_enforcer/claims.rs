//! The claim-information-point's `claims` provider (Keycloak's policy enforcer): claims taken
//! from the request and the token, sent to Keycloak as the UMA grant's `claim_token` so that
//! policies can read them.
//!
//! Placeholders, as Keycloak documents them: `{request.parameter['a']}` (query, first value),
//! `{request.header['b']}` (every value), `{request.cookie['c']}`, `{request.body['/x/y']}`
//! (a JSON Pointer into a JSON body; arrays give one value per element), `{request.body}`,
//! `{request.uri}`, `{request.relativePath}`, `{request.method}`, `{request.secure}`,
//! `{request.remoteAddr}`, `{keycloak.access_token}` and `{keycloak.access_token['/x']}`.
//! Text around placeholders is kept (`"id-{request.parameter['id']}"`); a placeholder with no
//! value or several values gives that list alone (Keycloak's rule). Claims without values are
//! left out; a query parameter given twice has no value.
//!
//! Everything read from the request (parameters, headers, cookies, the body) is what the
//! caller chose to send: policies must treat such claims as the caller's assertions, never as
//! facts about the caller. The token's claims are Keycloak's.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

/// `claim_token_format` of the claims this module encodes (Keycloak reads a JSON object).
pub const CLAIM_TOKEN_FORMAT: &str = "urn:ietf:params:oauth:token-type:jwt";

#[derive(Clone, Debug, PartialEq, Eq)]
enum Source {
    Parameter(String),
    Header(String),
    Cookie(String),
    BodyPointer(String),
    Body,
    Uri,
    RelativePath,
    Method,
    Secure,
    RemoteAddr,
    Token,
    TokenPointer(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Placeholder(Source),
}

/// One configured value: text and placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Template(Vec<Part>);

/// The `claims` provider's configuration, parsed (unknown placeholders are refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimsTemplate {
    claims: Vec<(String, Vec<Template>)>,
}

/// What the placeholders read: one request and its token.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClaimRequest<'a> {
    /// The method.
    pub method: &'a str,
    /// The path as received, with its query.
    pub uri: &'a str,
    /// The path relative to the application.
    pub relative_path: &'a str,
    /// The raw query (without `?`).
    pub query: Option<&'a str>,
    /// Whether the request came over TLS.
    pub secure: bool,
    /// The client's address, when known.
    pub remote_addr: Option<&'a str>,
    /// Headers (any case).
    pub headers: &'a [(String, String)],
    /// The body, when the application made it available.
    pub body: &'a [u8],
    /// The raw access token.
    pub access_token: Option<&'a str>,
    /// Its claims.
    pub token_claims: Option<&'a Value>,
}

fn arg(inner: &str, prefix: &str) -> Option<String> {
    let rest = inner
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    let rest = rest.trim();
    let unquoted = rest
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))
        .unwrap_or(rest);
    (!unquoted.is_empty()).then(|| unquoted.to_string())
}

fn source(inner: &str) -> Result<Source, String> {
    let inner = inner.trim();
    Ok(match inner {
        "request.body" => Source::Body,
        "request.uri" => Source::Uri,
        "request.relativePath" => Source::RelativePath,
        "request.method" => Source::Method,
        "request.secure" => Source::Secure,
        "request.remoteAddr" => Source::RemoteAddr,
        "keycloak.access_token" => Source::Token,
        _ => {
            if let Some(a) = arg(inner, "request.parameter") {
                Source::Parameter(a)
            } else if let Some(a) = arg(inner, "request.header") {
                Source::Header(a)
            } else if let Some(a) = arg(inner, "request.cookie") {
                Source::Cookie(a)
            } else if let Some(a) = arg(inner, "request.body") {
                Source::BodyPointer(pointer(&a)?)
            } else if let Some(a) = arg(inner, "keycloak.access_token") {
                Source::TokenPointer(pointer(&a)?)
            } else {
                return Err(format!("unknown placeholder `{{{inner}}}`"));
            }
        }
    })
}

fn pointer(p: &str) -> Result<String, String> {
    if p.starts_with('/') {
        Ok(p.to_string())
    } else {
        Err(format!("`{p}` is not a JSON Pointer (it starts with `/`)"))
    }
}

impl Template {
    fn parse(text: &str) -> Result<Self, String> {
        let mut parts = vec![];
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("`{text}`: `{{` without `}}`"))?;
            parts.push(Part::Placeholder(source(&rest[open + 1..open + close])?));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template(parts))
    }

    fn resolve(&self, r: &ClaimRequest<'_>) -> Vec<String> {
        let mut text = String::new();
        for part in &self.0 {
            match part {
                Part::Text(t) => text.push_str(t),
                Part::Placeholder(s) => {
                    let values = lookup(s, r);
                    if values.len() != 1 {
                        return values;
                    }
                    text.push_str(&values[0]);
                }
            }
        }
        vec![text]
    }
}

fn as_values(v: &Value) -> Vec<String> {
    match v {
        Value::Null => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        other => vec![other.to_string()],
    }
}

fn lookup(s: &Source, r: &ClaimRequest<'_>) -> Vec<String> {
    let header = |name: &str| -> Vec<String> {
        r.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    };
    let json_body = || -> Option<Value> {
        let ct = header("content-type")
            .into_iter()
            .next()
            .unwrap_or_default();
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            serde_json::from_slice(r.body).ok()
        } else {
            None
        }
    };
    match s {
        // A parameter given twice has no value here: frameworks disagree on which one an
        // application reads, so neither may decide a policy.
        Source::Parameter(name) => {
            let values: Vec<String> = r
                .query
                .map(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .filter(|(k, _)| k == name)
                        .map(|(_, v)| v.into_owned())
                        .collect()
                })
                .unwrap_or_default();
            if values.len() == 1 {
                values
            } else {
                vec![]
            }
        }
        Source::Header(name) => header(name),
        Source::Cookie(name) => header("cookie")
            .iter()
            .flat_map(|c| c.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
            .take(1)
            .collect(),
        Source::BodyPointer(p) => json_body()
            .and_then(|v| v.pointer(p).map(as_values))
            .unwrap_or_default(),
        Source::Body => match std::str::from_utf8(r.body) {
            Ok(t) if !t.is_empty() => vec![t.to_string()],
            _ => vec![],
        },
        Source::Uri => vec![r.uri.to_string()],
        Source::RelativePath => vec![r.relative_path.to_string()],
        Source::Method => vec![r.method.to_string()],
        Source::Secure => vec![r.secure.to_string()],
        Source::RemoteAddr => r.remote_addr.map(str::to_owned).into_iter().collect(),
        Source::Token => r.access_token.map(str::to_owned).into_iter().collect(),
        Source::TokenPointer(p) => r
            .token_claims
            .and_then(|c| c.pointer(p))
            .map(as_values)
            .unwrap_or_default(),
    }
}

impl ClaimsTemplate {
    /// Parses the provider's object: claim name → a string or a list of strings.
    pub fn parse(config: &Map<String, Value>) -> Result<Self, String> {
        let mut claims = vec![];
        for (name, v) in config {
            let items: Vec<&str> = match v {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .ok_or_else(|| format!("`{name}`: values are strings"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(format!("`{name}`: a string or a list of strings")),
            };
            let templates = items
                .into_iter()
                .map(Template::parse)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("`{name}`: {e}"))?;
            claims.push((name.clone(), templates));
        }
        Ok(ClaimsTemplate { claims })
    }

    /// The claims of one request: name → values (claims without values are left out).
    pub fn resolve(&self, r: &ClaimRequest<'_>) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (name, templates) in &self.claims {
            let values: Vec<String> = templates.iter().flat_map(|t| t.resolve(r)).collect();
            if !values.is_empty() {
                out.insert(name.clone(), values);
            }
        }
        out
    }

    /// Whether any placeholder reads the connection (`request.secure`, `request.remoteAddr`),
    /// which a middleware behind proxies cannot know for sure.
    pub fn reads_connection(&self) -> bool {
        self.claims.iter().flat_map(|(_, t)| t).any(|t| {
            t.0.iter().any(|p| {
                matches!(
                    p,
                    Part::Placeholder(Source::Secure) | Part::Placeholder(Source::RemoteAddr)
                )
            })
        })
    }

    /// Whether any placeholder reads the body (the application must then hand it over).
    pub fn reads_body(&self) -> bool {
        self.claims.iter().flat_map(|(_, t)| t).any(|t| {
            t.0.iter().any(|p| {
                matches!(
                    p,
                    Part::Placeholder(Source::Body) | Part::Placeholder(Source::BodyPointer(_))
                )
            })
        })
    }
}

/// Claims as the UMA grant's `claim_token` (with [`CLAIM_TOKEN_FORMAT`]): base64 of the JSON
/// object of name → values, as Keycloak's enforcer sends them.
pub fn encode_claim_token(claims: &BTreeMap<String, Vec<String>>) -> String {
    let json = serde_json::to_vec(claims).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(json)
}
