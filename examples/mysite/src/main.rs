//! `cargo run -p mysite` (with the local Keycloak), then open http://127.0.0.1:8001/home.

use actix_web::{web, App, HttpServer};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8001);
    let keycloak =
        std::env::var("KEYCLOAK_URL").unwrap_or_else(|_| "http://127.0.0.1:18080".into());
    let app_url = format!("http://127.0.0.1:{port}");
    let auth = mysite::settings(&keycloak, &app_url)
        .into_web_auth()
        .map_err(std::io::Error::other)?;
    let data = web::Data::from(auth);
    eprintln!("mysite listening on {app_url} (try {app_url}/home)");
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(mysite::configure)
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
