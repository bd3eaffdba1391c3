//! Permission tickets (UMA Federated Authorization §4): the resource server asks with its PAT.

use serde::{Deserialize, Serialize};

use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Method, Request, Response};
use crate::response::parse_json;
use crate::secret::{AccessToken, PermissionTicket};
use crate::time::UnixTime;

/// One requested permission (UMA Federated Authorization §4.1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionRequest {
    /// The resource id (Keycloak also accepts the resource name).
    pub resource_id: String,
    /// Requested scopes.
    #[serde(default)]
    pub resource_scopes: Vec<String>,
    /// Claims for the policy evaluation (Keycloak extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
}

impl PermissionRequest {
    /// A permission for a resource (id or name) and scopes.
    pub fn new(resource: &str, scopes: &[&str]) -> Self {
        PermissionRequest {
            resource_id: resource.to_string(),
            resource_scopes: scopes.iter().map(|s| s.to_string()).collect(),
            claims: None,
        }
    }
}

#[derive(Deserialize)]
struct TicketResponse {
    ticket: PermissionTicket,
}

/// `POST permission_endpoint` with a JSON array of permission requests; 201 `{"ticket":...}`.
#[derive(Debug)]
pub struct PermissionTicketRequest {
    pub(crate) request: Request,
    pub(crate) auth: crate::api::ResourceAuth,
    pub(crate) limit: usize,
}

impl PermissionTicketRequest {
    pub(crate) fn new(
        config: &ClientConfig,
        permission_endpoint: &url::Url,
        pat: &AccessToken,
        permissions: &[PermissionRequest],
    ) -> Result<Self, Error> {
        if permissions.is_empty() {
            return Err(Error::Config(
                "a permission ticket needs at least one permission".into(),
            ));
        }
        crate::secret::bearer_header(pat, "the PAT")?;
        let request = Request::new(Method::Post, config.to_backchannel(permission_endpoint))
            .header("accept", "application/json")
            .json(serde_json::to_vec(permissions).unwrap_or_default());
        Ok(PermissionTicketRequest {
            request,
            auth: crate::api::ResourceAuth::new(pat, config.dpop.as_ref())?,
            limit: config.max_body_bytes,
        })
    }
}

impl Exchange for PermissionTicketRequest {
    type Output = PermissionTicket;
    fn request(&self) -> Request {
        self.auth.apply(self.request.clone())
    }
    fn retry(&self, response: &Response) -> bool {
        self.auth.retry(&self.request.url, response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<PermissionTicket, Error> {
        self.auth.check()?;
        let r: TicketResponse = parse_json("permission ticket", &resp, &[200, 201], self.limit)?;
        Ok(r.ticket)
    }
}
