//! A fixed RSA test key that signs tokens the way Keycloak does (ring is a dev-dependency).

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use serde_json::{json, Value};

pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The realm's signing key (a fixed RSA test key) and its JWKS.
pub struct Signer(pub RsaKeyPair);

impl Signer {
    pub fn new() -> Self {
        let der = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/adapters/ring/tests/keys/rsa1.pk8.der"
        ))
        .unwrap();
        Signer(RsaKeyPair::from_pkcs8(&der).unwrap())
    }
    pub fn jwks(&self) -> String {
        let c: signature::RsaPublicKeyComponents<Vec<u8>> = self.0.public().into();
        json!({"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)}]})
            .to_string()
    }
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg":"RS256","typ":"JWT","kid":"k1"});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", b64(&sig))
    }
}
