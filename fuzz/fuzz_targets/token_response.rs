#![no_main]
use keycloak_client::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let resp = Response::json(200, data.to_vec());
    if let Ok(t) = keycloak_client::parse::token_response(&resp) {
        let set = keycloak_client::TokenSet::from_response(t, keycloak_client::UnixTime(u64::MAX - 5));
        let _ = set.needs_refresh(keycloak_client::UnixTime(u64::MAX), u64::MAX);
    }
});
