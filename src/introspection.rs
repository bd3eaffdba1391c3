//! Token introspection (RFC 7662), including Keycloak RPT introspection with `permissions`.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::flow::Exchange;
use crate::http::{Request, Response};
use crate::response::parse_json;
use crate::time::UnixTime;
use crate::token::TokenCall;
use crate::uma::GrantedPermission;

/// An introspection response (RFC 7662 §2.2). Inactive tokens have only `active: false`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Introspection {
    /// `active`
    pub active: bool,
    /// `scope`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `client_id`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// `username`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `token_type`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// `exp`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// `iat`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// `nbf`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// `sub`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `aud` (string or array)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
    /// `iss`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// `jti`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Keycloak RPT permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<GrantedPermission>>,
    /// Other claims.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `POST introspection_endpoint` with `token` and `token_type_hint`; needs a confidential client.
#[derive(Debug)]
pub struct IntrospectionRequest {
    pub(crate) call: TokenCall,
}

impl Exchange for IntrospectionRequest {
    type Output = Introspection;
    fn request(&self) -> Request {
        self.call.request()
    }

    fn retry(&self, response: &Response) -> bool {
        self.call.nonce_retry(response)
    }
    fn handle(self, resp: Response, _now: UnixTime) -> Result<Introspection, Error> {
        self.call.check_answer(&resp)?;
        parse_json("introspection", &resp, &[200], self.call.limit)
    }
}
