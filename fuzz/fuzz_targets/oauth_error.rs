#![no_main]
use keycloak_client::*;
use libfuzzer_sys::fuzz_target;

// The flows' own parsers, on a client of the test realm (no I/O).
#[path = "../../src/doc_fixtures.rs"]
mod fixtures;
use fixtures::{client, NOW};

fuzz_target!(|data: &[u8]| {
    for status in [400u16, 401, 403, 500] {
        for media in ["application/json", "text/html"] {
            let headers = vec![("content-type".into(), media.into())];
            let resp = Response::new(status, headers, data.to_vec());
            let _ = Error::from_response(&resp).to_string();
            let e = client().pat().unwrap().handle(resp, NOW);
            let _ = e.map_err(|e| e.to_string());
        }
    }
});
