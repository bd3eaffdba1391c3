//! actix-web middleware for Keycloak (the seed's Django extension's analog), sharing all its
//! logic with the axum extension through [`keycloak_client_web::WebAuth`].
//!
//! ```no_run
//! use actix_web::{middleware::from_fn, web, App, HttpServer};
//! use keycloak_client_actix::{browser_auth, KeycloakSettings, User};
//!
//! # async fn demo() -> std::io::Result<()> {
//! let settings = KeycloakSettings {
//!     server_url: Some("http://127.0.0.1:18080".into()),
//!     realm: Some("rkc".into()),
//!     client_id: Some("rkc-rs".into()),
//!     client_secret: Some("rkc-rs-secret".into()),
//!     app_url: "http://127.0.0.1:8001".into(),
//!     login_redirect_uri: "/home".into(),
//!     ..Default::default()
//! };
//! let auth = web::Data::from(settings.into_web_auth().expect("settings"));
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(auth.clone())
//!         .wrap(from_fn(browser_auth))
//!         .route("/home", web::get().to(|User(u): User| async move { format!("{:?}", u.username) }))
//! })
//! .bind(("127.0.0.1", 8001))?
//! .run()
//! .await
//! # }
//! ```

use std::future::{ready, Ready};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
pub use keycloak_client_web::{
    bearer_from_header, escape_html, AuthStatus, Identity, IdentityData, KeycloakSettings,
    MemoryStore, Role, RoleRequirement, ScopeRequirement, TenantRule, Tenants, WebAuth, WebConfig,
};
use keycloak_client_web::{GuardOutcome, Outcome, RequestInfo, WebResponse};

fn to_response(r: WebResponse) -> HttpResponse {
    let mut resp = HttpResponse::with_body(
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        r.body,
    );
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (HeaderName::try_from(k), HeaderValue::try_from(v)) {
            resp.headers_mut().append(k, v);
        }
    }
    resp.map_into_boxed_body()
}

/// The request's method, path, query and the headers the engine reads (or all of them, for
/// the policy enforcer's claim-information-point).
fn head(req: &ServiceRequest, all_headers: bool) -> RequestInfo {
    let pairs = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()));
    RequestInfo {
        method: req.method().as_str().to_string(),
        path: req.path().to_string(),
        query: Some(req.query_string().to_string()).filter(|q| !q.is_empty()),
        headers: if all_headers {
            RequestInfo::all_headers(pairs)
        } else {
            RequestInfo::engine_headers(pairs)
        },
        body: vec![],
    }
}

fn info(req: &ServiceRequest) -> RequestInfo {
    head(req, false)
}

/// `Authorization: DPoP …` (RFC 9449 §7.1).
/// The body, at most 64 KiB (`None` when larger), put back for the handler.
async fn read_body(req: &mut ServiceRequest) -> Option<Vec<u8>> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > 64 * 1024) {
        return None;
    }
    // `Bytes` reads at most its configured limit (256 KiB by default), then this one.
    let body = req
        .extract::<web::Bytes>()
        .await
        .ok()
        .filter(|b| b.len() <= 64 * 1024)?;
    let copy = body.to_vec();
    req.set_payload(actix_web::dev::Payload::from(body));
    Some(copy)
}

fn uses_dpop(req: &ServiceRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes().len() > 5 && v.as_bytes()[..5].eq_ignore_ascii_case(b"dpop "))
}

fn bearer(req: &ServiceRequest) -> Option<&str> {
    let v = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    // UTF-8 validation is vectorised; `to_str`'s visible-ASCII check walks the ~1.5 KB token
    // byte by byte. A token with other bytes fails verification (and a cache hit needs the
    // byte-identical verified token).
    bearer_from_header(std::str::from_utf8(v.as_bytes()).ok()?)
}

/// The tenant a request was resolved to (an extension set by the `tenant_*` functions); every
/// guard then uses its engine.
#[derive(Clone)]
pub struct CurrentTenant {
    /// Its name.
    pub name: String,
    /// Its engine.
    pub auth: web::Data<WebAuth>,
}

impl std::fmt::Debug for CurrentTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentTenant")
            .field("name", &self.name)
            .finish()
    }
}

impl FromRequest for CurrentTenant {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<CurrentTenant>()
                .cloned()
                .ok_or_else(|| actix_web::error::ErrorInternalServerError("no tenant resolved")),
        )
    }
}

