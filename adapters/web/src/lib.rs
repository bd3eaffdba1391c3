//! Framework-independent web authentication on `keycloak-client`: the logic behind the axum and
//! actix-web extensions.
//!
//! * Browser mode (the seed's `AuthenticationMiddleware`, done right): unauthenticated
//!   navigations are redirected to Keycloak with state, nonce and PKCE kept server-side; the
//!   callback checks them, validates the ID token, rotates the session id and returns to the
//!   original same-origin path; logout ends the Keycloak session (back channel) and redirects
//!   through RP-initiated logout; back-channel logout tokens end matching sessions; access
//!   tokens are refreshed before expiry, one refresh per session at a time; non-navigation
//!   requests get 401 instead of a redirect.
//! * API mode: bearer tokens validated locally with a bounded cache of verified tokens,
//!   `WWW-Authenticate: Bearer error=...` on failure, optional pass-through.
//! * UMA enforcement: `resource#scope` decisions from Keycloak, cached briefly per token and
//!   permission; 403, or a UMA ticket challenge.
//!
//! Frameworks hand in a [`RequestInfo`] and get an [`Outcome`] plus cookies to set.

mod active_token;
mod cache;
mod coalesced;
mod guards;
mod memory_store;
mod policy;
mod session;
mod settings;
#[cfg(any(test, feature = "store-contract"))]
pub mod store_contract;
mod tenants;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use keycloak_client::uma::PermissionRequest;
use keycloak_client::{AccessToken, Claims, ClientConfig, UmaChallenge, UnixTime};
use keycloak_client_reqwest::{now, Keycloak};
use sha2::Digest;

pub use cache::TtlCache;
pub use guards::{Role, RoleRequirement, ScopeRequirement};
pub use memory_store::MemoryStore;
pub use session::{BoxFuture, IdentityMemo, Session, SessionStore, StoreError, StoreResult};
pub use settings::KeycloakSettings;
pub use tenants::{TenantFn, TenantRule, Tenants};

/// Settings of the web extension.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// The application's own external origin, e.g. `http://127.0.0.1:8000` (used to build the
    /// redirect URIs sent to Keycloak).
    pub app_url: url::Url,
    /// Path of the login callback (the seed's `callback_url`), default `/kc/callback`.
    pub callback_path: String,
    /// Where to go after login when there is no original page (`login_redirect_uri`).
    pub login_redirect_uri: String,
    /// Path that logs out (`logout_uri`), default `/kc/logout`.
    pub logout_path: String,
    /// Where to land after logout (`logout_redirect_uri`).
    pub logout_redirect_uri: String,
    /// Path receiving Keycloak's back-channel logout tokens, default `/kc/backchannel-logout`.
    pub backchannel_logout_path: String,
    /// Path prefixes that are never authenticated.
    pub public_paths: Vec<String>,
    /// Session cookie name: `__Host-kc_session` when the cookie is `Secure` (no sibling
    /// subdomain can set or shadow a `__Host-` cookie), else `kc_session`.
    pub cookie_name: String,
    /// The cookie that ties logins in progress to the browser that started them:
    /// `__Host-kc_login` when `Secure`, else `kc_login`. One value serves every tab, so
    /// several logins can be in progress at once and finishing any of them logs the user in.
    pub login_cookie_name: String,
    /// Session lifetime in seconds (default 8 h).
    pub session_ttl_secs: u64,
    /// Refresh access tokens this many seconds before they expire (default 30).
    pub refresh_margin_secs: u64,
    /// The audience bearer tokens must carry (default: the client id).
    pub api_audience: Option<String>,
    /// Size of the verified-bearer-token cache (default 10,000; `0` verifies every request).
    pub bearer_cache_size: usize,
    /// Sessions whose identity (read from their access token) is kept between requests, by
    /// id (default 10,000; `0` reads the token on every request and keeps nothing). An
    /// in-memory store also keeps the identity with each stored session while this is above
    /// `0`. About 9.5 KB per session with Keycloak-sized tokens.
    pub session_identity_cache_size: usize,
    /// Seconds a UMA decision is cached per token and permission (default 30).
    pub decision_ttl_secs: u64,
    /// Allowed clock skew when validating tokens (default 60 s).
    pub leeway_secs: u64,
    /// When the realm's key set is refetched: its maximum age, and the cooldown between
    /// fetches that bounds refetches on unknown `kid`s (defaults: 1 hour, 30 s).
    pub jwks_policy: keycloak_client::JwksPolicy,
    /// Refuse logout from other sites and unsafe methods (POST, PUT, PATCH, DELETE) on
    /// cookie-authenticated routes unless they come from the app's own pages
    /// (`Sec-Fetch-Site`, else `Origin`). Default on; turn off only behind another CSRF
    /// defence.
    pub csrf_check: bool,
    /// DPoP proofs (RFC 9449) on API routes: the oldest `iat` accepted, in seconds (default
    /// 60; 5 s of clock skew are allowed the other way).
    pub dpop_max_age_secs: u64,
    /// Algorithms accepted in DPoP proofs (default ES256, ES384, PS256, EdDSA: FAPI 2.0's).
    pub dpop_algorithms: Vec<keycloak_client::Algorithm>,
    /// Most DPoP proof `jti`s remembered at once (default 100,000). A replay store must never
    /// forget a live entry, so when it is full new proofs are refused (401, retry shortly)
    /// rather than old ones evicted: raise it for more than ~1,500 DPoP requests a second.
    pub dpop_replay_capacity: usize,
    /// Server-issued DPoP nonces (RFC 9449 §9), off by default: with an issuer every proof
    /// must carry a nonce it issued within its lifetime, and a proof without one (or with a
    /// stale one) is answered `401 use_dpop_nonce` with a fresh `DPoP-Nonce`; answers to DPoP
    /// requests that pass carry the next nonce too. Stateless: give every instance the
    /// same key and audience and they accept each other's nonces. Browser clients on other
    /// origins need `Access-Control-Expose-Headers: DPoP-Nonce, WWW-Authenticate`.
    pub dpop_nonces: Option<keycloak_client::dpop_nonce::NonceIssuer>,
    /// Keycloak's policy enforcer (the `policy-enforcer` block of `keycloak.json`, read with
    /// [`PolicyEnforcerConfig::from_keycloak_json`](keycloak_client::policy_enforcer::PolicyEnforcerConfig::from_keycloak_json)),
    /// run by [`WebAuth::enforce_policy`] and the frameworks' `policy_enforcer` guards. Off
    /// when `None`.
    pub policy_enforcer: Option<keycloak_client::policy_enforcer::PolicyEnforcerConfig>,
    /// Revocation-aware routes ([`WebAuth::require_active_token`]): how long an introspection
    /// answer is reused, in seconds (default 30; never past the token's `exp`; a back-channel
    /// logout of its session or user drops it at once).
    pub introspection_max_age_secs: u64,
    /// Let requests through when Keycloak cannot answer an introspection (default off: 503).
    pub introspection_fail_open: bool,
}

impl WebConfig {
    /// Defaults for an application reachable at `app_url`.
    pub fn new(app_url: &str) -> Result<Self, keycloak_client::Error> {
        let app_url = url::Url::parse(app_url)
            .map_err(|e| keycloak_client::Error::Config(format!("app_url: {e}")))?;
        let mut c = WebConfig {
            app_url,
            callback_path: "/kc/callback".into(),
            login_redirect_uri: "/".into(),
            logout_path: "/kc/logout".into(),
            logout_redirect_uri: "/".into(),
            backchannel_logout_path: "/kc/backchannel-logout".into(),
            public_paths: vec![],
            cookie_name: "kc_session".into(),
            login_cookie_name: "kc_login".into(),
            session_ttl_secs: 8 * 3600,
            refresh_margin_secs: 30,
            api_audience: None,
            bearer_cache_size: 10_000,
            session_identity_cache_size: 10_000,
            decision_ttl_secs: 30,
            leeway_secs: 60,
            jwks_policy: Default::default(),
            csrf_check: true,
            dpop_max_age_secs: 60,
            dpop_replay_capacity: 100_000,
            dpop_nonces: None,
            policy_enforcer: None,
            introspection_max_age_secs: 30,
            introspection_fail_open: false,
            // FAPI 2.0 §5.4.1: PS256, ES256, EdDSA (ES384 for P-384 keys).
            dpop_algorithms: {
                use keycloak_client::Algorithm::*;
                vec![ES256, ES384, PS256, EdDSA]
            },
        };
        if c.secure_cookie() {
            c.cookie_name = "__Host-kc_session".into();
            c.login_cookie_name = "__Host-kc_login".into();
        }
        Ok(c)
    }

