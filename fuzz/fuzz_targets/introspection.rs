#![no_main]
use keycloak_client::*;
use libfuzzer_sys::fuzz_target;

// The flows' own parsers, on a client of the test realm (no I/O).
#[path = "../../src/doc_fixtures.rs"]
mod fixtures;
use fixtures::{client, NOW};

fuzz_target!(|data: &[u8]| {
    let c = client();
    let resp = Response::json(200, data.to_vec());
    let _ = c
        .introspect("eyJ.a.b", None)
        .unwrap()
        .handle(resp.clone(), NOW);
    let grant = c.uma_grant(uma::UmaGrantAuth::Client).permissions();
    let _ = grant.handle(resp, NOW);
});
