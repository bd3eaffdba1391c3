//! Async driver for the sans-IO [`keycloak_client`] core, on `reqwest`.
//!
//! * [`HttpClient`]: `send(&Request) -> Response` and the generic [`HttpClient::run`] loop.
//!   Redirects are never followed, non-2xx responses are delivered to the core, bodies are
//!   capped while streaming, connect/request timeouts apply, idempotent requests are retried on
//!   connection errors and 502/503/504 with bounded backoff, `tracing` events carry no secrets.
//! * [`Keycloak`]: the seed library's vocabulary with cached discovery and a PAT that is
//!   refreshed before expiry by one task at a time, however many callers wait.

mod friendly;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use friendly::{Keycloak, KeycloakBuilder};
pub use keycloak_client;
use keycloak_client::{Exchange, Flow, Request, Response, Single, Step, UnixTime};

/// A transport failure (no HTTP response was received, or it could not be read).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The server could not be reached.
    #[error("cannot connect to {host}: {detail}")]
    Connect {
        /// Host and port.
        host: String,
        /// Underlying error.
        detail: String,
    },
    /// The deadline passed.
    #[error("request to {host} timed out after {after_ms} ms")]
    Timeout {
        /// Host and port.
        host: String,
        /// Elapsed time.
        after_ms: u128,
    },
    /// The response body exceeded the cap.
    #[error("response body from {host} exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// Host and port.
        host: String,
        /// The limit.
        limit: usize,
    },
    /// Any other failure.
    #[error("HTTP transport error talking to {host}: {detail}")]
    Other {
        /// Host and port.
        host: String,
        /// Underlying error.
        detail: String,
    },
}

/// Either the core's protocol error or a transport error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A protocol error from the core.
    #[error(transparent)]
    Keycloak(#[from] keycloak_client::Error),
    /// The HTTP exchange failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl Error {
    /// The core error, if this is one.
    pub fn keycloak(&self) -> Option<&keycloak_client::Error> {
        match self {
            Error::Keycloak(e) => Some(e),
            Error::Transport(_) => None,
        }
    }
}

/// Retry policy for idempotent requests.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Total attempts (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubled each retry.
    pub initial_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(100),
        }
    }
}

/// The current time as the core wants it.
pub fn now() -> UnixTime {
    UnixTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    )
}

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

fn host_of(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0)
    )
}

fn strip_query(u: &url::Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
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
            TransportError::Other {
                host: host.to_string(),
                detail: error_chain(&e),
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
        let mut backoff = self.retry.initial_backoff;
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            let last = attempt >= attempts;
            match self.send_once(req).await {
                Ok(resp)
                    if matches!(resp.status, 502..=504) && req.method.is_idempotent() && !last =>
                {
                    tracing::warn!(target: "keycloak_client::http", status = resp.status, attempt, "retrying after gateway error");
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    let retry = match &e {
                        TransportError::Connect { .. } => true,
                        TransportError::Timeout { .. } => req.method.is_idempotent(),
                        _ => false,
                    };
                    if !retry || last {
                        tracing::warn!(target: "keycloak_client::http", error = %e, attempt, "request failed");
                        return Err(e);
                    }
                    tracing::warn!(target: "keycloak_client::http", error = %e, attempt, "retrying");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
            attempt += 1;
        }
    }

    /// Drives any multi-step flow to completion.
    pub async fn run<F: Flow>(&self, mut flow: F) -> Result<F::Output, Error> {
        loop {
            match flow.poll()? {
                Step::Send(req) => {
                    let resp = self.send(&req).await?;
                    flow.handle_response(resp, now())?;
                }
                Step::Done(out) => return Ok(out),
            }
        }
    }

    /// Performs a one-round-trip step.
    pub async fn exec<E: Exchange>(&self, exchange: E) -> Result<E::Output, Error> {
        self.run(Single::new(exchange)).await
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
