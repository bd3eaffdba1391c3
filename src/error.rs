//! The one error type of the core.

use std::fmt;

/// An OAuth 2.0 error response body (RFC 6749 §5.2), as Keycloak sends it from the token,
/// introspection, revocation, logout, userinfo and protection endpoints, with the members the
/// UMA grant adds to `need_info` and `request_submitted` (UMA Grant §3.3.6).
#[derive(Clone, Debug, Default, serde::Deserialize, serde::Serialize)]
pub struct OAuthError {
    /// The error code, e.g. `invalid_grant`.
    pub error: String,
    /// Human-readable detail, e.g. `Code not valid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    /// A URI with more information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
    /// UMA `need_info` / `request_submitted`: the new permission ticket to continue with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<crate::secret::PermissionTicket>,
    /// UMA `need_info`: the claims the authorization server needs (UMA Grant §3.3.6).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_claims: Vec<RequiredClaim>,
    /// UMA `need_info`: where to redirect the requesting party for claims gathering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_user: Option<String>,
    /// UMA `request_submitted`: seconds to wait before asking again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
}

impl OAuthError {
    /// An error body with just a code.
    pub fn new(error: impl Into<String>) -> Self {
        OAuthError {
            error: error.into(),
            ..Default::default()
        }
    }
}

/// One entry of a UMA `need_info` error's `required_claims` (UMA Grant §3.3.6).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct RequiredClaim {
    /// `claim_token_format`: accepted formats.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claim_token_format: Vec<String>,
    /// `claim_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_type: Option<String>,
    /// `friendly_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// `issuer`: accepted issuers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuer: Vec<String>,
    /// `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sanitize(&self.error))?;
        if let Some(d) = &self.error_description {
            write!(f, ": {}", sanitize(d))?;
        }
        if let Some(u) = &self.error_uri {
            write!(f, " (see {})", sanitize(u))?;
        }
        Ok(())
    }
}

