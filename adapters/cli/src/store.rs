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
        let dir = self
            .path
            .parent()
            .ok_or_else(|| Failure::protocol("bad store path"))?;
        fs::create_dir_all(dir)?;
        let tmp = self.path.with_extension("tmp");
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp)?;
        f.write_all(
            serde_json::to_string(saved)
                .map_err(|e| Failure::protocol(e.to_string()))?
                .as_bytes(),
        )?;
        f.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    pub fn remove(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
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
