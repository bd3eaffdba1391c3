//! Async driver for the sans-IO [`keycloak_client`] core, on `reqwest`.
//!
//! * [`HttpClient`]: `send(&Request) -> Response` and the generic [`HttpClient::run`] loop.
//!   Redirects are never followed, non-2xx responses are delivered to the core, bodies are
//!   capped while streaming, connect/request timeouts apply, idempotent requests are retried on
//!   connection errors and 502/503/504 with bounded backoff, `tracing` events carry no secrets.
//! * [`Keycloak`]: the seed library's vocabulary, `.await`ed: the core's
//!   [`keycloak_client::Keycloak`] with this client as its [`Driver`]. Discovery, the PAT and
//!   the key set are fetched once however many tasks ask (the core's single flight).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

pub use keycloak_client;
use keycloak_client::{
    drive_async_http, AsyncHttp, Driver, Exchange, Flow, Request, Response, Single, UnixTime,
};

use keycloak_client_transport::{host_of, strip_query};
pub use keycloak_client_transport::{now, Error, RetryPolicy, TransportError};

/// An async HTTP client configured for talking to an authorization server.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: reqwest::Client,
    max_body: usize,
    retry: RetryPolicy,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(Duration::from_secs(5), Duration::from_secs(15))
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
        HttpClient {
            inner,
            max_body: keycloak_client::DEFAULT_MAX_BODY_BYTES,
            retry: RetryPolicy::default(),
        }
    }

    /// Wraps an existing `reqwest::Client`. It **must** be built with
    /// `redirect(Policy::none())`: following redirects from an authorization server leaks
    /// credentials and codes.
    pub fn from_reqwest(inner: reqwest::Client) -> Self {
        HttpClient {
            inner,
            max_body: keycloak_client::DEFAULT_MAX_BODY_BYTES,
            retry: RetryPolicy::default(),
        }
    }

    /// Caps response bodies (default 1 MiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
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
        let host = host_of(&req.url);
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
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if let Some(len) = resp.content_length() {
            if len as usize > self.max_body {
                return Err(TransportError::BodyTooLarge {
                    host,
                    limit: self.max_body,
                });
            }
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.classify(e, &host, started))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(TransportError::BodyTooLarge {
                    host,
                    limit: self.max_body,
                });
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(
            target: "keycloak_client::http",
            method = %req.method,
            url = %strip_query(&req.url),
            status,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "keycloak request"
        );
        Ok(Response::new(status, headers, body))
    }

    /// Sends one request. Never follows redirects; delivers every status to the caller.
    /// Retries idempotent requests (and any request that never connected) with backoff.
    pub async fn send(&self, req: &Request) -> Result<Response, TransportError> {
        use tracing::Instrument as _;
        // The span names the endpoint only: no query (codes, hints), no headers, no body.
        let span = tracing::debug_span!("keycloak.http", method = %req.method, url = %strip_query(&req.url));
        self.send_retrying(req).instrument(span).await
    }

    async fn send_retrying(&self, req: &Request) -> Result<Response, TransportError> {
        let mut attempt = 1;
        loop {
            let result = self.send_once(req).await;
            match self.retry.next_attempt(req.method, attempt, &result) {
                None => return result,
                Some(pause) => tokio::time::sleep(pause).await,
            }
            attempt += 1;
        }
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
    fn now(&self) -> UnixTime {
        now()
    }
    fn rng(&self) -> impl rand::CryptoRng {
        rand::rng()
    }
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
