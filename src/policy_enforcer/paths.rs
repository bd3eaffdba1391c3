//! The policy enforcer's path patterns (Keycloak's `paths[].path`): exact paths, `{name}`
//! segments, a trailing `/*`, and suffix patterns like `/*.html`. The most specific pattern
//! wins, whatever the order the patterns were given in.
//!
//! **Specificity**, from most to least specific:
//! 1. an exact path;
//! 2. a template (`/albums/{id}`): more segments first, then more literal segments, then a
//!    literal earlier in the path;
//! 3. a suffix pattern (`/static/*.html`): a longer prefix, then a longer suffix;
//! 4. a prefix pattern (`/api/*`, `/api/{id}/*`): more segments, then more literal segments,
//!    then a literal earlier in the path.
//!
//! Ties between distinct patterns fall back to comparing the pattern text, so the winner never
//! depends on insertion order. Two patterns that are the same after normalisation are a
//! configuration error.
//!
//! **Request paths** are normalised before matching ([`normalize_request_path`]): the query and
//! fragment are ignored, percent-escapes are decoded as the frameworks' extractors decode them
//! (except `%25`), and a trailing `/` is dropped (`/api/` is `/api`). Paths a router could read differently from
//! the enforcer are refused instead of guessed at: empty segments (`//`), dot segments (`.`,
//! `..`, also escaped), an escaped `/` or `\`, a backslash, and control characters.
//!
//! Differences from Keycloak's Java matcher, on purpose: the winner never depends on the order
//! of `paths` (Keycloak's first-listed `/api/*` beats a later exact `/api`); a template without
//! `/*` beats a wildcard template (`/api/{id}/x` over `/api/{id}/*` for `/api/1/x`); a suffix
//! pattern's prefix is honoured (`/static/*.html` does not match `/other/a.html`).

use std::cmp::Ordering;

use crate::error::Error;

/// One segment of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    /// `{name}`: any one non-empty segment.
    Param(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Exact,
    Template,
    Suffix,
    Prefix,
}

/// A parsed path pattern.
#[derive(Clone, Debug)]
pub struct PathPattern {
    text: String,
    kind: Kind,
    segments: Vec<Segment>,
    /// For suffix patterns: what the last segment must end with (`.html`).
    suffix: Option<String>,
}

/// A successful match: the pattern and the values of its `{name}` segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathMatch {
    /// The parameters, in pattern order.
    pub params: Vec<(String, String)>,
}

fn bad(pattern: &str, why: &str) -> Error {
    Error::Config(format!("policy enforcer path `{pattern}`: {why}"))
}

/// Decodes percent-escapes as routers' extractors do, except `%25` (kept, so nothing is
/// decoded twice); refuses escapes that change the path's structure or hide control
/// characters (`%2F`, `%5C`, `%00`-`%1F`, `%7F`), malformed escapes, and bytes that are not
/// UTF-8.
fn decode_segment(segment: &str) -> Result<String, &'static str> {
    let b = segment.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hex = |x: u8| (x as char).to_digit(16);
            let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) else {
                return Err("a malformed percent-escape");
            };
            let v = (h * 16 + l) as u8;
            if v == b'/' || v == b'\\' || v < 0x20 || v == 0x7f {
                return Err("an escaped `/`, `\\` or control character");
            } else if v == b'%' {
                out.extend_from_slice(b"%25");
            } else {
                out.push(v);
            }
            i += 3;
            continue;
        }
        if c == b'\\' || c < 0x20 || c == 0x7f {
            return Err("a backslash or control character");
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).map_err(|_| "bytes that are not UTF-8")
}

/// The segments of an absolute path (no query), decoded; `[]` for `/`.
fn split(path: &str) -> Result<Vec<String>, &'static str> {
    let rest = path.strip_prefix('/').ok_or("a path must start with `/`")?;
    if rest.is_empty() {
        return Ok(vec![]);
    }
    // One trailing `/` is dropped (`/api/` is `/api`).
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let mut out = vec![];
    for raw in rest.split('/') {
        if raw.is_empty() {
            return Err("an empty segment (`//`)");
        }
        let seg = decode_segment(raw)?;
        if seg == "." || seg == ".." {
            return Err("a dot segment (`.` or `..`)");
        }
        out.push(seg);
    }
    Ok(out)
}