    /// Refuses settings that would make the middleware fail open or misroute: a public path
    /// that is empty, relative, `/` or carries control characters (each would make pages public
    /// by accident), an application URL that is not http(s), and callback, logout and
    /// back-channel paths that are relative or the same path.
    pub fn validate(&self) -> Result<(), keycloak_client::Error> {
        let bad = |m: String| Err(keycloak_client::Error::Config(m));
        if !matches!(self.app_url.scheme(), "http" | "https") || self.app_url.host().is_none() {
            return bad(format!(
                "app_url `{}` is not an http(s) origin",
                self.app_url
            ));
        }
        for name in [&self.cookie_name, &self.login_cookie_name] {
            let prefixed = ["__Host-", "__Secure-"].iter().any(|p| name.starts_with(p));
            if prefixed && !self.secure_cookie() {
                return bad(format!(
                    "cookie `{name}` needs Secure, which plain http on loopback cannot have"
                ));
            }
            let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token_char) {
                return bad(format!("cookie name {name:?} is not an RFC 6265 token"));
            }
        }
        if self.cookie_name == self.login_cookie_name {
            return bad("cookie_name and login_cookie_name are the same cookie".into());
        }
        let well_formed = |p: &str| p.starts_with('/') && !p.chars().any(char::is_control);
        for p in &self.public_paths {
            if !well_formed(p) || p.trim_end_matches('/').is_empty() {
                return bad(format!(
                    "public path {p:?} would make every path, or no path, public: give an absolute prefix such as `/static`"
                ));
            }
        }
        let routes = [
            ("callback_path", &self.callback_path),
            ("logout_path", &self.logout_path),
            ("backchannel_logout_path", &self.backchannel_logout_path),
        ];
        // The routes are matched by exact path, before public paths: equal paths collide.
        for (i, (name, path)) in routes.iter().enumerate() {
            if !well_formed(path) || path.len() < 2 {
                return bad(format!(
                    "{name} {path:?} must be an absolute path below `/`"
                ));
            }
            for (other, o) in &routes[i + 1..] {
                if path.trim_end_matches('/') == o.trim_end_matches('/') {
                    return bad(format!(
                        "{name} {path:?} and {other} {o:?} are the same path"
                    ));
                }
            }
        }
        Ok(())
    }

    fn secure_cookie(&self) -> bool {
        // Secure unless the app is plain http on loopback.
        let loopback = matches!(
            self.app_url.host_str(),
            Some("127.0.0.1") | Some("localhost") | Some("[::1]")
        );
        !(self.app_url.scheme() == "http" && loopback)
    }

    fn absolute(&self, path: &str) -> String {
        self.app_url
            .join(path)
            .map(|u| u.to_string())
            .unwrap_or_else(|_| path.to_string())
    }

    fn is_public(&self, path: &str) -> bool {
        let listed = self.public_paths.iter().any(|p| {
            path == p
                || (path.starts_with(p.as_str())
                    && (p.ends_with('/') || path[p.len()..].starts_with('/')))
        });
        listed && !is_ambiguous_path(path)
    }
}

/// A path that a later layer may normalise into another one (dot segments, encoded slashes,
/// backslashes or dots, NUL, empty segments) is never public: `/public/../admin` must not pass
/// as `/public`.
fn is_ambiguous_path(path: &str) -> bool {
    let encoded = |w: &[u8]| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'e' | b'f') | (b'5', b'c') | (b'0', b'0')
            )
    };
    path.contains('\\')
        || path.contains("//")
        || path.as_bytes().windows(3).any(encoded)
        || path.split('/').any(|seg| seg == "." || seg == "..")
}

/// The parts of an HTTP request the extension looks at. `Debug` leaves out what carries
/// credentials: cookie and authorization values, the query (a callback's `code`) and the
/// body (a logout token).
#[derive(Clone, Default)]
pub struct RequestInfo {
    /// Method (upper case).
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string without `?`.
    pub query: Option<String>,
    /// Headers (names lower case); adapters fill in those of [`ENGINE_HEADERS`].
    pub headers: Vec<(String, String)>,
    /// Body (only read for the back-channel logout endpoint).
    pub body: Vec<u8>,
}

impl std::fmt::Debug for RequestInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| match k.to_ascii_lowercase().as_str() {
                // A DPoP proof can be replayed while it is fresh: never in logs.
                "cookie" | "authorization" | "dpop" => (k.as_str(), "<redacted>"),
                _ => (k.as_str(), v.as_str()),
            })
            .collect();
        f.debug_struct("RequestInfo")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query.as_ref().map(|_| "<redacted>"))
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl RequestInfo {
    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The headers the engine reads ([`ENGINE_HEADERS`]) out of a request's `(name, value)`
    /// pairs; values that are not visible ASCII are left out, except `Cookie`, whose other
    /// pairs (raw UTF-8 from a sibling domain, say) must not hide the session cookie: its
    /// bytes outside visible ASCII become U+FFFD, which no cookie of ours contains.
    pub fn engine_headers<'a>(
        headers: impl Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Vec<(String, String)> {
        Self::headers_of(headers.filter(|(k, _)| ENGINE_HEADERS.contains(k)))
    }

    /// Every header, on the same terms as [`engine_headers`](Self::engine_headers): for the
    /// policy enforcer, whose claim-information-point may read any of them.
    pub fn all_headers<'a>(
        headers: impl Iterator<Item = (&'a str, &'a [u8])>,
    ) -> Vec<(String, String)> {
        Self::headers_of(headers)
    }

    fn headers_of<'a>(headers: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<(String, String)> {
        let visible = |b: &u8| *b == b'\t' || (b' '..=b'~').contains(b);
        headers
            .filter_map(|(k, v)| {
                let value = if v.iter().all(visible) {
                    String::from_utf8(v.to_vec()).ok()?
                } else if k == "cookie" {
                    v.iter()
                        .map(|b| {
                            if visible(b) {
                                char::from(*b)
                            } else {
                                '\u{fffd}'
                            }
                        })
                        .collect()
                } else {
                    return None;
                };
                Some((k.to_string(), value))
            })
            .collect()
    }

    /// A cookie value. A name sent with two different values (one planted for a narrower
    /// path or from a sibling domain) is ambiguous: neither is returned.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let mut values = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v);
        let first = values.next()?;
        values.all(|v| v == first).then(|| first.to_string())
    }

    /// The bearer token, if any (RFC 6750 §2.1).
    pub fn bearer(&self) -> Option<&str> {
        bearer_from_header(self.header("authorization")?)
    }

    /// Whether this looks like a top-level browser navigation (redirect) rather than an API or
    /// XHR call (401).
    pub fn is_navigation(&self) -> bool {
        if self.method != "GET" {
            return false;
        }
        if self.header("x-requested-with").is_some() {
            return false;
        }
        if let Some(mode) = self.header("sec-fetch-mode") {
            return mode == "navigate";
        }
        self.header("accept")
            .is_some_and(|a| a.contains("text/html"))
    }

    fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) if !q.is_empty() => format!("{}?{q}", self.path),
            _ => self.path.clone(),
        }
    }
}

/// The request headers the engine reads. Adapters copy only these into [`RequestInfo`], so a
/// request's other headers cost nothing.
pub const ENGINE_HEADERS: [&str; 11] = [
    "accept",
    "access-control-request-method",
    "authorization",
    "cookie",
    "dpop",
    "host",
    "origin",
    "sec-fetch-mode",
    "sec-fetch-site",
    "upgrade",
    "x-requested-with",
];

