//! axum (and any tower service built on axum's body type) middleware for Keycloak, on
//! [`keycloak_client_web::WebAuth`]:
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{routing::get, Router, middleware::from_fn_with_state};
//! use keycloak_client_axum::{browser_auth, bearer_auth, User};
//! use keycloak_client_web::{MemoryStore, WebAuth, WebConfig};
//!
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cfg = keycloak_client::ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs").client_secret("rkc-rs-secret");
//! let mut web = WebConfig::new("http://127.0.0.1:8000")?;
//! web.login_redirect_uri = "/howdy".into();
//! let auth = Arc::new(WebAuth::new(cfg, web, Arc::new(MemoryStore::default()))?);
//! let app: Router = Router::new()
//!     .route("/howdy", get(|User(u): User| async move { format!("Howdy {}", u.username.as_deref().unwrap_or_default()) }))
//!     .layer(from_fn_with_state(auth.clone(), browser_auth));
//! # let _ = app; Ok(()) }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
pub use keycloak_client_web::{
    bearer_from_header, AuthStatus, Identity, IdentityData, KeycloakSettings, Role,
    RoleRequirement, ScopeRequirement, TenantRule, Tenants, WebAuth, WebConfig,
};
use keycloak_client_web::{GuardOutcome, Outcome, RequestInfo, WebResponse};

/// Converts the extension's response to axum's.
fn to_response(r: WebResponse) -> Response {
    let mut resp = Response::new(Body::from(r.body));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

/// The request's path and query as the client sent them: under `Router::nest` the router
/// strips the prefix, while the configured callback, logout and public paths are the
/// application's external paths.
fn original_uri(req: &Request) -> &axum::http::Uri {
    req.extensions()
        .get::<OriginalUri>()
        .map_or(req.uri(), |o| &o.0)
}

/// The request's method, path, query and headers (those the engine reads, or all of them for
/// the policy enforcer's claim-information-point).
fn head(req: &Request, all_headers: bool) -> RequestInfo {
    let uri = original_uri(req);
    let pairs = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()));
    RequestInfo {
        method: req.method().as_str().to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_owned),
        headers: if all_headers {
            RequestInfo::all_headers(pairs)
        } else {
            RequestInfo::engine_headers(pairs)
        },
        body: vec![],
    }
}

/// [`head`] plus, when `with_body`, the body (at most 64 KiB; more is 413), handed back in the
/// request for the handler.
#[allow(clippy::result_large_err)]
async fn info(
    req: Request,
    all_headers: bool,
    with_body: bool,
) -> Result<(RequestInfo, Request), Response> {
    let mut info = head(&req, all_headers);
    if !with_body {
        return Ok((info, req));
    }
    let (parts, body) = req.into_parts();
    match http_body_util::Limited::new(body, 64 * 1024)
        .collect()
        .await
    {
        Ok(c) => {
            let b = c.to_bytes();
            info.body = b.to_vec();
            Ok((info, Request::from_parts(parts, Body::from(b))))
        }
        Err(_) => Err(to_response(WebResponse::text(
            413,
            "request body too large",
        ))),
    }
}

/// What an authentication mode decided: go on with this request, or answer.
// The response is moved once, on the refusing path only; boxing it would allocate for nothing.
#[allow(clippy::result_large_err)]
fn admit(outcome: Outcome, mut req: Request) -> Result<Request, Response> {
    match outcome {
        Outcome::Respond(r) => Err(to_response(r)),
        Outcome::Authenticated(identity) => {
            // One extension; `Auth` derives `AuthStatus::Authenticated` from it.
            req.extensions_mut().insert(identity);
            Ok(req)
        }
        Outcome::Anonymous => {
            req.extensions_mut().insert(AuthStatus::Anonymous);
            Ok(req)
        }
    }
}

/// The three modes, shared by the `from_fn` functions and [`KeycloakLayer`].
#[derive(Clone, Copy, Debug)]
enum Mode {
    Browser,
    Bearer,
    OptionalBearer,
}

#[allow(clippy::result_large_err)]
async fn authenticate(auth: &WebAuth, mode: Mode, mut req: Request) -> Result<Request, Response> {
    match mode {
        Mode::Browser => {
            let read_body = req.method() == axum::http::Method::POST
                && original_uri(&req).path() == auth.config().backchannel_logout_path;
            let (info, req) = info(req, false, read_body).await?;
            let outcome = auth.handle_browser(&info).await;
            admit(outcome, req)
        }
        Mode::Bearer if uses_dpop(&req) => {
            // DPoP needs the method, path and proof header: the cold path.
            let (info, req) = info(req, false, false).await?;
            let outcome = auth.handle_dpop(&info).await;
            admit(outcome, req)
        }
        Mode::Bearer => {
            let outcome = auth.handle_bearer_token(bearer(&req)).await;
            admit(outcome, req)
        }
        Mode::OptionalBearer => {
            let status = if uses_dpop(&req) {
                let (info, r) = info(req, false, false).await?;
                req = r;
                auth.dpop_status(&info).await
            } else {
                auth.bearer_token_status(bearer(&req)).await
            };
            if let AuthStatus::Authenticated(i) = &status {
                req.extensions_mut().insert(i.clone());
            }
            req.extensions_mut().insert(status);
            Ok(req)
        }
    }
}

