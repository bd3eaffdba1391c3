//! [`Agent`]: the whole client state of one Keycloak client, shared by every caller: the
//! configuration, the discovery documents and when they were fetched, the PAT and its expiry,
//! the token validator and its key set, and which of them is being fetched right now.
//!
//! Pure: it reads no clock and does no I/O. Every operation is a [`Flow`](crate::Flow) (see
//! [`Operation`]) that answers from this state when it is fresh, emits the requests that are
//! missing, and folds the responses back in. Many callers sharing one agent cause one discovery
//! fetch, one PAT request and one key-set fetch: the others get
//! [`Step::Wait`](crate::Step::Wait).

use std::sync::{Arc, Mutex, MutexGuard};

use crate::client::Client;
use crate::config::{ClientConfig, ClientConfigBuilder};
use crate::discovery::Discovered;
use crate::error::Error;
use crate::jws::{Algorithm, JwsVerifier};
use crate::jwt::IdTokenValidator;
use crate::single_flight::{Claim, Gate, Waiter};
use crate::time::UnixTime;
use crate::token::TokenSet;
use crate::validator::{JwksCache, JwksPolicy, TokenValidator};

/// How ID tokens of a login are checked.
#[derive(Clone)]
pub(crate) enum IdTokens {
    /// With a caller-supplied validator.
    Custom(Arc<dyn IdTokenValidator>),
    /// With the agent's own [`TokenValidator`] (needs a [`JwsVerifier`]).
    RealmKeys,
    /// Claims only, signature unchecked.
    DangerSkipSignature,
    /// Not configured: a callback fails with [`Error::NoIdTokenValidator`].
    Unset,
}

pub(crate) struct Settings {
    pub(crate) config: ClientConfig,
    pub(crate) with_uma: bool,
    pub(crate) id_tokens: IdTokens,
    verifier: Option<Arc<dyn JwsVerifier>>,
    algorithms: Vec<Algorithm>,
    access_audience: Option<String>,
    jwks_policy: JwksPolicy,
    discovery_ttl_secs: u64,
    pub(crate) pat_margin_secs: u64,
}

/// A caller's share of a piece of shared state.
pub(crate) enum Share<T> {
    /// Use this value.
    Use(T),
    /// Fetch it for everyone.
    Fetch(Claim),
    /// Wait for the fetch another caller runs.
    Wait(Waiter),
    /// (Operations only) the fetch was claimed and started.
    Started,
}

#[derive(Default)]
struct State {
    client: Option<Arc<Client>>,
    pat: Option<TokenSet>,
    validator: Option<Arc<TokenValidator>>,
}

struct Shared {
    settings: Settings,
    state: Mutex<State>,
    discovery: Gate,
    pat: Gate,
}

/// The client state machine: cheap to clone (clones share the state), `Send + Sync`.
///
/// ```
/// use keycloak_client::{Agent, ClientConfig, Flow, Response, Step, UnixTime};
/// let agent = Agent::builder(ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
///     .client_secret("rkc-rs-secret")).without_uma().build_agent()?;
/// let now = UnixTime(1_700_000_000);
/// let mut pat = agent.pat(now);
/// // Nothing is known yet: discovery goes out first.
/// let Step::Send(req) = pat.poll()? else { unreachable!() };
/// assert!(req.url.as_str().ends_with("/.well-known/openid-configuration"));
/// # Ok::<(), keycloak_client::Error>(())
/// ```
#[derive(Clone)]
pub struct Agent {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("issuer", &self.shared.settings.config.issuer)
            .field("client_id", &self.shared.settings.config.client_id)
            .finish()
    }
}

/// Builder for an [`Agent`], or, with a driver `D`, for a [`Keycloak<D>`](crate::Keycloak).
pub struct AgentBuilder<D = ()> {
    config: ClientConfigBuilder,
    pub(crate) http: Option<D>,
    with_uma: bool,
    id_token_validator: Option<Arc<dyn IdTokenValidator>>,
    skip_signature: bool,
    verifier: Option<Arc<dyn JwsVerifier>>,
    algorithms: Vec<Algorithm>,
    access_audience: Option<String>,
    jwks_policy: JwksPolicy,
    discovery_ttl_secs: u64,
    pat_margin_secs: u64,
}

