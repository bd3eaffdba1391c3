//! The seed library's vocabulary on top of the core, with cached discovery and PAT.

use std::sync::{Arc, Mutex};

use keycloak_client::uma::{
    GrantedPermission, PermissionRequest, Resource, ResourceQuery, Rpt, UmaGrantAuth, UmaPolicy,
    UmaPolicyQuery,
};
use keycloak_client::{
    AccessToken, Algorithm, CallbackParams, Claims, Client, ClientConfig, DeviceAuthorization,
    DevicePoll, DiscoverFlow, IdTokenPolicy, IdTokenValidator, Introspection, JwksPolicy,
    JwsVerifier, LoginTokens, PendingLogin, PermissionTicket, RefetchReason, TokenKind, TokenSet,
    TokenTypeHint, TokenValidator, UserInfo,
};

use crate::{now, Error, HttpClient};
use keycloak_client_transport::ValidatorSettings;

/// How long discovery documents are cached.
const DISCOVERY_TTL_SECS: u64 = 3600;
/// Refresh the PAT this many seconds before it expires.
const PAT_MARGIN_SECS: u64 = 30;

/// A blocking Keycloak client with the seed library's method names.
///
/// ```no_run
/// use keycloak_client_ureq::Keycloak;
/// let kc = Keycloak::from_keycloak_json(&std::fs::read_to_string("keycloak.json")?)?
///     .redirect_uri("http://127.0.0.1:8000/callback")
///     .danger_skip_id_token_signature()
///     .build()?;
/// let (url, pending) = kc.login()?;            // redirect the browser to `url`
/// # let query = "";
/// let tokens = kc.callback(pending, query)?;   // on the redirect back
/// let user = kc.fetch_userinfo(&tokens.tokens.access_token)?;
/// let pat = kc.pat()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Keycloak {
    http: HttpClient,
    config: ClientConfig,
    with_uma: bool,
    validator: Option<Arc<dyn IdTokenValidator>>,
    skip_signature: bool,
    verifier: Option<Arc<dyn JwsVerifier>>,
    algorithms: Vec<Algorithm>,
    access_audience: Option<String>,
    jwks_policy: JwksPolicy,
    /// The validator once its key set is loaded (the lock-free fast path).
    token_validator: std::sync::OnceLock<Arc<TokenValidator>>,
    /// The validator being created and warmed: concurrent first callers wait here for the one
    /// key-set fetch instead of failing with an unknown `kid` during it.
    validator_init: Mutex<Option<Arc<TokenValidator>>>,
    discovered: Mutex<Option<Client>>,
    pat: Mutex<Option<TokenSet>>,
}

impl std::fmt::Debug for Keycloak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keycloak")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .finish()
    }
}

/// Builder for [`Keycloak`].
pub struct KeycloakBuilder {
    config: keycloak_client::ClientConfigBuilder,
    http: Option<HttpClient>,
    with_uma: bool,
    validator: Option<Arc<dyn IdTokenValidator>>,
    skip_signature: bool,
    verifier: Option<Arc<dyn JwsVerifier>>,
    algorithms: Vec<Algorithm>,
    access_audience: Option<String>,
    jwks_policy: JwksPolicy,
}

