//! Human-readable or `--json` output on stdout; diagnostics go to stderr.

use keycloak_client::TokenSet;
use keycloak_client_ureq::now;

pub struct Out {
    pub json: bool,
}

impl Out {
    /// Prints `v` as JSON, or the human rendering of it.
    pub fn value(&self, v: &serde_json::Value, human: impl FnOnce(&serde_json::Value) -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            print!("{}", human(v));
        }
    }

    /// A token: the bare access token for pipes, or JSON with its metadata.
    pub fn token(&self, t: &TokenSet) {
        let v = serde_json::json!({
            "access_token": t.access_token.secret(),
            "token_type": t.token_type,
            "expires_in": t.expires_in(now()),
            "scope": t.scope,
            "refresh_token": t.refresh_token.as_ref().map(|r| r.secret()),
        });
        self.value(&v, |v| {
            format!("{}\n", v["access_token"].as_str().unwrap_or(""))
        });
    }

    /// An object as `key: value` lines, or JSON.
    pub fn json_or_pairs(&self, v: &serde_json::Value) {
        self.value(v, |v| match v.as_object() {
            Some(o) => o
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => format!("{k}: {s}\n"),
                    other => format!("{k}: {other}\n"),
                })
                .collect(),
            None => format!("{v}\n"),
        });
    }

    /// A labelled document (e.g. "UNVERIFIED").
    pub fn labelled(&self, label: &str, v: &serde_json::Value) {
        self.value(v, |v| {
            format!(
                "{label}\n{}\n",
                serde_json::to_string_pretty(v).unwrap_or_default()
            )
        });
    }
}
