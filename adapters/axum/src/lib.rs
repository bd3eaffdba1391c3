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

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
pub use keycloak_client_web::{
    bearer_from_header, AuthStatus, Identity, IdentityData, WebAuth, WebConfig,
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

async fn info(req: Request, with_body: bool) -> (RequestInfo, Request) {
    let (parts, body) = req.into_parts();
    let mut info = RequestInfo {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect(),
        body: vec![],
    };
    let body = if with_body {
        // Only the back-channel logout endpoint is read, and only up to 64 KiB.
        match http_body_util::Limited::new(body, 64 * 1024)
            .collect()
            .await
        {
            Ok(c) => {
                let b = c.to_bytes();
                info.body = b.to_vec();
                Body::from(b)
            }
            Err(_) => Body::empty(),
        }
    } else {
        body
    };
    (info, Request::from_parts(parts, body))
}

async fn proceed(outcome: Outcome, mut req: Request, next: Next) -> Response {
    match outcome {
        Outcome::Respond(r) => to_response(r),
        Outcome::Authenticated(identity) => {
            // One extension; `Auth` derives `AuthStatus::Authenticated` from it.
            req.extensions_mut().insert(identity);
            next.run(req).await
        }
        Outcome::Anonymous => {
            req.extensions_mut().insert(AuthStatus::Anonymous);
            next.run(req).await
        }
    }
}

/// Browser mode (the seed's `AuthenticationMiddleware`): redirects navigations to Keycloak,
/// finishes the login at the callback path, logs out at the logout path, accepts back-channel
/// logout tokens; API-style requests without a session get 401.
pub async fn browser_auth(State(auth): State<Arc<WebAuth>>, req: Request, next: Next) -> Response {
    let read_body = req.method() == axum::http::Method::POST
        && req.uri().path() == auth.config().backchannel_logout_path;
    let (info, req) = info(req, read_body).await;
    let outcome = auth.handle_browser(&info).await;
    proceed(outcome, req, next).await
}

/// API mode: a valid bearer token is required (401 `WWW-Authenticate: Bearer ...` otherwise).
pub async fn bearer_auth(State(auth): State<Arc<WebAuth>>, req: Request, next: Next) -> Response {
    let outcome = auth.handle_bearer_token(bearer(&req)).await;
    proceed(outcome, req, next).await
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
    mut req: Request,
    next: Next,
) -> Response {
    let status = auth.bearer_token_status(bearer(&req)).await;
    if let AuthStatus::Authenticated(i) = &status {
        req.extensions_mut().insert(i.clone());
    }
    req.extensions_mut().insert(status);
    next.run(req).await
}

/// Role guard (use after an auth layer): `from_fn(|r, n| require_realm_role("admin", r, n))`.
pub async fn require_realm_role(role: &'static str, req: Request, next: Next) -> Response {
    let ok = req
        .extensions()
        .get::<Identity>()
        .map(|i| i.has_realm_role(role));
    match ok {
        Some(true) => next.run(req).await,
        Some(false) => (StatusCode::FORBIDDEN, "forbidden: missing role").into_response(),
        None => (StatusCode::UNAUTHORIZED, "authentication required").into_response(),
    }
}

/// Client-role guard.
pub async fn require_client_role(
    client: &'static str,
    role: &'static str,
    req: Request,
    next: Next,
) -> Response {
    let ok = req
        .extensions()
        .get::<Identity>()
        .map(|i| i.has_client_role(client, role));
    match ok {
        Some(true) => next.run(req).await,
        Some(false) => (StatusCode::FORBIDDEN, "forbidden: missing role").into_response(),
        None => (StatusCode::UNAUTHORIZED, "authentication required").into_response(),
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
    let identity = req.extensions().get::<Identity>().cloned();
    match auth
        .require_permission(identity.as_ref(), p.resource, p.scopes, p.uma_challenge)
        .await
    {
        GuardOutcome::Allow => next.run(req).await,
        GuardOutcome::Deny(r) => to_response(r),
    }
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
