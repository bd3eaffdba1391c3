#![no_main]
use keycloak_client::*;
use libfuzzer_sys::fuzz_target;

// The flows' own parsers, on a client of the test realm (no I/O).
#[path = "../../src/doc_fixtures.rs"]
mod fixtures;
use fixtures::{client, NOW};

fuzz_target!(|data: &[u8]| {
    let headers = vec![("content-type".into(), "application/json".into())];
    let resp = Response::new(201, headers, data.to_vec());
    let perms = [uma::PermissionRequest::new("doc-1", &["read"])];
    let step = client()
        .permission_ticket(&AccessToken::new("pat"), &perms)
        .unwrap();
    let _ = step.handle(resp, NOW);
});