async fn run(auth: &WebAuth, mode: Mode, req: Request, next: Next) -> Response {
    let nonce = response_nonce(auth, mode, &req);
    match authenticate(auth, mode, req).await {
        Ok(req) => with_nonce(next.run(req).await, nonce),
        Err(r) => r,
    }
}

/// The next DPoP nonce for the answer to a DPoP request, when the engine issues nonces.
fn response_nonce(auth: &WebAuth, mode: Mode, req: &Request) -> Option<String> {
    if matches!(mode, Mode::Browser) || !uses_dpop(req) {
        return None;
    }
    auth.dpop_response_nonce()
}

fn with_nonce(mut resp: Response, nonce: Option<String>) -> Response {
    if let Some(v) = nonce.and_then(|n| HeaderValue::try_from(n).ok()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("dpop-nonce"), v);
    }
    resp
}

/// Browser mode (the seed's `AuthenticationMiddleware`): redirects navigations to Keycloak,
/// finishes the login at the callback path, logs out at the logout path, accepts back-channel
/// logout tokens; API-style requests without a session get 401. Give the callback, logout and
/// back-channel paths their routes with [`endpoints`].
pub async fn browser_auth(State(auth): State<Arc<WebAuth>>, req: Request, next: Next) -> Response {
    run(&auth, Mode::Browser, req, next).await
}

/// API mode: a valid bearer token is required (401 `WWW-Authenticate: Bearer ...` otherwise).
pub async fn bearer_auth(State(auth): State<Arc<WebAuth>>, req: Request, next: Next) -> Response {
    run(&auth, Mode::Bearer, req, next).await
}

/// `Authorization: DPoP …` (RFC 9449 §7.1).
fn uses_dpop(req: &Request) -> bool {
    req.headers()
        .get(axum::http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().len() > 5 && v.as_bytes()[..5].eq_ignore_ascii_case(b"dpop "))
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(axum::http::header::AUTHORIZATION)?;
    // UTF-8 validation is vectorised; `to_str`'s visible-ASCII check walks the ~1.5 KB token
    // byte by byte. A token with other bytes fails verification (and a cache hit needs the
    // byte-identical verified token).
    bearer_from_header(std::str::from_utf8(v.as_bytes()).ok()?)
}

/// Pass-through mode: the request always continues, with an [`AuthStatus`] in its extensions.
pub async fn optional_bearer_auth(
    State(auth): State<Arc<WebAuth>>,
    req: Request,
    next: Next,
) -> Response {
    run(&auth, Mode::OptionalBearer, req, next).await
}

/// The login callback, logout and back-channel logout endpoints at the configured paths, as
/// real handlers on the engine (no placeholders to write). Merge them into the top-level
/// router: `Router::layer` runs only for routes that exist, so these paths need routes.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use axum::{routing::get, Router};
/// # use keycloak_client_axum::{endpoints, KeycloakLayer, WebAuth};
/// # fn demo(auth: Arc<WebAuth>) {
/// let app: Router = Router::new()
///     .route("/howdy", get(|| async { "howdy" }))
///     .layer(KeycloakLayer::browser(auth.clone()))
///     .merge(endpoints(auth));
/// # }
/// ```
pub fn endpoints(auth: Arc<WebAuth>) -> axum::Router {
    let cfg = auth.config().clone();
    let handle = |auth: Arc<WebAuth>| {
        move |req: Request| async move {
            match authenticate(&auth, Mode::Browser, req).await {
                Err(r) => r,
                // Not one of the engine's paths (a mis-mounted router): nothing to do here.
                Ok(_) => StatusCode::NOT_FOUND.into_response(),
            }
        }
    };
    axum::Router::new()
        .route(&cfg.callback_path, axum::routing::get(handle(auth.clone())))
        .route(
            &cfg.logout_path,
            axum::routing::get(handle(auth.clone())).post(handle(auth.clone())),
        )
        .route(
            &cfg.backchannel_logout_path,
            axum::routing::post(handle(auth)),
        )
}

