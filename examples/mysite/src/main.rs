//! `cargo run -p mysite` (with the local Keycloak), then open http://127.0.0.1:8001/home. With
//! `REDIS_URL` and `SESSION_KEYS` set, sessions live in Redis and several instances share them.

use actix_web::{web, App, HttpServer};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The message, not a Debug dump (`MissingKeys`): the operator reads this.
            eprintln!("mysite: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8001);
    let keycloak =
        std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let app_url = format!("http://127.0.0.1:{port}");
    // Sessions in Redis when REDIS_URL (and SESSION_KEYS) are set: several instances share them.
    let store = keycloak_client_redis::session_store_from_env().map_err(std::io::Error::other)?;
    let auth = mysite::settings(&keycloak, &app_url)
        .into_web_auth_with_store(store)
        .map_err(std::io::Error::other)?;
    let enforced = auth.policy_enforced();
    let data = web::Data::from(auth);
    eprintln!("mysite listening on {app_url} (try {app_url}/home)");
    HttpServer::new(move || {
        let app = App::new().app_data(data.clone());
        if enforced {
            app.configure(mysite::configure_enforced)
        } else {
            app.configure(mysite::configure)
        }
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
