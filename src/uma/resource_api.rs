//! The resource registration endpoint (UMA Federated Authorization §3.2; Keycloak's
//! `authz/protection/resource_set`): create, read, update, delete and query resources with
//! the PAT.

use crate::api::{EmptyCall, JsonCall, ResourceAuth};
use crate::config::ClientConfig;
use crate::error::Error;
use crate::http::{Method, Request};
use crate::secret::AccessToken;

use super::{Resource, ResourceQuery};

/// The resource registration API of one resource server, from
/// [`Client::resources`](crate::Client::resources).
///
/// ```
/// # use keycloak_client::*;
/// # #[path = "../doc_fixtures.rs"] mod fixtures; use fixtures::*;
/// use keycloak_client::uma::{Resource, ResourceQuery};
/// let api = client().resources();
/// let pat = AccessToken::new("pat");
/// let created = api.create(&pat, &Resource::new("photo-1", &["read"]))?
///     .handle(Response::json(201, r#"{"_id":"42","name":"photo-1","resource_scopes":[{"id":"s","name":"read"}]}"#), NOW)?;
/// assert_eq!(created.id.as_deref(), Some("42"));
/// let q = ResourceQuery { name: Some("photo".into()), ..Default::default() };
/// let ids = api.query(&pat, &q)?.handle(Response::json(200, r#"["42"]"#), NOW)?;
/// api.delete(&pat, &ids[0])?.handle(Response::new(204, vec![], ""), NOW)?;
/// # Ok::<(), Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ResourceRegistration {
    /// `resource_registration_endpoint`, back-channel form; `None` without UMA discovery.
    endpoint: Option<url::Url>,
    limit: usize,
    /// The client's DPoP key: its tokens are bound, so every call carries a proof.
    dpop: Option<crate::dpop::Dpop>,
}

impl ResourceRegistration {
    pub(crate) fn new(config: &ClientConfig, endpoint: Option<&url::Url>) -> Self {
        ResourceRegistration {
            endpoint: endpoint.map(|u| config.to_backchannel(u)),
            limit: config.max_body_bytes,
            dpop: config.dpop.clone(),
        }
    }

    fn url(&self, id: Option<&str>) -> Result<url::Url, Error> {
        let mut u = self.endpoint.clone().ok_or(Error::MissingEndpoint(
            "resource_registration_endpoint (discover with UMA enabled)",
        ))?;
        if let Some(id) = id {
            if id.is_empty() {
                return Err(Error::Config("empty resource id".into()));
            }
            u.path_segments_mut()
                .map_err(|_| Error::MissingEndpoint("resource_registration_endpoint"))?
                .push(id);
        }
        Ok(u)
    }

    /// The token for one call (DPoP when it is bound to the client's key).
    fn auth(&self, token: &AccessToken) -> Result<ResourceAuth, Error> {
        ResourceAuth::new(token, self.dpop.as_ref())
    }

    fn json<T>(
        &self,
        req: Request,
        auth: ResourceAuth,
        what: &'static str,
        ok: &'static [u16],
    ) -> JsonCall<T> {
        JsonCall::new(
            req.header("accept", "application/json"),
            what,
            ok,
            self.limit,
        )
        .authorized(auth)
    }

    fn empty(&self, request: Request, auth: ResourceAuth, what: &'static str) -> EmptyCall {
        EmptyCall {
            request,
            what,
            ok: &[200, 204],
            limit: self.limit,
            auth: Some(auth),
        }
    }

    /// Registers a resource (201 with its id).
    pub fn create(
        &self,
        pat: &AccessToken,
        resource: &Resource,
    ) -> Result<JsonCall<Resource>, Error> {
        let body = serde_json::to_vec(resource).unwrap_or_default();
        let req = Request::new(Method::Post, self.url(None)?).json(body);
        Ok(
            JsonCall::new(req, "create resource", &[200, 201], self.limit)
                .authorized(self.auth(pat)?),
        )
    }

    /// Reads a resource (404 → `Error::UnexpectedStatus { status: 404 }`).
    pub fn get(&self, pat: &AccessToken, id: &str) -> Result<JsonCall<Resource>, Error> {
        let req = Request::new(Method::Get, self.url(Some(id))?);
        Ok(self.json(req, self.auth(pat)?, "get resource", &[200]))
    }

    /// Replaces a resource (204).
    pub fn update(
        &self,
        pat: &AccessToken,
        id: &str,
        resource: &Resource,
    ) -> Result<EmptyCall, Error> {
        let body = serde_json::to_vec(resource).unwrap_or_default();
        let req = Request::new(Method::Put, self.url(Some(id))?).json(body);
        Ok(self.empty(req, self.auth(pat)?, "update resource"))
    }

    /// Deletes a resource (204).
    pub fn delete(&self, pat: &AccessToken, id: &str) -> Result<EmptyCall, Error> {
        let req = Request::new(Method::Delete, self.url(Some(id))?);
        Ok(self.empty(req, self.auth(pat)?, "delete resource"))
    }

    /// Lists the ids of the resources matching a query.
    pub fn query(
        &self,
        pat: &AccessToken,
        query: &ResourceQuery,
    ) -> Result<JsonCall<Vec<String>>, Error> {
        let mut u = self.url(None)?;
        query.apply(&mut u, false);
        Ok(self.json(
            Request::new(Method::Get, u),
            self.auth(pat)?,
            "query resources",
            &[200],
        ))
    }

    /// Lists the full resources matching a query (`deep=true`).
    pub fn query_deep(
        &self,
        pat: &AccessToken,
        query: &ResourceQuery,
    ) -> Result<JsonCall<Vec<Resource>>, Error> {
        let mut u = self.url(None)?;
        query.apply(&mut u, true);
        Ok(self.json(
            Request::new(Method::Get, u),
            self.auth(pat)?,
            "query resources",
            &[200],
        ))
    }
}