/// The request path as the enforcer matches it: query and fragment dropped, escapes of
/// unreserved characters decoded, one trailing `/` dropped. A path that routers may read
/// differently (empty or dot segments, an escaped `/` or `\`, control characters) is an
/// error: refuse the request rather than guess.
pub fn normalize_request_path(path: &str) -> Result<String, Error> {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let segments =
        split(path).map_err(|why| Error::Config(format!("request path refused: {why}")))?;
    Ok(format!("/{}", segments.join("/")))
}

fn param_name(seg: &str) -> Option<&str> {
    let name = seg.strip_prefix('{')?.strip_suffix('}')?;
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    ok.then_some(name)
}

impl PathPattern {
    /// Parses a pattern. `*` is allowed only as the whole last segment (`/api/*`) or as the
    /// start of it followed by a suffix (`/*.html`); `{name}` only as a whole segment.
    pub fn parse(pattern: &str) -> Result<Self, Error> {
        let text = pattern.trim();
        if text.contains(['?', '#']) {
            return Err(bad(pattern, "a pattern has no query or fragment"));
        }
        let rest = text
            .strip_prefix('/')
            .ok_or_else(|| bad(pattern, "must start with `/`"))?;
        let raw: Vec<&str> = if rest.is_empty() {
            vec![]
        } else {
            rest.strip_suffix('/').unwrap_or(rest).split('/').collect()
        };
        let mut segments = vec![];
        let mut kind = Kind::Exact;
        let mut suffix = None;
        for (i, seg) in raw.iter().enumerate() {
            let last = i + 1 == raw.len();
            if seg.contains('*') {
                if !last {
                    return Err(bad(pattern, "`*` is allowed only in the last segment"));
                }
                if *seg == "*" {
                    kind = Kind::Prefix;
                    continue;
                }
                let ext = seg
                    .strip_prefix('*')
                    .filter(|e| e.starts_with('.') && e.len() > 1)
                    .ok_or_else(|| {
                        bad(pattern, "a last segment with `*` must be `*` or `*.ext`")
                    })?;
                if ext.contains(['*', '{', '}']) {
                    return Err(bad(pattern, "a suffix has no `*`, `{` or `}`"));
                }
                let ext = decode_segment(ext).map_err(|why| bad(pattern, why))?;
                suffix = Some(ext);
                kind = Kind::Suffix;
                continue;
            }
            if seg.contains(['{', '}']) {
                let name = param_name(seg).ok_or_else(|| {
                    bad(
                        pattern,
                        "`{name}` must be a whole segment with a non-empty name",
                    )
                })?;
                segments.push(Segment::Param(name.to_string()));
                if kind == Kind::Exact {
                    kind = Kind::Template;
                }
                continue;
            }
            if seg.is_empty() {
                return Err(bad(pattern, "an empty segment (`//`)"));
            }
            let lit = decode_segment(seg).map_err(|why| bad(pattern, why))?;
            if lit == "." || lit == ".." {
                return Err(bad(pattern, "a dot segment"));
            }
            segments.push(Segment::Literal(lit));
        }
        let mut names: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) => Some(n.as_str()),
                Segment::Literal(_) => None,
            })
            .collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad(pattern, "a parameter name is used twice"));
        }
        Ok(PathPattern {
            text: text.to_string(),
            kind,
            segments,
            suffix,
        })
    }

    /// The pattern as configured.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The normalised form: two patterns with the same form are the same pattern.
    pub fn canonical(&self) -> String {
        let mut s: String = self
            .segments
            .iter()
            .map(|seg| match seg {
                Segment::Literal(l) => format!("/{l}"),
                Segment::Param(_) => "/{}".to_string(),
            })
            .collect();
        match (&self.kind, &self.suffix) {
            (Kind::Prefix, _) => s.push_str("/*"),
            (Kind::Suffix, Some(x)) => {
                s.push_str("/*");
                s.push_str(x);
            }
            _ => {}
        }
        if s.is_empty() {
            s.push('/');
        }
        s
    }

    /// Whether the pattern has `{name}` segments or a wildcard (the resource it names is one
    /// of many, found on the server by the concrete path).
    pub fn is_dynamic(&self) -> bool {
        self.kind != Kind::Exact
    }

    /// Matches a normalised request path ([`normalize_request_path`]).
    pub fn matches(&self, normalized: &str) -> Option<PathMatch> {
        let segs: Vec<&str> = match normalized.strip_prefix('/') {
            Some("") => vec![],
            Some(rest) => rest.split('/').collect(),
            None => return None,
        };
        let n = self.segments.len();
        let fits = match self.kind {
            Kind::Exact | Kind::Template => segs.len() == n,
            Kind::Prefix => segs.len() >= n,
            // `/static/*.html`: at least one segment after the prefix, the last with the suffix.
            Kind::Suffix => {
                segs.len() > n
                    && self.suffix.as_deref().is_some_and(|x| {
                        segs.last()
                            .is_some_and(|l| l.len() > x.len() && l.ends_with(x))
                    })
            }
        };
        if !fits {
            return None;
        }
        let mut params = vec![];
        for (p, s) in self.segments.iter().zip(&segs) {
            match p {
                Segment::Literal(l) if l == s => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), s.to_string())),
            }
        }
        Some(PathMatch { params })
    }

    /// The concrete path this pattern names for a request it matched: `{name}` segments
    /// filled in, the wildcard part dropped (`/albums/{id}/*` and `/albums/42/photos` give
    /// `/albums/42`).
    pub fn concrete(&self, m: &PathMatch) -> String {
        let mut values = m.params.iter().map(|(_, v)| v.as_str());
        let s: String = self
            .segments
            .iter()
            .map(|seg| match seg {
                Segment::Literal(l) => format!("/{l}"),
                Segment::Param(_) => format!("/{}", values.next().unwrap_or_default()),
            })
            .collect();
        if s.is_empty() {
            "/".into()
        } else {
            s
        }
    }

    fn literal_count(&self) -> usize {
        self.segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// Literal segments first, position by position.
    fn shape(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 0,
                Segment::Param(_) => 1,
            })
            .collect()
    }

    /// Most specific first (see the module documentation); a total order.
    pub fn specificity(&self, other: &Self) -> Ordering {
        self.kind
            .cmp(&other.kind)
            .then_with(|| other.segments.len().cmp(&self.segments.len()))
            .then_with(|| other.literal_count().cmp(&self.literal_count()))
            .then_with(|| self.shape().cmp(&other.shape()))
            .then_with(|| {
                let len = |p: &Self| p.suffix.as_ref().map_or(0, String::len);
                len(other).cmp(&len(self))
            })
            .then_with(|| self.canonical().cmp(&other.canonical()))
            .then_with(|| self.text.cmp(&other.text))
    }
}

