//! `keycloak.json`'s JWT client credentials, installed: the key file is read and loaded, the
//! system clock and the OS's randomness are supplied.

use std::sync::Arc;

use keycloak_client::{
    ClientAssertion, ClientConfigBuilder, Clock, Error, KeycloakJsonJwt, UnixTime,
};

use crate::signer::RingSigner;

/// The system clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::from(std::time::SystemTime::now())
    }
}

/// Installs the JWT client authentication a `keycloak.json` asked for (`credentials.jwt` with
/// a PKCS#8 PEM `client-key-file`, or `credentials.secret-jwt`); a builder without one comes
/// back unchanged.
///
/// ```
/// let json = r#"{"realm":"r","auth-server-url":"http://127.0.0.1:18080","resource":"app",
///   "credentials":{"secret-jwt":{"secret":"0123456789abcdef0123456789abcdef"}}}"#;
/// let b = keycloak_client::ClientConfig::keycloak_json_builder(json)?;
/// let cfg = keycloak_client_ring::client_assertion_from_keycloak_json(b)?.build()?;
/// assert_eq!(cfg.auth.method(), "client_secret_jwt");
/// # Ok::<(), keycloak_client::Error>(())
/// ```
pub fn client_assertion_from_keycloak_json(
    builder: ClientConfigBuilder,
) -> Result<ClientConfigBuilder, Error> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let assertion = match builder.keycloak_json_jwt() {
        None => return Ok(builder),
        Some(KeycloakJsonJwt::PrivateKey {
            key_file,
            key_type,
            key_id,
            algorithm,
            lifetime_secs,
            ..
        }) => {
            if !key_type.eq_ignore_ascii_case("PEM") {
                return Err(Error::Config(format!(
                    "keycloak.json: a {key_type} keystore cannot be read here; convert the key to \
                     PKCS#8 PEM (openssl pkcs12 -in store.p12 -nocerts -nodes | openssl pkcs8 \
                     -topk8 -nocrypt) and name it in client-key-file"
                )));
            }
            let pem = std::fs::read_to_string(key_file).map_err(|e| {
                Error::Config(format!("keycloak.json: client key file `{key_file}`: {e}"))
            })?;
            let mut signer = RingSigner::from_pem(&pem, *algorithm).map_err(|e| {
                Error::Config(format!("keycloak.json: client key file `{key_file}`: {e}"))
            })?;
            if let Some(kid) = key_id {
                signer = signer.with_key_id(kid);
            }
            let a = ClientAssertion::private_key_jwt(signer.shared(), clock, &mut rand::rng());
            lifetime_secs.map_or(a.clone(), |s| a.lifetime_secs(s))
        }
        Some(KeycloakJsonJwt::SecretJwt {
            secret,
            algorithm,
            lifetime_secs,
            ..
        }) => {
            let a = ClientAssertion::client_secret_jwt(
                secret.clone(),
                *algorithm,
                clock,
                &mut rand::rng(),
            )?;
            lifetime_secs.map_or(a.clone(), |s| a.lifetime_secs(s))
        }
        Some(other) => {
            return Err(Error::Config(format!(
                "keycloak.json: {} is not supported here",
                other.method()
            )))
        }
    };
    Ok(builder.client_assertion(assertion))
}
