//! The seed library's vocabulary on an [`Agent`]: each method returns an [`Operation`] (a
//! [`Flow`](crate::Flow)) that discovers first when needed, brings the PAT or the key set when
//! the operation needs them, and then does its own requests.

use std::sync::Arc;

use rand_core::CryptoRng;

use crate::agent::{Agent, IdTokens};
use crate::callback::{CallbackParams, IdTokenPolicy, LoginTokens};
use crate::client::Client;
use crate::config::ClientAuth;
use crate::device::{DeviceAuthorization, DeviceWait, OnWait};
use crate::error::Error;
use crate::flow::{Exchange, Single};
use crate::introspection::Introspection;
use crate::jwt::Claims;
use crate::login::{random_token, LoginBuilder, LoginSecrets, PendingLogin};
use crate::operation::{Answer, BoxFlow, Needs, Operation, Ready};
use crate::revocation::TokenTypeHint;
use crate::secret::{AccessToken, PermissionTicket, PkceVerifier};
use crate::time::UnixTime;
use crate::token::TokenSet;
use crate::uma::{
    GrantedPermission, PermissionRequest, Resource, ResourceQuery, Rpt, UmaGrantAuth, UmaPolicy,
    UmaPolicyQuery,
};
use crate::userinfo::UserInfo;
use crate::validator::{TokenKind, TokenValidator};

const DISCOVERY: Needs = Needs {
    pat: false,
    keys: false,
};
const WITH_PAT: Needs = Needs {
    pat: true,
    keys: false,
};
const WITH_KEYS: Needs = Needs {
    pat: false,
    keys: true,
};

fn pat_of(r: &Ready) -> Result<AccessToken, Error> {
    r.pat
        .as_ref()
        .map(|p| p.access_token.clone())
        .ok_or(Error::FlowState("the PAT was not prepared"))
}

impl Agent {
    /// An operation whose own part is one round trip, built from the shared state.
    fn exchange<E>(
        &self,
        needs: Needs,
        now: UnixTime,
        make: impl FnOnce(&Ready) -> Result<E, Error> + Send + 'static,
    ) -> Operation<E::Output>
    where
        E: Exchange + Send + 'static,
        E::Output: Send + 'static,
    {
        Operation::new(self, needs, now, move |r, _| {
            Ok(Box::new(Single::new(make(r)?)) as BoxFlow<E::Output>)
        })
    }

    /// The discovered client (discovery on first use and once the documents are stale).
    pub fn client(&self, now: UnixTime) -> Operation<Client> {
        Operation::new(self, DISCOVERY, now, |r, _| {
            Ok(Box::new(Answer(Some(Client::clone(&r.client)))) as BoxFlow<Client>)
        })
    }