/// Resolves the tenant (the app's `web::Data<Tenants>`) and records it on the request.
fn resolve_tenant(req: &ServiceRequest) -> Result<Option<CurrentTenant>, actix_web::Error> {
    let tenants = req.app_data::<web::Data<Tenants>>().ok_or_else(|| {
        actix_web::error::ErrorInternalServerError(
            "keycloak-client-actix: Tenants missing from app_data",
        )
    })?;
    let info = info(req);
    Ok(tenants.resolve(&info).map(|(name, auth)| CurrentTenant {
        name: name.to_string(),
        auth: web::Data::from(auth.clone()),
    }))
}

/// Multi-tenancy, API routes: picks the tenant ([`Tenants`] in `app_data`: host, path prefix,
/// the token's `iss` from an allow-list, or a closure) and authenticates with its engine; the
/// guards after it use the same engine. No tenant: 401.
pub async fn tenant_bearer_auth<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match resolve_tenant(&req)? {
        Some(t) => {
            req.extensions_mut().insert(t);
            bearer_auth(req, next).await
        }
        None => Ok(req.into_response(to_response(WebResponse::text(
            401,
            "no tenant for this request",
        )))),
    }
}

/// Multi-tenancy, browser routes (sessions bound to their tenant). No tenant: 404.
pub async fn tenant_browser_auth<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match resolve_tenant(&req)? {
        Some(t) => {
            req.extensions_mut().insert(t);
            browser_auth(req, next).await
        }
        None => Ok(req.into_response(to_response(WebResponse::text(404, "unknown tenant")))),
    }
}

fn auth_of(req: &ServiceRequest) -> Result<web::Data<WebAuth>, actix_web::Error> {
    if let Some(t) = req.extensions().get::<CurrentTenant>() {
        return Ok(t.auth.clone());
    }
    req.app_data::<web::Data<WebAuth>>()
        .cloned()
        .ok_or_else(|| {
            actix_web::error::ErrorInternalServerError(
                "keycloak-client-actix: WebAuth missing from app_data",
            )
        })
}

async fn proceed<B: MessageBody + 'static>(
    outcome: Outcome,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match outcome {
        Outcome::Respond(r) => Ok(req.into_response(to_response(r))),
        Outcome::Authenticated(identity) => {
            req.extensions_mut()
                .insert(AuthStatus::Authenticated(identity.clone()));
            req.extensions_mut().insert(identity);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
        Outcome::Anonymous => {
            req.extensions_mut().insert(AuthStatus::Anonymous);
            Ok(next.call(req).await?.map_into_boxed_body())
        }
    }
}

/// Browser mode, for `.wrap(from_fn(browser_auth))`: the callback, logout and back-channel
/// logout paths are handled here and need no routes of their own.
pub async fn browser_auth<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let mut info = info(&req);
    if req.method() == actix_web::http::Method::POST
        && req.path() == auth.config().backchannel_logout_path
    {
        // The same engine call as axum's; the body is read only here, within 64 KiB.
        match read_body(&mut req).await {
            Some(body) => info.body = body,
            None => return Ok(req.into_response(HttpResponse::PayloadTooLarge().finish())),
        }
    }
    let outcome = auth.handle_browser(&info).await;
    proceed(outcome, req, next).await
}

/// API mode: a valid bearer token is required.
pub async fn bearer_auth<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let (outcome, nonce) = if uses_dpop(&req) {
        // DPoP needs the method, path and proof header: the cold path.
        let o = auth.handle_dpop(&info(&req)).await;
        (o, auth.dpop_response_nonce())
    } else {
        (auth.handle_bearer_token(bearer(&req)).await, None)
    };
    let passed = matches!(outcome, Outcome::Authenticated(_));
    let mut res = proceed(outcome, req, next).await?;
    // The next DPoP nonce rides on the answer to a DPoP request that passed.
    if let (true, Some(v)) = (passed, nonce.and_then(|n| HeaderValue::try_from(n).ok())) {
        res.headers_mut()
            .insert(HeaderName::from_static("dpop-nonce"), v);
    }
    Ok(res)
}

/// Pass-through mode: continues with an [`AuthStatus`] in the request extensions.
pub async fn optional_bearer_auth<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let status = if uses_dpop(&req) {
        auth.dpop_status(&info(&req)).await
    } else {
        auth.bearer_token_status(bearer(&req)).await
    };
    if let AuthStatus::Authenticated(i) = &status {
        req.extensions_mut().insert(i.clone());
    }
    req.extensions_mut().insert(status);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The back-channel logout endpoint as a handler, for apps that do not run [`browser_auth`]
