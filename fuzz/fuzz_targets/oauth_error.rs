#![no_main]
use keycloak_client::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for status in [400u16, 401, 403, 500] {
        let resp = Response::new(status, vec![("content-type".into(), "application/json".into())], data.to_vec());
        let _ = keycloak_client::parse::error_response(&resp).to_string();
        let html = Response::new(status, vec![("content-type".into(), "text/html".into())], data.to_vec());
        let _ = keycloak_client::parse::error_response(&html).to_string();
    }
});