impl KeycloakBuilder {
    /// Default redirect URI for logins.
    pub fn redirect_uri(mut self, uri: &str) -> Self {
        self.config = self.config.redirect_uri(uri);
        self
    }
    /// Adds a default login scope.
    pub fn scope(mut self, s: &str) -> Self {
        self.config = self.config.scope(s);
        self
    }
    /// Uses a specific HTTP client (timeouts, retry, body cap).
    pub fn http(mut self, http: HttpClient) -> Self {
        self.http = Some(http);
        self
    }
    /// Skips UMA discovery (for plain OpenID providers).
    pub fn without_uma(mut self) -> Self {
        self.with_uma = false;
        self
    }
    /// Verifies signatures with this backend (e.g. `keycloak_client_ring::RingVerifier`): ID
    /// tokens are then validated with the realm's keys (JWKS fetched and refreshed on unknown
    /// `kid` under the cache policy), and access/logout tokens can be validated locally.
    pub fn jws_verifier(mut self, v: Arc<dyn JwsVerifier>) -> Self {
        self.verifier = Some(v);
        self
    }
    /// The algorithm allow-list (default RS256).
    pub fn allow_algorithms(mut self, algs: &[Algorithm]) -> Self {
        self.algorithms = algs.to_vec();
        self
    }
    /// The audience access tokens must carry (default: the client id).
    pub fn access_token_audience(mut self, aud: &str) -> Self {
        self.access_audience = Some(aud.to_string());
        self
    }
    /// Allowed clock skew for `exp`/`nbf`/`iat`/`auth_time` in seconds (default 60): sets the
    /// configuration's [`ClaimRules`](keycloak_client::ClaimRules), the one source every check reads.
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.config = self.config.leeway_secs(secs);
        self
    }
    /// The key-set refetch policy.
    pub fn jwks_policy(mut self, p: JwksPolicy) -> Self {
        self.jwks_policy = p;
        self
    }
    /// Validates ID tokens with a custom validator (signature and claims).
    pub fn id_token_validator(mut self, v: Arc<dyn IdTokenValidator>) -> Self {
        self.validator = Some(v);
        self
    }
    /// **Reduced assurance**: check ID-token claims but not the signature (see
    /// [`keycloak_client::IdTokenPolicy::DangerSkipSignature`]).
    pub fn danger_skip_id_token_signature(mut self) -> Self {
        self.skip_signature = true;
        self
    }
    /// Builds the client (no I/O yet; discovery happens on first use).
    pub fn build(self) -> Result<Keycloak, Error> {
        Ok(Keycloak {
            http: self.http.unwrap_or_default(),
            config: self.config.build()?,
            with_uma: self.with_uma,
            validator: self.validator,
            skip_signature: self.skip_signature,
            verifier: self.verifier,
            algorithms: self.algorithms,
            access_audience: self.access_audience,
            jwks_policy: self.jwks_policy,
            token_validator: std::sync::OnceLock::new(),
            validator_init: Mutex::new(None),
            discovered: Mutex::new(None),
            pat: Mutex::new(None),
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Keycloak {
    /// Starts from a configuration builder.
    pub fn builder(config: keycloak_client::ClientConfigBuilder) -> KeycloakBuilder {
        KeycloakBuilder {
            config,
            http: None,
            with_uma: true,
            validator: None,
            skip_signature: false,
            verifier: None,
            algorithms: vec![Algorithm::RS256],
            access_audience: None,
            jwks_policy: JwksPolicy::default(),
        }
    }

    /// Starts from Keycloak's `keycloak.json`.
    pub fn from_keycloak_json(json: &str) -> Result<KeycloakBuilder, Error> {
        Ok(Self::builder(ClientConfig::keycloak_json_builder(json)?))
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The discovered client (runs discovery on first use and after an hour).
    pub fn client(&self) -> Result<Client, Error> {
        let t = now();
        if let Some(c) = lock(&self.discovered).as_ref() {
            if t.0 < c.discovered_at.0.saturating_add(DISCOVERY_TTL_SECS) {
                return Ok(c.clone());
            }
        }
        let d = self.http.run(if self.with_uma {
            DiscoverFlow::with_optional_uma(&self.config)
        } else {
            DiscoverFlow::new(&self.config, false)
        })?;
        let c = Client::new(self.config.clone(), d);
        *lock(&self.discovered) = Some(c.clone());
        Ok(c)
    }

    /// The seed's `login()`: the authorization URL and the pending login to keep server-side.
    pub fn login(&self) -> Result<(url::Url, PendingLogin), Error> {
        Ok(self.client()?.login().build(&mut rand::rng(), now())?)
    }

    /// The seed's `callback(code)`: takes the callback query string, checks it against the
    /// pending login, exchanges the code (with PKCE) and validates the ID token.
    pub fn callback(&self, pending: PendingLogin, query: &str) -> Result<LoginTokens, Error> {
        let client = self.client()?;
        let params = CallbackParams::from_query(query)?;
        let policy = if let Some(v) = &self.validator {
            IdTokenPolicy::Verify(v.clone())
        } else if let Some(v) = self.token_validator()? {
            IdTokenPolicy::Verify(v)
        } else if self.skip_signature {
            IdTokenPolicy::DangerSkipSignature
        } else {
            return Err(keycloak_client::Error::NoIdTokenValidator.into());
        };
        let exchange = client.callback(pending, &params, policy, now())?;
        // As a flow: keys first if none are loaded, one key-set refetch on an unknown `kid`.
        self.http.run(exchange)
    }

    /// The token validator of this client (needs [`KeycloakBuilder::jws_verifier`]); created on
    /// first use and kept, with its key cache, for the client's lifetime.
    pub fn token_validator(&self) -> Result<Option<Arc<TokenValidator>>, Error> {
        let Some(verifier) = self.verifier.clone() else {
            return Ok(None);
        };
        if let Some(v) = self.token_validator.get() {
            return Ok(Some(v.clone()));
        }
        let mut init = self
            .validator_init
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(v) = self.token_validator.get() {
            return Ok(Some(v.clone()));
        }
        let v = match init.as_ref() {
            Some(v) => v.clone(),
            None => {
                let settings = ValidatorSettings {
                    algorithms: self.algorithms.clone(),
                    jwks_policy: self.jwks_policy,
                    access_audience: self.access_audience.clone(),
                };
                let v = Arc::new(settings.build(&self.client()?, verifier)?);
                *init = Some(v.clone());
                v
            }
        };
        // Load the key set before the first validation, under the lock. A failed fetch is
        // reported; the cache's cooldown then keeps later callers from hammering the server.
        if let Some(r) = v.begin_key_fetch(now(), RefetchReason::Stale) {
            let keys = self.http.exec(r)?;
            v.install_keys(keys, now());
            let _ = self.token_validator.set(v.clone());
        }
        Ok(Some(v))
    }

    /// Validates an access token locally (signature with the realm's keys, `iss`, `aud`,
    /// `exp`/`nbf`/`iat`), refetching the key set once on an unknown `kid` if the policy allows.
    pub fn validate_access_token(&self, token: &str) -> Result<Claims, Error> {
        let v = self.token_validator()?.ok_or_else(|| {
            keycloak_client::Error::Config("validate_access_token needs a jws_verifier".into())
        })?;
        self.http
            .run(v.validate_flow(token, TokenKind::Access, now()))
    }

    /// Validates a back-channel logout token (OpenID Connect Back-Channel Logout 1.0).
    pub fn validate_logout_token(&self, token: &str) -> Result<Claims, Error> {
        let v = self.token_validator()?.ok_or_else(|| {
            keycloak_client::Error::Config("validate_logout_token needs a jws_verifier".into())
        })?;
        self.http
            .run(v.validate_flow(token, TokenKind::Logout, now()))
    }

    /// The seed's `fetch_userinfo(access_token)`.
    pub fn fetch_userinfo(&self, access_token: &AccessToken) -> Result<UserInfo, Error> {
        self.http.exec(self.client()?.userinfo(access_token)?)
    }

    /// Refresh grant.
    pub fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet, Error> {
        self.http.exec(self.client()?.refresh(tokens)?)
    }

    /// Back-channel logout of the session behind `tokens`.
    pub fn logout(&self, tokens: &TokenSet) -> Result<(), Error> {
        let rt = tokens
            .refresh_token
            .as_ref()
            .ok_or_else(|| keycloak_client::Error::Config("logout needs a refresh token".into()))?;
        self.http.exec(self.client()?.logout(rt)?)
    }

    /// The seed's `pat()`: the Protection API Token, cached and refreshed before expiry.
    pub fn pat(&self) -> Result<TokenSet, Error> {
        let mut guard = lock(&self.pat);
        if let Some(p) = guard.as_ref() {
            if !p.needs_refresh(now(), PAT_MARGIN_SECS) {
                return Ok(p.clone());
            }
        }
        let p = self.http.exec(self.client()?.client_credentials()?)?;
        *guard = Some(p.clone());
        Ok(p)
    }

    /// The seed's `find_ticket`: a permission ticket for resources and scopes.
    pub fn find_ticket(
        &self,
        permissions: &[PermissionRequest],
    ) -> Result<PermissionTicket, Error> {
        let pat = self.pat()?;
        self.http.exec(
            self.client()?
                .permission_ticket(&pat.access_token, permissions)?,
        )
    }

    /// An RPT for a ticket on behalf of the user holding `user_token`.
    pub fn rpt(&self, user_token: &AccessToken, ticket: &PermissionTicket) -> Result<Rpt, Error> {
        self.http
            .exec(self.client()?.rpt_for_ticket(user_token, ticket))
    }

    /// Keycloak's decision for `resource#scopes` at resource server `audience`.
    pub fn decision(
        &self,
        user_token: &AccessToken,
        audience: &str,
        resource: &str,
        scopes: &[&str],
    ) -> Result<bool, Error> {
        let g = self
            .client()?
            .uma_grant(UmaGrantAuth::Bearer(user_token.clone()))
            .audience(audience)
            .permission(resource, scopes)
            .decision();
        self.http.exec(g)
    }

    /// The permissions Keycloak grants the user at resource server `audience`.
    pub fn permissions(
        &self,
        user_token: &AccessToken,
        audience: &str,
    ) -> Result<Vec<GrantedPermission>, Error> {
        let g = self
            .client()?
            .uma_grant(UmaGrantAuth::Bearer(user_token.clone()))
            .audience(audience)
            .permissions();
        self.http.exec(g)
    }

    /// Introspection of any token (RPTs with `TokenTypeHint::RequestingPartyToken`).
    pub fn introspect(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<Introspection, Error> {
        self.http.exec(self.client()?.introspect(token, hint)?)
    }

    /// Revocation (RFC 7009).
    pub fn revoke(&self, token: &str, hint: Option<TokenTypeHint>) -> Result<(), Error> {
        self.http.exec(self.client()?.revoke(token, hint)?)
    }

    /// Starts a device authorization.
    pub fn device_authorization(&self, scope: Option<&str>) -> Result<DeviceAuthorization, Error> {
        self.http.exec(self.client()?.device_authorization(scope)?)
    }

    /// Polls until the user approves, the code expires, or `on_wait` returns false.
    pub fn device_wait(
        &self,
        auth: &DeviceAuthorization,
        mut on_wait: impl FnMut(u64) -> bool,
    ) -> Result<TokenSet, Error> {
        let client = self.client()?;
        // The core carries the interval (grown on `slow_down`) and the next poll time.
        let mut poller = client.device_poller(auth, now());
        loop {
            if !on_wait(poller.interval()) {
                return Err(keycloak_client::Error::DeviceExpired.into());
            }
            let wait = now().until(poller.next_poll_at());
            std::thread::sleep(std::time::Duration::from_secs(wait));
            let resp = self.http.send(&poller.request())?;
            if let DevicePoll::Done(t) = poller.handle(resp, now())? {
                return Ok(*t);
            }
        }
    }

    /// Token exchange (RFC 8693) of an access token for another audience.
    pub fn exchange_token(&self, subject: &AccessToken, audience: &str) -> Result<TokenSet, Error> {
        let req = self
            .client()?
            .token_exchange(subject.secret(), keycloak_client::ACCESS_TOKEN_TYPE)
            .audience(audience);
        self.http.exec(req)
    }

    /// Registers a resource with the cached PAT.
    pub fn create_resource(&self, r: &Resource) -> Result<Resource, Error> {
        let pat = self.pat()?;
        self.http
            .exec(self.client()?.create_resource(&pat.access_token, r)?)
    }
    /// Reads a resource.
    pub fn get_resource(&self, id: &str) -> Result<Resource, Error> {
        let pat = self.pat()?;
        self.http
            .exec(self.client()?.get_resource(&pat.access_token, id)?)
    }
    /// Replaces a resource.
    pub fn update_resource(&self, id: &str, r: &Resource) -> Result<(), Error> {
        let pat = self.pat()?;
        self.http
            .exec(self.client()?.update_resource(&pat.access_token, id, r)?)
    }
    /// Deletes a resource.
    pub fn delete_resource(&self, id: &str) -> Result<(), Error> {
        let pat = self.pat()?;
        self.http
            .exec(self.client()?.delete_resource(&pat.access_token, id)?)
    }
    /// Lists resource ids.
    pub fn query_resources(&self, q: &ResourceQuery) -> Result<Vec<String>, Error> {
        let pat = self.pat()?;
        self.http
            .exec(self.client()?.query_resources(&pat.access_token, q)?)
    }
    /// Lists full resources.
    pub fn query_resources_deep(&self, q: &ResourceQuery) -> Result<Vec<Resource>, Error> {
        let pat = self.pat()?;
        self.http
            .exec(self.client()?.query_resources_deep(&pat.access_token, q)?)
    }
    /// Creates a user-managed permission (with the owner's token).
    pub fn create_uma_policy(
        &self,
        owner_token: &AccessToken,
        resource_id: &str,
        p: &UmaPolicy,
    ) -> Result<UmaPolicy, Error> {
        self.http.exec(
            self.client()?
                .create_uma_policy(owner_token, resource_id, p)?,
        )
    }
    /// Replaces a user-managed permission.
    pub fn update_uma_policy(
        &self,
        owner_token: &AccessToken,
        id: &str,
        p: &UmaPolicy,
    ) -> Result<(), Error> {
        self.http
            .exec(self.client()?.update_uma_policy(owner_token, id, p)?)
    }
    /// Deletes a user-managed permission.
    pub fn delete_uma_policy(&self, owner_token: &AccessToken, id: &str) -> Result<(), Error> {
        self.http
            .exec(self.client()?.delete_uma_policy(owner_token, id)?)
    }
    /// Lists the owner's permissions.
    pub fn query_uma_policies(
        &self,
        owner_token: &AccessToken,
        q: &UmaPolicyQuery,
    ) -> Result<Vec<UmaPolicy>, Error> {
        self.http
            .exec(self.client()?.query_uma_policies(owner_token, q)?)
    }
}
