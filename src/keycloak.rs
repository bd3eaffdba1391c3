//! [`Keycloak<D>`]: the seed library's vocabulary, written once, for any [`Driver`]. With a
//! blocking driver every method returns `Result<T, D::Error>`; with an async one, a future of
//! it. The adapters are only drivers: `keycloak_client_ureq::Keycloak` is
//! `Keycloak<keycloak_client_ureq::HttpClient>`.

use std::sync::Arc;

use crate::agent::{Agent, AgentBuilder};
use crate::callback::LoginTokens;
use crate::client::Client;
use crate::config::{ClientConfig, ClientConfigBuilder};
use crate::device::DeviceAuthorization;
use crate::drive::Driver;
use crate::error::Error;
use crate::introspection::Introspection;
use crate::jwt::Claims;
use crate::login::PendingLogin;
use crate::revocation::TokenTypeHint;
use crate::secret::{AccessToken, PermissionTicket};
use crate::token::TokenSet;
use crate::uma::{
    GrantedPermission, PermissionRequest, Resource, ResourceQuery, Rpt, UmaPolicy, UmaPolicyQuery,
};
use crate::userinfo::UserInfo;
use crate::validator::TokenValidator;

/// A Keycloak client: an [`Agent`] (all state) driven by `D`. Use it through an adapter:
/// `keycloak_client_ureq::Keycloak` (blocking) or `keycloak_client_reqwest::Keycloak` (async,
/// `.await` each call).
#[derive(Clone)]
pub struct Keycloak<D> {
    agent: Agent,
    http: D,
}

impl<D> std::fmt::Debug for Keycloak<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.agent.fmt(f)
    }
}

/// The builder of a [`Keycloak<D>`].
pub type KeycloakBuilder<D> = AgentBuilder<D>;

impl<D: Driver + Default> AgentBuilder<D> {
    /// Builds the client (no I/O yet: discovery happens on first use).
    pub fn build(mut self) -> Result<Keycloak<D>, Error> {
        let http = self.http.take().unwrap_or_default();
        Ok(Keycloak {
            agent: self.build_agent()?,
            http,
        })
    }
}

impl<D: Driver> Keycloak<D> {
    /// Starts from a configuration builder.
    pub fn builder(config: ClientConfigBuilder) -> KeycloakBuilder<D> {
        AgentBuilder::new(config)
    }

    /// Starts from Keycloak's `keycloak.json`.
    pub fn from_keycloak_json(json: &str) -> Result<KeycloakBuilder<D>, Error> {
        Ok(AgentBuilder::new(ClientConfig::keycloak_json_builder(
            json,
        )?))
    }

    /// The driver (the adapter's HTTP client).
    pub fn http(&self) -> &D {
        &self.http
    }