/// The middleware as a tower [`Layer`](tower_layer::Layer), for `Router::layer`,
/// `ServiceBuilder` or wrapping a whole application:
///
/// ```no_run
/// # use std::sync::Arc;
/// # use axum::{routing::get, Router};
/// # use keycloak_client_axum::{KeycloakLayer, WebAuth};
/// # fn demo(auth: Arc<WebAuth>) {
/// let pages = Router::new().route("/howdy", get(|| async { "howdy" }));
/// let app: Router = Router::new()
///     .nest("/app", pages.layer(KeycloakLayer::browser(auth.clone())));
/// # }
/// ```
///
/// Paths are compared as the client sent them (axum's `OriginalUri`), so the layer works
/// inside `Router::nest`.
#[derive(Clone)]
pub struct KeycloakLayer {
    auth: Arc<WebAuth>,
    mode: Mode,
}

impl KeycloakLayer {
    /// Browser mode, as [`browser_auth`].
    pub fn browser(auth: Arc<WebAuth>) -> Self {
        KeycloakLayer {
            auth,
            mode: Mode::Browser,
        }
    }

    /// API mode, as [`bearer_auth`].
    pub fn bearer(auth: Arc<WebAuth>) -> Self {
        KeycloakLayer {
            auth,
            mode: Mode::Bearer,
        }
    }

    /// Pass-through mode, as [`optional_bearer_auth`].
    pub fn optional_bearer(auth: Arc<WebAuth>) -> Self {
        KeycloakLayer {
            auth,
            mode: Mode::OptionalBearer,
        }
    }
}

impl<S> tower_layer::Layer<S> for KeycloakLayer {
    type Service = KeycloakService<S>;

    fn layer(&self, inner: S) -> KeycloakService<S> {
        KeycloakService {
            inner,
            auth: self.auth.clone(),
            mode: self.mode,
        }
    }
}

/// The service [`KeycloakLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct KeycloakService<S> {
    inner: S,
    auth: Arc<WebAuth>,
    mode: Mode,
}

impl<S> tower_service::Service<Request> for KeycloakService<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone is not ready; the ready one serves this request (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (auth, mode) = (self.auth.clone(), self.mode);
        Box::pin(async move {
            let nonce = response_nonce(&auth, mode, &req);
            match authenticate(&auth, mode, req).await {
                Ok(req) => inner.call(req).await.map(|r| with_nonce(r, nonce)),
                Err(r) => Ok(r),
            }
        })
    }
}

#[allow(clippy::result_large_err)]
fn guard(outcome: GuardOutcome) -> Result<(), Response> {
    match outcome {
        GuardOutcome::Allow => Ok(()),
        GuardOutcome::Deny(r) => Err(to_response(r)),
    }
}

/// Role guard (use after an auth layer): `from_fn(|r, n| require_realm_role("admin", r, n))`.
pub async fn require_realm_role(role: &'static str, req: Request, next: Next) -> Response {
    guarded(
        RoleRequirement::realm(role).check(identity(&req)),
        req,
        next,
    )
    .await
}

/// Client-role guard: `from_fn(|r, n| require_client_role("app", "editor", r, n))`.
pub async fn require_client_role(
    client: &'static str,
    role: &'static str,
    req: Request,
    next: Next,
) -> Response {
    guarded(
        RoleRequirement::client(client, role).check(identity(&req)),
        req,
        next,
    )
    .await
}

/// Role guard for any-of/all-of realm and client roles:
/// `from_fn_with_state(RoleRequirement::all_of([...]), require_roles)`.
pub async fn require_roles(
    State(need): State<RoleRequirement>,
    req: Request,
    next: Next,
) -> Response {
    guarded(need.check(identity(&req)), req, next).await
}

/// Scope guard: `from_fn_with_state(ScopeRequirement::all_of(["docs:read"]), require_scopes)`;
/// 403 with `error="insufficient_scope"` (RFC 6750 §3.1).
pub async fn require_scopes(
    State(need): State<ScopeRequirement>,
    req: Request,
    next: Next,
) -> Response {
    guarded(need.check(identity(&req)), req, next).await
}

fn identity(req: &Request) -> Option<&Identity> {
    req.extensions().get::<Identity>()
}

async fn guarded(outcome: GuardOutcome, req: Request, next: Next) -> Response {
    match guard(outcome) {
        Ok(()) => next.run(req).await,
        Err(r) => r,
    }
}

/// A UMA requirement `resource#scopes` for a route (the Keycloak policy enforcer's analog).
#[derive(Clone, Debug)]
pub struct Permission {
    /// Resource name or id.
    pub resource: &'static str,
    /// Scopes.
    pub scopes: &'static [&'static str],
    /// Answer denials with a UMA ticket challenge (401) instead of 403.
    pub uma_challenge: bool,
}

/// UMA guard: `from_fn_with_state((auth, Permission { .. }), require_permission)`.
pub async fn require_permission(
    State((auth, p)): State<(Arc<WebAuth>, Permission)>,
    req: Request,
    next: Next,
) -> Response {
    let outcome = auth
        .require_permission(identity(&req), p.resource, p.scopes, p.uma_challenge)
        .await;
    guarded(outcome, req, next).await
}