/// on that path: `.route("/kc/backchannel-logout", web::post().to(backchannel_logout))`.
pub async fn backchannel_logout(auth: web::Data<WebAuth>, body: web::Bytes) -> HttpResponse {
    to_response(auth.backchannel_logout_body(&body).await)
}

/// Role guard: `.wrap(from_fn(|r, n| require_realm_role("admin", r, n)))` (inside an auth layer).
pub async fn require_realm_role<B: MessageBody + 'static>(
    role: &'static str,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    require_roles(&RoleRequirement::realm(role), req, next).await
}

/// Client-role guard: `.wrap(from_fn(|r, n| require_client_role("app", "editor", r, n)))`.
pub async fn require_client_role<B: MessageBody + 'static>(
    client: &'static str,
    role: &'static str,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    require_roles(&RoleRequirement::client(client, role), req, next).await
}

/// Role guard for any-of/all-of realm and client roles:
/// `.wrap(from_fn(move |r, n| { let need = need.clone(); async move { require_roles(&need, r, n).await } }))`.
pub async fn require_roles<B: MessageBody + 'static>(
    need: &RoleRequirement,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let outcome = need.check(req.extensions().get::<Identity>());
    guarded(outcome, req, next).await
}

/// Scope guard (RFC 6750 §3.1 `insufficient_scope` on denial).
pub async fn require_scopes<B: MessageBody + 'static>(
    need: &ScopeRequirement,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let outcome = need.check(req.extensions().get::<Identity>());
    guarded(outcome, req, next).await
}

async fn guarded<B: MessageBody + 'static>(
    outcome: GuardOutcome,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    match outcome {
        GuardOutcome::Allow => Ok(next.call(req).await?.map_into_boxed_body()),
        GuardOutcome::Deny(r) => Ok(req.into_response(to_response(r))),
    }
}

/// UMA guard: `.wrap(from_fn(|r, n| require_permission("doc-1", &["read"], false, r, n)))`.
pub async fn require_permission<B: MessageBody + 'static>(
    resource: &'static str,
    scopes: &'static [&'static str],
    uma_challenge: bool,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let identity = req.extensions().get::<Identity>().cloned();
    let outcome = auth
        .require_permission(identity.as_ref(), resource, scopes, uma_challenge)
        .await;
    guarded(outcome, req, next).await
}

/// Keycloak's policy enforcer ([`WebConfig::policy_enforcer`], the `policy-enforcer` block of
/// `keycloak.json`) behind an authentication middleware:
/// `.wrap(from_fn(policy_enforcer)).wrap(from_fn(bearer_auth))` (actix runs the last `wrap`
/// first). Requests carrying `Authorization` are API requests (403, or a UMA ticket challenge
/// with `user-managed-access`); others are browser requests (`on-deny-redirect-to`, else 403).
/// Every header is readable by the claim-information-point, and the body (up to 64 KiB) when
/// a claim reads it.
pub async fn policy_enforcer<B: MessageBody + 'static>(
    mut req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let mut info = head(&req, true);
    if auth.policy_reads_body() {
        match read_body(&mut req).await {
            Some(body) => info.body = body,
            None => {
                return Ok(req.into_response(to_response(WebResponse::text(
                    413,
                    "request body too large for the policy enforcer",
                ))))
            }
        }
    }
    let browser = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .is_none();
    let identity = req.extensions().get::<Identity>().cloned();
    let outcome = auth.enforce_policy(&info, identity.as_ref(), browser).await;
    guarded(outcome, req, next).await
}

/// Revocation-aware routes, inside [`bearer_auth`]: the token must still be active at
/// Keycloak (RFC 7662 introspection, cached per `WebConfig::introspection_max_age_secs`):
/// `.wrap(from_fn(require_active_token)).wrap(from_fn(bearer_auth))`.
pub async fn require_active_token<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let identity = req.extensions().get::<Identity>().cloned();
    let outcome = auth.require_active_token(identity.as_ref()).await;
    guarded(outcome, req, next).await
}

/// Extractor for the authenticated user (401 when absent).
#[derive(Clone, Debug)]
pub struct User(pub Identity);

impl FromRequest for User {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.extensions()
                .get::<Identity>()
                .cloned()
                .map(User)
                .ok_or_else(|| actix_web::error::ErrorUnauthorized("authentication required")),
        )
    }
}

/// Extractor for the authentication status (pass-through mode).
#[derive(Clone, Debug)]
pub struct Auth(pub AuthStatus);

impl FromRequest for Auth {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(Ok(Auth(
            req.extensions()
                .get::<AuthStatus>()
                .cloned()
                .unwrap_or(AuthStatus::Anonymous),
        )))
    }
}
