//! Keycloak's user-managed permission API (`authz/protection/uma-policy`): a resource owner
//! grants others access to their resources, with their own access token.

use crate::api::{EmptyCall, JsonCall, ResourceAuth};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::http::{Method, Request};
use crate::secret::AccessToken;

use super::{UmaPolicy, UmaPolicyQuery};

/// The user-managed permission API, from [`Client::uma_policies`](crate::Client::uma_policies).
///
/// ```
/// # use keycloak_client::*;
/// # #[path = "../doc_fixtures.rs"] mod fixtures; use fixtures::*;
/// use keycloak_client::uma::UmaPolicy;
/// let p = UmaPolicy { name: "bob may read".into(), scopes: vec!["read".into()], users: vec!["bob".into()], ..Default::default() };
/// let step = client().uma_policies().create(&AccessToken::new("alice-token"), "42", &p)?;
/// assert!(step.request().url.as_str().ends_with("/authz/protection/uma-policy/42"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct UmaPolicies {
    /// `policy_endpoint`, back-channel form; `None` when not discovered.
    endpoint: Option<url::Url>,
    limit: usize,
    /// The client's DPoP key: its tokens are bound, so every call carries a proof.
    dpop: Option<crate::dpop::Dpop>,
}

impl UmaPolicies {
    pub(crate) fn new(config: &ClientConfig, endpoint: Option<&url::Url>) -> Self {
        UmaPolicies {
            endpoint: endpoint.map(|u| config.to_backchannel(u)),
            limit: config.max_body_bytes,
            dpop: config.dpop.clone(),
        }
    }

    fn url(&self, id: Option<&str>) -> Result<url::Url, Error> {
        let mut u = self
            .endpoint
            .clone()
            .ok_or(Error::MissingEndpoint("policy_endpoint"))?;
        if let Some(id) = id {
            u.path_segments_mut()
                .map_err(|_| Error::MissingEndpoint("policy_endpoint"))?
                .push(id);
        }
        Ok(u)
    }

    /// Creates a permission on a resource the token's user owns.
    pub fn create(
        &self,
        owner_token: &AccessToken,
        resource_id: &str,
        policy: &UmaPolicy,
    ) -> Result<JsonCall<UmaPolicy>, Error> {
        let body = serde_json::to_vec(policy).unwrap_or_default();
        let url = self.url(Some(resource_id))?;
        let req = Request::new(Method::Post, url).json(body);
        Ok(
            JsonCall::new(req, "create UMA policy", &[200, 201], self.limit)
                .authorized(ResourceAuth::new(owner_token, self.dpop.as_ref())?),
        )
    }

    /// Replaces a permission.
    pub fn update(
        &self,
        owner_token: &AccessToken,
        policy_id: &str,
        policy: &UmaPolicy,
    ) -> Result<EmptyCall, Error> {
        let body = serde_json::to_vec(policy).unwrap_or_default();
        let url = self.url(Some(policy_id))?;
        Ok(EmptyCall {
            request: Request::new(Method::Put, url).json(body),
            what: "update UMA policy",
            ok: &[200, 201, 204],
            limit: self.limit,
            auth: Some(ResourceAuth::new(owner_token, self.dpop.as_ref())?),
        })
    }

    /// Deletes a permission.
    pub fn delete(&self, owner_token: &AccessToken, policy_id: &str) -> Result<EmptyCall, Error> {
        let url = self.url(Some(policy_id))?;
        Ok(EmptyCall {
            request: Request::new(Method::Delete, url),
            what: "delete UMA policy",
            ok: &[200, 204],
            limit: self.limit,
            auth: Some(ResourceAuth::new(owner_token, self.dpop.as_ref())?),
        })
    }

    /// Lists the token user's permissions.
    pub fn query(
        &self,
        owner_token: &AccessToken,
        query: &UmaPolicyQuery,
    ) -> Result<JsonCall<Vec<UmaPolicy>>, Error> {
        let mut u = self.url(None)?;
        query.apply(&mut u);
        let req = Request::new(Method::Get, u).header("accept", "application/json");
        Ok(JsonCall::new(req, "query UMA policies", &[200], self.limit)
            .authorized(ResourceAuth::new(owner_token, self.dpop.as_ref())?))
    }
}
