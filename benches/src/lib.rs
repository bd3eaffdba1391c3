//! Shared fixtures: one RSA key, one JWKS, one signed ID token and the token/userinfo bodies,
//! identical for every contender.

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};

pub const ISSUER: &str = "http://127.0.0.1:18080/realms/rkc";
pub const CLIENT_ID: &str = "rkc-rs";
pub const NONCE: &str = "n-0S6_WzA2Mj";
pub const NOW: u64 = 1_800_000_000;

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub struct Fixture {
    pub jwks: String,
    pub token_body: Vec<u8>,
    pub userinfo_body: Vec<u8>,
    pub id_token: String,
    pub key: RsaKeyPair,
}

pub fn fixture() -> Fixture {
    let der = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../adapters/ring/tests/keys/rsa1.pk8.der"
    ))
    .unwrap();
    let key = RsaKeyPair::from_pkcs8(&der).unwrap();
    let c: signature::RsaPublicKeyComponents<Vec<u8>> = key.public().into();
    let jwks = serde_json::json!({"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)}]}).to_string();
    let header = serde_json::json!({"alg":"RS256","typ":"JWT","kid":"k1"});
    // `iat`/`exp` around the real clock, so that peers that read the clock accept it too
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({"iss":ISSUER,"sub":"f:1234:alice","aud":CLIENT_ID,"azp":CLIENT_ID,"exp":now + 3600,"iat":now,
        "auth_time":now,"nonce":NONCE,"typ":"ID","sid":"s1","email":"alice@example.test","preferred_username":"alice","name":"Alice Liddell"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; key.public().modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let id_token = format!("{input}.{}", b64(&sig));
    let token_body = serde_json::json!({"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln","expires_in":300,"refresh_expires_in":1800,
        "refresh_token":"eyJhbGciOiJIUzUxMiJ9.eyJzdWIiOiJhIn0.c2ln","token_type":"Bearer","id_token":id_token,"not-before-policy":0,
        "session_state":"s1","scope":"openid email profile"}).to_string().into_bytes();
    let userinfo_body = serde_json::json!({"sub":"f:1234:alice","email_verified":true,"name":"Alice Liddell","preferred_username":"alice",
        "given_name":"Alice","family_name":"Liddell","email":"alice@example.test"}).to_string().into_bytes();
    Fixture {
        jwks,
        token_body,
        userinfo_body,
        id_token,
        key,
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}
