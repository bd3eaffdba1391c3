//! Drivers: the one loop that runs any [`Flow`] with a caller's `send`, for blocking code
//! ([`drive`]) and for async code ([`drive_async`], any runtime), and the [`Driver`] trait an
//! HTTP adapter implements to get the whole [`Keycloak`](crate::Keycloak) vocabulary.
//!
//! The flow decides everything (what to send, when to wait, when another caller's fetch must
//! be awaited); a driver only moves bytes, reads the clock it is given, and sleeps.

use std::future::Future;
use std::time::Duration;

use crate::error::Error;
use crate::flow::{Flow, Step};
use crate::http::{Request, Response};
use crate::time::UnixTime;

/// The one driver loop; each driver supplies how to send, read the clock, sleep and wait.
macro_rules! drive_loop {
    ($flow:ident, |$req:ident| $send:expr, || $now:expr, |$d:ident| $sleep:expr, |$w:ident| $wait:expr) => {{
        // The flow may have been built a while ago: it judges freshness by the time now.
        $flow.handle_timeout($now);
        loop {
            match $flow.poll()? {
                Step::Send($req) => match $send {
                    Ok(resp) => $flow.handle_response(resp, $now)?,
                    // Stale state may serve through an outage; otherwise the transport error.
                    Err(e) if !$flow.handle_send_failure($now) => return Err(e),
                    Err(_) => {}
                },
                Step::WaitUntil(deadline) => {
                    while let Some($d) = remaining(deadline, $now) {
                        $sleep;
                    }
                    $flow.handle_timeout($now);
                }
                Step::Wait($w) => {
                    $wait;
                    $flow.handle_timeout($now);
                }
                Step::Done(out) => return Ok(out),
            }
        }
    }};
}

/// How long to sleep before `deadline`, or `None` once it has passed.
fn remaining(deadline: UnixTime, now: UnixTime) -> Option<Duration> {
    (now < deadline).then(|| Duration::from_secs(now.until(deadline)))
}

/// Runs `flow` to completion on the current thread: `send` performs one HTTP exchange (never
/// following redirects), `now` reads the clock. Waits block the thread.
///
/// ```
/// use keycloak_client::{drive, Agent, ClientConfig, Request, Response, UnixTime};
/// let agent = Agent::builder(ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
///     .client_secret("rkc-rs-secret")).without_uma().build_agent()?;
/// let send = |req: &Request| -> Result<Response, keycloak_client::Error> {
///     Ok(if req.url.path().ends_with("openid-configuration") {
///         Response::json(200, r#"{"issuer":"http://127.0.0.1:18080/realms/rkc",
///             "authorization_endpoint":"http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/auth",
///             "token_endpoint":"http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/token"}"#)
///     } else {
///         Response::json(200, r#"{"access_token":"eyJ.p.t","token_type":"Bearer","expires_in":300}"#)
///     })
/// };
/// let now = || UnixTime(1_700_000_000);
/// let pat = drive(agent.pat(now()), send, now)?;
/// assert_eq!(pat.access_token.secret(), "eyJ.p.t");
/// # Ok::<(), keycloak_client::Error>(())
/// ```
pub fn drive<F, E>(
    flow: F,
    send: impl FnMut(&Request) -> Result<Response, E>,
    now: impl FnMut() -> UnixTime,
) -> Result<F::Output, E>
where
    F: Flow,
    E: From<Error>,
{
    drive_with_sleep(flow, send, now, std::thread::sleep)
}

/// [`drive`] with the sleep supplied too (a simulated clock in tests, a custom scheduler).
pub fn drive_with_sleep<F, E>(
    mut flow: F,
    mut send: impl FnMut(&Request) -> Result<Response, E>,
    mut now: impl FnMut() -> UnixTime,
    mut sleep: impl FnMut(Duration),
) -> Result<F::Output, E>
where
    F: Flow,
    E: From<Error>,
{
    drive_loop!(flow, |req| send(&req), || now(), |d| sleep(d), |w| w
        .wait_blocking())
}

/// Runs `flow` to completion in async code, on any runtime: `send` performs one HTTP exchange,
/// `now` reads the clock, `sleep` is the runtime's timer (e.g. `tokio::time::sleep`).
///
/// For a future that must be `Send` (spawned tasks), implement [`AsyncHttp`] and use
/// [`drive_async_http`]: a closure's future cannot promise `Send` on stable Rust.
pub async fn drive_async<F, E>(
    flow: F,
    send: impl AsyncFnMut(&Request) -> Result<Response, E>,
    now: impl FnMut() -> UnixTime,
    sleep: impl AsyncFnMut(Duration),
) -> Result<F::Output, E>
where
    F: Flow,
    E: From<Error>,
{
    let (mut flow, mut send, mut now, mut sleep) = (flow, send, now, sleep);
    drive_loop!(
        flow,
        |req| send(&req).await,
        || now(),
        |d| sleep(d).await,
        |w| w.await
    )
}

/// An async HTTP stack whose futures are `Send`: what an async adapter implements.
pub trait AsyncHttp: Sync {
    /// Core errors and the transport's.
    type Error: From<Error>;
    /// One HTTP exchange; redirects are never followed.
    fn send(&self, req: &Request) -> impl Future<Output = Result<Response, Self::Error>> + Send;
    /// The runtime's timer.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// [`drive_async`] for an [`AsyncHttp`]: the returned future is `Send` when the flow is.
pub async fn drive_async_http<F: Flow, H: AsyncHttp>(
    flow: F,
    http: &H,
) -> Result<F::Output, H::Error> {
    let mut flow = flow;
    drive_loop!(
        flow,
        |req| http.send(&req).await,
        || http.now(),
        |d| http.sleep(d).await,
        |w| w.await
    )
}

/// An HTTP stack that runs flows: what an adapter implements to offer the whole
/// [`Keycloak`](crate::Keycloak) vocabulary, blocking (`Run = Result`) or async
/// (`Run = a boxed future`).
pub trait Driver: Send + Sync {
    /// Core errors and the transport's.
    type Error: From<Error>;
    /// What [`run`](Self::run) returns for a flow with output `T`.
    type Run<'a, T: Send + 'a>
    where
        Self: 'a;
    /// Runs a flow to completion (usually with [`drive`] or [`drive_async`]).
    fn run<'a, F>(&'a self, flow: F) -> Self::Run<'a, F::Output>
    where
        F: Flow + Send + 'a,
        F::Output: Send + 'a;
    /// The current time.
    fn now(&self) -> UnixTime;
    /// A cryptographically secure RNG (for `state`, `nonce` and the PKCE verifier).
    fn rng(&self) -> impl rand_core::CryptoRng;
}
