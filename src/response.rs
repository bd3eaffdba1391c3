//! Shared response processing: size cap, status, content type, OAuth error bodies, JSON.

use serde::de::DeserializeOwned;

use crate::error::{sanitize, Error, OAuthError, What};
use crate::http::Response;

/// Rejects bodies over `limit`.
pub(crate) fn check_size(what: What, resp: &Response, limit: usize) -> Result<(), Error> {
    if resp.body.len() > limit {
        return Err(Error::BodyTooLarge {
            what,
            len: resp.body.len(),
            limit,
        });
    }
    Ok(())
}

fn looks_like_html(resp: &Response) -> bool {
    if let Some(mt) = resp.media_type() {
        if mt == "text/html" || mt == "application/xhtml+xml" {
            return true;
        }
    }
    let start = resp
        .body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(resp.body.len());
    let head = &resp.body[start..resp.body.len().min(start + 15)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    head.starts_with("<!doctype html") || head.starts_with("<html")
}

fn html_title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title")?;
    let open_end = lower[start..].find('>')? + start + 1;
    let end = lower[open_end..].find("</title>")? + open_end;
    let title = text[open_end..end].trim();
    if title.is_empty() {
        None
    } else {
        Some(sanitize(title))
    }
}

fn is_json_media(mt: &str) -> bool {
    mt == "application/json" || (mt.starts_with("application/") && mt.ends_with("+json"))
}

/// Turns a non-success response into the most specific error.
pub(crate) fn error_from(what: What, resp: &Response) -> Error {
    let status = resp.status;
    if looks_like_html(resp) {
        return Error::HtmlResponse {
            what,
            status,
            title: html_title(&resp.body),
        };
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&resp.body) {
        if let Some(obj) = v.as_object() {
            if let Some(serde_json::Value::String(error)) = obj.get("error") {
                let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                // UMA Grant §3.3.6 members; a malformed one is dropped, not fatal.
                let member = |k: &str| obj.get(k).cloned().unwrap_or(serde_json::Value::Null);
                return Error::OAuth {
                    what,
                    status,
                    body: Box::new(OAuthError {
                        error: error.clone(),
                        error_description: text("error_description"),
                        error_uri: text("error_uri"),
                        ticket: serde_json::from_value(member("ticket")).unwrap_or(None),
                        required_claims: serde_json::from_value(member("required_claims"))
                            .unwrap_or_default(),
                        redirect_user: text("redirect_user"),
                        interval: obj.get("interval").and_then(|v| v.as_u64()),
                    }),
                };
            }
            // Keycloak's admin-style error shape: {"errorMessage": "..."}
            if let Some(serde_json::Value::String(m)) = obj.get("errorMessage") {
                return Error::UnexpectedStatus {
                    what,
                    status,
                    detail: Some(sanitize(m)),
                };
            }
        }
    }
    // A Bearer challenge may carry the error when the body is empty (RFC 6750 §3).
    if let Some(h) = resp.header("www-authenticate") {
        if let Ok(ch) = crate::challenge::Challenge::parse(h) {
            if let Some(error) = ch.param("error") {
                return Error::OAuth {
                    what,
                    status,
                    body: Box::new(OAuthError {
                        error: error.to_string(),
                        error_description: ch.param("error_description").map(str::to_owned),
                        error_uri: ch.param("error_uri").map(str::to_owned),
                        ..Default::default()
                    }),
                };
            }
        }
    }
    let detail = if resp.body.is_empty() {
        None
    } else {
        match resp.media_type().as_deref() {
            Some("text/plain") => Some(sanitize(&String::from_utf8_lossy(
                &resp.body[..resp.body.len().min(200)],
            ))),
            _ => Some(format!("{} byte body", resp.body.len())),
        }
    };
    Error::UnexpectedStatus {
        what,
        status,
        detail,
    }
}

/// Checks the size and that the status is one of `ok`; otherwise returns the error.
pub(crate) fn expect_status(
    what: What,
    resp: &Response,
    ok: &[u16],
    limit: usize,
) -> Result<(), Error> {
    check_size(what, resp, limit)?;
    if ok.contains(&resp.status) {
        Ok(())
    } else {
        Err(error_from(what, resp))
    }
}

