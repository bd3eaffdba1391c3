//! The seed vocabulary (`login`, `callback`, `fetch_userinfo`, `pat`, `find_ticket`, ...) of the
//! async client against the real Keycloak.

use std::sync::Arc;

use keycloak_client::uma::{PermissionRequest, Resource, ResourceQuery};
use keycloak_client::{ClientConfig, TokenTypeHint};
use keycloak_client_reqwest::Keycloak;
use keycloak_client_testkit::browser::Browser;
use keycloak_client_testkit::keycloak::{self, REDIRECT_URI, RS_CLIENT, RS_SECRET};

fn kc() -> Keycloak {
    let env = keycloak::require();
    Keycloak::builder(
        ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT).client_secret(RS_SECRET),
    )
    .redirect_uri(REDIRECT_URI)
    .jws_verifier(std::sync::Arc::new(keycloak_client_ring::RingVerifier))
    .build()
    .unwrap()
}

/// An access token of alice (password grant: test-only).
async fn alice_access_token() -> keycloak_client::AccessToken {
    let kc = kc();
    let c = kc.client().await.unwrap();
    let pw = keycloak_client::Password::new("alice-pass");
    let grant = c.danger_password_grant("alice", &pw, "openid");
    kc.http().exec(grant).await.unwrap().access_token
}

