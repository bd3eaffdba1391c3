#![no_main]
use keycloak_client::*;
use libfuzzer_sys::fuzz_target;

// The flows' own parsers, on a client of the test realm (no I/O).
#[path = "../../src/doc_fixtures.rs"]
mod fixtures;
use fixtures::{client, NOW};

fuzz_target!(|data: &[u8]| {
    let resp = Response::json(200, data.to_vec());
    // Near the end of time: expiry arithmetic must saturate, never overflow.
    let late = UnixTime(u64::MAX - 5);
    if let Ok(set) = client().pat().unwrap().handle(resp, late) {
        let _ = set.needs_refresh(UnixTime(u64::MAX), u64::MAX);
    }
    let _ = NOW;
});
