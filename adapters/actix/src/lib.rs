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
use std::sync::Arc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest, HttpResponse};
use keycloak_client::ClientConfig;
pub use keycloak_client_web::{
    bearer_from_header, escape_html, AuthStatus, Identity, IdentityData, MemoryStore, WebAuth,
    WebConfig,
};
use keycloak_client_web::{GuardOutcome, Outcome, RequestInfo, WebResponse};
use serde::Deserialize;

/// Settings, as a Django project keeps them in `settings.py`: deserializable from any config
/// source (TOML, JSON, environment). Either `keycloak_json` (a path to Keycloak's adapter file)
/// or `server_url` + `realm` + `client_id` (+ `client_secret`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct KeycloakSettings {
    /// Path of `keycloak.json`.
    pub keycloak_json: Option<String>,
    /// Keycloak server URL.
    pub server_url: Option<String>,
    /// Realm.
    pub realm: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Client secret.
    pub client_secret: Option<String>,
    /// The application's external origin (`KEYCLOAK_CALLBACK_URL`'s origin in the seed).
    pub app_url: String,
    /// Callback path (default `/kc/callback`).
    pub callback_path: Option<String>,
    /// `KEYCLOAK_LOGIN_REDIRECT_URI`.
    pub login_redirect_uri: String,
    /// Logout path (default `/kc/logout`).
    pub logout_path: Option<String>,
    /// `KEYCLOAK_LOGOUT_REDIRECT_URI`.
    pub logout_redirect_uri: Option<String>,
    /// Paths never authenticated.
    pub public_paths: Vec<String>,
    /// Audience bearer tokens must carry.
    pub api_audience: Option<String>,
    /// Refresh margin in seconds.
    pub refresh_margin_secs: Option<u64>,
}

impl KeycloakSettings {
    /// Builds the shared engine (in-memory sessions).
    pub fn into_web_auth(self) -> Result<Arc<WebAuth>, keycloak_client::Error> {
        let mut web = WebConfig::new(&self.app_url)?;
        if let Some(p) = self.callback_path {
            web.callback_path = p;
        }
        if !self.login_redirect_uri.is_empty() {
            web.login_redirect_uri = self.login_redirect_uri;
        }
        if let Some(p) = self.logout_path {
            web.logout_path = p;
        }
        if let Some(p) = self.logout_redirect_uri {
            web.logout_redirect_uri = p;
        }
        web.public_paths = self.public_paths;
        web.api_audience = self.api_audience;
        if let Some(m) = self.refresh_margin_secs {
            web.refresh_margin_secs = m;
        }
        let store = Arc::new(MemoryStore::default());
        let auth = match (&self.keycloak_json, &self.server_url) {
            (Some(path), _) => {
                let json = std::fs::read_to_string(path)
                    .map_err(|e| keycloak_client::Error::Config(format!("{path}: {e}")))?;
                WebAuth::from_keycloak_json(&json, web, store)?
            }
            (None, Some(server)) => {
                let realm = self
                    .realm
                    .as_deref()
                    .ok_or_else(|| keycloak_client::Error::Config("realm is required".into()))?;
                let client = self.client_id.as_deref().ok_or_else(|| {
                    keycloak_client::Error::Config("client_id is required".into())
                })?;
                let mut b = ClientConfig::keycloak(server, realm, client);
                if let Some(s) = &self.client_secret {
                    b = b.client_secret(s);
                }
                WebAuth::new(b, web, store)?
            }
            (None, None) => {
                return Err(keycloak_client::Error::Config(
                    "set keycloak_json or server_url".into(),
                ))
            }
        };
        Ok(Arc::new(auth))
    }
}

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

fn info(req: &ServiceRequest) -> RequestInfo {
    RequestInfo {
        method: req.method().as_str().to_string(),
        path: req.path().to_string(),
        query: Some(req.query_string().to_string()).filter(|q| !q.is_empty()),
        headers: req
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect(),
        body: vec![],
    }
}

fn bearer(req: &ServiceRequest) -> Option<&str> {
    let v = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    // UTF-8 validation is vectorised; `to_str`'s visible-ASCII check walks the ~1.5 KB token
    // byte by byte. A token with other bytes fails verification (and a cache hit needs the
    // byte-identical verified token).
    bearer_from_header(std::str::from_utf8(v.as_bytes()).ok()?)
}

fn auth_of(req: &ServiceRequest) -> Result<web::Data<WebAuth>, actix_web::Error> {
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

/// Browser mode, for `.wrap(from_fn(browser_auth))`. Register
/// [`backchannel_logout`] as the POST handler of the back-channel logout path.
pub async fn browser_auth<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    if req.path() == auth.config().backchannel_logout_path {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    let outcome = auth.handle_browser(&info(&req)).await;
    proceed(outcome, req, next).await
}

/// API mode: a valid bearer token is required.
pub async fn bearer_auth<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let outcome = auth.handle_bearer_token(bearer(&req)).await;
    proceed(outcome, req, next).await
}

/// Pass-through mode: continues with an [`AuthStatus`] in the request extensions.
pub async fn optional_bearer_auth<B: MessageBody + 'static>(
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let auth = auth_of(&req)?;
    let status = auth.bearer_token_status(bearer(&req)).await;
    if let AuthStatus::Authenticated(i) = &status {
        req.extensions_mut().insert(i.clone());
    }
    req.extensions_mut().insert(status);
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The back-channel logout endpoint: `.route("/kc/backchannel-logout", web::post().to(backchannel_logout))`.
pub async fn backchannel_logout(auth: web::Data<WebAuth>, body: web::Bytes) -> HttpResponse {
    to_response(auth.backchannel_logout_body(&body).await)
}

/// Role guard: `.wrap(from_fn(|r, n| require_realm_role("admin", r, n)))` (inside an auth layer).
pub async fn require_realm_role<B: MessageBody + 'static>(
    role: &'static str,
    req: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let ok = req
        .extensions()
        .get::<Identity>()
        .map(|i| i.has_realm_role(role));
    match ok {
        Some(true) => Ok(next.call(req).await?.map_into_boxed_body()),
        Some(false) => {
            Ok(req.into_response(HttpResponse::Forbidden().body("forbidden: missing role")))
        }
        None => Ok(req.into_response(HttpResponse::Unauthorized().body("authentication required"))),
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
    match auth
        .require_permission(identity.as_ref(), resource, scopes, uma_challenge)
        .await
    {
        GuardOutcome::Allow => Ok(next.call(req).await?.map_into_boxed_body()),
        GuardOutcome::Deny(r) => Ok(req.into_response(to_response(r))),
    }
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