    /// The seed's `login()`: the authorization URL and the pending login to keep. The secrets
    /// are drawn from `rng` now; the RNG is not kept.
    pub fn login<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        now: UnixTime,
    ) -> Operation<(url::Url, PendingLogin)> {
        self.login_with(rng, now, |b| b)
    }

    /// [`login`](Self::login) with the authorization request customised (scopes, `max_age`,
    /// `return_to`, ...).
    pub fn login_with<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        now: UnixTime,
        customize: impl FnOnce(LoginBuilder<'_>) -> LoginBuilder<'_> + Send + 'static,
    ) -> Operation<(url::Url, PendingLogin)> {
        let secrets = LoginSecrets::generate(rng);
        Operation::new(self, DISCOVERY, now, move |r, now| {
            let b = customize(r.client.login());
            if b.must_push() {
                // RFC 9126: the parameters go over the back channel first.
                let pushed = b.build_pushed_with(secrets, now)?;
                return Ok(Box::new(Single::new(pushed)) as BoxFlow<_>);
            }
            Ok(Box::new(Answer(Some(b.build_with(secrets, now)?))) as BoxFlow<_>)
        })
    }

    /// The seed's `callback(code)`: checks the authorization response against the pending
    /// login, exchanges the code and validates the ID token as configured (realm keys loaded
    /// first, once for all callers).
    pub fn callback(
        &self,
        pending: PendingLogin,
        params: &CallbackParams,
        now: UnixTime,
    ) -> Operation<LoginTokens> {
        let params = params.clone();
        let id_tokens = self.settings().id_tokens.clone();
        let needs = Needs {
            keys: matches!(id_tokens, IdTokens::RealmKeys),
            ..DISCOVERY
        };
        Operation::new(self, needs, now, move |r, now| {
            let policy = match (id_tokens, &r.validator) {
                (IdTokens::Custom(v), _) => IdTokenPolicy::Verify(v),
                (IdTokens::RealmKeys, Some(v)) => IdTokenPolicy::Verify(v.clone()),
                (IdTokens::DangerSkipSignature, _) => IdTokenPolicy::DangerSkipSignature,
                _ => return Err(Error::NoIdTokenValidator),
            };
            Ok(Box::new(r.client.callback(pending, &params, policy, now)?) as BoxFlow<_>)
        })
    }

    /// [`callback`](Self::callback) from the raw callback query string.
    pub fn callback_query(
        &self,
        pending: PendingLogin,
        query: &str,
        now: UnixTime,
    ) -> Operation<LoginTokens> {
        match CallbackParams::from_query(query) {
            Ok(p) => self.callback(pending, &p, now),
            Err(e) => Operation::failed(self, e),
        }
    }

    /// The seed's `fetch_userinfo(access_token)`.
    pub fn fetch_userinfo(&self, access_token: &AccessToken, now: UnixTime) -> Operation<UserInfo> {
        let at = access_token.clone();
        self.exchange(DISCOVERY, now, move |r| r.client.userinfo(&at))
    }

    /// Refresh grant (the new ID token, if any, is checked against the old `sub`).
    pub fn refresh(&self, tokens: &TokenSet, now: UnixTime) -> Operation<TokenSet> {
        let t = tokens.clone();
        self.exchange(DISCOVERY, now, move |r| r.client.refresh(&t))
    }

    /// Back-channel logout of the session behind `tokens` (needs the refresh token).
    ///
    /// One exception: a public client's DPoP-bound tokens (`token_type: DPoP`). Keycloak's
    /// logout endpoint does not read DPoP proofs and refuses such a refresh token ("DPoP proof
    /// is missing", 26.7), so the refresh token is revoked instead (RFC 7009 §2.1, with a
    /// proof). Keycloak then removes this client from the user's sessions and ends a session
    /// no other client is left in; a session shared with other clients (browser SSO) lives
    /// on. Keycloak answers revocation of an unknown or expired token with success.
    pub fn logout(&self, tokens: &TokenSet, now: UnixTime) -> Operation<()> {
        let rt = tokens.refresh_token.clone();
        let tokens_type = tokens.token_type.clone();
        Operation::new(self, DISCOVERY, now, move |r, _| {
            let rt = rt.ok_or_else(|| Error::Config("logout needs a refresh token".into()))?;
            let c = &r.client;
            let bound = tokens_type.eq_ignore_ascii_case("dpop");
            if matches!(c.config.auth, ClientAuth::None) && c.config.dpop.is_some() && bound {
                let revoke = c.revoke(rt.secret(), Some(TokenTypeHint::RefreshToken))?;
                return Ok(Box::new(Single::new(revoke)) as BoxFlow<()>);
            }
            Ok(Box::new(Single::new(c.logout(&rt)?)) as BoxFlow<()>)
        })
    }

    /// The seed's `pat()`: the Protection API Token, shared by all callers and refreshed
    /// before expiry by one of them.
    pub fn pat(&self, now: UnixTime) -> Operation<TokenSet> {
        Operation::new(self, WITH_PAT, now, |r, _| {
            Ok(Box::new(Answer(r.pat.clone())) as BoxFlow<TokenSet>)
        })
    }

    /// The seed's `find_ticket`: a permission ticket for resources and scopes, with the PAT.
    pub fn find_ticket(
        &self,
        permissions: &[PermissionRequest],
        now: UnixTime,
    ) -> Operation<PermissionTicket> {
        let perms = permissions.to_vec();
        self.exchange(WITH_PAT, now, move |r| {
            r.client.permission_ticket(&pat_of(r)?, &perms)
        })
    }

    /// An RPT for a ticket on behalf of the user holding `user_token`.
    pub fn rpt(
        &self,
        user_token: &AccessToken,
        ticket: &PermissionTicket,
        now: UnixTime,
    ) -> Operation<Rpt> {
        let (at, ticket) = (user_token.clone(), ticket.clone());
        self.exchange(DISCOVERY, now, move |r| {
            Ok(r.client.rpt_for_ticket(&at, &ticket))
        })
    }

    /// Keycloak's decision for `resource#scopes` at resource server `audience`.
    pub fn decision(
        &self,
        user_token: &AccessToken,
        audience: &str,
        resource: &str,
        scopes: &[&str],
        now: UnixTime,
    ) -> Operation<bool> {
        let (at, aud, res) = (
            user_token.clone(),
            audience.to_string(),
            resource.to_string(),
        );
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        self.exchange(DISCOVERY, now, move |r| {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            Ok(r.client
                .uma_grant(UmaGrantAuth::Bearer(at))
                .audience(&aud)
                .permission(&res, &scopes)
                .decision())
        })
    }

    /// The policy enforcer's question (Keycloak's UMA grant, permissions mode): what Keycloak
    /// grants the user on `resource#scopes` at resource server `audience`, with claims pushed
    /// as `claim_token` (`(token, format)`). A denial is `Error::OAuth` with `access_denied`.
    pub fn permissions_for(
        &self,
        user_token: &AccessToken,
        audience: &str,
        resource: &str,
        scopes: &[&str],
        claim_token: Option<(&str, &str)>,
        now: UnixTime,
    ) -> Operation<Vec<GrantedPermission>> {
        let (at, aud, res) = (
            user_token.clone(),
            audience.to_string(),
            resource.to_string(),
        );
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let claims = claim_token.map(|(t, f)| (t.to_string(), f.to_string()));
        self.exchange(DISCOVERY, now, move |r| {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let mut g = r
                .client
                .uma_grant(UmaGrantAuth::Bearer(at))
                .audience(&aud)
                .permission(&res, &scopes);
            if let Some((token, format)) = &claims {
                g = g.claim_token(token, format);
            }
            Ok(g.permissions())
        })
    }

    /// The permissions Keycloak grants the user at resource server `audience`.
    pub fn permissions(
        &self,
        user_token: &AccessToken,
        audience: &str,
        now: UnixTime,
    ) -> Operation<Vec<GrantedPermission>> {
        let (at, aud) = (user_token.clone(), audience.to_string());
        self.exchange(DISCOVERY, now, move |r| {
            Ok(r.client
                .uma_grant(UmaGrantAuth::Bearer(at))
                .audience(&aud)
                .permissions())
        })
    }

    /// Introspection (RFC 7662) of any token (RPTs with `TokenTypeHint::RequestingPartyToken`).
    pub fn introspect(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
        now: UnixTime,
    ) -> Operation<Introspection> {
        let token = token.to_string();
        self.exchange(DISCOVERY, now, move |r| r.client.introspect(&token, hint))
    }

    /// Revocation (RFC 7009).
    pub fn revoke(&self, token: &str, hint: Option<TokenTypeHint>, now: UnixTime) -> Operation<()> {
        let token = token.to_string();
        self.exchange(DISCOVERY, now, move |r| r.client.revoke(&token, hint))
    }

    /// Starts a device authorization (RFC 8628 §3.1) with PKCE (RFC 7636; the verifier is
    /// drawn from `rng` now and travels in the [`DeviceAuthorization`]).
    pub fn device_authorization<R: CryptoRng + ?Sized>(
        &self,
        scope: Option<&str>,
        rng: &mut R,
        now: UnixTime,
    ) -> Operation<DeviceAuthorization> {
        let scope = scope.map(str::to_owned);
        let verifier = PkceVerifier::new(random_token(rng));
        self.exchange(DISCOVERY, now, move |r| {
            Ok(r.client
                .device_authorization(scope.as_deref())?
                .with_pkce(verifier.clone()))
        })
    }

    /// Polls until the user approves or the code expires (RFC 8628 §3.4-3.5), as
    /// [`Step::WaitUntil`](crate::Step::WaitUntil) between polls; `on_wait` is told each
    /// interval and may give up.
    pub fn device_wait(
        &self,
        auth: &DeviceAuthorization,
        on_wait: Option<OnWait>,
        now: UnixTime,
    ) -> Operation<TokenSet> {
        let auth = auth.clone();
        Operation::new(self, DISCOVERY, now, move |r, now| {
            let poller = r.client.device_poller(&auth, now);
            Ok(Box::new(DeviceWait::new(poller, now, on_wait)) as BoxFlow<_>)
        })
    }

    /// Token exchange (RFC 8693) of an access token for another audience.
    pub fn exchange_token(
        &self,
        subject: &AccessToken,
        audience: &str,
        now: UnixTime,
    ) -> Operation<TokenSet> {
        let (at, aud) = (subject.clone(), audience.to_string());
        self.exchange(DISCOVERY, now, move |r| {
            Ok(r.client
                .token_exchange(at.secret(), crate::ACCESS_TOKEN_TYPE)
                .audience(&aud))
        })
    }

    /// Registers a resource, with the PAT.
    pub fn create_resource(&self, resource: &Resource, now: UnixTime) -> Operation<Resource> {
        let res = resource.clone();
        self.exchange(WITH_PAT, now, move |r| {
            r.client.resources().create(&pat_of(r)?, &res)
        })
    }

    /// Reads a resource, with the PAT.
    pub fn get_resource(&self, id: &str, now: UnixTime) -> Operation<Resource> {
        let id = id.to_string();
        self.exchange(WITH_PAT, now, move |r| {
            r.client.resources().get(&pat_of(r)?, &id)
        })
    }

    /// Replaces a resource, with the PAT.
    pub fn update_resource(&self, id: &str, resource: &Resource, now: UnixTime) -> Operation<()> {
        let (id, res) = (id.to_string(), resource.clone());
        self.exchange(WITH_PAT, now, move |r| {
            r.client.resources().update(&pat_of(r)?, &id, &res)
        })
    }

    /// Deletes a resource, with the PAT.
    pub fn delete_resource(&self, id: &str, now: UnixTime) -> Operation<()> {
        let id = id.to_string();
        self.exchange(WITH_PAT, now, move |r| {
            r.client.resources().delete(&pat_of(r)?, &id)
        })
    }

    /// Lists resource ids, with the PAT.
    pub fn query_resources(&self, query: &ResourceQuery, now: UnixTime) -> Operation<Vec<String>> {
        let q = query.clone();
        self.exchange(WITH_PAT, now, move |r| {
            r.client.resources().query(&pat_of(r)?, &q)
        })
    }

    /// Lists full resources, with the PAT.
    pub fn query_resources_deep(
        &self,
        query: &ResourceQuery,
        now: UnixTime,
    ) -> Operation<Vec<Resource>> {
        let q = query.clone();
        self.exchange(WITH_PAT, now, move |r| {
            r.client.resources().query_deep(&pat_of(r)?, &q)
        })
    }

    /// Creates a user-managed permission (with the owner's token).
    pub fn create_uma_policy(
        &self,
        owner_token: &AccessToken,
        resource_id: &str,
        policy: &UmaPolicy,
        now: UnixTime,
    ) -> Operation<UmaPolicy> {
        let (at, id, p) = (owner_token.clone(), resource_id.to_string(), policy.clone());
        self.exchange(DISCOVERY, now, move |r| {
            r.client.uma_policies().create(&at, &id, &p)
        })
    }

    /// Replaces a user-managed permission.
    pub fn update_uma_policy(
        &self,
        owner_token: &AccessToken,
        policy_id: &str,
        policy: &UmaPolicy,
        now: UnixTime,
    ) -> Operation<()> {
        let (at, id, p) = (owner_token.clone(), policy_id.to_string(), policy.clone());
        self.exchange(DISCOVERY, now, move |r| {
            r.client.uma_policies().update(&at, &id, &p)
        })
    }

    /// Deletes a user-managed permission.
    pub fn delete_uma_policy(
        &self,
        owner_token: &AccessToken,
        policy_id: &str,
        now: UnixTime,
    ) -> Operation<()> {
        let (at, id) = (owner_token.clone(), policy_id.to_string());
        self.exchange(DISCOVERY, now, move |r| {
            r.client.uma_policies().delete(&at, &id)
        })
    }

    /// Lists the owner's permissions.
    pub fn query_uma_policies(
        &self,
        owner_token: &AccessToken,
        query: &UmaPolicyQuery,
        now: UnixTime,
    ) -> Operation<Vec<UmaPolicy>> {
        let (at, q) = (owner_token.clone(), query.clone());
        self.exchange(DISCOVERY, now, move |r| {
            r.client.uma_policies().query(&at, &q)
        })
    }

    /// The token validator with its key set loaded (one fetch for all callers), or `None`
    /// without a [`JwsVerifier`](crate::JwsVerifier).
    pub fn token_validator(&self, now: UnixTime) -> Operation<Option<Arc<TokenValidator>>> {
        Operation::new(self, WITH_KEYS, now, |r, _| {
            Ok(Box::new(Answer(Some(r.validator.clone()))) as BoxFlow<_>)
        })
    }

    fn validate(&self, token: &str, kind: TokenKind, now: UnixTime) -> Operation<Claims> {
        let token = token.to_string();
        Operation::new(self, WITH_KEYS, now, move |r, now| {
            let v = r.validator.as_ref().ok_or_else(|| {
                Error::Config("local token validation needs a jws_verifier".into())
            })?;
            Ok(Box::new(v.validate_flow_shared(&token, kind, now)) as BoxFlow<_>)
        })
    }

    /// Validates an access token locally (signature with the realm's keys, `iss`, `aud`,
    /// `exp`/`nbf`/`iat`), refetching the key set once on an unknown `kid` if the policy allows.
    pub fn validate_access_token(&self, token: &str, now: UnixTime) -> Operation<Claims> {
        self.validate(token, TokenKind::Access, now)
    }

    /// Validates a DPoP-bound access token (`cnf.jkt`); its proof is the caller's to check
    /// ([`dpop_proof::verify_proof`](crate::dpop_proof::verify_proof)).
    pub fn validate_bound_access_token(&self, token: &str, now: UnixTime) -> Operation<Claims> {
        self.validate(token, TokenKind::BoundAccess, now)
    }

    /// Validates a back-channel logout token (OpenID Connect Back-Channel Logout 1.0 §2.6).
    pub fn validate_logout_token(&self, token: &str, now: UnixTime) -> Operation<Claims> {
        self.validate(token, TokenKind::Logout, now)
    }
}