impl<D> AgentBuilder<D> {
    pub(crate) fn new(config: ClientConfigBuilder) -> Self {
        AgentBuilder {
            config,
            http: None,
            with_uma: true,
            id_token_validator: None,
            skip_signature: false,
            verifier: None,
            algorithms: vec![Algorithm::RS256],
            access_audience: None,
            jwks_policy: JwksPolicy::default(),
            discovery_ttl_secs: 3600,
            pat_margin_secs: 30,
        }
    }

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
    /// The driver (HTTP client) of a [`Keycloak<D>`](crate::Keycloak); default `D::default()`.
    pub fn http(mut self, http: D) -> Self {
        self.http = Some(http);
        self
    }
    /// Skips UMA discovery (for plain OpenID providers).
    pub fn without_uma(mut self) -> Self {
        self.with_uma = false;
        self
    }
    /// Verifies signatures with this backend (e.g. `keycloak_client_ring::RingVerifier`): ID
    /// tokens are then validated with the realm's keys (fetched once for all callers, refetched
    /// on an unknown `kid` under the [`JwksPolicy`]), and access and logout tokens locally.
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
    /// Allowed clock skew in seconds (default 60): sets the configuration's
    /// [`ClaimRules`](crate::ClaimRules), the one source every check reads.
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.config = self.config.leeway_secs(secs);
        self
    }
    /// The key-set refetch policy.
    pub fn jwks_policy(mut self, p: JwksPolicy) -> Self {
        self.jwks_policy = p;
        self
    }
    /// How long discovery documents are used before they are fetched again (default 3600 s).
    /// A stale document keeps serving while one caller refetches it.
    pub fn discovery_ttl_secs(mut self, secs: u64) -> Self {
        self.discovery_ttl_secs = secs;
        self
    }
    /// Refresh the PAT this many seconds before it expires (default 30).
    pub fn pat_margin_secs(mut self, secs: u64) -> Self {
        self.pat_margin_secs = secs;
        self
    }
    /// Validates ID tokens with a custom validator (signature and claims).
    pub fn id_token_validator(mut self, v: Arc<dyn IdTokenValidator>) -> Self {
        self.id_token_validator = Some(v);
        self
    }
    /// **Reduced assurance**: check ID-token claims but not the signature (see
    /// [`IdTokenPolicy::DangerSkipSignature`](crate::IdTokenPolicy::DangerSkipSignature)).
    /// Ignored, in whatever order the calls come, when a validator or verifier is configured.
    pub fn danger_skip_id_token_signature(mut self) -> Self {
        self.skip_signature = true;
        self
    }

    /// Builds the agent alone (no driver; no I/O happens until its flows are driven).
    pub fn build_agent(self) -> Result<Agent, Error> {
        // Strongest first: a caller's validator, then the realm's keys, then the danger option.
        let id_tokens = match (&self.id_token_validator, &self.verifier) {
            (Some(v), _) => IdTokens::Custom(v.clone()),
            (None, Some(_)) => IdTokens::RealmKeys,
            (None, None) if self.skip_signature => IdTokens::DangerSkipSignature,
            (None, None) => IdTokens::Unset,
        };
        Ok(Agent {
            shared: Arc::new(Shared {
                settings: Settings {
                    config: self.config.build()?,
                    with_uma: self.with_uma,
                    id_tokens,
                    verifier: self.verifier,
                    algorithms: self.algorithms,
                    access_audience: self.access_audience,
                    jwks_policy: self.jwks_policy,
                    discovery_ttl_secs: self.discovery_ttl_secs,
                    pat_margin_secs: self.pat_margin_secs,
                },
                state: Mutex::new(State::default()),
                discovery: Gate::new("discovery"),
                pat: Gate::new("PAT"),
            }),
        })
    }
}

impl Agent {
    /// Starts from a configuration builder.
    pub fn builder(config: ClientConfigBuilder) -> AgentBuilder {
        AgentBuilder::new(config)
    }

