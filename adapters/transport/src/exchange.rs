//! What both adapters do around one HTTP exchange: limits, response headers, log-safe URLs and
//! the `tracing` events (which never carry secrets: no query, no headers, no body).

use std::time::{Duration, Instant};

use keycloak_client::{Request, Response, DEFAULT_MAX_BODY_BYTES};

use crate::retry::RetryPolicy;

/// Connect timeout of the default clients.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request timeout of the default clients.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// `host:port` of a URL, for errors.
pub fn host_of(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or("?"),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// A URL without query and fragment (which can carry codes or hints), for logs.
pub fn strip_query(u: &url::Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

/// The limits of an adapter's exchanges: the response body cap and the retry policy.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest response body accepted (default 1 MiB); larger is
    /// [`TransportError::BodyTooLarge`](crate::TransportError::BodyTooLarge).
    pub max_body: usize,
    /// When a request is repeated.
    pub retry: RetryPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: DEFAULT_MAX_BODY_BYTES,
            retry: RetryPolicy::default(),
        }
    }
}

impl Limits {
    /// Caps response bodies.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body = n;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }
}

/// The span of one request (with its retries): the endpoint only.
pub fn request_span(req: &Request) -> tracing::Span {
    tracing::debug_span!("keycloak.http", method = %req.method, url = %strip_query(&req.url))
}

/// The core's response from what arrived, with a `debug` event naming method, endpoint, status
/// and time taken.
pub fn response(
    req: &Request,
    status: u16,
    headers: &http::HeaderMap,
    body: Vec<u8>,
    started: Instant,
) -> Response {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_string(), v)
        })
        .collect();
    tracing::debug!(
        target: "keycloak_client::http",
        method = %req.method,
        url = %strip_query(&req.url),
        status,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "keycloak request"
    );
    Response::new(status, headers, body)
}
