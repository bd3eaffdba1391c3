#![no_main]
use keycloak_client::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = keycloak_client::jwt::decode_unverified(s) {
            let _ = t.claims.numeric_date("exp");
            let _ = t.claims.aud();
            let _ = t.claims.realm_roles();
        }
    }
    let _ = &Response::json(200, Vec::new());
});