/// Patterns with their values, kept most specific first: [`find`](Self::find) returns the
/// most specific match in O(number of patterns).
#[derive(Clone, Debug)]
pub struct PathMatcher<T> {
    entries: Vec<(PathPattern, T)>,
}

impl<T> PathMatcher<T> {
    /// Builds the matcher; two patterns with the same normalised form are an error.
    pub fn new(entries: impl IntoIterator<Item = (PathPattern, T)>) -> Result<Self, Error> {
        let mut entries: Vec<(PathPattern, T)> = entries.into_iter().collect();
        entries.sort_by(|a, b| a.0.specificity(&b.0));
        for w in entries.windows(2) {
            if w[0].0.canonical() == w[1].0.canonical() {
                return Err(bad(
                    w[1].0.as_str(),
                    &format!("the same path as `{}`", w[0].0.as_str()),
                ));
            }
        }
        Ok(PathMatcher { entries })
    }

    /// The most specific pattern matching a normalised path, its value and the match.
    pub fn find(&self, normalized: &str) -> Option<(&PathPattern, &T, PathMatch)> {
        self.entries
            .iter()
            .find_map(|(p, v)| p.matches(normalized).map(|m| (p, v, m)))
    }

    /// The patterns, most specific first.
    pub fn patterns(&self) -> impl Iterator<Item = (&PathPattern, &T)> {
        self.entries.iter().map(|(p, v)| (p, v))
    }

    /// How many patterns there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