    /// The state machine behind this client.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        self.agent.config()
    }

    /// The discovered client (discovery on first use and once stale).
    pub fn client(&self) -> D::Run<'_, Client> {
        self.http.run(self.agent.client(self.http.now()))
    }

    /// The seed's `login()`: the authorization URL and the pending login to keep server-side.
    pub fn login(&self) -> D::Run<'_, (url::Url, PendingLogin)> {
        let op = self.agent.login(&mut self.http.rng(), self.http.now());
        self.http.run(op)
    }

    /// The seed's `callback(code)`: takes the callback query string, checks it against the
    /// pending login, exchanges the code (with PKCE) and validates the ID token.
    pub fn callback(&self, pending: PendingLogin, query: &str) -> D::Run<'_, LoginTokens> {
        self.http
            .run(self.agent.callback_query(pending, query, self.http.now()))
    }

    /// The token validator, its key set loaded (needs a `jws_verifier`).
    pub fn token_validator(&self) -> D::Run<'_, Option<Arc<TokenValidator>>> {
        self.http.run(self.agent.token_validator(self.http.now()))
    }

    /// Validates an access token locally; one key-set refetch on an unknown `kid`.
    pub fn validate_access_token(&self, token: &str) -> D::Run<'_, Claims> {
        self.http
            .run(self.agent.validate_access_token(token, self.http.now()))
    }

    /// Validates a DPoP-bound access token (`cnf.jkt`); the request's proof is the caller's to
    /// check against it.
    pub fn validate_bound_access_token(&self, token: &str) -> D::Run<'_, Claims> {
        self.http.run(
            self.agent
                .validate_bound_access_token(token, self.http.now()),
        )
    }

    /// Validates a back-channel logout token (OpenID Connect Back-Channel Logout 1.0).
    pub fn validate_logout_token(&self, token: &str) -> D::Run<'_, Claims> {
        self.http
            .run(self.agent.validate_logout_token(token, self.http.now()))
    }

    /// The seed's `fetch_userinfo(access_token)`.
    pub fn fetch_userinfo(&self, access_token: &AccessToken) -> D::Run<'_, UserInfo> {
        self.http
            .run(self.agent.fetch_userinfo(access_token, self.http.now()))
    }

    /// Refresh grant.
    pub fn refresh(&self, tokens: &TokenSet) -> D::Run<'_, TokenSet> {
        self.http.run(self.agent.refresh(tokens, self.http.now()))
    }

    /// Back-channel logout of the session behind `tokens`.
    pub fn logout(&self, tokens: &TokenSet) -> D::Run<'_, ()> {
        self.http.run(self.agent.logout(tokens, self.http.now()))
    }

    /// The seed's `pat()`: the Protection API Token, cached and refreshed before expiry.
    pub fn pat(&self) -> D::Run<'_, TokenSet> {
        self.http.run(self.agent.pat(self.http.now()))
    }

    /// The seed's `find_ticket`: a permission ticket for resources and scopes.
    pub fn find_ticket(&self, permissions: &[PermissionRequest]) -> D::Run<'_, PermissionTicket> {
        self.http
            .run(self.agent.find_ticket(permissions, self.http.now()))
    }

    /// An RPT for a ticket on behalf of the user holding `user_token`.
    pub fn rpt(&self, user_token: &AccessToken, ticket: &PermissionTicket) -> D::Run<'_, Rpt> {
        self.http
            .run(self.agent.rpt(user_token, ticket, self.http.now()))
    }

    /// Keycloak's decision for `resource#scopes` at resource server `audience`.
    pub fn decision(
        &self,
        user_token: &AccessToken,
        audience: &str,
        resource: &str,
        scopes: &[&str],
    ) -> D::Run<'_, bool> {
        let now = self.http.now();
        let op = self
            .agent
            .decision(user_token, audience, resource, scopes, now);
        self.http.run(op)
    }

    /// What Keycloak grants the user on `resource#scopes` at `audience`, with pushed claims
    /// (the policy enforcer's question; a denial is `Error::OAuth` `access_denied`).
    pub fn permissions_for(
        &self,
        user_token: &AccessToken,
        audience: &str,
        resource: &str,
        scopes: &[&str],
        claim_token: Option<(&str, &str)>,
    ) -> D::Run<'_, Vec<GrantedPermission>> {
        let now = self.http.now();
        let op =
            self.agent
                .permissions_for(user_token, audience, resource, scopes, claim_token, now);
        self.http.run(op)
    }

    /// The permissions Keycloak grants the user at resource server `audience`.
    pub fn permissions(
        &self,
        user_token: &AccessToken,
        audience: &str,
    ) -> D::Run<'_, Vec<GrantedPermission>> {
        self.http.run(
            self.agent
                .permissions(user_token, audience, self.http.now()),
        )
    }

    /// Introspection of any token (RPTs with `TokenTypeHint::RequestingPartyToken`).
    pub fn introspect(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> D::Run<'_, Introspection> {
        self.http
            .run(self.agent.introspect(token, hint, self.http.now()))
    }

    /// Revocation (RFC 7009).
    pub fn revoke(&self, token: &str, hint: Option<TokenTypeHint>) -> D::Run<'_, ()> {
        self.http
            .run(self.agent.revoke(token, hint, self.http.now()))
    }

    /// Starts a device authorization.
    pub fn device_authorization(&self, scope: Option<&str>) -> D::Run<'_, DeviceAuthorization> {
        self.http.run(
            self.agent
                .device_authorization(scope, &mut self.http.rng(), self.http.now()),
        )
    }

    /// Polls until the user approves, the code expires, or `on_wait` (told each interval)
    /// returns false. The core times the polls; the driver only sleeps.
    pub fn device_wait(
        &self,
        auth: &DeviceAuthorization,
        on_wait: impl FnMut(u64) -> bool + Send + 'static,
    ) -> D::Run<'_, TokenSet> {
        let op = self
            .agent
            .device_wait(auth, Some(Box::new(on_wait)), self.http.now());
        self.http.run(op)
    }

    /// Token exchange (RFC 8693) of an access token for another audience.
    pub fn exchange_token(&self, subject: &AccessToken, audience: &str) -> D::Run<'_, TokenSet> {
        self.http.run(
            self.agent
                .exchange_token(subject, audience, self.http.now()),
        )
    }

    /// Registers a resource with the cached PAT.
    pub fn create_resource(&self, r: &Resource) -> D::Run<'_, Resource> {
        self.http
            .run(self.agent.create_resource(r, self.http.now()))
    }

    /// Reads a resource.
    pub fn get_resource(&self, id: &str) -> D::Run<'_, Resource> {
        self.http.run(self.agent.get_resource(id, self.http.now()))
    }

    /// Replaces a resource.
    pub fn update_resource(&self, id: &str, r: &Resource) -> D::Run<'_, ()> {
        self.http
            .run(self.agent.update_resource(id, r, self.http.now()))
    }

    /// Deletes a resource.
    pub fn delete_resource(&self, id: &str) -> D::Run<'_, ()> {
        self.http
            .run(self.agent.delete_resource(id, self.http.now()))
    }

    /// Lists resource ids.
    pub fn query_resources(&self, q: &ResourceQuery) -> D::Run<'_, Vec<String>> {
        self.http
            .run(self.agent.query_resources(q, self.http.now()))
    }

    /// Lists full resources.
    pub fn query_resources_deep(&self, q: &ResourceQuery) -> D::Run<'_, Vec<Resource>> {
        self.http
            .run(self.agent.query_resources_deep(q, self.http.now()))
    }

    /// Creates a user-managed permission (with the owner's token).
    pub fn create_uma_policy(
        &self,
        owner_token: &AccessToken,
        resource_id: &str,
        p: &UmaPolicy,
    ) -> D::Run<'_, UmaPolicy> {
        let now = self.http.now();
        let op = self
            .agent
            .create_uma_policy(owner_token, resource_id, p, now);
        self.http.run(op)
    }

    /// Replaces a user-managed permission.
    pub fn update_uma_policy(
        &self,
        owner_token: &AccessToken,
        id: &str,
        p: &UmaPolicy,
    ) -> D::Run<'_, ()> {
        let now = self.http.now();
        self.http
            .run(self.agent.update_uma_policy(owner_token, id, p, now))
    }

    /// Deletes a user-managed permission.
    pub fn delete_uma_policy(&self, owner_token: &AccessToken, id: &str) -> D::Run<'_, ()> {
        self.http.run(
            self.agent
                .delete_uma_policy(owner_token, id, self.http.now()),
        )
    }

    /// Lists the owner's permissions.
    pub fn query_uma_policies(
        &self,
        owner_token: &AccessToken,
        q: &UmaPolicyQuery,
    ) -> D::Run<'_, Vec<UmaPolicy>> {
        self.http.run(
            self.agent
                .query_uma_policies(owner_token, q, self.http.now()),
        )
    }
}