/// Keycloak's policy enforcer ([`WebConfig::policy_enforcer`], the `policy-enforcer` block of
/// `keycloak.json`) for routes behind an authentication layer:
/// `.layer(from_fn_with_state(auth.clone(), policy_enforcer))` inside it. Requests carrying
/// `Authorization` are API requests (a denial is 403, or a UMA ticket challenge with
/// `user-managed-access`); others are browser requests (`on-deny-redirect-to`, else 403).
pub async fn policy_enforcer(
    State(auth): State<Arc<WebAuth>>,
    req: Request,
    next: Next,
) -> Response {
    let browser = req
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .is_none();
    let (info, req) = match info(req, true, auth.policy_reads_body()).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let outcome = auth.enforce_policy(&info, identity(&req), browser).await;
    guarded(outcome, req, next).await
}

/// Revocation-aware routes, after [`bearer_auth`]: the token must still be active at Keycloak
/// (RFC 7662 introspection, cached per [`WebConfig::introspection_max_age_secs`]):
/// `.layer(from_fn_with_state(auth.clone(), require_active_token))`.
pub async fn require_active_token(
    State(auth): State<Arc<WebAuth>>,
    req: Request,
    next: Next,
) -> Response {
    let outcome = auth.require_active_token(identity(&req)).await;
    guarded(outcome, req, next).await
}

/// The tenant a request was resolved to (an extension set by the `tenant_*` functions).
#[derive(Clone)]
pub struct CurrentTenant {
    /// Its name.
    pub name: String,
    /// Its engine.
    pub auth: Arc<WebAuth>,
}

impl std::fmt::Debug for CurrentTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentTenant")
            .field("name", &self.name)
            .finish()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentTenant {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentTenant>()
            .cloned()
            .ok_or_else(|| to_response(WebResponse::text(500, "no tenant resolved for this route")))
    }
}

async fn tenant_run(tenants: &Tenants, mode: Mode, req: Request, next: Next) -> Response {
    let Some((name, auth)) = tenants.resolve(&head(&req, false)) else {
        return match mode {
            Mode::Browser => to_response(WebResponse::text(404, "unknown tenant")),
            _ => to_response(WebResponse::text(401, "no tenant for this request")),
        };
    };
    let tenant = CurrentTenant {
        name: name.to_string(),
        auth: auth.clone(),
    };
    let nonce = response_nonce(auth, mode, &req);
    match authenticate(auth, mode, req).await {
        Ok(mut req) => {
            req.extensions_mut().insert(tenant);
            with_nonce(next.run(req).await, nonce)
        }
        Err(r) => r,
    }
}

/// Multi-tenancy, API routes: picks the tenant ([`Tenants`] rules: host, path prefix, the
/// token's `iss` from an allow-list, or a closure) and authenticates the bearer token with
/// that tenant's engine; [`CurrentTenant`] names it. No tenant: 401.
pub async fn tenant_bearer_auth(
    State(tenants): State<Arc<Tenants>>,
    req: Request,
    next: Next,
) -> Response {
    tenant_run(&tenants, Mode::Bearer, req, next).await
}

/// Multi-tenancy, browser routes (sessions bound to their tenant). No tenant: 404.
pub async fn tenant_browser_auth(
    State(tenants): State<Arc<Tenants>>,
    req: Request,
    next: Next,
) -> Response {
    tenant_run(&tenants, Mode::Browser, req, next).await
}

/// Multi-tenancy: the resolved tenant's policy enforcer, inside a `tenant_*` layer.
pub async fn tenant_policy_enforcer(req: Request, next: Next) -> Response {
    let Some(t) = req.extensions().get::<CurrentTenant>().cloned() else {
        return to_response(WebResponse::text(500, "no tenant resolved for this route"));
    };
    policy_enforcer(State(t.auth), req, next).await
}

/// Extractor for the authenticated user (401 when absent).
#[derive(Clone, Debug)]
pub struct User(pub Identity);

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = (StatusCode, &'static str);
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .map(User)
            .ok_or((StatusCode::UNAUTHORIZED, "authentication required"))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for User {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Identity>().cloned().map(User))
    }
}

/// Extractor for the authentication status (pass-through mode).
#[derive(Clone, Debug)]
pub struct Auth(pub AuthStatus);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let e = &parts.extensions;
        Ok(Auth(match (e.get::<AuthStatus>(), e.get::<Identity>()) {
            (Some(s), _) => s.clone(),
            (None, Some(i)) => AuthStatus::Authenticated(i.clone()),
            (None, None) => AuthStatus::Anonymous,
        }))
    }
}
