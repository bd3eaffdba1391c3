#![no_main]
//! What the Redis session store reads back: sealed envelopes, login values, session JSON.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    keycloak_client_redis::fuzzing::stored_value(data);
});
