#![allow(dead_code)]
pub mod signer;
use keycloak_client::{Client, ClientConfig, Discovered, Exchange, Response, UnixTime};

/// A deterministic RNG for reproducible requests (never use outside tests).
pub struct CountingRng(pub u8);

impl rand_core::TryRng for CountingRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst {
            *d = self.0;
            self.0 = self.0.wrapping_add(1);
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for CountingRng {}

/// Loads a recorded envelope from tests/recorded/.
pub fn recorded(name: &str) -> Response {
    let path = format!("{}/tests/recorded/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut headers = vec![(
        "content-type".to_string(),
        v["content_type"].as_str().unwrap().to_string(),
    )];
    if let Some(w) = v["www_authenticate"].as_str().filter(|w| !w.is_empty()) {
        headers.push(("www-authenticate".into(), w.to_string()));
    }
    Response::new(
        v["status"].as_u64().unwrap() as u16,
        headers,
        v["body"].as_str().unwrap().as_bytes().to_vec(),
    )
}

pub const NOW: UnixTime = UnixTime(1_800_000_000);

pub fn config(client_id: &str, secret: Option<&str>) -> ClientConfig {
    let mut b = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", client_id)
        .redirect_uri("http://127.0.0.1/callback");
    if let Some(s) = secret {
        b = b.client_secret(s);
    }
    b.build().unwrap()
}

/// The recorded discovery document, through the discovery flow's own checks.
pub fn provider() -> keycloak_client::ProviderMetadata {
    keycloak_client::DiscoveryRequest::new(&config("rkc-rs", None))
        .handle(recorded("discovery"), NOW)
        .unwrap()
}

/// A client built from the recorded discovery documents.
pub fn client(client_id: &str, secret: Option<&str>) -> Client {
    client_from(config(client_id, secret))
}

/// The test realm's `rkc-rs` with the callback URI, to configure further.
pub fn builder() -> keycloak_client::ClientConfigBuilder {
    ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
        .redirect_uri("http://127.0.0.1/callback")
}

/// A client of `cfg` built from the recorded discovery documents.
pub fn client_from(cfg: ClientConfig) -> Client {
    let provider = provider();
    let uma = keycloak_client::UmaDiscoveryRequest::new(&cfg)
        .handle(recorded("uma_discovery"), NOW)
        .unwrap();
    Client::new(
        cfg,
        Discovered {
            provider,
            uma: Some(uma),
            fetched_at: NOW,
        },
    )
}

pub fn rs() -> Client {
    client("rkc-rs", Some("rkc-rs-secret"))
}

pub fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

pub const ISS: &str = "http://127.0.0.1:18080/realms/rkc";

/// A JWS-shaped token with these claims and a meaningless signature (for claim-only paths).
pub fn unsigned_jwt(claims: &serde_json::Value) -> String {
    use base64::Engine as _;
    let e = |v: &serde_json::Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    format!(
        "{}.{}.c2ln",
        e(&serde_json::json!({"alg":"RS256","kid":"k1"})),
        e(claims)
    )
}

/// Keycloak-shaped ID-token claims for `client_id`, issued at `iat`.
pub fn id_claims(client_id: &str, sub: &str, iat: UnixTime) -> serde_json::Value {
    serde_json::json!({
        "iss": ISS, "sub": sub, "aud": client_id, "azp": client_id, "typ": "ID",
        "iat": iat.0, "exp": iat.0 + 300, "auth_time": iat.0 - 10, "sid": "s1"
    })
}
