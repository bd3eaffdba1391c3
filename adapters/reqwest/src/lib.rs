//! Async driver for the sans-IO [`keycloak_client`] core, on `reqwest`.
//!
//! * [`HttpClient`]: `send(&Request) -> Response` and the generic [`HttpClient::run`] loop.
//!   Redirects are never followed, non-2xx responses are delivered to the core, bodies are
//!   capped while streaming, connect/request timeouts apply, idempotent requests are retried on
//!   connection errors and 502/503/504 with bounded backoff, `tracing` events carry no secrets.
//! * [`Keycloak`]: the seed library's vocabulary, `.await`ed: the core's
//!   [`keycloak_client::Keycloak`] with this client as its [`Driver`]. Discovery, the PAT and
//!   the key set are fetched once however many tasks ask (the core's single flight).
//!
//! ```no_run
//! use keycloak_client_reqwest::Keycloak;
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let kc = Keycloak::from_keycloak_json(&std::fs::read_to_string("keycloak.json")?)?
//!     .redirect_uri("http://127.0.0.1:8000/callback")
//!     .jws_verifier(std::sync::Arc::new(keycloak_client_ring::RingVerifier))
//!     .build()?;
//! let (url, pending) = kc.login().await?;            // redirect the browser to `url`
//! # let query = "";
//! let tokens = kc.callback(pending, query).await?;   // on the redirect back
//! let user = kc.fetch_userinfo(&tokens.tokens.access_token).await?;
//! let pat = kc.pat().await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use keycloak_client;
use keycloak_client::{
    drive_async_http, AsyncHttp, Driver, Exchange, Flow, Request, Response, Single, UnixTime,
};

use keycloak_client_transport as transport;
pub use keycloak_client_transport::{now, Error, Limits, RetryPolicy, TransportError};

/// An async HTTP client configured for talking to an authorization server.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
    limits: Limits,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(transport::CONNECT_TIMEOUT, transport::REQUEST_TIMEOUT)
    }
}

impl HttpClient {
    /// A client with connect and overall-request timeouts; redirects disabled.
    pub fn new(connect_timeout: Duration, request_timeout: Duration) -> Self {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .timeout(request_timeout)
            .user_agent(concat!(
                "keycloak-client-reqwest/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self::from_reqwest(inner)
    }

    /// Wraps an existing `reqwest::Client`. It **must** be built with
    /// `redirect(Policy::none())`: following redirects from an authorization server leaks
    /// credentials and codes.
    pub fn from_reqwest(inner: reqwest::Client) -> Self {
        let limits = Limits::default();
        HttpClient { inner, limits }
    }

    /// Sets the body cap and the retry policy.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    fn classify(&self, e: reqwest::Error, host: &str, started: Instant) -> TransportError {
        if e.is_timeout() {
            TransportError::Timeout {
                host: host.to_string(),
                after_ms: started.elapsed().as_millis(),
            }
        } else if e.is_connect() {
            TransportError::Connect {
                host: host.to_string(),
                detail: error_chain(&e),
            }
        } else {
            let detail = error_chain(&e);
            let lower = detail.to_ascii_lowercase();
            if lower.contains("connection closed")
                || lower.contains("incomplete")
                || lower.contains("connection reset")
            {
                TransportError::Disconnected {
                    host: host.to_string(),
                    detail,
                }
            } else {
                TransportError::Other {
                    host: host.to_string(),
                    detail,
                }
            }
        }
    }

    async fn send_once(&self, req: &Request) -> Result<Response, TransportError> {
        let host = transport::host_of(&req.url);
        let method = reqwest::Method::from_bytes(req.method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut b = self.inner.request(method, req.url.as_str());
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        if !req.body.is_empty() {
            b = b.body(req.body.clone());
        }
        let started = Instant::now();
        let mut resp = b
            .send()
            .await
            .map_err(|e| self.classify(e, &host, started))?;
        let status = resp.status().as_u16();
        let max_body = self.limits.max_body;
        let too_large = |host| TransportError::BodyTooLarge {
            host,
            limit: max_body,
        };
        if resp
            .content_length()
            .is_some_and(|len| len > max_body as u64)
        {
            return Err(too_large(host));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.classify(e, &host, started))?
        {
            if body.len() + chunk.len() > max_body {
                return Err(too_large(host));
            }
            body.extend_from_slice(&chunk);
        }
        let headers = resp.headers();
        Ok(transport::response(req, status, headers, body, started))
    }

    /// Sends one request. Never follows redirects; delivers every status to the caller.
    /// Retries idempotent requests (and any request that never connected) with backoff.
    pub async fn send(&self, req: &Request) -> Result<Response, TransportError> {
        use tracing::Instrument as _;
        let retry = self.limits.retry;
        let sleep = |d| tokio::time::sleep(d);
        let sending = retry.run_async(req.method, || self.send_once(req), sleep);
        sending.instrument(transport::request_span(req)).await
    }

    /// Drives any flow to completion with the core's [`drive_async_http`] on tokio's timer.
    pub async fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        drive_async_http(flow, self).await
    }

    /// Performs a one-round-trip step.
    pub async fn exec<E: Exchange>(&self, exchange: E) -> Result<E::Output, Error> {
        self.run(Single::new(exchange)).await
    }
}

/// The seed's async client: `Keycloak::from_keycloak_json(..)?.build()?`, then
/// `kc.pat().await?`.
pub type Keycloak = keycloak_client::Keycloak<HttpClient>;
/// Its builder.
pub type KeycloakBuilder = keycloak_client::KeycloakBuilder<HttpClient>;

/// A running flow.
pub type Running<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

impl AsyncHttp for HttpClient {
    type Error = Error;
    async fn send(&self, req: &Request) -> Result<Response, Error> {
        Ok(HttpClient::send(self, req).await?)
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await
    }
    fn now(&self) -> UnixTime {
        now()
    }
}

impl Driver for HttpClient {
    type Error = Error;
    type Run<'a, T: Send + 'a> = Running<'a, T>;
    fn run<'a, F>(&'a self, flow: F) -> Running<'a, F::Output>
    where
        F: Flow + Send + 'a,
        F::Output: Send + 'a,
    {
        Box::pin(HttpClient::run(self, flow))
    }
    keycloak_client_transport::system_clock_and_rng!();
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