async fn browser_login(url: url::Url, user: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let cb = Browser::new()
            .login(url.as_str(), user, &format!("{user}-pass"))
            .unwrap();
        cb.query().unwrap().to_string()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_vocabulary_end_to_end() {
    let kc = kc();
    let (url, pending) = kc.login().await.unwrap();
    let query = browser_login(url, "alice").await;
    let login = kc.callback(pending, &query).await.unwrap();
    let user = kc.fetch_userinfo(&login.tokens.access_token).await.unwrap();
    assert_eq!(user.preferred_username.as_deref(), Some("alice"));
    assert_eq!(Some(user.sub.as_str()), login.id_claims.sub());
    // the ID token was verified with the realm's keys; the access token validates locally too
    let claims = kc
        .validate_access_token(login.tokens.access_token.secret())
        .await
        .unwrap();
    assert_eq!(claims.str("preferred_username"), Some("alice"));
    assert!(claims.aud().contains(&RS_CLIENT));
    let forged = format!(
        "{}x",
        &login.tokens.access_token.secret()[..login.tokens.access_token.secret().len() - 1]
    );
    assert!(kc.validate_access_token(&forged).await.is_err());
    let refreshed = kc.refresh(&login.tokens).await.unwrap();
    let ticket = kc
        .find_ticket(&[PermissionRequest::new("doc-1", &["read"])])
        .await
        .unwrap();
    let rpt = kc.rpt(&refreshed.access_token, &ticket).await.unwrap();
    let intro = kc
        .introspect(
            rpt.tokens.access_token.secret(),
            Some(TokenTypeHint::RequestingPartyToken),
        )
        .await
        .unwrap();
    assert!(intro.active);
    assert!(kc
        .decision(&refreshed.access_token, RS_CLIENT, "doc-1", &["write"])
        .await
        .unwrap());
    assert!(!kc
        .permissions(&refreshed.access_token, RS_CLIENT)
        .await
        .unwrap()
        .is_empty());
    let name = format!("friendly-{}", rand::random::<u32>());
    let created = kc
        .create_resource(&Resource::new(&name, &["read"]))
        .await
        .unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(kc.get_resource(&id).await.unwrap().name, name);
    let ids = kc
        .query_resources(&ResourceQuery {
            name: Some(name.clone()),
            exact_name: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(ids, vec![id.clone()]);
    kc.delete_resource(&id).await.unwrap();
    kc.logout(&refreshed).await.unwrap();
    let e = kc.refresh(&refreshed).await.unwrap_err();
    assert!(e.keycloak().unwrap().is_invalid_grant(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pat_is_cached_and_fetched_once_under_concurrency() {
    let kc = Arc::new(kc());
    let mut tasks = vec![];
    for _ in 0..16 {
        let kc = kc.clone();
        tasks.push(tokio::spawn(async move {
            kc.pat().await.unwrap().access_token.secret().to_string()
        }));
    }
    let mut tokens = vec![];
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    // Every client_credentials grant yields a distinct token: one value means one request.
    tokens.sort();
    tokens.dedup();
    assert_eq!(
        tokens.len(),
        1,
        "16 concurrent callers must share one PAT request"
    );
}

/// A fresh client hit by concurrent validations (a server starting under load): every caller
/// waits for the one key-set fetch instead of failing with an unknown `kid` during it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_validations_share_one_key_fetch() {
    let token = alice_access_token().await;
    let fresh = Arc::new(kc());
    fresh.client().await.unwrap(); // discovered, but no key set yet
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (kc, t) = (fresh.clone(), token.clone());
            tokio::spawn(async move { kc.validate_access_token(t.secret()).await })
        })
        .collect();
    for t in tasks {
        let claims = t
            .await
            .unwrap()
            .expect("every concurrent first validation succeeds");
        assert_eq!(claims.str("preferred_username"), Some("alice"));
    }
}

/// The adapter's HTTP client behind a driver that counts requests per path: the core's
/// `Keycloak<D>` runs on any driver, and this one proves how many requests the state machine
/// sends against the real server.
#[derive(Default)]
struct Counting {
    http: keycloak_client_reqwest::HttpClient,
    hits: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

impl Counting {
    fn hits(&self, path_end: &str) -> usize {
        let h = self.hits.lock().unwrap();
        h.iter()
            .filter(|(p, _)| p.ends_with(path_end))
            .map(|(_, n)| n)
            .sum()
    }
}

impl keycloak_client::AsyncHttp for Counting {
    type Error = keycloak_client_reqwest::Error;
    async fn send(
        &self,
        req: &keycloak_client::Request,
    ) -> Result<keycloak_client::Response, Self::Error> {
        *self
            .hits
            .lock()
            .unwrap()
            .entry(req.url.path().to_string())
            .or_default() += 1;
        Ok(self.http.send(req).await?)
    }
    async fn sleep(&self, d: std::time::Duration) {
        tokio::time::sleep(d).await
    }
    fn now(&self) -> keycloak_client::UnixTime {
        keycloak_client_reqwest::now()
    }
}

impl keycloak_client::Driver for Counting {
    type Error = keycloak_client_reqwest::Error;
    type Run<'a, T: Send + 'a> = keycloak_client_reqwest::Running<'a, T>;
    fn run<'a, F>(&'a self, flow: F) -> Self::Run<'a, F::Output>
    where
        F: keycloak_client::Flow + Send + 'a,
        F::Output: Send + 'a,
    {
        Box::pin(keycloak_client::drive_async_http(flow, self))
    }
    fn now(&self) -> keycloak_client::UnixTime {
        keycloak_client_reqwest::now()
    }
    fn rng(&self) -> impl rand::CryptoRng {
        rand::rng()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_tasks_share_one_discovery_one_pat_and_one_key_fetch() {
    let env = keycloak::require();
    let token = alice_access_token().await;
    let counted: Arc<keycloak_client::Keycloak<Counting>> = Arc::new(
        keycloak_client::Keycloak::builder(
            ClientConfig::keycloak(&env.url, &env.realm, RS_CLIENT).client_secret(RS_SECRET),
        )
        .jws_verifier(Arc::new(keycloak_client_ring::RingVerifier))
        .build()
        .unwrap(),
    );
    let start = Arc::new(tokio::sync::Barrier::new(16));
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (kc, t, start) = (counted.clone(), token.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let (pat, claims) = if i % 2 == 0 {
                    let p = kc.pat().await.unwrap();
                    (p, kc.validate_access_token(t.secret()).await.unwrap())
                } else {
                    let c = kc.validate_access_token(t.secret()).await.unwrap();
                    (kc.pat().await.unwrap(), c)
                };
                assert_eq!(claims.str("preferred_username"), Some("alice"));
                pat.access_token.secret().to_string()
            })
        })
        .collect();
    let mut pats = vec![];
    for t in tasks {
        pats.push(t.await.unwrap());
    }
    pats.dedup();
    assert_eq!(pats.len(), 1, "one PAT for all");
    let d = counted.http();
    assert_eq!(d.hits("/.well-known/openid-configuration"), 1, "discovery");
    assert_eq!(
        d.hits("/.well-known/uma2-configuration"),
        1,
        "UMA discovery"
    );
    assert_eq!(d.hits("/protocol/openid-connect/token"), 1, "PAT");
    assert_eq!(d.hits("/protocol/openid-connect/certs"), 1, "key set");
}
