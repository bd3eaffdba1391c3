//! Permission tickets (UMA Federated Authorization §4): the resource server asks with its PAT.

use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::error::Error;
use crate::flow::{Ending, Exchange, Flow, Step};
use crate::http::{Method, Request, Response};
use crate::response::parse_json;
use crate::secret::{AccessToken, PermissionTicket};
use crate::time::UnixTime;
use crate::token::{ClientCredentialsRequest, TokenSet};

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
    pub(crate) url: url::Url,
    pub(crate) pat: AccessToken,
    pub(crate) body: Vec<u8>,
    pub(crate) limit: usize,
}

impl PermissionTicketRequest {
    pub(crate) fn new(
        client: &Client,
        pat: &AccessToken,
        permissions: &[PermissionRequest],
    ) -> Result<Self, Error> {
        if permissions.is_empty() {
            return Err(Error::Config(
                "a permission ticket needs at least one permission".into(),
            ));
        }
        crate::secret::bearer_header(pat, "the PAT")?;
        let url = client.uma()?.permission_endpoint.clone();
        Ok(PermissionTicketRequest {
            url: client.config.to_backchannel(&url),
            pat: pat.clone(),
            body: serde_json::to_vec(permissions).unwrap_or_default(),
            limit: client.config.max_body_bytes,
        })
    }
}

impl Exchange for PermissionTicketRequest {
    type Output = PermissionTicket;
    fn request(&self) -> Request {
        Request::new(Method::Post, self.url.clone())
            .header("authorization", format!("Bearer {}", self.pat.secret()))
            .header("accept", "application/json")
            .json(self.body.clone())
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<PermissionTicket, Error> {
        let r: TicketResponse = parse_json("permission ticket", &resp, &[200, 201], self.limit)?;
        Ok(r.ticket)
    }
}

/// Flow: obtain a PAT (client credentials) unless a valid one is given, then a permission ticket.
/// Outputs the ticket and the PAT (to cache).
pub struct PatTicketFlow {
    pat_request: Option<ClientCredentialsRequest>,
    pat: Option<TokenSet>,
    client: Client,
    permissions: Vec<PermissionRequest>,
    ticket: Option<PermissionTicket>,
    awaiting: Option<Awaiting>,
    ending: Ending,
}

/// Which response the flow waits for.
enum Awaiting {
    Pat(ClientCredentialsRequest),
    Ticket(PermissionTicketRequest),
}

impl PatTicketFlow {
    /// `cached_pat` is reused when it does not expire within `margin_secs` of `now`.
    pub fn new(
        client: &Client,
        cached_pat: Option<TokenSet>,
        permissions: Vec<PermissionRequest>,
        now: UnixTime,
        margin_secs: u64,
    ) -> Result<Self, Error> {
        let pat = cached_pat.filter(|p| !p.needs_refresh(now, margin_secs));
        let pat_request = match pat {
            Some(_) => None,
            None => Some(client.client_credentials()?),
        };
        client.uma()?;
        if permissions.is_empty() {
            return Err(Error::Config(
                "a permission ticket needs at least one permission".into(),
            ));
        }
        Ok(PatTicketFlow {
            pat_request,
            pat,
            client: client.clone(),
            permissions,
            ticket: None,
            awaiting: None,
            ending: Ending::default(),
        })
    }

    fn next(&mut self) -> Result<Step<(PermissionTicket, TokenSet)>, Error> {
        if let Some(r) = self.pat_request.take() {
            let req = r.request();
            self.awaiting = Some(Awaiting::Pat(r));
            return Ok(Step::Send(req));
        }
        let pat = self.pat.as_ref().ok_or(Error::FlowState("no PAT"))?;
        match self.ticket.take() {
            None => {
                let r = PermissionTicketRequest::new(
                    &self.client,
                    &pat.access_token,
                    &self.permissions,
                )?;
                let req = r.request();
                self.awaiting = Some(Awaiting::Ticket(r));
                Ok(Step::Send(req))
            }
            Some(ticket) => {
                let pat = self.pat.take().ok_or(Error::FlowState("no PAT"))?;
                self.ending.finish();
                Ok(Step::Done((ticket, pat)))
            }
        }
    }
}

impl Flow for PatTicketFlow {
    type Output = (PermissionTicket, TokenSet);

    fn poll(&mut self) -> Result<Step<Self::Output>, Error> {
        self.ending.check()?;
        if self.awaiting.is_some() {
            return Err(Error::FlowState(
                "awaiting the response to the last request",
            ));
        }
        let step = self.next();
        self.ending.record(step)
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        // After an error nothing is awaited: the state alone answers.
        match self.awaiting.take() {
            Some(Awaiting::Pat(r)) => {
                self.pat = Some(self.ending.record(r.handle(response, now))?);
            }
            Some(Awaiting::Ticket(r)) => {
                self.ticket = Some(self.ending.record(r.handle(response, now))?);
            }
            None => return Err(Error::FlowState("response without request")),
        }
        Ok(())
    }
}
