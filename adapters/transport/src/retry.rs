//! Which requests are retried, after what pause, and the retry loops (blocking and async).

use std::future::Future;
use std::time::Duration;

use keycloak_client::{Method, Response};

use crate::error::TransportError;

/// Retry policy for requests that can be repeated safely.
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

/// The outcome of one attempt, as the retry rule sees it.
pub enum Attempt<'a> {
    /// A response with this status arrived.
    Status(u16),
    /// The attempt failed.
    Failed(&'a TransportError),
}

impl RetryPolicy {
    /// Whether to try again after `attempt` (1-based): idempotent requests on 502/503/504,
    /// timeouts and dropped connections; any request that never connected. Never past
    /// `attempts`.
    pub fn should_retry(&self, method: Method, attempt: u32, outcome: Attempt<'_>) -> bool {
        if attempt >= self.attempts.max(1) {
            return false;
        }
        match outcome {
            Attempt::Status(s) => matches!(s, 502..=504) && method.is_idempotent(),
            Attempt::Failed(TransportError::Connect { .. }) => true,
            Attempt::Failed(
                TransportError::Timeout { .. } | TransportError::Disconnected { .. },
            ) => method.is_idempotent(),
            Attempt::Failed(_) => false,
        }
    }

    /// After attempt `attempt` of a `method` request ended in `result`: the pause before the
    /// next attempt, or `None` to hand `result` back. Logs the retry or the final failure.
    pub fn next_attempt(
        &self,
        method: Method,
        attempt: u32,
        result: &Result<Response, TransportError>,
    ) -> Option<Duration> {
        let outcome = match result {
            Ok(resp) => Attempt::Status(resp.status),
            Err(e) => Attempt::Failed(e),
        };
        if !self.should_retry(method, attempt, outcome) {
            if let Err(e) = result {
                tracing::warn!(target: "keycloak_client::http", error = %e, attempt, "request failed");
            }
            return None;
        }
        match result {
            Ok(resp) => {
                tracing::warn!(target: "keycloak_client::http", status = resp.status, attempt, "retrying")
            }
            Err(e) => {
                tracing::warn!(target: "keycloak_client::http", error = %e, attempt, "retrying")
            }
        }
        Some(self.backoff(attempt))
    }

    /// The backoff before attempt `attempt + 1`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
    }
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds or this policy gives up, sleeping the thread between
    /// attempts.
    pub fn run_blocking(
        &self,
        method: Method,
        mut attempt: impl FnMut() -> Result<Response, TransportError>,
    ) -> Result<Response, TransportError> {
        let mut n = 1;
        loop {
            let result = attempt();
            match self.next_attempt(method, n, &result) {
                None => return result,
                Some(pause) => std::thread::sleep(pause),
            }
            n += 1;
        }
    }

    /// [`run_blocking`](Self::run_blocking) for async code: `sleep` is the runtime's timer.
    pub async fn run_async<A, S>(
        &self,
        method: Method,
        mut attempt: impl FnMut() -> A,
        mut sleep: impl FnMut(Duration) -> S,
    ) -> Result<Response, TransportError>
    where
        A: Future<Output = Result<Response, TransportError>>,
        S: Future<Output = ()>,
    {
        let mut n = 1;
        loop {
            let result = attempt().await;
            match self.next_attempt(method, n, &result) {
                None => return result,
                Some(pause) => sleep(pause).await,
            }
            n += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::strip_query;

    #[test]
    fn retry_rule() {
        let p = RetryPolicy::default();
        let c = TransportError::Connect {
            host: "h".into(),
            detail: "d".into(),
        };
        let t = TransportError::Timeout {
            host: "h".into(),
            after_ms: 1,
        };
        assert!(
            p.should_retry(Method::Post, 1, Attempt::Failed(&c)),
            "never connected: safe to repeat"
        );
        assert!(
            !p.should_retry(Method::Post, 1, Attempt::Failed(&t)),
            "a POST that may have run is not repeated"
        );
        assert!(p.should_retry(Method::Get, 2, Attempt::Failed(&t)));
        assert!(
            !p.should_retry(Method::Get, 3, Attempt::Failed(&t)),
            "bounded"
        );
        assert!(p.should_retry(Method::Get, 1, Attempt::Status(503)));
        assert!(!p.should_retry(Method::Post, 1, Attempt::Status(503)));
        assert!(!p.should_retry(Method::Get, 1, Attempt::Status(500)));
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(3), Duration::from_millis(400));
        assert_eq!(
            strip_query(&"http://h/p?code=secret#x".parse().unwrap()),
            "http://h/p"
        );
    }
}
