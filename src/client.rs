//! [`Client`]: a configuration plus discovered metadata; the factory for every flow's step.

use crate::backchannel_logout::BackchannelLogout;
use crate::callback::{accept_callback, CallbackParams, CodeExchange, IdTokenPolicy};
use crate::config::ClientConfig;
use crate::device::{DeviceAuthorization, DeviceAuthorizationRequest, DevicePoller};
use crate::discovery::{Discovered, ProviderMetadata, UmaMetadata};
use crate::error::Error;
use crate::introspection::IntrospectionRequest;
use crate::login::{LoginBuilder, PendingLogin};
use crate::logout_url::LogoutUrlBuilder;
use crate::revocation::{RevocationRequest, TokenTypeHint};
use crate::secret::{AccessToken, Password, PermissionTicket, RefreshToken};
use crate::time::UnixTime;
use crate::token::{
    ClientCredentialsRequest, PasswordRequest, RefreshRequest, TokenCall, TokenSet,
};
use crate::token_exchange::TokenExchangeRequest;
use crate::uma::{
    PermissionRequest, PermissionTicketRequest, ResourceRegistration, UmaGrant, UmaGrantAuth,
    UmaPolicies,
};
use crate::userinfo::UserInfoRequest;

/// One client of one issuer: configuration and discovered metadata. Cheap to clone, no globals,
/// no I/O: every method returns a step to drive with an HTTP stack.
///
/// ```
/// use keycloak_client::{Client, ClientConfig, Discovered, ProviderMetadata, UnixTime};
/// let config = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-spa")
///     .redirect_uri("http://127.0.0.1:8000/callback")
///     .build()?;
/// let provider: ProviderMetadata = serde_json::from_str(r#"{
///     "issuer": "http://127.0.0.1:18080/realms/rkc",
///     "authorization_endpoint": "http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/auth",
///     "token_endpoint": "http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/token"
/// }"#).unwrap();
/// let client = Client::new(config, Discovered { provider, uma: None, fetched_at: UnixTime(0) });
/// // `login()` of the seed library: a URL with state, nonce and PKCE, and what to keep.
/// let mut rng = MyRng(7);
/// let (url, pending) = client.login().build(&mut rng, UnixTime(1_700_000_000))?;
/// assert!(url.as_str().contains("code_challenge_method=S256"));
/// assert_eq!(url.query_pairs().find(|(k, _)| k == "state").unwrap().1, pending.state.secret());
/// # struct MyRng(u64);
/// # impl rand_core::TryRng for MyRng { type Error = core::convert::Infallible;
/// #   fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(self.try_next_u64()? as u32) }
/// #   fn try_next_u64(&mut self) -> Result<u64, Self::Error> { self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1); Ok(self.0) }
/// #   fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { for b in d { *b = self.try_next_u64()? as u8 } Ok(()) } }
/// # impl rand_core::TryCryptoRng for MyRng {}
/// # Ok::<(), keycloak_client::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    /// The configuration.
    pub config: ClientConfig,
    /// OpenID provider metadata.
    pub provider: ProviderMetadata,
    /// UMA metadata, when discovered.
    pub uma_metadata: Option<UmaMetadata>,
    /// When discovery ran.
    pub discovered_at: UnixTime,
}

impl Client {
    /// A client from its configuration and discovery result (see [`DiscoverFlow`](crate::DiscoverFlow)).
    pub fn new(mut config: ClientConfig, discovered: Discovered) -> Client {
        // An assertion addressed to the token endpoint names the issuer's own URL of it.
        if let crate::ClientAuth::Jwt(a) = &config.auth {
            if *a.audience_setting() == crate::AssertionAudience::TokenEndpoint {
                let aud = discovered.provider.token_endpoint.to_string();
                config.auth = crate::ClientAuth::Jwt(
                    a.clone().audience(crate::AssertionAudience::Exactly(aud)),
                );
            }
        }
        Client {
            config,
            provider: discovered.provider,
            uma_metadata: discovered.uma,
            discovered_at: discovered.fetched_at,
        }
    }

