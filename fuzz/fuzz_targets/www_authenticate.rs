#![no_main]
use keycloak_client::Response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(all) = keycloak_client::Challenge::parse_all(s) {
            assert!(!all.is_empty());
        }
        if let Ok(c) = keycloak_client::UmaChallenge::parse(s) {
            // what we format, we parse back identically
            let again =
                keycloak_client::UmaChallenge::parse(&c.to_header_value()).expect("round trip");
            assert_eq!(again.ticket.secret(), c.ticket.secret());
            assert_eq!(again.as_uri, c.as_uri);
        }
    }
    let _ = &Response::json(200, Vec::new());
});