    /// Starts from Keycloak's `keycloak.json`.
    pub fn from_keycloak_json(json: &str) -> Result<AgentBuilder, Error> {
        Ok(AgentBuilder::new(ClientConfig::keycloak_json_builder(
            json,
        )?))
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.shared.settings.config
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_fresh(&self, c: &Client, now: UnixTime) -> bool {
        now.0
            < c.discovered_at
                .0
                .saturating_add(self.settings().discovery_ttl_secs)
    }

    /// The discovered client: fresh, or (stale) while another caller refetches it; else the
    /// fetch for this caller, or a wait for the one running. The look and the claim happen
    /// under the state lock: no other caller's fetch can end between them.
    pub(crate) fn client_or_claim(&self, now: UnixTime) -> Share<Arc<Client>> {
        let state = self.state();
        let current = state.client.clone();
        if let Some(c) = current.as_ref().filter(|c| self.is_fresh(c, now)) {
            return Share::Use(c.clone());
        }
        match self.shared.discovery.try_claim() {
            Ok(claim) => Share::Fetch(claim),
            Err(wait) => current.map_or(Share::Wait(wait), Share::Use),
        }
    }

    pub(crate) fn install_discovery(&self, d: Discovered) -> Arc<Client> {
        let c = Arc::new(Client::new(self.config().clone(), d));
        self.state().client = Some(c.clone());
        c
    }

    /// The PAT outside its refresh margin, or (inside it, with half the margin left) while
    /// another caller refreshes it; else the fetch for this caller, or a wait for the one
    /// running. Look and claim under the state lock, as for discovery.
    pub(crate) fn pat_or_claim(&self, now: UnixTime) -> Share<TokenSet> {
        let state = self.state();
        let margin = self.settings().pat_margin_secs;
        let current = state.pat.clone();
        if let Some(p) = current.as_ref().filter(|p| !p.needs_refresh(now, margin)) {
            return Share::Use(p.clone());
        }
        match self.shared.pat.try_claim() {
            Ok(claim) => Share::Fetch(claim),
            // Not one about to expire on its way to Keycloak.
            Err(wait) => match current.filter(|p| !p.needs_refresh(now, margin / 2)) {
                Some(p) => Share::Use(p),
                None => Share::Wait(wait),
            },
        }
    }

    pub(crate) fn install_pat(&self, pat: TokenSet) {
        self.state().pat = Some(pat);
    }

    /// How many async callers are parked on a shared fetch right now (a gauge for metrics).
    pub fn waiting(&self) -> usize {
        self.shared.discovery.waiting() + self.shared.pat.waiting()
    }

    /// Forgets the cached PAT if it is still `rejected` (the server refused it); a newer PAT
    /// another caller fetched meanwhile is kept.
    pub fn forget_pat(&self, rejected: &crate::secret::AccessToken) {
        let mut s = self.state();
        if s.pat.as_ref().is_some_and(|p| {
            crate::secret::constant_time_eq(
                p.access_token.secret().as_bytes(),
                rejected.secret().as_bytes(),
            )
        }) {
            s.pat = None;
        }
    }

    /// The discovered client however old (the fallback when a refetch fails).
    pub(crate) fn any_client(&self) -> Option<Arc<Client>> {
        self.state().client.clone()
    }

    /// The cached PAT if it has not expired (the fallback when its refresh fails).
    pub(crate) fn unexpired_pat(&self, now: UnixTime) -> Option<TokenSet> {
        self.state().pat.clone().filter(|p| !p.is_expired(now))
    }

    /// The token validator (created on first use, kept with its key cache), or `None` without
    /// a [`JwsVerifier`].
    pub(crate) fn validator(&self, client: &Client) -> Result<Option<Arc<TokenValidator>>, Error> {
        let s = self.settings();
        let Some(verifier) = s.verifier.clone() else {
            return Ok(None);
        };
        let mut state = self.state();
        if let Some(v) = &state.validator {
            return Ok(Some(v.clone()));
        }
        let mut v = TokenValidator::new(client, verifier)?
            .allow_algorithms(&s.algorithms)
            .with_cache(JwksCache::new(s.jwks_policy));
        if let Some(aud) = &s.access_audience {
            v = v.access_token_audience(aud);
        }
        let v = Arc::new(v);
        state.validator = Some(v.clone());
        Ok(Some(v))
    }
}