/// The token of an `Authorization: Bearer <token>` header value (RFC 6750 §2.1; the scheme is
/// case-insensitive).
pub fn bearer_from_header(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The token of an `Authorization: DPoP <token>` header value (RFC 9449 §7.1; the scheme is
/// case-insensitive).
pub fn dpop_from_header(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("dpop")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The authenticated user of a request: a shared, immutable [`IdentityData`] (fields are
/// reached through `Deref`), so handing it to the cache, the request extensions and extractors
/// is a reference-count increment rather than a deep copy of the claims.
#[derive(Clone, Debug)]
pub struct Identity(Arc<IdentityData>);

impl std::ops::Deref for Identity {
    type Target = IdentityData;
    fn deref(&self) -> &IdentityData {
        &self.0
    }
}

impl From<IdentityData> for Identity {
    fn from(d: IdentityData) -> Self {
        Identity(Arc::new(d))
    }
}

/// What an [`Identity`] holds.
#[derive(Clone, Debug)]
pub struct IdentityData {
    /// `sub`.
    pub subject: String,
    /// `preferred_username`, if present.
    pub username: Option<String>,
    /// The access token's claims (bearer) or the ID token's (session).
    pub claims: Claims,
    /// The access token (for calls to other services on the user's behalf).
    pub access_token: AccessToken,
    /// Realm roles from the access token.
    pub realm_roles: Vec<String>,
    /// Client roles from the access token, by client id.
    pub client_roles: HashMap<String, Vec<String>>,
}

impl Identity {
    fn from_access_claims(claims: Claims, token: AccessToken) -> Identity {
        IdentityData::from_access_claims(claims, token).into()
    }
}

impl IdentityData {
    fn from_access_claims(claims: Claims, token: AccessToken) -> IdentityData {
        let client_roles = claims
            .get("resource_access")
            .and_then(|r| r.as_object())
            .map(|o| {
                o.iter()
                    .map(|(c, v)| {
                        let roles = v["roles"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(|r| r.as_str().map(str::to_owned))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (c.clone(), roles)
                    })
                    .collect()
            })
            .unwrap_or_default();
        IdentityData {
            subject: claims.sub().unwrap_or_default().to_string(),
            username: claims.str("preferred_username").map(str::to_owned),
            realm_roles: claims
                .realm_roles()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            client_roles,
            claims,
            access_token: token,
        }
    }

    /// Whether the user has a realm role.
    pub fn has_realm_role(&self, role: &str) -> bool {
        self.realm_roles.iter().any(|r| r == role)
    }

    /// Whether the user has a role of a client.
    pub fn has_client_role(&self, client: &str, role: &str) -> bool {
        self.client_roles
            .get(client)
            .is_some_and(|v| v.iter().any(|r| r == role))
    }
}

/// Optional authentication: what the request presented (pass-through mode).
#[derive(Clone, Debug)]
pub enum AuthStatus {
    /// A valid session or bearer token.
    Authenticated(Identity),
    /// No credentials.
    Anonymous,
    /// A bearer token that failed validation, with the reason.
    Invalid(String),
    /// The token could not be checked because Keycloak (its keys) or the session store (the
    /// DPoP replay check) is unavailable: neither valid nor invalid. The reason says which,
    /// without the error's own text.
    Unavailable(&'static str),
}

/// `503` for a token that could not be checked: no challenge (the token was not refused), and
/// a short `Retry-After`.
fn check_unavailable(reason: &str) -> WebResponse {
    let mut r = WebResponse::text(503, &format!("{reason}; try again shortly"));
    r.headers.push(("retry-after".into(), "1".into()));
    r
}

/// A response the extension produces itself.
#[derive(Clone, Debug)]
pub struct WebResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl WebResponse {
    fn redirect(location: &str) -> WebResponse {
        WebResponse {
            status: 302,
            headers: vec![
                ("location".into(), location.into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: String::new(),
        }
    }

    /// A plain-text response with `status`.
    pub fn text(status: u16, body: &str) -> WebResponse {
        WebResponse {
            status,
            headers: vec![
                ("content-type".into(), "text/plain; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: body.into(),
        }
    }

    fn bearer_challenge(realm: Option<&str>, error: Option<(&str, &str)>) -> WebResponse {
        let q = |s: &str| s.replace('\\', "\\\\").replace('"', "'");
        let mut params: Vec<String> = realm
            .map(|r| format!("realm=\"{}\"", q(r)))
            .into_iter()
            .collect();
        if let Some((e, d)) = error {
            params.push(format!("error=\"{e}\""));
            params.push(format!("error_description=\"{}\"", q(d)));
        }
        let v = if params.is_empty() {
            "Bearer".to_string()
        } else {
            format!("Bearer {}", params.join(", "))
        };
        let mut r = WebResponse::text(401, "authentication required");
        r.headers.push(("www-authenticate".into(), v));
        r
    }
}

/// What to do with a request.
#[derive(Debug)]
pub enum Outcome {
    /// Continue to the application with this user.
    Authenticated(Identity),
    /// Continue without a user (public path, or pass-through).
    Anonymous,
    /// Answer with this response instead.
    Respond(WebResponse),
}

/// The decision of a guard for a request (role or UMA permission).
#[derive(Debug)]
pub enum GuardOutcome {
    /// Allowed.
    Allow,
    /// Answer with this response.
    Deny(WebResponse),
}

/// The web authentication engine; share one per application (`Arc`).
pub struct WebAuth {
    kc: Keycloak,
    cfg: WebConfig,
    store: Arc<dyn SessionStore>,
    bearer_cache: TtlCache<Identity>,
    /// The identity read from a session's access token, by session id; used only while the
    /// session (loaded from the store on every request) still holds that very token.
    session_identities: TtlCache<Identity>,
    decisions: TtlCache<bool>,
    /// One refresh at a time per session: a fixed set of locks, a session's lock picked by
    /// the hash of its id (O(1), no map to grow or sweep; two sessions rarely share one).
    refresh_locks: Box<[Arc<tokio::sync::Mutex<()>>]>,
    lock_hasher: std::hash::RandomState,
    /// This instance's name on refresh leases (random per `WebAuth`).
    lease_holder: String,
    /// `jti`s of accepted logout tokens, kept as long as their `iat` lets them be accepted
    /// (Back-Channel Logout 1.0 §2.6 item 10).
    logout_jtis: TtlCache<()>,
    /// `jti`s of accepted DPoP proofs, kept while their `iat` is inside the window (RFC 9449
    /// §11.1), bounded.
    dpop_jtis: TtlCache<()>,
    bearer_hits: std::sync::atomic::AtomicU64,
    bearer_verifications: std::sync::atomic::AtomicU64,
    realm_name: String,
    /// The policy enforcer, when configured.
    policy: Option<policy::PolicyEnforcer>,
    /// Introspection answers by token: (active, when asked).
    introspections: TtlCache<(bool, UnixTime)>,
    /// Back-channel logouts (`sid:…`, `sub:…`) and when they came.
    revocations: TtlCache<UnixTime>,
}

/// How the verified-bearer-token cache is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BearerCacheStats {
    /// Requests answered from the cache (no signature check).
    pub hits: u64,
    /// Tokens verified (signature and claims).
    pub verifications: u64,
}

const REFRESH_LOCKS: usize = 1024;
/// How often writing refreshed tokens is retried when the store fails (Keycloak has already
/// spent the old refresh token).
const CAS_RETRIES: u64 = 2;
/// How long an instance may hold a session's refresh lease (longer than a refresh takes).
/// Longer than a refresh can take: the transport's 15 s request timeout plus the writes.
const LEASE_SECS: u64 = 30;
/// How long a request with an expired access token waits for another instance's refresh.
const LEASE_WAIT_SECS: u64 = 5;

/// A mutex's guard even if a holder panicked: the data guarded here (caches, indexes, maps of
/// calls) stays consistent at every await-free step, so a panic elsewhere must not poison it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn random_id() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Whether a cookie value has the shape of [`random_id`] (43 base64url characters).
fn is_random_id(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Where a login in progress is kept: the browser's login cookie and the login's `state`,
/// hashed (the store never holds either in the clear).
fn pending_key(browser: &str, state: &str) -> String {
    let mut h = sha2::Sha256::new();
    h.update(browser.as_bytes());
    h.update([0]);
    h.update(state.as_bytes());
    format!(
        "login:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
    )
}

/// The verified-token cache's key: the last 32 characters of the JWS signature segment (192
/// bits of signature; no hashing of the whole token on the hot path, and a hit is confirmed by
/// comparing the whole token), or the whole token if it has no such segment.
fn bearer_cache_key(token: &str) -> &str {
    match token.rsplit_once('.') {
        Some((_, sig)) if sig.len() >= 32 && sig.is_ascii() => &sig[sig.len() - 32..],
        _ => token,
    }
}

fn token_key(token: &str) -> String {
    let d = sha2::Sha256::digest(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
}

/// Keeps a redirect target same-origin: a relative path starting with a single `/`, no
/// backslashes or control characters (so never `//evil`, `/\evil` or `https://evil`).
pub fn safe_return_to(target: &str) -> Option<&str> {
    let ok = target.starts_with('/')
        && !target.starts_with("//")
        && !target.starts_with("/\\")
        && !target.chars().any(|c| c == '\\' || c.is_control())
        && target.len() <= 2048;
    ok.then_some(target)
}

/// Escapes text for HTML element content and quoted attribute values (`&`, `<`, `>`, `"`, `'`):
/// names, e-mails and any claim from a token are data, never markup.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

impl WebAuth {
    /// Builds the engine from a Keycloak configuration (builder or `keycloak.json`) and the web
    /// settings. ID and access tokens are verified with ring.
    pub fn new(
        config: keycloak_client::ClientConfigBuilder,
        web: WebConfig,
        store: Arc<dyn SessionStore>,
    ) -> Result<Self, keycloak_client::Error> {
        web.validate()?;
        let redirect = web.absolute(&web.callback_path);
        let mut kb = Keycloak::builder(config.redirect_uri(&redirect))
            .jws_verifier(Arc::new(keycloak_client_ring::RingVerifier))
            .leeway_secs(web.leeway_secs)
            .jwks_policy(web.jwks_policy);
        if let Some(aud) = &web.api_audience {
            kb = kb.access_token_audience(aud);
        }
        let kc = kb.build()?;
        let realm_name = kc.config().realm.clone().unwrap_or_else(|| "api".into());
        let dpop_room = web.dpop_replay_capacity.saturating_mul(2).max(1);
        let introspection_room = web.bearer_cache_size.max(1);
        let policy = match &web.policy_enforcer {
            Some(c) => Some(policy::PolicyEnforcer::new(
                c.clone(),
                &kc.config().client_id,
            )?),
            None => None,
        };
        Ok(WebAuth {
            bearer_cache: TtlCache::new(web.bearer_cache_size),
            session_identities: TtlCache::new(web.session_identity_cache_size),
            decisions: TtlCache::new(web.bearer_cache_size),
            kc,
            cfg: web,
            store,
            refresh_locks: (0..REFRESH_LOCKS).map(|_| Default::default()).collect(),
            lock_hasher: Default::default(),
            lease_holder: random_id(),
            logout_jtis: TtlCache::new(100_000),
            // Room above the refusal threshold, so moka never has to evict a live `jti`.
            dpop_jtis: TtlCache::new(dpop_room),
            bearer_hits: Default::default(),
            bearer_verifications: Default::default(),
            realm_name,
            policy,
            introspections: TtlCache::new(introspection_room),
            revocations: TtlCache::new(100_000),
        })
    }

    /// From Keycloak's `keycloak.json`.
    /// Its `policy-enforcer` block, if any, runs the policy enforcer (unless
    /// [`WebConfig::policy_enforcer`] is already set).
    pub fn from_keycloak_json(
        json: &str,
        mut web: WebConfig,
        store: Arc<dyn SessionStore>,
    ) -> Result<Self, keycloak_client::Error> {
        // `credentials.jwt` / `credentials.secret-jwt` become client assertions here.
        let b = keycloak_client_ring::client_assertion_from_keycloak_json(
            ClientConfig::keycloak_json_builder(json)?,
        )?;
        if web.policy_enforcer.is_none() {
            web.policy_enforcer =
                keycloak_client::policy_enforcer::PolicyEnforcerConfig::from_keycloak_json(json)?;
        }
        Self::new(b, web, store)
    }

    /// The Keycloak client.
    pub fn keycloak(&self) -> &Keycloak {
        &self.kc
    }

    /// The settings.
    pub fn config(&self) -> &WebConfig {
        &self.cfg
    }

    /// Counters of the verified-bearer-token cache.
    pub fn bearer_cache_stats(&self) -> BearerCacheStats {
        use std::sync::atomic::Ordering::Relaxed;
        BearerCacheStats {
            hits: self.bearer_hits.load(Relaxed),
            verifications: self.bearer_verifications.load(Relaxed),
        }
    }

    fn cookie(&self, id: &str, max_age: u64) -> (String, String) {
        self.named_cookie(&self.cfg.cookie_name, id, max_age)
    }

    fn named_cookie(&self, name: &str, value: &str, max_age: u64) -> (String, String) {
        let secure = if self.cfg.secure_cookie() {
            "; Secure"
        } else {
            ""
        };
        (
            "set-cookie".into(),
            format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"),
        )
    }

    fn clear_cookie(&self) -> (String, String) {
        self.cookie("", 0)
    }

    async fn save(&self, id: &str, s: Session) -> StoreResult<()> {
        let t = now();
        self.store
            .store(id, s, t, t.plus(self.cfg.session_ttl_secs))
            .await
    }

    /// 503 when the session store cannot answer: nothing is treated as a logout, and the
    /// browser retries shortly.
    fn store_unavailable(e: &StoreError) -> WebResponse {
        tracing::warn!(target: "keycloak_client::web", error = %e, "session store unavailable");
        let mut r = WebResponse::text(
            503,
            &format!("{}; your session is kept; try again shortly", e.reason()),
        );
        r.headers.push(("retry-after".into(), "1".into()));
        r
    }

    /// Whether a request comes from the app's own pages or the user's own navigation (typed
    /// URL, bookmark): `Sec-Fetch-Site` `same-origin` or `none`; browsers without Fetch
    /// Metadata are judged by `Origin` (same origin, or absent as on their navigations).
    fn is_own_page_request(&self, req: &RequestInfo) -> bool {
        match req.header("sec-fetch-site") {
            Some(site) => matches!(site.trim(), "same-origin" | "none"),
            None => req
                .header("origin")
                .is_none_or(|o| o.trim() == self.cfg.app_url.origin().ascii_serialization()),
        }
    }

    fn cross_site_refused() -> Outcome {
        Outcome::Respond(WebResponse::text(403, "cross-site request refused"))
    }

    /// Browser mode: decides what to do with a request (login redirect, callback, logout,
    /// back-channel logout, or continue with the session's user).
    pub async fn handle_browser(&self, req: &RequestInfo) -> Outcome {
        if req.path == self.cfg.callback_path {
            return Outcome::Respond(Box::pin(self.callback(req)).await);
        }
        if req.path == self.cfg.logout_path {
            if self.cfg.csrf_check && !self.is_own_page_request(req) {
                return Self::cross_site_refused();
            }
            return Outcome::Respond(Box::pin(self.logout(req)).await);
        }
        if req.path == self.cfg.backchannel_logout_path && req.method == "POST" {
            return Outcome::Respond(Box::pin(self.backchannel_logout(req)).await);
        }
        // A CORS preflight (which never carries credentials) passes to the route's CORS layer.
        // Anything with a cookie or a token is no preflight. Put the CORS layer outside this
        // middleware so that handlers never see the preflight.
        let preflight = req.method == "OPTIONS"
            && req.header("access-control-request-method").is_some()
            && req.header("origin").is_some()
            && req.header("cookie").is_none()
            && req.header("authorization").is_none();
        if preflight {
            return Outcome::Anonymous;
        }
        if self.cfg.is_public(&req.path) {
            return Outcome::Anonymous;
        }
        if req.bearer().is_some() {
            return self.handle_bearer(req).await;
        }
        if let Some(id) = req.cookie(&self.cfg.cookie_name) {
            // A WebSocket handshake is a GET that acts with the session: check it too.
            let websocket = req
                .header("upgrade")
                .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
            let unsafe_method =
                websocket || matches!(req.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
            if self.cfg.csrf_check && unsafe_method && !self.is_own_page_request(req) {
                return Self::cross_site_refused();
            }
            match self.session_identity(&id).await {
                SessionState::Valid(identity) => return Outcome::Authenticated(*identity),
                SessionState::Unavailable(secs) => {
                    let mut r = WebResponse::text(
                        503,
                        "authentication service unavailable: your session is kept; try again shortly",
                    );
                    r.headers.push(("retry-after".into(), secs.to_string()));
                    return Outcome::Respond(r);
                }
                SessionState::StoreDown(e) => {
                    return Outcome::Respond(Self::store_unavailable(&e));
                }
                SessionState::Ended | SessionState::Missing => {}
            }
        }
        // Cold paths are boxed: the future of every authenticated request stays small.
        Box::pin(self.start_login(req)).await
    }

    async fn start_login(&self, req: &RequestInfo) -> Outcome {
        if !req.is_navigation() {
            return Outcome::Respond(WebResponse::bearer_challenge(Some(&self.realm_name), None));
        }
        let client = match self.kc.client().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "keycloak_client::web", error = %e, "cannot reach Keycloak to start a login");
                return Outcome::Respond(WebResponse::text(
                    503,
                    "authentication service unavailable",
                ));
            }
        };
        let return_to = req.path_and_query();
        let mut b = client.login();
        if let Some(r) = safe_return_to(&return_to) {
            b = b.return_to(r);
        }
        let config_error = |e: &dyn std::fmt::Display| {
            tracing::error!(target: "keycloak_client::web", error = %e, "login configuration error");
            Outcome::Respond(WebResponse::text(500, "login configuration error"))
        };
        let (url, pending) = if b.must_push() {
            // RFC 9126: the authorization request goes to Keycloak first; the browser gets
            // only its `request_uri`.
            let pushed = match b.build_pushed(&mut rand::rng(), now()) {
                Ok(p) => p,
                Err(e) => return config_error(&e),
            };
            match self.kc.http().exec(pushed).await {
                Ok(x) => x,
                // Keycloak unreachable or overloaded: try again shortly.
                Err(e) if e.keycloak().is_none_or(|k| k.is_unavailable()) => {
                    tracing::warn!(target: "keycloak_client::web", error = %e, "pushed authorization request failed");
                    return Outcome::Respond(WebResponse::text(
                        503,
                        "authentication service unavailable",
                    ));
                }
                // Anything else (Keycloak said no, a key that cannot sign, a nonce loop): a
                // setup error that retrying will not fix.
                Err(e) => {
                    return config_error(&e);
                }
            }
        } else {
            match b.build(&mut rand::rng(), now()) {
                Ok(x) => x,
                Err(e) => return config_error(&e),
            }
        };
        // Logins in progress are keyed by the browser's login cookie and their `state`: every
        // tab of one browser shares the cookie, each login has its own entry, and a callback
        // finds only a login of the browser that presents it. Pending logins live as long as
        // a login may take, bounded apart from sessions: anonymous traffic evicts no session.
        let browser = req
            .cookie(&self.cfg.login_cookie_name)
            .filter(|v| is_random_id(v))
            .unwrap_or_else(random_id);
        let key = pending_key(&browser, pending.state.secret());
        let ttl = pending.ttl_secs;
        let t = now();
        if let Err(e) = self.store.save_pending(&key, pending, t, t.plus(ttl)).await {
            return Outcome::Respond(Self::store_unavailable(&e));
        }
        let mut r = WebResponse::redirect(url.as_str());
        r.headers
            .push(self.named_cookie(&self.cfg.login_cookie_name, &browser, ttl));
        Outcome::Respond(r)
    }

    async fn callback(&self, req: &RequestInfo) -> WebResponse {
        let fail = |msg: &str| {
            let mut r = WebResponse::text(400, msg);
            r.headers
                .push(("referrer-policy".into(), "no-referrer".into()));
            r
        };
        let none = "login failed: no login in progress for this browser";
        let Some(browser) = req.cookie(&self.cfg.login_cookie_name) else {
            return fail(none);
        };
        let query = req.query.as_deref().unwrap_or("");
        let state = url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "state")
            .map(|(_, v)| v.into_owned());
        let Some(state) = state else {
            return fail("login failed: the callback carries no `state`");
        };
        // Taken whatever happens next, so a callback cannot be replayed. A forged or stale
        // callback names no login of this browser and takes nothing: logins in progress in
        // other tabs go on.
        let pending = match self
            .store
            .take_pending(&pending_key(&browser, &state), now())
            .await
        {
            Ok(Some(p)) => p,
            Ok(None) => return fail(none),
            Err(e) => return Self::store_unavailable(&e),
        };
        let login = match self.kc.callback(pending, query).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(target: "keycloak_client::web", error = %e, "login callback rejected");
                return fail(&format!("login failed: {e}"));
            }
        };
        // Session fixation defence: the authenticated session gets a new id, and a session the
        // browser held before (another user's, or one planted on it) ends.
        if let Some(old) = req.cookie(&self.cfg.cookie_name) {
            if let Err(e) = self.store.delete(&old).await {
                return Self::store_unavailable(&e);
            }
        }
        let new_id = random_id();
        let return_to = login
            .return_to
            .as_deref()
            .and_then(safe_return_to)
            .unwrap_or(&self.cfg.login_redirect_uri)
            .to_string();
        let sid = login.id_claims.str("sid").map(str::to_owned);
        let saved = self
            .save(
                &new_id,
                Session {
                    tokens: Some(login.tokens),
                    claims: Some(login.id_claims),
                    sid,
                    created_at: now(),
                    ..Default::default()
                },
            )
            .await;
        if let Err(e) = saved {
            return Self::store_unavailable(&e);
        }
        let mut r = WebResponse::redirect(&return_to);
        r.headers
            .push(("referrer-policy".into(), "no-referrer".into()));
        r.headers
            .push(self.cookie(&new_id, self.cfg.session_ttl_secs));
        r
    }

    async fn logout(&self, req: &RequestInfo) -> WebResponse {
        let after = self.cfg.absolute(&self.cfg.logout_redirect_uri);
        let session = match req.cookie(&self.cfg.cookie_name) {
            Some(id) => {
                // A logout that cannot reach the store must not pretend to have happened.
                let s = match self.store.load(&id, now()).await {
                    // Another tenant's session is neither ended nor used here.
                    Ok(s) => s.filter(|s| self.session_is_ours(s)),
                    Err(e) => return Self::store_unavailable(&e),
                };
                if s.is_some() {
                    if let Err(e) = self.store.delete(&id).await {
                        return Self::store_unavailable(&e);
                    }
                }
                s
            }
            None => None,
        };
        let mut r = match session.and_then(|s| s.tokens.clone()) {
            Some(tokens) => {
                if let Err(e) = self.kc.logout(&tokens).await {
                    tracing::info!(target: "keycloak_client::web", error = %e, "back-channel logout failed; continuing");
                }
                match self.kc.client().await {
                    Ok(c) => {
                        let mut b = c.logout_url().post_logout_redirect_uri(&after);
                        if let Some(id) = &tokens.id_token {
                            b = b.id_token_hint(id);
                        }
                        match b.build() {
                            Ok(u) => WebResponse::redirect(u.as_str()),
                            Err(_) => WebResponse::redirect(&after),
                        }
                    }
                    Err(_) => WebResponse::redirect(&after),
                }
            }
            // Logging out while logged out is harmless.
            None => WebResponse::redirect(&after),
        };
        r.headers.push(self.clear_cookie());
        r
    }

    async fn backchannel_logout(&self, req: &RequestInfo) -> WebResponse {
        self.backchannel_logout_body(&req.body).await
    }

    /// Handles a back-channel logout request body (`logout_token=...`, OpenID Connect
    /// Back-Channel Logout 1.0 §2.5), for frameworks that route it to a handler themselves.
    pub async fn backchannel_logout_body(&self, body: &[u8]) -> WebResponse {
        let token = url::form_urlencoded::parse(body)
            .find(|(k, _)| k == "logout_token")
            .map(|(_, v)| v.into_owned());
        let Some(token) = token else {
            return WebResponse::text(400, "missing logout_token");
        };
        let claims = match self.kc.validate_logout_token(&token).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(target: "keycloak_client::web", error = %e, "back-channel logout token refused");
                return WebResponse::text(400, &format!("invalid logout token: {e}"));
            }
        };
        // §2.6 item 10: a `jti` seen before is a replay. It is remembered for as long as the
        // token's `iat` lets it be accepted at all (the ID token age limit plus leeway).
        let t = now();
        let rules = self.kc.config().claim_rules;
        let iat = claims.numeric_date("iat").ok().flatten().unwrap_or(t.0);
        let until = UnixTime(iat)
            .plus(rules.max_iat_age_secs)
            .plus(rules.leeway_secs)
            .max(t.plus(1));
        let jti = claims.str("jti").unwrap_or_default();
        let jti_key = format!("{}|{jti}", claims.iss().unwrap_or_default());
        if !self.logout_jtis.insert_new(jti_key.clone(), (), until, t) {
            tracing::warn!(target: "keycloak_client::web", "back-channel logout token replayed; refused");
            return WebResponse::text(400, "invalid logout token: `jti` already used");
        }
        // §2.4: `sid` names one Keycloak session; without it, every session of `sub` ends.
        // Cached introspection answers for their tokens are asked again.
        // Both: a token without a `sid` claim is still caught by its `sub`.
        if let Some(sid) = claims.str("sid") {
            self.note_logout(format!("sid:{sid}"), t);
        }
        if let Some(sub) = claims.sub() {
            self.note_logout(format!("sub:{sub}"), t);
        }
        let (by, deleted) = match (claims.str("sid"), claims.sub()) {
            (Some(sid), _) => ("sid", self.store.delete_by_sid(sid).await),
            (None, Some(sub)) => ("sub", self.store.delete_by_sub(sub).await),
            (None, None) => ("nothing", Ok(0)),
        };
        let n = match deleted {
            Ok(n) => n,
            Err(e) => {
                // Keycloak learns that the logout did not happen here.
                let _ = self.logout_jtis.take(&jti_key, t);
                return Self::store_unavailable(&e);
            }
        };
        if n == 0 {
            tracing::info!(target: "keycloak_client::web", by, "back-channel logout matched no session here");
        } else {
            tracing::info!(target: "keycloak_client::web", by, sessions = n, "back-channel logout ended sessions");
        }
        WebResponse::text(200, "ok")
    }

    /// A session belongs to the realm it logged in with: another tenant's session found in a
    /// shared store (a forged or misrouted cookie) is not a session here.
    fn session_is_ours(&self, session: &Session) -> bool {
        let issuer = match (&session.claims, &session.tokens) {
            (Some(c), _) => c.iss().map(str::to_owned),
            (None, Some(t)) => keycloak_client::jwt::decode_unverified(t.access_token.secret())
                .ok()
                .and_then(|j| j.claims.iss().map(str::to_owned)),
            (None, None) => None,
        };
        let ours = issuer.as_deref() == Some(self.kc.config().issuer.as_str());
        if !ours {
            tracing::warn!(target: "keycloak_client::web", "a session of another issuer was offered; ignored");
        }
        ours
    }

    async fn session_identity(&self, id: &str) -> SessionState {
        let session = match self.store.load(id, now()).await {
            Ok(Some(s)) => s,
            Ok(None) => return SessionState::Missing,
            Err(e) => return SessionState::StoreDown(e),
        };
        let Some(tokens) = &session.tokens else {
            return SessionState::Missing;
        };
        if !self.session_is_ours(&session) {
            return SessionState::Missing;
        }
        let t = now();
        if tokens.needs_refresh(t, self.cfg.refresh_margin_secs) {
            return match Box::pin(self.refresh_session(id)).await {
                Refreshed::Tokens(new) => {
                    SessionState::Valid(Box::new(Self::identity_of(&session, &new)))
                }
                Refreshed::Ended => SessionState::Ended,
                Refreshed::Unavailable(secs) => SessionState::Unavailable(secs),
                Refreshed::StoreDown(e) => SessionState::StoreDown(e),
            };
        }
        // The session was just loaded, so a deleted (logged-out) session never gets here. An
        // identity is reused only for the byte-identical access token: first the one kept with
        // the stored value (in-memory stores hand out the same value), then the cache by id
        // (stores that deserialise a fresh value on every load).
        if let Some(i) = session.identity_memo.get_for(&tokens.access_token) {
            return SessionState::Valid(Box::new(i.clone()));
        }
        if let Some(i) = self.session_identities.get(id, t) {
            if keycloak_client::constant_time_eq(
                i.access_token.secret().as_bytes(),
                tokens.access_token.secret().as_bytes(),
            ) {
                session.identity_memo.set(&i);
                return SessionState::Valid(Box::new(i));
            }
        }
        let identity = Self::identity_of(&session, tokens);
        if self.cfg.session_identity_cache_size > 0 {
            session.identity_memo.set(&identity);
        }
        let until = tokens.expires_at.unwrap_or(t.plus(60)).min(t.plus(3600));
        self.session_identities
            .insert(id.to_string(), identity.clone(), until, t);
        SessionState::Valid(Box::new(identity))
    }

    /// The identity of a session's access token.
    fn identity_of(session: &Session, tokens: &keycloak_client::TokenSet) -> Identity {
        let claims = match keycloak_client::jwt::decode_unverified(tokens.access_token.secret()) {
            // The access token came from the token endpoint over the back channel with the
            // session; its claims (roles) are read, not re-verified, on every request.
            Ok(j) => j.claims,
            Err(_) => session.claims.clone().unwrap_or(Claims(Default::default())),
        };
        Identity::from_access_claims(claims, tokens.access_token.clone())
    }

    /// Refreshes a session's tokens: one refresh per session, in this process (a lock) and
    /// across instances sharing the store (a lease). Only a definitive refusal ends the
    /// session; store failures keep it.
    async fn refresh_session(&self, id: &str) -> Refreshed {
        use std::hash::BuildHasher as _;
        let stripe = self.lock_hasher.hash_one(id) as usize % self.refresh_locks.len();
        let guard = self.refresh_locks[stripe].clone().lock_owned().await;
        match self.refresh_under_lease(id, guard).await {
            Ok(r) => r,
            Err(e) => Refreshed::StoreDown(e),
        }
    }

    async fn refresh_under_lease(
        &self,
        id: &str,
        guard: tokio::sync::OwnedMutexGuard<()>,
    ) -> StoreResult<Refreshed> {
        let mut guard = Some(guard);
        let waited_since = now();
        loop {
            let Some(session) = self.store.load(id, now()).await? else {
                return Ok(Refreshed::Ended);
            };
            let Some(tokens) = session.tokens.clone() else {
                return Ok(Refreshed::Ended);
            };
            let t = now();
            if !tokens.needs_refresh(t, self.cfg.refresh_margin_secs) {
                // another request or instance refreshed it meanwhile
                return Ok(Refreshed::Tokens(Box::new(tokens)));
            }
            // Backing off after Keycloak failed to answer: no request now, no queue behind it.
            if let Some(at) = session.refresh_retry_at.filter(|at| t < *at) {
                return Ok(Self::without_refresh(tokens, t, at));
            }
            // Nothing to refresh with (no refresh token, or it expired): Keycloak cannot help.
            if !tokens.can_refresh(t) {
                self.store.delete(id).await?;
                return Ok(Refreshed::Ended);
            }
            let lease_until = t.plus(LEASE_SECS);
            if self
                .store
                .try_lease(id, &self.lease_holder, t, lease_until)
                .await?
            {
                // Under the lease, read again: another instance may have refreshed between
                // the read above and the lease (its refresh token is then spent).
                let current = self.store.load(id, now()).await;
                match current {
                    Ok(Some(s)) if s.version == session.version => {
                        // From here on Keycloak may spend the refresh token: the refresh, the
                        // write of its result and the lease's release run in their own task,
                        // holding this process's lock, so a request that goes away (a closed
                        // connection) cannot drop the new tokens halfway.
                        let job = RefreshJob {
                            kc: self.kc.clone(),
                            store: self.store.clone(),
                            id: id.to_string(),
                            holder: self.lease_holder.clone(),
                            session_ttl_secs: self.cfg.session_ttl_secs,
                            refresh_margin_secs: self.cfg.refresh_margin_secs,
                        };
                        let lock = guard.take();
                        let task = tokio::spawn(async move {
                            let _lock = lock;
                            let r = job.refresh(session, tokens, t).await;
                            // Released whatever happened; if this fails the lease expires.
                            let _ = job.store.release_lease(&job.id, &job.holder).await;
                            r
                        });
                        return match task.await {
                            Ok(r) => r,
                            Err(_) => Ok(Refreshed::Unavailable(1)),
                        };
                    }
                    Ok(_) => {
                        // Changed meanwhile: judge the new version.
                        let _ = self.store.release_lease(id, &self.lease_holder).await;
                        continue;
                    }
                    Err(e) => {
                        let _ = self.store.release_lease(id, &self.lease_holder).await;
                        return Err(e);
                    }
                }
            }
            // Another instance is refreshing: its still-valid token serves meanwhile; an
            // expired one waits for the new tokens, briefly.
            if !tokens.is_expired(t) {
                return Ok(Refreshed::Tokens(Box::new(tokens)));
            }
            if waited_since.until(t) >= LEASE_WAIT_SECS {
                return Ok(Refreshed::Unavailable(1));
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// What a session whose refresh cannot happen now gets: its current tokens while they
    /// are valid, else "unavailable" (503, the session kept).
    fn without_refresh(
        tokens: keycloak_client::TokenSet,
        now: UnixTime,
        retry_at: UnixTime,
    ) -> Refreshed {
        if tokens.is_expired(now) {
            Refreshed::Unavailable(now.until(retry_at).max(1))
        } else {
            Refreshed::Tokens(Box::new(tokens))
        }
    }

    /// API mode: validates the bearer token, or a DPoP-bound token with its proof
    /// (`Authorization: DPoP`); 401 with `WWW-Authenticate` when missing or invalid.
    pub async fn handle_bearer(&self, req: &RequestInfo) -> Outcome {
        if req
            .header("authorization")
            .and_then(dpop_from_header)
            .is_some()
        {
            return self.handle_dpop(req).await;
        }
        self.handle_bearer_token(req.bearer()).await
    }

    /// API mode for `Authorization: DPoP <token>` (RFC 9449 §7): the token is validated as a
    /// bearer token is, must be bound (`cnf.jkt`), and the one `DPoP` header must hold a
    /// proof of that key for this request (method, URL under `app_url`, `ath`, `iat` within
    /// [`WebConfig::dpop_max_age_secs`]) whose `jti` was not seen before. Failures answer
    /// `WWW-Authenticate: DPoP error=..., algs=...`.
    pub async fn handle_dpop(&self, req: &RequestInfo) -> Outcome {
        match self.dpop_status(req).await {
            AuthStatus::Authenticated(i) => Outcome::Authenticated(i),
            AuthStatus::Anonymous => Outcome::Respond(self.dpop_challenge(None)),
            AuthStatus::Invalid(reason) => Outcome::Respond(self.dpop_challenge(Some(&reason))),
            AuthStatus::Unavailable(reason) => Outcome::Respond(check_unavailable(reason)),
        }
    }

    /// What a DPoP-authenticated request proves (see [`handle_dpop`](Self::handle_dpop)).
    pub async fn dpop_status(&self, req: &RequestInfo) -> AuthStatus {
        let Some(token) = req.header("authorization").and_then(dpop_from_header) else {
            return AuthStatus::Anonymous;
        };
        let proofs: Vec<&str> = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("dpop"))
            .map(|(_, v)| v.as_str())
            .collect();
        let [proof] = proofs.as_slice() else {
            return AuthStatus::Invalid("invalid_dpop_proof: exactly one DPoP header".into());
        };
        let identity = match self.token_identity(token, true).await {
            AuthStatus::Authenticated(i) => i,
            AuthStatus::Invalid(r) => return AuthStatus::Invalid(format!("invalid_token: {r}")),
            other @ (AuthStatus::Anonymous | AuthStatus::Unavailable(_)) => return other,
        };
        let Some(jkt) = cnf_jkt(&identity) else {
            return AuthStatus::Invalid("invalid_token: the token is not DPoP-bound".into());
        };
        let mut url = self.cfg.app_url.clone();
        url.set_path(&req.path);
        let t = now();
        let check = keycloak_client::dpop_proof::ProofCheck {
            method: &req.method,
            url: &url,
            access_token: Some(token),
            now: t,
            max_age_secs: self.cfg.dpop_max_age_secs,
            leeway_secs: 5,
            algorithms: &self.cfg.dpop_algorithms,
            nonce: None,
        };
        let verified = match keycloak_client::dpop_proof::verify_proof(
            proof,
            &check,
            &keycloak_client_ring::RingVerifier,
        ) {
            Ok(v) => v,
            Err(e) => return AuthStatus::Invalid(format!("invalid_dpop_proof: {e}")),
        };
        if !keycloak_client::constant_time_eq(verified.jkt.as_bytes(), jkt.as_bytes()) {
            return AuthStatus::Invalid(
                "invalid_dpop_proof: the proof's key is not the token's".into(),
            );
        }
        if let Some(issuer) = &self.cfg.dpop_nonces {
            // RFC 9449 §9: checked before the `jti` is remembered, so refused proofs never
            // fill the replay store.
            if let Err(problem) = issuer.check(verified.nonce.as_deref(), t) {
                return AuthStatus::Invalid(format!("use_dpop_nonce: {problem}"));
            }
        }
        // A proof is single-use while it could be accepted (RFC 9449 §11.1).
        let until = verified
            .iat
            .plus(self.cfg.dpop_max_age_secs.saturating_add(5));
        if self.dpop_jtis.holds_at_least(self.cfg.dpop_replay_capacity) {
            // Fail closed: an evicted `jti` could be replayed. Not the client's fault: 503.
            tracing::warn!(target: "keycloak_client::web", "DPoP replay store full; refusing new proofs");
            return AuthStatus::Unavailable("DPoP replay store full");
        }
        let key = token_key(&format!("{jkt}\0{}", verified.jti));
        if !self.dpop_jtis.insert_new(key.clone(), (), until, t) {
            return AuthStatus::Invalid("invalid_dpop_proof: the proof was used before".into());
        }
        if self.store.spans_instances() {
            // Behind a load balancer a proof replayed to another instance is caught by the
            // shared store; if it cannot answer, the proof is not taken on trust.
            // Kept a minute longer: an instance whose clock runs behind accepts the proof
            // that much later.
            let shared_until = until.plus(60);
            match self
                .store
                .remember_once(&format!("dpop:{key}"), t, shared_until)
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return AuthStatus::Invalid(
                        "invalid_dpop_proof: the proof was used before".into(),
                    )
                }
                Err(e) => {
                    tracing::warn!(target: "keycloak_client::web", error = %e, "DPoP replay check failed");
                    return AuthStatus::Unavailable(e.reason());
                }
            }
        }
        AuthStatus::Authenticated(identity)
    }

    /// A fresh nonce for a response to a DPoP request that passed, when nonces are on
    /// (RFC 9449 §8.2: a server may hand out the next nonce on any response); clients that
    /// keep it never meet a `use_dpop_nonce` challenge.
    pub fn dpop_response_nonce(&self) -> Option<String> {
        self.cfg.dpop_nonces.as_ref().map(|i| i.issue(now()))
    }

    /// `401` with `WWW-Authenticate: DPoP` (RFC 9449 §7.1): the error and the algorithms
    /// accepted.
    fn dpop_challenge(&self, reason: Option<&str>) -> WebResponse {
        let q = |s: &str| s.replace('\\', "\\\\").replace('"', "'");
        let algs: Vec<&str> = self.cfg.dpop_algorithms.iter().map(|a| a.name()).collect();
        let mut params = vec![format!("algs=\"{}\"", algs.join(" "))];
        if let Some(r) = reason {
            let (error, description) = r.split_once(": ").unwrap_or(("invalid_token", r));
            params.insert(0, format!("error=\"{error}\""));
            params.insert(1, format!("error_description=\"{}\"", q(description)));
        }
        let mut r = WebResponse::text(401, "authentication required");
        r.headers.push((
            "www-authenticate".into(),
            format!("DPoP {}", params.join(", ")),
        ));
        // Every DPoP challenge carries a fresh nonce when nonces are on (RFC 9449 §9).
        if let Some(issuer) = &self.cfg.dpop_nonces {
            r.headers.push(("dpop-nonce".into(), issuer.issue(now())));
        }
        r
    }

    /// [`handle_bearer`](Self::handle_bearer) for a token the framework already extracted
    /// (with [`bearer_from_header`]): no [`RequestInfo`] copy of the headers on the hot path.
    pub async fn handle_bearer_token(&self, token: Option<&str>) -> Outcome {
        match self.bearer_token_status(token).await {
            AuthStatus::Authenticated(i) => Outcome::Authenticated(i),
            AuthStatus::Anonymous => {
                Outcome::Respond(WebResponse::bearer_challenge(Some(&self.realm_name), None))
            }
            AuthStatus::Invalid(reason) => Outcome::Respond(WebResponse::bearer_challenge(
                Some(&self.realm_name),
                Some(("invalid_token", &reason)),
            )),
            AuthStatus::Unavailable(reason) => Outcome::Respond(check_unavailable(reason)),
        }
    }

    /// API pass-through mode: what the bearer token (or the DPoP-bound token with its proof)
    /// says, without rejecting the request.
    pub async fn bearer_status(&self, req: &RequestInfo) -> AuthStatus {
        if req
            .header("authorization")
            .and_then(dpop_from_header)
            .is_some()
        {
            return self.dpop_status(req).await;
        }
        self.bearer_token_status(req.bearer()).await
    }

    /// [`bearer_status`](Self::bearer_status) for an already extracted token. A DPoP-bound
    /// token (`cnf.jkt`) presented as a bearer token is refused (RFC 9449 §7.1).
    pub async fn bearer_token_status(&self, token: Option<&str>) -> AuthStatus {
        let Some(token) = token else {
            return AuthStatus::Anonymous;
        };
        match self.token_identity(token, false).await {
            AuthStatus::Authenticated(i) if cnf_jkt(&i).is_some() => AuthStatus::Invalid(
                "a DPoP-bound token must come with its proof (Authorization: DPoP)".into(),
            ),
            other => other,
        }
    }

    /// The identity of a valid access token (verified once, then cached until `exp`).
    /// `bound`: a DPoP-bound token (its proof checked by the caller), else a bearer token.
    async fn token_identity(&self, token: &str, bound: bool) -> AuthStatus {
        let key = bearer_cache_key(token);
        let t = now();
        if let Some(i) = self.bearer_cache.get(key, t) {
            // The key is only the signature; a hit counts only for the very token verified.
            if keycloak_client::constant_time_eq(
                i.access_token.secret().as_bytes(),
                token.as_bytes(),
            ) {
                self.bearer_hits
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return AuthStatus::Authenticated(i);
            }
        }
        self.bearer_verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let validated = if bound {
            self.kc.validate_bound_access_token(token).await
        } else {
            self.kc.validate_access_token(token).await
        };
        match validated {
            Ok(claims) => {
                let exp = claims
                    .numeric_date("exp")
                    .ok()
                    .flatten()
                    .map(UnixTime)
                    .unwrap_or(t);
                let identity = Identity::from_access_claims(claims, AccessToken::new(token));
                self.bearer_cache.insert(
                    key.to_string(),
                    identity.clone(),
                    exp.min(t.plus(3600)),
                    t,
                );
                AuthStatus::Authenticated(identity)
            }
            Err(e) if e.is_unavailable() => {
                tracing::warn!(target: "keycloak_client::web", error = %e, "token not checked: Keycloak unavailable");
                AuthStatus::Unavailable("identity provider unavailable")
            }
            Err(e) => AuthStatus::Invalid(e.to_string()),
        }
    }

    /// Role guard: the identity must hold the realm role ([`RoleRequirement`] for client
    /// roles and any-of/all-of).
    pub fn require_realm_role(&self, identity: Option<&Identity>, role: &str) -> GuardOutcome {
        RoleRequirement::realm(role).check(identity)
    }

    /// UMA enforcement: Keycloak's decision for `resource#scopes` (cached per token and
    /// permission). Denied: 403, or with `uma_challenge` a 401 carrying a fresh permission ticket.
    pub async fn require_permission(
        &self,
        identity: Option<&Identity>,
        resource: &str,
        scopes: &[&str],
        uma_challenge: bool,
    ) -> GuardOutcome {
        let Some(identity) = identity else {
            return GuardOutcome::Deny(WebResponse::bearer_challenge(Some(&self.realm_name), None));
        };
        let audience = self.kc.config().client_id.clone();
        let key = format!(
            "{}|{resource}#{}",
            token_key(identity.access_token.secret()),
            scopes.join(",")
        );
        let t = now();
        let granted = match self.decisions.get(&key, t) {
            Some(g) => g,
            None => match self
                .kc
                .decision(&identity.access_token, &audience, resource, scopes)
                .await
            {
                Ok(g) => {
                    self.decisions
                        .insert(key, g, t.plus(self.cfg.decision_ttl_secs), t);
                    g
                }
                Err(e) => {
                    tracing::warn!(target: "keycloak_client::web", error = %e, "UMA decision failed");
                    return GuardOutcome::Deny(WebResponse::text(
                        503,
                        "authorization service unavailable",
                    ));
                }
            },
        };
        if granted {
            return GuardOutcome::Allow;
        }
        if uma_challenge {
            if let Some(r) = self.uma_ticket_challenge(resource, scopes).await {
                return GuardOutcome::Deny(r);
            }
        }
        GuardOutcome::Deny(WebResponse::text(403, "forbidden"))
    }

    /// `401` with `WWW-Authenticate: UMA realm=…, as_uri=…, ticket=…` (UMA 2.0 Grant §3.3.1)
    /// for `resource#scopes`; `None` when no ticket could be had (answer 403 then).
    pub(crate) async fn uma_ticket_challenge(
        &self,
        resource: &str,
        scopes: &[&str],
    ) -> Option<WebResponse> {
        let ticket = match self
            .kc
            .find_ticket(&[PermissionRequest::new(resource, scopes)])
            .await
        {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(target: "keycloak_client::web", error = %e, "no permission ticket");
                return None;
            }
        };
        let c = UmaChallenge {
            realm: Some(self.realm_name.clone()),
            as_uri: self
                .kc
                .config()
                .issuer
                .parse()
                .unwrap_or_else(|_| self.cfg.app_url.clone()),
            ticket,
        };
        let mut r = WebResponse::text(401, "permission required");
        r.headers
            .push(("www-authenticate".into(), c.to_header_value()));
        Some(r)
    }
}

enum SessionState {
    Valid(Box<Identity>),
    Ended,
    Missing,
    /// The session needs a refresh Keycloak cannot give now (retry in this many seconds);
    /// it is kept.
    Unavailable(u64),
    /// The session store cannot answer; the session is kept.
    StoreDown(StoreError),
}

/// How a session's refresh ended.
enum Refreshed {
    Tokens(Box<keycloak_client::TokenSet>),
    Ended,
    /// Keycloak cannot refresh now; try again in this many seconds.
    Unavailable(u64),
    /// The session store cannot answer.
    StoreDown(StoreError),
}

/// The `cnf.jkt` of a token's identity (RFC 9449 §6.1): the key it is bound to.
fn cnf_jkt(identity: &Identity) -> Option<&str> {
    identity.claims.0.get("cnf")?.get("jkt")?.as_str()
}

/// A refresh that has started: owns what it needs, so it finishes in its own task.
struct RefreshJob {
    kc: Keycloak,
    store: Arc<dyn SessionStore>,
    id: String,
    holder: String,
    session_ttl_secs: u64,
    refresh_margin_secs: u64,
}

impl RefreshJob {
    /// Refreshes under the lease and writes the result (see `refresh_under_lease`).
    async fn refresh(
        &self,
        session: Arc<Session>,
        tokens: keycloak_client::TokenSet,
        t: UnixTime,
    ) -> StoreResult<Refreshed> {
        let id = self.id.as_str();
        let mut session = Arc::unwrap_or_clone(session);
        let version = session.version;
        session.version = version.wrapping_add(1);
        let until = t.plus(self.session_ttl_secs);
        // A failed attempt keeps the session as long as its login allowed, or at least until
        // its next attempt: an outage logs nobody out, and the refresh token's own expiry
        // (`can_refresh`) still ends it.
        let login_until = session.created_at.plus(self.session_ttl_secs);
        match self.kc.refresh(&tokens).await {
            Ok(new) => {
                session.tokens = Some(new.clone());
                session.refresh_retry_at = None;
                session.refresh_failures = 0;
                // Only over the version refreshed from: a logout meanwhile stays a logout.
                // Keycloak has spent the old refresh token, so a failed write is retried: the
                // new tokens are the only ones that still refresh.
                let mut failures = 0u64;
                loop {
                    match self
                        .store
                        .compare_and_set(id, version, session.clone(), now(), until)
                        .await
                    {
                        Ok(true) => return Ok(Refreshed::Tokens(Box::new(new))),
                        Ok(false) => break,
                        Err(e) if failures < CAS_RETRIES => {
                            failures += 1;
                            tracing::warn!(target: "keycloak_client::web", error = %e, "writing refreshed tokens failed; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(100 * failures))
                                .await;
                        }
                        Err(e) => return Err(e),
                    }
                }
                // Not applied now: an earlier attempt whose answer was lost did apply, another
                // writer won (a lease that expired under a slow refresh), or a logout.
                match self.store.load(id, now()).await? {
                    Some(s) if s.tokens.is_some() => {
                        Ok(Refreshed::Tokens(Box::new(s.tokens.clone().unwrap_or(new))))
                    }
                    _ => {
                        tracing::info!(target: "keycloak_client::web", "session ended during its refresh; not restored");
                        Ok(Refreshed::Ended)
                    }
                }
            }
            // Only Keycloak's definitive answer (`invalid_grant`, tokens that fail validation)
            // ends a session.
            Err(e) if e.keycloak().is_some_and(|k| k.is_definitive()) => {
                // Unless another writer refreshed meanwhile (then our refresh token was
                // simply spent), the session is over.
                if let Some(s) = self.store.load(id, now()).await? {
                    if s.version != version {
                        if let Some(tokens) = s.tokens.clone() {
                            return Ok(Refreshed::Tokens(Box::new(tokens)));
                        }
                    }
                }
                tracing::info!(target: "keycloak_client::web", error = %e, "refresh refused; ending the session");
                self.store.delete(id).await?;
                Ok(Refreshed::Ended)
            }
            // Anything else (unreachable, 5xx, an error page, a cut answer) is an outage: the
            // session stays and backs off (5 s, doubling, at most a minute); its access token
            // serves until it really expires, then 503.
            Err(e) => {
                tracing::warn!(target: "keycloak_client::web", error = %e, "refresh deferred: Keycloak unavailable; session kept");
                session.refresh_failures = session.refresh_failures.saturating_add(1);
                let pause = 5u64 << session.refresh_failures.saturating_sub(1).min(4);
                let retry_at = t.plus(pause.min(60));
                session.refresh_retry_at = Some(retry_at);
                let kept_until = login_until.max(retry_at.plus(1));
                let t_now = now();
                if self
                    .store
                    .compare_and_set(id, version, session, t_now, kept_until.max(t_now.plus(1)))
                    .await?
                {
                    return Ok(WebAuth::without_refresh(tokens, t, retry_at));
                }
                // Another writer got there first: a refresh on another instance (its tokens
                // serve) or a logout (none left).
                match self.store.load(id, now()).await? {
                    Some(s) => match s.tokens.clone() {
                        Some(theirs) if !theirs.needs_refresh(t, self.refresh_margin_secs) => {
                            Ok(Refreshed::Tokens(Box::new(theirs)))
                        }
                        Some(theirs) => Ok(WebAuth::without_refresh(theirs, t, retry_at)),
                        None => Ok(Refreshed::Ended),
                    },
                    None => Ok(Refreshed::Ended),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `keycloak.json` with a `policy-enforcer` block runs the enforcer; a bad block is
    /// refused at start-up, by name.
    #[test]
    fn keycloak_json_brings_its_policy_enforcer_block() {
        let kc = |pe: &str| {
            format!(
                r#"{{"realm":"rkc","auth-server-url":"http://127.0.0.1:1","resource":"rkc-rs",
                    "credentials":{{"secret":"s"}}{pe}}}"#
            )
        };
        let web = || WebConfig::new("http://127.0.0.1:2").unwrap();
        let store = || Arc::new(MemoryStore::default()) as Arc<dyn SessionStore>;
        let on = WebAuth::from_keycloak_json(
            &kc(r#","policy-enforcer":{"paths":[{"path":"/a/*"}]}"#),
            web(),
            store(),
        )
        .unwrap();
        assert!(on.policy_enforced());
        let off = WebAuth::from_keycloak_json(&kc(""), web(), store()).unwrap();
        assert!(!off.policy_enforced());
        let e =
            WebAuth::from_keycloak_json(&kc(r#","policy-enforcer":{"pathz":[]}"#), web(), store())
                .err()
                .unwrap();
        assert!(e.to_string().contains("pathz"), "{e}");
    }

    /// The 503 names the kind of failure, never the store's own error text (addresses, key
    /// names, a password in a URL): that goes to the log.
    #[test]
    fn a_store_failure_answers_503_without_the_stores_error_text() {
        for e in [
            StoreError::Unavailable("redis: connect to 10.1.2.3:6379 as :hunter2@ failed".into()),
            StoreError::Timeout(1000),
            StoreError::Busy(1024),
        ] {
            let r = WebAuth::store_unavailable(&e);
            assert_eq!(r.status, 503);
            let body = r.body.clone();
            assert!(
                !body.contains("hunter2") && !body.contains("10.1.2.3"),
                "{body}"
            );
            assert!(body.contains("session store"), "a reason: {body}");
            assert!(body.contains("session is kept"), "{body}");
            assert!(r.headers.iter().any(|(k, _)| k == "retry-after"));
        }
    }

    #[test]
    fn a_kept_identity_serves_only_its_own_access_token() {
        let memo = IdentityMemo::default();
        let claims: Claims = serde_json::from_str(r#"{"sub":"u1"}"#).unwrap();
        let a = Identity::from_access_claims(claims.clone(), AccessToken::new("token-a"));
        assert!(
            memo.get_for(&AccessToken::new("token-a")).is_none(),
            "empty"
        );
        memo.set(&a);
        assert_eq!(
            memo.get_for(&AccessToken::new("token-a"))
                .map(|i| i.subject.as_str()),
            Some("u1")
        );
        // tokens changed in place (a refresh on an owned value): the old identity is not served
        assert!(memo.get_for(&AccessToken::new("token-b")).is_none());
        assert!(
            memo.get_for(&AccessToken::new("token-")).is_none(),
            "a prefix is no match"
        );
        // a copy is made to be changed: it starts empty
        let s = Session {
            identity_memo: memo,
            ..Default::default()
        };
        assert!(s
            .clone()
            .identity_memo
            .get_for(&AccessToken::new("token-a"))
            .is_none());
        assert_eq!(format!("{:?}", s.identity_memo), "IdentityMemo(set)");
    }

    #[test]
    fn only_the_headers_the_engine_reads_are_copied() {
        let raw: Vec<(&str, &[u8])> = vec![
            ("cookie", b"kc_session=abc"),
            ("x-forwarded-for", b"10.0.0.1"),
            ("origin", b"https://app.example"),
            ("accept", b"text/html\xff"),
            ("sec-fetch-site", b"same-origin\tx"),
        ];
        let h = RequestInfo::engine_headers(raw.into_iter());
        let names: Vec<&str> = h.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["cookie", "origin", "sec-fetch-site"], "{h:?}");
        // A cookie with raw UTF-8 (or worse) planted from a sibling domain must not hide the
        // session cookie sent beside it.
        let raw: Vec<(&str, &[u8])> =
            vec![("cookie", "x=\u{e9}t\u{e9}; kc_session=abc; y=1".as_bytes())];
        let raw: Vec<(&str, &[u8])> = raw
            .into_iter()
            .chain(std::iter::once((
                "cookie",
                &b"z=\xff\xfe; kc_login=def"[..],
            )))
            .collect();
        let info = RequestInfo {
            headers: RequestInfo::engine_headers(raw.into_iter()),
            ..Default::default()
        };
        assert_eq!(info.cookie("kc_session").as_deref(), Some("abc"));
        assert_eq!(info.cookie("kc_login").as_deref(), Some("def"));
        let dbg = format!(
            "{:?}",
            RequestInfo {
                query: Some("code=SECRET-CODE".into()),
                body: b"logout_token=SECRET-TOKEN".to_vec(),
                headers: vec![("authorization".into(), "Bearer SECRET-BEARER".into())],
                ..info
            }
        );
        assert!(!dbg.contains("SECRET") && !dbg.contains("abc"), "{dbg}");
    }

    #[test]
    fn return_to_is_same_origin_only() {
        assert_eq!(safe_return_to("/howdy?x=1"), Some("/howdy?x=1"));
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/a\\b",
            "/a\r\nb",
            "",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn navigation_detection() {
        let mut r = RequestInfo {
            method: "GET".into(),
            path: "/".into(),
            ..Default::default()
        };
        r.headers
            .push(("accept".into(), "text/html,application/xhtml+xml".into()));
        assert!(r.is_navigation());
        r.headers
            .push(("x-requested-with".into(), "XMLHttpRequest".into()));
        assert!(!r.is_navigation());
        let r = RequestInfo {
            method: "GET".into(),
            headers: vec![("accept".into(), "application/json".into())],
            ..Default::default()
        };
        assert!(!r.is_navigation());
        let r = RequestInfo {
            method: "POST".into(),
            headers: vec![("accept".into(), "text/html".into())],
            ..Default::default()
        };
        assert!(!r.is_navigation());
    }

    #[test]
    fn html_escaping_covers_every_markup_character() {
        assert_eq!(
            escape_html(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#x27;y&#x27;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape_html("Erin Ünicode"), "Erin Ünicode");
    }

    #[test]
    fn cookies_and_bearer() {
        let r = RequestInfo {
            headers: vec![
                ("cookie".into(), "a=1; kc_session=abc; b=2".into()),
                ("authorization".into(), "bearer tok".into()),
            ],
            ..Default::default()
        };
        assert_eq!(r.cookie("kc_session").as_deref(), Some("abc"));
        assert_eq!(r.bearer(), Some("tok"));
    }

    #[test]
    fn public_paths_match_whole_segments() {
        let mut c = WebConfig::new("http://127.0.0.1:8000").unwrap();
        c.public_paths = vec!["/public".into(), "/static/".into()];
        assert!(
            c.is_public("/public") && c.is_public("/public/x") && c.is_public("/static/app.js")
        );
        assert!(!c.is_public("/publicity") && !c.is_public("/"));
        // Paths a later layer could normalise out of the public prefix are not public.
        for p in [
            "/public/../admin",
            "/public/./x",
            "/public/%2e%2e/admin",
            "/public/%2E%2E/admin",
            "/public%2F..%2Fadmin",
            "/public/..%5Cadmin",
            "/public\\..\\admin",
            "/public//x",
            "/static/..",
            "/public/%00",
        ] {
            assert!(!c.is_public(p), "{p}");
        }
        assert!(!c.is_public("/PUBLIC"), "case-sensitive, as routes are");
        assert!(!c.secure_cookie());
        assert!(WebConfig::new("https://app.example.test")
            .unwrap()
            .secure_cookie());
    }

    /// Settings that would make the middleware fail open are refused when it is built.
    #[test]
    fn config_that_would_fail_open_is_rejected() {
        let build = |edit: &dyn Fn(&mut WebConfig)| {
            let mut c = WebConfig::new("http://127.0.0.1:8000").unwrap();
            edit(&mut c);
            let kc =
                keycloak_client::ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
                    .client_secret("s");
            WebAuth::new(kc, c, Arc::new(MemoryStore::new(10))).map(|_| ())
        };
        build(&|_| {}).expect("the defaults are fine");
        build(&|c| c.public_paths = vec!["/public".into(), "/static/".into()]).expect("fine");
        let refused = |what: &str, edit: &dyn Fn(&mut WebConfig)| {
            let e = build(edit).expect_err(what);
            assert!(
                matches!(e, keycloak_client::Error::Config(_)),
                "{what}: {e:?}"
            );
        };
        refused("an empty public path makes every path public", &|c| {
            c.public_paths = vec!["".into()]
        });
        refused("a public path must be absolute", &|c| {
            c.public_paths = vec!["public".into()]
        });
        refused("a public path with a control character", &|c| {
            c.public_paths = vec!["/a\u{7}b".into()]
        });
        refused("`/` as a public path makes every path public", &|c| {
            c.public_paths = vec!["/".into()]
        });
        refused("an app URL that is not http(s)", &|c| {
            c.app_url = "mailto:app@example.test".parse().unwrap()
        });
        refused("callback and logout on the same path", &|c| {
            c.logout_path = c.callback_path.clone()
        });
        refused("back-channel logout on the callback path", &|c| {
            c.backchannel_logout_path = format!("{}/", c.callback_path)
        });
        build(&|c| {
            c.logout_path = "/auth".into();
            c.callback_path = "/auth/callback".into();
            c.public_paths = vec!["/auth".into()];
        })
        .expect("routes match exactly and before public paths: nested paths are fine");
        refused("a relative callback path", &|c| {
            c.callback_path = "kc/callback".into()
        });
    }

    /// A secure site's session cookie carries the `__Host-` prefix (no sibling subdomain can
    /// set or shadow it), and a cookie sent twice under the session's name picks no session.
    #[test]
    fn host_prefix_on_secure_sites_and_ambiguous_cookies_pick_nothing() {
        let secure = WebConfig::new("https://app.example.test").unwrap();
        assert_eq!(secure.cookie_name, "__Host-kc_session");
        let local = WebConfig::new("http://127.0.0.1:8000").unwrap();
        assert_eq!(
            local.cookie_name, "kc_session",
            "plain http on loopback cannot be Secure"
        );
        let mut wrong = local.clone();
        wrong.cookie_name = "__Host-kc_session".into();
        assert!(wrong.validate().is_err(), "a __Host- cookie needs Secure");
        let kc = keycloak_client::ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
            .client_secret("s");
        let auth = WebAuth::new(kc, secure, Arc::new(MemoryStore::new(10))).unwrap();
        let (name, value) = auth.cookie("abc", 600);
        assert_eq!(name, "set-cookie");
        assert_eq!(
            value,
            "__Host-kc_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=600; Secure"
        );
        assert!(!value.contains("Domain"), "{value}");
        let twice = RequestInfo {
            headers: vec![(
                "cookie".into(),
                "kc_session=planted; kc_session=mine".into(),
            )],
            ..Default::default()
        };
        assert_eq!(
            twice.cookie("kc_session"),
            None,
            "ambiguous: neither is trusted"
        );
        let same = RequestInfo {
            headers: vec![(
                "cookie".into(),
                "kc_session=mine; other=1; kc_session=mine".into(),
            )],
            ..Default::default()
        };
        assert_eq!(same.cookie("kc_session").as_deref(), Some("mine"));
    }
}
