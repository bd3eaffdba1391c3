#![no_main]
use keycloak_client::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = keycloak_client::CallbackParams::from_query(s);
    }
    let _ = &Response::json(200, Vec::new());
});
