//! `WWW-Authenticate` parsing (RFC 9110 §11.6.1), including Bearer (RFC 6750 §3) and
//! UMA 2.0 (UMA Grant §3.2: `UMA realm="...", as_uri="...", ticket="..."`) challenges.

use crate::error::Error;
use crate::secret::PermissionTicket;

/// One authentication challenge: a scheme and its parameters. `Debug` redacts the `token68`
/// form and the `ticket` parameter (a UMA permission ticket is a bearer credential).
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme as sent (compare case-insensitively).
    pub scheme: String,
    /// `token68` form, if the challenge used it.
    pub token68: Option<String>,
    /// Parameters (names lower-cased), quoted strings unescaped.
    pub params: Vec<(String, String)>,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let params: Vec<(&str, &str)> = self
            .params
            .iter()
            .map(|(k, v)| {
                let shown = if k.eq_ignore_ascii_case("ticket") {
                    "[redacted]"
                } else {
                    v.as_str()
                };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Challenge")
            .field("scheme", &self.scheme)
            .field("token68", &self.token68.as_ref().map(|_| "[redacted]"))
            .field("params", &params)
            .finish()
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_ws_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if self.i == start {
            None
        } else {
            std::str::from_utf8(&self.s[start..self.i]).ok()
        }
    }
    fn quoted(&mut self) -> Result<String, Error> {
        // at opening quote
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(Error::InvalidChallenge("unterminated quoted string".into())),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.i += 1;
                        }
                        None => {
                            return Err(Error::InvalidChallenge(
                                "dangling escape in quoted string".into(),
                            ))
                        }
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out)
            .map_err(|_| Error::InvalidChallenge("quoted string is not UTF-8".into()))
    }
    /// Whether the input at the cursor is `token BWS "="` (an auth-param), without consuming.
    fn at_param(&self) -> bool {
        let mut j = self.i;
        let start = j;
        while self.s.get(j).copied().is_some_and(is_tchar) {
            j += 1;
        }
        if j == start {
            return false;
        }
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        // `=` that is not part of a token68 padding run (`abc==`, `abc=` then end or comma)
        if self.s.get(j) != Some(&b'=') {
            return false;
        }
        j += 1;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        !matches!(self.s.get(j), None | Some(b'=' | b','))
    }
}

impl Challenge {
    /// Parses every challenge in one `WWW-Authenticate` header value.
    pub fn parse_all(header: &str) -> Result<Vec<Challenge>, Error> {
        if header.len() > 16 * 1024 {
            return Err(Error::InvalidChallenge("header longer than 16 KiB".into()));
        }
        let mut c = Cursor {
            s: header.as_bytes(),
            i: 0,
        };
        let mut out = Vec::new();
        loop {
            c.skip_ws_commas();
            if c.peek().is_none() {
                break;
            }
            let scheme = c
                .token()
                .ok_or_else(|| {
                    Error::InvalidChallenge(format!("expected an auth scheme at byte {}", c.i))
                })?
                .to_string();
            let mut ch = Challenge {
                scheme,
                token68: None,
                params: vec![],
            };
            c.skip_ws();
            // token68?
            if !c.at_param() && c.peek().is_some_and(is_token68) {
                let start = c.i;
                while c.peek().is_some_and(is_token68) {
                    c.i += 1;
                }
                while c.peek() == Some(b'=') {
                    c.i += 1;
                }
                ch.token68 = Some(String::from_utf8_lossy(&c.s[start..c.i]).into_owned());
                c.skip_ws();
                match c.peek() {
                    None | Some(b',') => {}
                    Some(_) => {
                        return Err(Error::InvalidChallenge(format!(
                            "unexpected byte at {}",
                            c.i
                        )))
                    }
                }
                out.push(ch);
                continue;
            }
            loop {
                c.skip_ws();
                if !c.at_param() {
                    break;
                }
                let name = c.token().unwrap_or_default().to_ascii_lowercase();
                c.skip_ws();
                c.i += 1; // '='
                c.skip_ws();
                let value = match c.peek() {
                    Some(b'"') => c.quoted()?,
                    _ => c
                        .token()
                        .ok_or_else(|| {
                            Error::InvalidChallenge(format!("parameter `{name}` has no value"))
                        })?
                        .to_string(),
                };
                if ch.params.iter().any(|(k, _)| *k == name) {
                    return Err(Error::InvalidChallenge(format!(
                        "parameter `{name}` repeated"
                    )));
                }
                ch.params.push((name, value));
                c.skip_ws();
                match c.peek() {
                    Some(b',') => c.skip_ws_commas(),
                    None => break,
                    Some(_) => {
                        return Err(Error::InvalidChallenge(format!(
                            "unexpected byte at {}",
                            c.i
                        )))
                    }
                }
            }
            out.push(ch);
        }
        if out.is_empty() {
            return Err(Error::InvalidChallenge("empty header".into()));
        }
        Ok(out)
    }

    /// Parses a header and returns its first challenge.
    pub fn parse(header: &str) -> Result<Challenge, Error> {
        Ok(Self::parse_all(header)?.remove(0))
    }

