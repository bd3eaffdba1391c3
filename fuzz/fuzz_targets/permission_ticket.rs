#![no_main]
use keycloak_client::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let resp = Response::new(201, vec![("content-type".into(), "application/json".into())], data.to_vec());
    let _ = keycloak_client::parse::permission_ticket(&resp);
});