/// Parses a JSON success body (status in `ok`), with every failure mapped to a distinct error.
pub(crate) fn parse_json<T: DeserializeOwned>(
    what: What,
    resp: &Response,
    ok: &[u16],
    limit: usize,
) -> Result<T, Error> {
    expect_status(what, resp, ok, limit)?;
    json_body(what, resp)
}

/// Parses the body of an already status-checked response as JSON.
pub(crate) fn json_body<T: DeserializeOwned>(what: What, resp: &Response) -> Result<T, Error> {
    if looks_like_html(resp) {
        return Err(Error::HtmlResponse {
            what,
            status: resp.status,
            title: html_title(&resp.body),
        });
    }
    match resp.media_type() {
        Some(mt) if is_json_media(&mt) => {}
        got => {
            return Err(Error::WrongContentType {
                what,
                expected: "application/json",
                got,
            })
        }
    }
    parse_slice(what, &resp.body)
}

/// Parses JSON bytes with precise errors.
pub(crate) fn parse_slice<T: DeserializeOwned>(what: What, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| json_error(what, body.len(), e))
}

pub(crate) fn json_error(what: What, len: usize, e: serde_json::Error) -> Error {
    if e.is_eof() {
        return Error::TruncatedBody { what, len };
    }
    let msg = e.to_string();
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if let Some(end) = rest.find('`') {
            return Error::MissingField {
                what,
                field: rest[..end].to_string(),
            };
        }
    }
    Error::MalformedJson {
        what,
        detail: sanitize(&msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct T {
        a: u32,
    }

    #[test]
    fn html_error_page() {
        let r = Response::new(
            400,
            vec![("content-type".into(), "text/html;charset=utf-8".into())],
            "<!DOCTYPE html><html><head><title>Sign in to rkc</title></head></html>",
        );
        let e = parse_json::<T>("token", &r, &[200], 1000).unwrap_err();
        assert!(
            matches!(e, Error::HtmlResponse { status: 400, title: Some(ref t), .. } if t == "Sign in to rkc"),
            "{e:?}"
        );
    }

    #[test]
    fn oauth_error_in_display() {
        let r = Response::json(
            400,
            r#"{"error":"invalid_grant","error_description":"Code not valid"}"#,
        );
        let e = parse_json::<T>("token", &r, &[200], 1000).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("400") && s.contains("invalid_grant: Code not valid"),
            "{s}"
        );
        assert!(e.is_invalid_grant());
    }

    #[test]
    fn truncated_missing_malformed_wrong_type_too_large() {
        let e = parse_json::<T>("x", &Response::json(200, r#"{"a": 1"#), &[200], 1000).unwrap_err();
        assert!(matches!(e, Error::TruncatedBody { .. }), "{e:?}");
        let e = parse_json::<T>("x", &Response::json(200, r#"{}"#), &[200], 1000).unwrap_err();
        assert!(
            matches!(e, Error::MissingField { ref field, .. } if field == "a"),
            "{e:?}"
        );
        let e =
            parse_json::<T>("x", &Response::json(200, r#"{"a": "no"}"#), &[200], 1000).unwrap_err();
        assert!(matches!(e, Error::MalformedJson { .. }), "{e:?}");
        let r = Response::new(
            200,
            vec![("content-type".into(), "text/plain".into())],
            "{\"a\":1}",
        );
        let e = parse_json::<T>("x", &r, &[200], 1000).unwrap_err();
        assert!(matches!(e, Error::WrongContentType { .. }), "{e:?}");
        let e =
            parse_json::<T>("x", &Response::json(200, vec![b' '; 2000]), &[200], 1000).unwrap_err();
        assert!(
            matches!(
                e,
                Error::BodyTooLarge {
                    len: 2000,
                    limit: 1000,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn keycloak_admin_error_shape_and_empty_404() {
        let r = Response::json(409, r#"{"errorMessage":"User exists with same username"}"#);
        let e = error_from("x", &r);
        assert!(e.to_string().contains("User exists"), "{e}");
        let e = error_from("x", &Response::new(404, vec![], ""));
        assert!(matches!(
            e,
            Error::UnexpectedStatus {
                status: 404,
                detail: None,
                ..
            }
        ));
    }
}