/// Strips control characters and bounds the length of server-provided text before it is shown.
pub(crate) fn sanitize(s: &str) -> String {
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(300).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// Which part of the protocol a JSON document belonged to, for error messages.
pub type What = &'static str;

/// Everything that can go wrong in the core.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an OAuth error body (`error`, `error_description`).
    #[error("{what}: server answered HTTP {status} with OAuth error {body}")]
    OAuth {
        /// Which request failed.
        what: What,
        /// HTTP status.
        status: u16,
        /// The error body (boxed: `Error` stays small on the happy path).
        body: Box<OAuthError>,
    },

    /// A non-success status without an OAuth error body.
    #[error("{what}: unexpected HTTP status {status}{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    UnexpectedStatus {
        /// Which request failed.
        what: What,
        /// HTTP status.
        status: u16,
        /// A short, sanitized description of the body (e.g. Keycloak's `errorMessage`).
        detail: Option<String>,
    },

    /// The body was an HTML page where JSON was expected (an error page, a login page, or a proxy).
    #[error("{what}: expected JSON but received an HTML page (HTTP {status}){}", title.as_ref().map(|t| format!(": {t}")).unwrap_or_default())]
    HtmlResponse {
        /// Which request failed.
        what: What,
        /// HTTP status.
        status: u16,
        /// The page's `<title>`, if any.
        title: Option<String>,
    },

    /// The `Content-Type` was not the expected one.
    #[error("{what}: expected content type {expected}, got {}", got.as_deref().unwrap_or("none"))]
    WrongContentType {
        /// Which request failed.
        what: What,
        /// Expected media type.
        expected: &'static str,
        /// Received media type.
        got: Option<String>,
    },

    /// The body ended before the JSON document did.
    #[error("{what}: truncated JSON body ({len} bytes)")]
    TruncatedBody {
        /// Which document.
        what: What,
        /// Bytes received.
        len: usize,
    },

    /// The body was not valid JSON, or not the expected shape.
    #[error("{what}: malformed JSON: {detail}")]
    MalformedJson {
        /// Which document.
        what: What,
        /// Parser message (line and column; never the document itself).
        detail: String,
    },

    /// A required field was absent.
    #[error("{what}: required field `{field}` is missing")]
    MissingField {
        /// Which document.
        what: What,
        /// Field name.
        field: String,
    },

    /// The body exceeded the configured size limit.
    #[error("{what}: response body of {len} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Which request.
        what: What,
        /// Received length (at least).
        len: usize,
        /// The limit.
        limit: usize,
    },

    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A URL could not be built or parsed.
    #[error("invalid URL for {what}: {detail}")]
    InvalidUrl {
        /// Which URL.
        what: What,
        /// Parser message.
        detail: String,
    },

    /// The provider metadata lacks an endpoint a flow needs.
    #[error("the provider metadata has no `{0}`")]
    MissingEndpoint(&'static str),

    /// A discovery document names another issuer (OpenID Connect Discovery §4.3).
    #[error("discovery issuer mismatch: expected `{expected}`, document says `{got}`")]
    IssuerMismatch {
        /// Configured issuer.
        expected: String,
        /// Issuer in the document.
        got: String,
    },

    /// The authorization response's `state` did not match the pending login (RFC 6749 §10.12).
    #[error("authorization response state does not match the pending login (possible CSRF)")]
    StateMismatch,

    /// The authorization response's `iss` was missing although the server advertises it, or did
    /// not match the issuer (RFC 9207 §2.4).
    #[error("authorization response issuer check failed: {0}")]
    CallbackIssuer(String),

    /// The authorization server redirected back with an error (RFC 6749 §4.1.2.1).
    #[error("authorization failed: {0}")]
    Authorization(Box<OAuthError>),

    /// The callback query is malformed (missing `code`, duplicated parameters, ...).
    #[error("invalid authorization response: {0}")]
    InvalidCallback(String),

    /// The pending login is older than its allowed lifetime.
    #[error("the pending login expired {0} s ago; start a new login")]
    LoginExpired(u64),

    /// No key in the issuer's key set matches the token (`kid` unknown, or none fits).
    /// Refetching the key set (rate-limited) may help after a key rotation.
    #[error("no key of the issuer matches the token{}", .0.as_ref().map(|k| format!(" (kid `{k}`)")).unwrap_or_default())]
    UnknownKey(Option<String>),

    /// The token's signature did not verify.
    #[error("token signature is invalid: {0}")]
    InvalidSignature(String),

    /// The token's `alg` is not on the allow-list (or is `none`, or HS* with a public key).
    #[error("token algorithm `{0}` is not allowed")]
    DisallowedAlgorithm(String),

    /// The provider's metadata does not list what the configuration needs (a client
    /// authentication method, an algorithm).
    #[error("the server does not support {what} `{value}` (it lists: {supported})")]
    NotSupportedByServer {
        /// What was looked up.
        what: &'static str,
        /// The configured value.
        value: String,
        /// What the server lists.
        supported: String,
    },

    /// DPoP could not be followed (RFC 9449): a nonce loop, a nonce missing, a token that is
    /// not bound although DPoP was asked for.
    #[error("DPoP: {0}")]
    Dpop(String),

    /// A JWT this client signs (a client assertion) could not be signed: the backend's short
    /// reason, never key material.
    #[error("signing failed: {0}")]
    Signing(String),

    /// A token was rejected by validation (signature or claims).
    #[error("token validation failed: {0}")]
    TokenValidation(String),

    /// A login was finished without a way to validate the ID token (a friendly client built
    /// without a `jws_verifier` and without the explicitly insecure signature skip).
    #[error("no ID token validator is configured (give a JWS verifier, or explicitly opt out of signature checks)")]
    NoIdTokenValidator,

    /// The issuer's keys could not be loaded and may not be fetched again yet (cooldown): a
    /// code exchange is refused before the authorization code is spent, and a token cannot be
    /// checked (an outage, not a bad token).
    #[error("the issuer's keys are not loaded and may not be fetched again yet (cooldown); nothing was checked or sent")]
    KeysUnavailable,

    /// A token or ticket from a server, or handed in by the caller, has characters that may not
    /// appear where it is used (RFC 6750 §2.1 `b64token`, RFC 6749 Appendix A `VSCHAR`).
    #[error("{0} has characters outside its allowed syntax")]
    InvalidTokenSyntax(&'static str),

    /// The token response lacks the ID token although `openid` was requested.
    #[error("the token response has no id_token although the `openid` scope was requested")]
    MissingIdToken,

    /// The userinfo `sub` differs from the ID token's (OpenID Connect Core §5.3.2).
    #[error("userinfo subject does not match the ID token subject")]
    SubjectMismatch,

    /// A `WWW-Authenticate` header could not be parsed (RFC 9110 §11.6.1).
    #[error("invalid WWW-Authenticate header: {0}")]
    InvalidChallenge(String),

    /// The token type is not `Bearer` (RFC 6750).
    #[error("unsupported token type `{0}` (expected Bearer)")]
    UnsupportedTokenType(String),

    /// A multi-step flow was driven out of order (a response was handed in that was not asked for).
    #[error("flow driven out of order: {0}")]
    FlowState(&'static str),

    /// Another caller's fetch of shared state (discovery, the PAT), which this operation waited
    /// for, ended without an answer (its transport failed). Try again.
    #[error("the shared {what} fetch this request waited for failed in transport; try again")]
    SharedFetchFailed {
        /// What was being fetched.
        what: &'static str,
    },

    /// The caller gave up (e.g. a device wait's `on_wait` returned `false`).
    #[error("cancelled: {0}")]
    Cancelled(&'static str),

    /// A device authorization has expired (RFC 8628 §3.5 `expired_token`, or past `expires_in`).
    #[error("the device authorization expired; start again")]
    DeviceExpired,
}

impl Error {
    /// The error a flow reports for an error response: the OAuth error of the body (RFC 6749
    /// §5.2, with Keycloak's and UMA's members), an HTML page, or the bare status.
    pub fn from_response(resp: &crate::http::Response) -> Error {
        crate::response::error_from("response", resp)
    }

    /// Whether this is a definitive answer about the credentials used: the server refused them
    /// with an OAuth error (a 4xx such as `invalid_grant` or `invalid_client`), or what it
    /// returned failed validation. A session built on them ends. Anything else (outages, 5xx,
    /// HTML error pages, cut or malformed bodies, keys not loadable yet) says nothing about
    /// them: keep the session.
    pub fn is_definitive(&self) -> bool {
        match self {
            // RFC 6749 §5.2: 400, or 401 for client authentication. A 404, 408 or 429 with a
            // JSON body is a gateway or a limiter, not a verdict on the credentials.
            Error::OAuth { status, .. } => matches!(status, 400 | 401),
            Error::IssuerMismatch { .. }
            | Error::InvalidSignature(_)
            | Error::DisallowedAlgorithm(_)
            | Error::TokenValidation(_)
            | Error::InvalidTokenSyntax(_)
            | Error::MissingIdToken
            | Error::SubjectMismatch
            | Error::UnsupportedTokenType(_) => true,
            _ => false,
        }
    }

    /// Whether this says Keycloak is unavailable rather than that it said no: a shared fetch
    /// that failed in transport, keys that could not be loaded (and may not be fetched again
    /// yet), or a 502/503/504 (a gateway or a Keycloak starting up). Callers keep sessions and
    /// answer 503 on these; they pass.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::SharedFetchFailed { .. } | Error::KeysUnavailable
        ) || matches!(self.http_status(), Some(502..=504))
    }

    /// The OAuth error code if this error carries one (`invalid_grant`, `access_denied`, ...).
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Error::OAuth { body, .. } | Error::Authorization(body) => Some(body.error.as_str()),
            _ => None,
        }
    }

    /// The HTTP status of a server-reported error.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::OAuth { status, .. }
            | Error::UnexpectedStatus { status, .. }
            | Error::HtmlResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether this is a UMA/authorization denial (`access_denied`).
    pub fn is_access_denied(&self) -> bool {
        self.oauth_error() == Some("access_denied")
    }

    /// Whether the grant (code, refresh token, session) is no longer valid: start over.
    pub fn is_invalid_grant(&self) -> bool {
        self.oauth_error() == Some("invalid_grant")
    }
}
