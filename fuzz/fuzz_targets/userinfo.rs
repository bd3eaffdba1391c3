#![no_main]
use keycloak_client::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let resp = Response::json(200, data.to_vec());
    let _ = keycloak_client::parse::userinfo(&resp);
});
