//! The UMA grant (UMA Grant §3.3.1, `urn:ietf:params:oauth:grant-type:uma-ticket`) as Keycloak
//! implements it: an RPT, a yes/no decision (`response_mode=decision`) or the granted
//! permissions (`response_mode=permissions`).

use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::response::{error_from, parse_json};
use crate::secret::{AccessToken, PermissionTicket, PersistedClaimsToken};
use crate::time::UnixTime;
use crate::token::{TokenCall, TokenSet};

use super::{GrantedPermission, UMA_TICKET_GRANT};

/// Who asks: a user (their access token as bearer; the token's `azp` client is the caller) or the
/// configured confidential client itself.
#[derive(Clone, Debug)]
pub enum UmaGrantAuth {
    /// `Authorization: Bearer <user access token>`.
    Bearer(AccessToken),
    /// The client's own authentication (subject from `claim_token`, `subject_token` or the
    /// client's service account).
    Client,
}

/// Builder for a UMA grant request, from [`Client::uma_grant`](crate::Client::uma_grant).
#[derive(Clone, Debug)]
pub struct UmaGrant {
    call: TokenCall,
}

impl UmaGrant {
    pub(crate) fn new(
        config: &ClientConfig,
        token_endpoint: &url::Url,
        auth: UmaGrantAuth,
    ) -> Self {
        let url = config.to_backchannel(token_endpoint);
        let mut call =
            TokenCall::new(config, url, "UMA grant").field("grant_type", UMA_TICKET_GRANT);
        if let UmaGrantAuth::Bearer(t) = auth {
            call.bearer = Some(t);
        }
        UmaGrant { call }
    }

    /// `ticket`: a permission ticket from the resource server.
    pub fn ticket(mut self, ticket: &PermissionTicket) -> Self {
        self.call = self.call.set("ticket", ticket.secret());
        self
    }
    /// `permission`: `resource#scope1,scope2`, `resource` or `#scope` (repeatable).
    pub fn permission(mut self, resource: &str, scopes: &[&str]) -> Self {
        let v = if scopes.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}#{}", scopes.join(","))
        };
        self.call = self.call.field("permission", &v);
        self
    }
    /// `audience`: the resource server's client id (required without a ticket).
    pub fn audience(mut self, client_id: &str) -> Self {
        self.call = self.call.set("audience", client_id);
        self
    }
    /// `claim_token` and `claim_token_format`.
    pub fn claim_token(mut self, token: &str, format: &str) -> Self {
        self.call = self
            .call
            .set("claim_token", token)
            .set("claim_token_format", format);
        self
    }
    /// `rpt`: a previous RPT to upgrade (incremental authorization).
    pub fn rpt(mut self, rpt: &AccessToken) -> Self {
        self.call = self.call.set("rpt", rpt.secret());
        self
    }
    /// `submit_request` (Keycloak default true with a ticket): create pending permission
    /// requests for owner-managed resources when denied.
    pub fn submit_request(mut self, submit: bool) -> Self {
        self.call = self
            .call
            .set("submit_request", if submit { "true" } else { "false" });
        self
    }
    /// `scope`: extra scopes added to every requested permission.
    pub fn scope(mut self, scope: &str) -> Self {
        self.call = self.call.set("scope", scope);
        self
    }
    /// `response_include_resource_name` (Keycloak default true).
    pub fn include_resource_name(mut self, include: bool) -> Self {
        self.call = self.call.set(
            "response_include_resource_name",
            if include { "true" } else { "false" },
        );
        self
    }
    /// `permission_resource_format=uri`: resources in `permission` are URIs.
    pub fn resources_as_uris(mut self) -> Self {
        self.call = self.call.set("permission_resource_format", "uri");
        self
    }

    /// `pct`: a persisted claims token from an earlier grant (UMA Grant §3.3.1), so the
    /// requesting party need not push its claims again.
    pub fn pct(mut self, pct: &PersistedClaimsToken) -> Self {
        self.call = self.call.set("pct", pct.secret());
        self
    }

    /// Requests an RPT.
    pub fn rpt_request(self) -> RptRequest {
        RptRequest { call: self.call }
    }
    /// Asks only for the decision (`response_mode=decision`).
    pub fn decision(self) -> DecisionRequest {
        DecisionRequest {
            call: self.call.set("response_mode", "decision"),
        }
    }
    /// Asks for the granted permissions (`response_mode=permissions`).
    pub fn permissions(self) -> PermissionsRequest {
        PermissionsRequest {
            call: self.call.set("response_mode", "permissions"),
        }
    }
}

/// An RPT, whether it kept all previous permissions, and its persisted claims token.
#[derive(Clone, Debug)]
pub struct Rpt {
    /// The RPT (an access token) and its refresh token, if any.
    pub tokens: TokenSet,
    /// `upgraded` (UMA Grant §3.3.5): the RPT holds the permissions of the `rpt` sent with
    /// the request as well as the new ones. `false` when absent.
    pub upgraded: bool,
    /// `pct` (UMA Grant §3.3.5): a persisted claims token to send with later grants.
    pub pct: Option<PersistedClaimsToken>,
}

/// Requests an RPT. Denial is `Error::OAuth` with `access_denied` (see [`Error::is_access_denied`]).
#[derive(Debug)]
pub struct RptRequest {
    call: TokenCall,
}

impl Exchange for RptRequest {
    type Output = Rpt;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, now: UnixTime) -> Result<Rpt, Error> {
        let mut r = self.call.parse(&resp)?;
        self.call.check_token_type(&r.token_type)?;
        let upgraded = r.upgraded.unwrap_or(false);
        let pct =
            match r.extra.remove("pct") {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(serde_json::from_value::<PersistedClaimsToken>(v).map_err(
                    |_| Error::MalformedJson {
                        what: "UMA grant",
                        detail: "`pct` is not a VSCHAR string".into(),
                    },
                )?),
            };
        let tokens = self.call.finish(r, now)?;
        Ok(Rpt {
            tokens,
            upgraded,
            pct,
        })
    }
}

/// Asks for a decision: `Ok(true)` when granted, `Ok(false)` on `access_denied`, `Err` otherwise.
#[derive(Debug)]
pub struct DecisionRequest {
    call: TokenCall,
}

#[derive(serde::Deserialize)]
struct Decision {
    result: bool,
}

impl Exchange for DecisionRequest {
    type Output = bool;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<bool, Error> {
        self.call.check_answer(&resp)?;
        if resp.status == 403 || resp.status == 401 {
            crate::response::check_size("UMA decision", &resp, self.call.limit)?;
            let e = error_from("UMA decision", &resp);
            if e.is_access_denied() {
                return Ok(false);
            }
            return Err(e);
        }
        let d: Decision = parse_json("UMA decision", &resp, &[200], self.call.limit)?;
        Ok(d.result)
    }
}

/// Asks for the granted permissions. Denial is `Error::OAuth` with `access_denied`.
#[derive(Debug)]
pub struct PermissionsRequest {
    call: TokenCall,
}

impl Exchange for PermissionsRequest {
    type Output = Vec<GrantedPermission>;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<Vec<GrantedPermission>, Error> {
        self.call.check_answer(&resp)?;
        parse_json("UMA permissions", &resp, &[200], self.call.limit)
    }
}
