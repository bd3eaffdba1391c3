//! Blocking driver for the sans-IO [`keycloak_client`] core, on `ureq`.
//!
//! * [`HttpClient`]: `send(&Request) -> Response` and the generic [`HttpClient::run`] loop.
//!   Redirects are never followed, non-2xx responses are delivered to the core, bodies are
//!   capped, connect/read timeouts apply, idempotent requests are retried on connection errors
//!   and 502/503/504 with bounded backoff, and `tracing` events never carry secrets.
//! * [`Keycloak`]: the seed library's vocabulary (`login`, `callback`, `fetch_userinfo`, `pat`,
//!   `find_ticket`, ...): the core's [`keycloak_client::Keycloak`] with this client as its
//!   [`Driver`]. All state (discovery, PAT, keys, timers) lives in the core's
//!   [`Agent`](keycloak_client::Agent); this crate only moves bytes and sleeps.
//!
//! ```no_run
//! use keycloak_client_ureq::Keycloak;
//! let kc = Keycloak::from_keycloak_json(&std::fs::read_to_string("keycloak.json")?)?
//!     .redirect_uri("http://127.0.0.1:8000/callback")
//!     .jws_verifier(std::sync::Arc::new(keycloak_client_ring::RingVerifier))
//!     .build()?;
//! let (url, pending) = kc.login()?;            // redirect the browser to `url`
//! # let query = "";
//! let tokens = kc.callback(pending, query)?;   // on the redirect back
//! let user = kc.fetch_userinfo(&tokens.tokens.access_token)?;
//! let pat = kc.pat()?;                         // fetched once, shared, refreshed before expiry
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::Read;
use std::time::{Duration, Instant};

pub use keycloak_client;
use keycloak_client::{drive, Driver, Exchange, Flow, Request, Response, Single};

use keycloak_client_transport as transport;
pub use keycloak_client_transport::{now, Error, Limits, RetryPolicy, TransportError};

/// A blocking HTTP client configured for talking to an authorization server.
#[derive(Clone, Debug)]
pub struct HttpClient {
    limits: Limits,
    agent: ureq::Agent,
}

impl HttpClient {
    /// A client with connect and overall-request timeouts.
    pub fn new(connect_timeout: Duration, request_timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .save_redirect_history(false)
            .timeout_connect(Some(connect_timeout))
            .timeout_global(Some(request_timeout))
            .user_agent(concat!("keycloak-client-ureq/", env!("CARGO_PKG_VERSION")))
            .build();
        HttpClient {
            limits: Limits::default(),
            agent: config.into(),
        }
    }

    /// Sets the body cap and the retry policy.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    fn send_once(&self, req: &Request) -> Result<Response, TransportError> {
        let host = transport::host_of(&req.url);
        let mut b = http::Request::builder()
            .method(req.method.as_str())
            .uri(req.url.as_str());
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let hreq = b
            .body(req.body.clone())
            .map_err(|e| TransportError::Other {
                host: host.clone(),
                detail: e.to_string(),
            })?;
        let started = Instant::now();
        let map_err = |e: ureq::Error, host: &str| -> TransportError {
            match e {
                ureq::Error::Timeout(_) => TransportError::Timeout {
                    host: host.to_string(),
                    after_ms: started.elapsed().as_millis(),
                },
                ureq::Error::BodyExceedsLimit(_) => TransportError::BodyTooLarge {
                    host: host.to_string(),
                    limit: self.limits.max_body,
                },
                ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                    TransportError::Connect {
                        host: host.to_string(),
                        detail: e.to_string(),
                    }
                }
                ureq::Error::Io(io) => TransportError::from_io(host, &io, started),
                other => TransportError::Other {
                    host: host.to_string(),
                    detail: other.to_string(),
                },
            }
        };
        let mut resp = self.agent.run(hreq).map_err(|e| map_err(e, &host))?;
        let status = resp.status().as_u16();
        let max_body = self.limits.max_body;
        let mut body = Vec::new();
        let reader = resp.body_mut().as_reader();
        reader
            .take(max_body as u64 + 1)
            .read_to_end(&mut body)
            .map_err(|e| map_err(ureq::Error::Io(e), &host))?;
        if body.len() > max_body {
            let limit = max_body;
            return Err(TransportError::BodyTooLarge { host, limit });
        }
        let headers = resp.headers();
        Ok(transport::response(req, status, headers, body, started))
    }

    /// Sends one request. Never follows redirects; delivers every status to the caller.
    /// Retries idempotent requests (and any request that never connected) with backoff.
    pub fn send(&self, req: &Request) -> Result<Response, TransportError> {
        let _span = transport::request_span(req).entered();
        let retry = self.limits.retry;
        retry.run_blocking(req.method, || self.send_once(req))
    }

    /// Drives any flow to completion with the core's [`drive`].
    pub fn run<F: Flow>(&self, flow: F) -> Result<F::Output, Error> {
        drive(flow, |r| Ok(self.send(r)?), now)
    }

    /// Performs a one-round-trip step.
    pub fn exec<E: Exchange>(&self, exchange: E) -> Result<E::Output, Error> {
        self.run(Single::new(exchange))
    }
}

/// The seed's blocking client: `Keycloak::from_keycloak_json(..)?.build()?`, then `kc.pat()?`.
pub type Keycloak = keycloak_client::Keycloak<HttpClient>;
/// Its builder.
pub type KeycloakBuilder = keycloak_client::KeycloakBuilder<HttpClient>;

impl Default for HttpClient {
    fn default() -> Self {
        Self::new(transport::CONNECT_TIMEOUT, transport::REQUEST_TIMEOUT)
    }
}

impl Driver for HttpClient {
    type Error = Error;
    type Run<'a, T: Send + 'a> = Result<T, Error>;
    fn run<'a, F>(&'a self, flow: F) -> Result<F::Output, Error>
    where
        F: Flow + Send + 'a,
        F::Output: Send + 'a,
    {
        HttpClient::run(self, flow)
    }
    keycloak_client_transport::system_clock_and_rng!();
}
