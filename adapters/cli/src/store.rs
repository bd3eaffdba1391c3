//! Tokens kept between invocations: one file per issuer and client under the user's cache
//! directory, readable only by the user (0600, in a 0700 directory).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use keycloak_client::TokenSet;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Failure, Result};

#[derive(Serialize, Deserialize)]
pub struct Saved {
    pub issuer: String,
    pub client_id: String,
    pub tokens: TokenSet,
    pub subject: Option<String>,
    pub username: Option<String>,
}

pub struct Store {
    path: PathBuf,
    issuer: String,
    client_id: String,
}

fn cache_dir() -> Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x));
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache"))
        .ok_or_else(|| {
            Failure::protocol("cannot find a cache directory (set HOME or XDG_CACHE_HOME)")
        })
}

impl Store {
    pub fn for_client(issuer: &str, client_id: &str) -> Result<Store> {
        let digest = Sha256::digest(format!("{issuer}\n{client_id}").as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Store {
            path: cache_dir()?.join("kcc").join(format!("tokens-{name}.json")),
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The DPoP key of this issuer and client (`dpop-*.json` beside the tokens, 0600): made on
    /// first use, kept so that bound tokens stay usable across runs.
    pub fn dpop_key(&self) -> Result<keycloak_client_ring::RingSigner> {
        use base64::Engine as _;
        use keycloak_client::Algorithm;
        let name = self
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("tokens.json")
            .replacen("tokens-", "dpop-", 1);
        let path = self.path.with_file_name(name);
        let b64 = base64::engine::general_purpose::STANDARD;
        #[cfg(unix)]
        if let Ok(meta) = fs::metadata(&path) {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(Failure::protocol(format!(
                    "{}: readable by others; refusing the DPoP key (chmod 600 it or delete it)",
                    path.display()
                )));
            }
        }
        match fs::read_to_string(&path) {
            Ok(text) => {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| Failure::protocol(format!("{}: {e}", path.display())))?;
                let der = v["pkcs8"]
                    .as_str()
                    .and_then(|s| b64.decode(s).ok())
                    .ok_or_else(|| Failure::protocol(format!("{}: no key", path.display())))?;
                keycloak_client_ring::RingSigner::from_pkcs8_der(&der, Algorithm::ES256)
                    .map_err(|e| Failure::protocol(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (signer, der) =
                    keycloak_client_ring::RingSigner::generate_pkcs8(Algorithm::ES256)
                        .map_err(|e| Failure::protocol(e.to_string()))?;
                let text = serde_json::json!({"alg": "ES256", "pkcs8": b64.encode(der)});
                write_private(&path, text.to_string().as_bytes())?;
                drop(signer);
                // Two first runs at once both write: every run then uses the key on disk.
                self.dpop_key()
            }
            Err(e) => Err(e.into()),
        }
    }

    pub fn load(&self) -> Result<Option<Saved>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&self.path)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(Failure::protocol(format!(
                    "{} is readable by others (mode {mode:o}); refusing to use it",
                    self.path.display()
                )));
            }
        }
        let saved: Saved = serde_json::from_str(&text).map_err(|_| {
            Failure::protocol(format!(
                "{} is corrupt; run `kcc logout` and log in again",
                self.path.display()
            ))
        })?;
        if saved.issuer != self.issuer || saved.client_id != self.client_id {
            return Ok(None);
        }
        Ok(Some(saved))
    }

    pub fn save(&self, saved: &Saved) -> Result<()> {
        let text = serde_json::to_string(saved).map_err(|e| Failure::protocol(e.to_string()))?;
        write_private(&self.path, text.as_bytes())
    }

    pub fn remove(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// Writes `bytes` to `path` readable only by the user (0600, in a 0700 directory), through a
/// temporary file and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Failure::protocol("bad store path"))?;
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    Ok(())
}

impl Saved {
    pub fn new(
        issuer: &str,
        client_id: &str,
        tokens: TokenSet,
        claims: Option<&keycloak_client::Claims>,
    ) -> Saved {
        Saved {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            tokens,
            subject: claims.and_then(|c| c.sub()).map(str::to_owned),
            username: claims
                .and_then(|c| c.str("preferred_username"))
                .map(str::to_owned),
        }
    }
}
