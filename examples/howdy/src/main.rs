//! `cargo run -p howdy` (with the local Keycloak from `scripts/keycloak up`), then open
//! http://127.0.0.1:8000/howdy and log in as alice / alice-pass. With `REDIS_URL` and
//! `SESSION_KEYS` set, sessions live in Redis and several instances (`PORT`) share them.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message, not a Debug dump (`MissingKeys`): the operator reads this.
            eprintln!("howdy: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let keycloak =
        std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let settings = match std::env::var("KEYCLOAK_SETTINGS") {
        Ok(path) => Some(std::fs::read_to_string(path)?),
        Err(_) => None,
    };
    let app_url = format!("http://127.0.0.1:{port}");
    // Sessions in Redis when REDIS_URL (and SESSION_KEYS) are set: several instances share them.
    let store = keycloak_client_redis::session_store_from_env()?;
    let auth = howdy::web_auth_with_store(&keycloak, &app_url, settings.as_deref(), store, |_| {})?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("howdy listening on {app_url} (try {app_url}/howdy)");
    axum::serve(listener, howdy::app(auth)).await?;
    Ok(())
}
