use std::time::Duration;

use keycloak_client::{Request, Response};
use keycloak_client_reqwest::{HttpClient, Limits, RetryPolicy};
use keycloak_client_testkit::conformance::{Failure, Sender};

pub struct Reqwest {
    pub rt: tokio::runtime::Runtime,
    pub http: HttpClient,
}

impl Sender for Reqwest {
    fn send(&self, req: &Request) -> Result<Response, Failure> {
        self.rt.block_on(self.http.send(req)).map_err(Failure::from)
    }
}

pub fn sender(timeout: Duration) -> Reqwest {
    Reqwest {
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        http: HttpClient::new(timeout, timeout).limits(Limits::default().retry(RetryPolicy {
            attempts: 3,
            initial_backoff: Duration::from_millis(10),
        })),
    }
}