    pub(crate) fn uma(&self) -> Result<&UmaMetadata, Error> {
        self.uma_metadata.as_ref().ok_or(Error::MissingEndpoint(
            "uma2-configuration (discover with UMA enabled)",
        ))
    }

    fn backchannel(&self, u: &url::Url) -> url::Url {
        self.config.to_backchannel(u)
    }

    fn token_endpoint(&self) -> url::Url {
        self.backchannel(&self.provider.token_endpoint)
    }

    // ---- OpenID Connect -------------------------------------------------------------------

    /// Starts a login (the seed's `login()`): see [`LoginBuilder`].
    pub fn login(&self) -> LoginBuilder<'_> {
        LoginBuilder::new(&self.config, &self.provider.authorization_endpoint).pushed_at(
            self.provider.pushed_authorization_request_endpoint.as_ref(),
            self.provider.require_pushed_authorization_requests,
        )
    }

    /// Finishes a login (the seed's `callback(code)`): checks the authorization response
    /// against the pending login (state in constant time, RFC 9207 `iss`, errors, lifetime)
    /// and returns the code exchange, a [`Flow`](crate::Flow) that validates the ID token with
    /// `policy` (nonce, `max_age`/`auth_time`, essential `acr`, the configured
    /// [`ClaimRules`](crate::ClaimRules)) before it releases any token.
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// # struct R(u8);
    /// # impl rand_core::TryRng for R { type Error = core::convert::Infallible;
    /// #   fn try_next_u32(&mut self) -> Result<u32, Self::Error> { Ok(7) }
    /// #   fn try_next_u64(&mut self) -> Result<u64, Self::Error> { Ok(7) }
    /// #   fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> { for b in d { self.0 = self.0.wrapping_add(1); *b = self.0 } Ok(()) } }
    /// # impl rand_core::TryCryptoRng for R {}
    /// let client = client();
    /// let (_url, pending) = client.login().build(&mut R(0), NOW)?;
    /// // ...the browser comes back to the redirect URI with this query:
    /// let query = format!("state={}&session_state=x&iss=http%3A%2F%2F127.0.0.1%3A18080%2Frealms%2Frkc&code=abc",
    ///     pending.state.secret());
    /// // The ID-token policy is an argument: the code cannot be sent without one. With a
    /// // `TokenValidator` (`IdTokenPolicy::Verify`) the flow fetches the keys first if needed.
    /// let mut exchange = client.callback(pending, &CallbackParams::from_query(&query)?,
    ///     IdTokenPolicy::DangerSkipSignature, NOW)?;
    /// let Step::Send(req) = exchange.poll()? else { unreachable!() };
    /// assert!(String::from_utf8(req.body).unwrap().contains("code_verifier="));
    /// // A forged state never gets this far:
    /// let (_, pending) = client.login().build(&mut R(9), NOW)?;
    /// let forged = CallbackParams::from_query("state=unknown&code=abc")?;
    /// let policy = IdTokenPolicy::DangerSkipSignature;
    /// assert!(matches!(client.callback(pending, &forged, policy, NOW), Err(Error::StateMismatch)));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn callback(
        &self,
        pending: PendingLogin,
        params: &CallbackParams,
        policy: IdTokenPolicy,
        now: UnixTime,
    ) -> Result<CodeExchange, Error> {
        accept_callback(&self.config, &self.provider, pending, params, policy, now)
    }

    /// UserInfo (the seed's `fetch_userinfo(access_token)`).
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let client = client();
    /// let step = client.userinfo(&AccessToken::new("eyJ.a.b"))?.expect_subject("user-1");
    /// assert_eq!(step.request().header_value("authorization"), Some("Bearer eyJ.a.b"));
    /// let user = step.handle(Response::json(200, r#"{"sub":"user-1","email":"a@example.test"}"#), NOW)?;
    /// assert_eq!(user.email.as_deref(), Some("a@example.test"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn userinfo(&self, access_token: &AccessToken) -> Result<UserInfoRequest, Error> {
        let url = self
            .provider
            .userinfo_endpoint
            .as_ref()
            .ok_or(Error::MissingEndpoint("userinfo_endpoint"))?;
        Ok(UserInfoRequest {
            url: self.backchannel(url),
            auth: crate::api::ResourceAuth::new(access_token, self.config.dpop.as_ref())?,
            expected_sub: None,
            limit: self.config.max_body_bytes,
        })
    }

    /// Refresh grant.
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let client = client();
    /// let old = TokenSet::from_response(TokenResponse::parse(&Response::json(200, token_body()), 1 << 20)?, NOW);
    /// if old.needs_refresh(NOW.plus(290), 30) {
    ///     let step = client.refresh(&old)?;
    ///     let new = step.handle(Response::json(200, token_body()), NOW.plus(290))?;
    ///     assert_eq!(new.expires_at, Some(NOW.plus(590)));
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    pub fn refresh(&self, tokens: &TokenSet) -> Result<RefreshRequest, Error> {
        RefreshRequest::new(&self.config, self.token_endpoint(), tokens)
    }

    /// Client credentials grant; for a Keycloak resource server this is the seed's `pat()`.
    pub fn client_credentials(&self) -> Result<ClientCredentialsRequest, Error> {
        ClientCredentialsRequest::new(&self.config, self.token_endpoint())
    }

    /// The Protection API Token (alias of [`client_credentials`](Self::client_credentials)).
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let step = client().pat()?;
    /// assert_eq!(step.request().method, Method::Post);
    /// let pat = step.handle(Response::json(200, token_body()), NOW)?;
    /// assert!(!pat.needs_refresh(NOW, 30));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pat(&self) -> Result<ClientCredentialsRequest, Error> {
        self.client_credentials()
    }

    /// **Testing only.** Resource-owner password grant (RFC 6749 §4.3; deprecated by RFC 9700).
    pub fn danger_password_grant(
        &self,
        username: &str,
        password: &Password,
        scope: &str,
    ) -> PasswordRequest {
        PasswordRequest::new(
            &self.config,
            self.token_endpoint(),
            username,
            password,
            scope,
        )
    }

    /// Back-channel logout of the Keycloak session that issued `refresh_token`.
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let step = client().logout(&RefreshToken::new("eyJ.r.t"))?;
    /// assert!(step.request().url.as_str().ends_with("/protocol/openid-connect/logout"));
    /// step.handle(Response::new(204, vec![], ""), NOW)?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn logout(&self, refresh_token: &RefreshToken) -> Result<BackchannelLogout, Error> {
        let ep = self.provider.end_session_endpoint.as_ref();
        BackchannelLogout::new(&self.config, ep, refresh_token)
    }

    /// RP-initiated logout URL (browser redirect).
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let url = client().logout_url()
    ///     .id_token_hint(&IdToken::new("eyJ.i.d"))
    ///     .post_logout_redirect_uri("http://127.0.0.1:8000/")
    ///     .build()?;
    /// assert!(url.as_str().contains("id_token_hint=eyJ.i.d"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn logout_url(&self) -> LogoutUrlBuilder<'_> {
        LogoutUrlBuilder {
            config: &self.config,
            end_session_endpoint: self.provider.end_session_endpoint.as_ref(),
            id_token_hint: None,
            post_logout_redirect_uri: None,
            state: None,
            ui_locales: None,
        }
    }

    /// Token revocation (RFC 7009).
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let step = client().revoke("eyJ.r.t", Some(TokenTypeHint::RefreshToken))?;
    /// step.handle(Response::new(200, vec![], ""), NOW)?;
    /// # Ok::<(), Error>(())
    /// ```
    pub fn revoke(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<RevocationRequest, Error> {
        let url = self
            .provider
            .revocation_endpoint
            .as_ref()
            .ok_or(Error::MissingEndpoint("revocation_endpoint"))?;
        Ok(RevocationRequest {
            call: TokenCall::new(&self.config, self.backchannel(url), "revocation")
                .field("token", token)
                .opt("token_type_hint", hint.map(TokenTypeHint::as_str)),
        })
    }

    /// Introspection (RFC 7662) of any token; use `RequestingPartyToken` for RPTs.
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let step = client().introspect("eyJ.a.b", Some(TokenTypeHint::RequestingPartyToken))?;
    /// let i = step.handle(Response::json(200, r#"{"active":true,"permissions":[{"rsid":"1","rsname":"doc-1","scopes":["read"]}]}"#), NOW)?;
    /// assert_eq!(i.permissions.unwrap()[0].rsname.as_deref(), Some("doc-1"));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn introspect(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<IntrospectionRequest, Error> {
        let url = self
            .provider
            .introspection_endpoint
            .as_ref()
            .or(self
                .uma_metadata
                .as_ref()
                .and_then(|u| u.introspection_endpoint.as_ref()))
            .ok_or(Error::MissingEndpoint("introspection_endpoint"))?;
        if !self.config.auth.is_confidential() {
            return Err(Error::Config(
                "introspection needs a confidential client".into(),
            ));
        }
        Ok(IntrospectionRequest {
            call: TokenCall::new(&self.config, self.backchannel(url), "introspection")
                .field("token", token)
                .opt("token_type_hint", hint.map(TokenTypeHint::as_str)),
        })
    }

    /// Device authorization request (RFC 8628 §3.1).
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let client = client();
    /// let auth = client.device_authorization(None)?.handle(Response::json(200,
    ///     r#"{"device_code":"dc","user_code":"ABCD-EFGH","verification_uri":"http://127.0.0.1:18080/realms/rkc/device","expires_in":600,"interval":5}"#), NOW)?;
    /// let mut poller = client.device_poller(&auth, NOW);
    /// assert_eq!(poller.next_poll_at(), NOW.plus(5));
    /// let slow = Response::json(400, r#"{"error":"slow_down"}"#);
    /// let poll = poller.handle(slow, NOW.plus(5))?;
    /// // The core carries the grown interval (RFC 8628 §3.5): wait until `next_poll_at`.
    /// assert!(matches!(poll, DevicePoll::Pending { interval: 10, .. }));
    /// assert_eq!(poller.next_poll_at(), NOW.plus(15));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn device_authorization(
        &self,
        scope: Option<&str>,
    ) -> Result<DeviceAuthorizationRequest, Error> {
        let url = self
            .provider
            .device_authorization_endpoint
            .as_ref()
            .ok_or(Error::MissingEndpoint("device_authorization_endpoint"))?;
        let mut scopes = vec!["openid".to_string()];
        if let Some(s) = scope {
            scopes.extend(
                s.split_ascii_whitespace()
                    .filter(|x| *x != "openid")
                    .map(str::to_owned),
            );
        }
        Ok(DeviceAuthorizationRequest {
            call: TokenCall::new(&self.config, self.backchannel(url), "device authorization")
                .field("scope", &scopes.join(" ")),
            verifier: None,
        })
    }

    /// Polling for a started device authorization (RFC 8628 §3.4): see
    /// [`DevicePoller`](crate::DevicePoller). The first poll may go out one interval after
    /// `now`.
    pub fn device_poller(&self, auth: &DeviceAuthorization, now: UnixTime) -> DevicePoller {
        let mut call = TokenCall::new(&self.config, self.token_endpoint(), "device token")
            .field("grant_type", "urn:ietf:params:oauth:grant-type:device_code")
            .field("device_code", auth.device_code.secret());
        if let Some(v) = &auth.code_verifier {
            call = call.field("code_verifier", v.secret());
        }
        DevicePoller {
            call,
            // A stored authorization may carry 0: never poll without waiting (RFC 8628 §3.5).
            interval: auth.interval.max(1),
            expires_at: auth.expires_at,
            next_poll_at: now.plus(auth.interval.max(1)),
            nonce_challenged: false,
        }
    }

    /// Token exchange (RFC 8693): trade `subject_token` of `subject_token_type` for a new token.
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// let step = client().token_exchange("eyJ.a.b", ACCESS_TOKEN_TYPE).audience("rkc-api");
    /// let t = step.handle(Response::json(200, r#"{"access_token":"eyJ.a.b","token_type":"Bearer",
    ///     "expires_in":300,"issued_token_type":"urn:ietf:params:oauth:token-type:access_token"}"#), NOW)?;
    /// assert_eq!(t.issued_token_type.as_deref(), Some(ACCESS_TOKEN_TYPE));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn token_exchange(
        &self,
        subject_token: &str,
        subject_token_type: &str,
    ) -> TokenExchangeRequest {
        TokenExchangeRequest {
            call: TokenCall::new(&self.config, self.token_endpoint(), "token exchange")
                .field(
                    "grant_type",
                    "urn:ietf:params:oauth:grant-type:token-exchange",
                )
                .field("subject_token", subject_token)
                .field("subject_token_type", subject_token_type),
            requested: None,
            audiences: vec![],
        }
    }

    // ---- UMA -------------------------------------------------------------------------------

    /// A permission ticket for resources (by id or name) and scopes, with the PAT.
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// use keycloak_client::uma::PermissionRequest;
    /// let step = client().permission_ticket(&AccessToken::new("pat"), &[PermissionRequest::new("doc-1", &["read"])])?;
    /// let ticket = step.handle(Response::json(201, r#"{"ticket":"eyJ.t.k"}"#), NOW)?;
    /// assert_eq!(ticket.secret(), "eyJ.t.k");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn permission_ticket(
        &self,
        pat: &AccessToken,
        permissions: &[PermissionRequest],
    ) -> Result<PermissionTicketRequest, Error> {
        let ep = &self.uma()?.permission_endpoint;
        PermissionTicketRequest::new(&self.config, ep, pat, permissions)
    }

    /// The UMA grant (RPT, decision, or permissions).
    ///
    /// ```
    /// # use keycloak_client::*;
    /// # #[path = "doc_fixtures.rs"] mod fixtures; use fixtures::*;
    /// use keycloak_client::uma::UmaGrantAuth;
    /// let client = client();
    /// let ask = || client.uma_grant(UmaGrantAuth::Bearer(AccessToken::new("user-token")))
    ///     .audience("rkc-rs")
    ///     .permission("doc-1", &["write"]);
    /// assert!(ask().decision().handle(Response::json(200, r#"{"result":true}"#), NOW)?);
    /// assert!(!ask().decision().handle(Response::json(403, r#"{"error":"access_denied","error_description":"not_authorized"}"#), NOW)?);
    /// let e = ask().rpt_request().handle(Response::json(403, r#"{"error":"access_denied"}"#), NOW).unwrap_err();
    /// assert!(e.is_access_denied());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn uma_grant(&self, auth: UmaGrantAuth) -> UmaGrant {
        UmaGrant::new(&self.config, &self.provider.token_endpoint, auth)
    }

    /// Shortcut: an RPT for a ticket on behalf of a user.
    pub fn rpt_for_ticket(
        &self,
        user_token: &AccessToken,
        ticket: &PermissionTicket,
    ) -> crate::uma::RptRequest {
        self.uma_grant(UmaGrantAuth::Bearer(user_token.clone()))
            .ticket(ticket)
            .rpt_request()
    }

    /// The resource registration API (UMA Federated Authorization §3.2), used with the PAT.
    pub fn resources(&self) -> ResourceRegistration {
        let ep = self.uma_metadata.as_ref();
        ResourceRegistration::new(&self.config, ep.map(|u| &u.resource_registration_endpoint))
    }

    /// Keycloak's user-managed permission API, used with the resource owner's token.
    pub fn uma_policies(&self) -> UmaPolicies {
        let ep = self
            .uma_metadata
            .as_ref()
            .and_then(|u| u.policy_endpoint.as_ref());
        UmaPolicies::new(&self.config, ep)
    }
}
