//! Uncached bearer validation across cores: one shared `TokenValidator`, 1 then 2 worker
//! threads validating the same RS256 access token for a fixed time, interleaved, median of the
//! rounds. Verification runs outside the key-set lock, so two workers should approach 2x.
//!
//!   cargo run --release -p keycloak-client-ring --example validate_scaling [SECONDS] [ROUNDS]
//!   (default 3 s per run, 3 rounds; scripts/bench runs it)

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use keycloak_client::{ClientConfig, Discovered, JwkSet, TokenValidator, UnixTime};
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};

const ISSUER: &str = "http://127.0.0.1:18080/realms/rkc";
const CLIENT_ID: &str = "rkc-rs";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn run(v: &Arc<TokenValidator>, token: &Arc<String>, workers: usize, secs: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (v, token, stop, done) = (v.clone(), token.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    v.validate_access_token(&token, UnixTime(now())).unwrap();
                    n += 1;
                }
                done.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let der = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/keys/rsa1.pk8.der"
    ))
    .unwrap();
    let key = RsaKeyPair::from_pkcs8(&der).unwrap();
    let c: signature::RsaPublicKeyComponents<Vec<u8>> = key.public().into();
    let jwks = serde_json::json!({"keys":[{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","n":b64(&c.n),"e":b64(&c.e)}]});
    let provider = serde_json::from_value(serde_json::json!({
        "issuer": ISSUER,
        "authorization_endpoint": format!("{ISSUER}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{ISSUER}/protocol/openid-connect/token"),
        "jwks_uri": format!("{ISSUER}/protocol/openid-connect/certs")
    }))
    .unwrap();
    let config = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", CLIENT_ID)
        .build()
        .unwrap();
    let client = keycloak_client::Client::new(
        config,
        Discovered {
            provider,
            uma: None,
            fetched_at: UnixTime(now()),
        },
    );
    let v = Arc::new(
        TokenValidator::new(&client, Arc::new(keycloak_client_ring::RingVerifier)).unwrap(),
    );
    v.install_keys(
        JwkSet::parse(jwks.to_string().as_bytes()).unwrap(),
        UnixTime(now()),
    );
    let t = now();
    let header = serde_json::json!({"alg":"RS256","typ":"JWT","kid":"k1"});
    let claims = serde_json::json!({"iss":ISSUER,"sub":"f:1234:alice","aud":CLIENT_ID,"azp":CLIENT_ID,
        "typ":"Bearer","iat":t,"exp":t + 3600,"realm_access":{"roles":["user"]}});
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
    let token = Arc::new(format!("{input}.{}", b64(&sig)));
    v.validate_access_token(&token, UnixTime(now())).unwrap();
    let (mut one, mut two) = (vec![], vec![]);
    for _ in 0..rounds {
        one.push(run(&v, &token, 1, secs));
        two.push(run(&v, &token, 2, secs));
    }
    let (one, two) = (median(one), median(two));
    println!("workers=1 validations/s={one:.0}");
    println!("workers=2 validations/s={two:.0}");
    println!("ratio={:.2}", two / one);
}