    /// A parameter value by (case-insensitive) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A UMA 2.0 permission-ticket challenge from a resource server (UMA Grant §3.2).
#[derive(Clone, Debug)]
pub struct UmaChallenge {
    /// `realm`, if given.
    pub realm: Option<String>,
    /// The authorization server's issuer URI (`as_uri`).
    pub as_uri: url::Url,
    /// The permission ticket to redeem at the token endpoint.
    pub ticket: PermissionTicket,
}

impl UmaChallenge {
    /// Finds and parses the `UMA` challenge in a `WWW-Authenticate` value.
    ///
    /// ```
    /// use keycloak_client::UmaChallenge;
    /// let c = UmaChallenge::parse(
    ///     r#"UMA realm="rkc", as_uri="http://127.0.0.1:18080/realms/rkc", ticket="eyJ.abc.def""#,
    /// ).unwrap();
    /// assert_eq!(c.as_uri.as_str(), "http://127.0.0.1:18080/realms/rkc");
    /// assert_eq!(c.ticket.secret(), "eyJ.abc.def");
    /// ```
    pub fn parse(header: &str) -> Result<UmaChallenge, Error> {
        let all = Challenge::parse_all(header)?;
        let ch = all
            .into_iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("UMA"))
            .ok_or_else(|| Error::InvalidChallenge("no UMA challenge".into()))?;
        let as_uri = ch
            .param("as_uri")
            .ok_or_else(|| Error::InvalidChallenge("UMA challenge without as_uri".into()))?;
        let as_uri = url::Url::parse(as_uri)
            .map_err(|e| Error::InvalidChallenge(format!("as_uri is not a URL: {e}")))?;
        let ticket = ch
            .param("ticket")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::InvalidChallenge("UMA challenge without ticket".into()))?;
        let ticket = PermissionTicket::try_new(ticket)
            .map_err(|_| Error::InvalidChallenge("the ticket is not a b64token".into()))?;
        Ok(UmaChallenge {
            realm: ch.param("realm").map(str::to_owned),
            as_uri,
            ticket,
        })
    }

    /// Formats the challenge for a resource server's 401 response.
    pub fn to_header_value(&self) -> String {
        let q = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = String::from("UMA ");
        if let Some(r) = &self.realm {
            out.push_str(&format!("realm=\"{}\", ", q(r)));
        }
        out.push_str(&format!(
            "as_uri=\"{}\", ticket=\"{}\"",
            q(self.as_uri.as_str()),
            q(self.ticket.secret())
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keycloak_bearer_challenge() {
        let c = Challenge::parse(r#"Bearer realm="rkc", error="invalid_token", error_description="Token verification failed""#).unwrap();
        assert!(c.scheme.eq_ignore_ascii_case("bearer"));
        assert_eq!(c.param("error"), Some("invalid_token"));
        assert_eq!(
            c.param("error_description"),
            Some("Token verification failed")
        );
    }

    #[test]
    fn multiple_challenges_and_token68() {
        let all = Challenge::parse_all(r#"Basic abc==, UMA as_uri="http://x", ticket=t1, Bearer"#)
            .unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].token68.as_deref(), Some("abc=="));
        assert_eq!(all[1].param("ticket"), Some("t1"));
        assert_eq!(all[2].scheme, "Bearer");
    }

    #[test]
    fn quoted_escapes_and_errors() {
        let c = Challenge::parse(r#"X a="q\"uote""#).unwrap();
        assert_eq!(c.param("a"), Some("q\"uote"));
        assert!(Challenge::parse(r#"X a="open"#).is_err());
        assert!(Challenge::parse("").is_err());
        assert!(Challenge::parse(r#"X a=1, a=2"#).is_err());
        assert!(UmaChallenge::parse(r#"UMA as_uri="http://x""#).is_err());
        assert!(UmaChallenge::parse(r#"Bearer realm="x""#).is_err());
    }

    #[test]
    fn uma_roundtrip() {
        let c =
            UmaChallenge::parse(r#"UMA realm="rkc", as_uri="http://h/realms/rkc", ticket="abc""#)
                .unwrap();
        let again = UmaChallenge::parse(&c.to_header_value()).unwrap();
        assert_eq!(again.realm.as_deref(), Some("rkc"));
        assert_eq!(again.ticket.secret(), "abc");
    }

    #[test]
    fn whitespace_around_the_equals_sign_is_allowed() {
        // RFC 9110 §11.2: auth-param = token BWS "=" BWS ( token / quoted-string )
        let c = Challenge::parse("UMA realm = \"rkc\" ,as_uri= \"http://h\", ticket =t1").unwrap();
        assert_eq!(c.param("realm"), Some("rkc"));
        assert_eq!(c.param("as_uri"), Some("http://h"));
        assert_eq!(c.param("ticket"), Some("t1"));
        let c = Challenge::parse("Bearer error\t=\t\"invalid_token\"").unwrap();
        assert_eq!(c.param("error"), Some("invalid_token"));
    }

    #[test]
    fn header_length_limit_is_exactly_16_kib() {
        let header = |n: usize| format!("Bearer realm=\"{}\"", "a".repeat(n - 15));
        assert_eq!(header(100).len(), 100);
        assert!(Challenge::parse(&header(2000)).is_ok());
        assert!(Challenge::parse(&header(16 * 1024)).is_ok());
        assert!(Challenge::parse(&header(16 * 1024 + 1)).is_err());
        assert!(Challenge::parse(&header(20_000)).is_err());
    }
}
