//! The behaviour every HTTP adapter must show. Each adapter implements [`Sender`] over its
//! transport (configured with a 1 s request timeout and a 1 MiB body cap) and runs every check.

use keycloak_client::{Method, Request, Response};

use crate::canned::CannedServer;

/// How a send failed, as the adapter classifies it.
#[derive(Debug, PartialEq, Eq)]
pub enum Failure {
    /// Deadline passed.
    Timeout,
    /// Body over the cap.
    BodyTooLarge,
    /// Could not connect.
    Connect,
    /// Anything else (message).
    Other(String),
}

impl From<keycloak_client_transport::TransportError> for Failure {
    fn from(e: keycloak_client_transport::TransportError) -> Self {
        use keycloak_client_transport::TransportError as T;
        match e {
            T::Timeout { .. } => Failure::Timeout,
            T::BodyTooLarge { .. } => Failure::BodyTooLarge,
            T::Connect { .. } => Failure::Connect,
            other => Failure::Other(other.to_string()),
        }
    }
}

/// One request through the adapter under test.
pub trait Sender {
    /// Sends through the adapter's `send`.
    fn send(&self, req: &Request) -> Result<Response, Failure>;
}

fn req(method: Method, url: url::Url) -> Request {
    Request {
        method,
        url,
        headers: vec![("accept".into(), "application/json".into())],
        body: vec![],
    }
}

/// A 302 is returned as-is, never followed.
pub fn redirect_not_followed(s: &dyn Sender, srv: &CannedServer) {
    let r = s
        .send(&req(Method::Get, srv.url("/redirect")))
        .expect("redirect delivered");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("http://127.0.0.1:9/should-not-be-followed")
    );
}

/// Error statuses come back with their body for the core to interpret.
pub fn error_body_delivered(s: &dyn Sender, srv: &CannedServer) {
    let r = s
        .send(&req(Method::Post, srv.url("/oauth-error")))
        .expect("error delivered");
    assert_eq!(r.status, 400);
    let e = keycloak_client::Error::from_response(&r);
    assert_eq!(e.oauth_error(), Some("invalid_grant"));
    assert!(e.to_string().contains("Code not valid"), "{e}");
}

/// A body over the cap is a `BodyTooLarge` failure.
pub fn body_cap(s: &dyn Sender, srv: &CannedServer) {
    let e = s.send(&req(Method::Get, srv.url("/huge"))).unwrap_err();
    assert_eq!(e, Failure::BodyTooLarge);
}

/// A slow server is a `Timeout` failure (after bounded retries for GET).
pub fn timeout(s: &dyn Sender, srv: &CannedServer) {
    let started = std::time::Instant::now();
    let e = s.send(&req(Method::Post, srv.url("/slow"))).unwrap_err();
    assert_eq!(e, Failure::Timeout);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "timed out too late: {:?}",
        started.elapsed()
    );
}

/// Idempotent requests are retried on 503 (bounded), POST is not.
pub fn retries(s: &dyn Sender, srv: &CannedServer) {
    let r = s
        .send(&req(Method::Get, srv.url("/flaky")))
        .expect("retried to success");
    assert_eq!(r.status, 200);
    assert_eq!(srv.hits("/flaky"), 3);
    let r = s
        .send(&req(Method::Post, srv.url("/flaky-post")))
        .expect("503 delivered");
    assert_eq!(r.status, 503);
    assert_eq!(srv.hits("/flaky-post"), 1);
}

/// A closed port is a `Connect` failure.
pub fn connect_refused(s: &dyn Sender) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let e = s
        .send(&req(
            Method::Get,
            url::Url::parse(&format!("http://127.0.0.1:{port}/x")).unwrap(),
        ))
        .unwrap_err();
    assert_eq!(e, Failure::Connect);
}

/// Method, query, headers and body arrive unchanged.
pub fn request_transmitted(s: &dyn Sender, srv: &CannedServer) {
    let mut r = req(Method::Put, srv.url("/echo?a=1&b=two"));
    r.headers
        .push(("authorization".into(), "Bearer abc".into()));
    r.headers
        .push(("content-type".into(), "application/json".into()));
    r.body = br#"{"x":1}"#.to_vec();
    let resp = s.send(&r).expect("echo");
    let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(v["method"], "PUT");
    assert_eq!(v["target"], "/echo?a=1&b=two");
    assert_eq!(v["body"], r#"{"x":1}"#);
    let headers = v["headers"].as_array().unwrap();
    assert!(headers
        .iter()
        .any(|h| h[0] == "authorization" && h[1] == "Bearer abc"));
}

/// A body cut short is a failure, not a panic and not a silently short body.
pub fn truncated_body(s: &dyn Sender, srv: &CannedServer) {
    match s.send(&req(Method::Get, srv.url("/truncated"))) {
        Err(Failure::Other(_)) | Err(Failure::Connect) => {}
        other => panic!("truncated body must fail, got {other:?}"),
    }
}
