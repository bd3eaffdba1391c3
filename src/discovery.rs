//! Discovery: OpenID Connect Discovery 1.0 and Keycloak's UMA 2.0 configuration.

use serde::{Deserialize, Serialize};

use crate::config::ClientConfig;
use crate::error::Error;
use crate::flow::{Ending, Exchange, Flow, Step};
use crate::http::{Method, Request, Response};
use crate::response::parse_json;
use crate::time::UnixTime;

/// OpenID provider metadata (OpenID Connect Discovery 1.0 §3). Unknown fields are kept in `extra`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProviderMetadata {
    /// `issuer`
    pub issuer: String,
    /// `authorization_endpoint`
    pub authorization_endpoint: url::Url,
    /// `token_endpoint`
    pub token_endpoint: url::Url,
    /// `userinfo_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<url::Url>,
    /// `jwks_uri`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<url::Url>,
    /// `end_session_endpoint` (OpenID RP-Initiated Logout 1.0)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<url::Url>,
    /// `introspection_endpoint` (RFC 8414; Keycloak's docs say `token_introspection_endpoint`)
    #[serde(
        default,
        alias = "token_introspection_endpoint",
        skip_serializing_if = "Option::is_none"
    )]
    pub introspection_endpoint: Option<url::Url>,
    /// `revocation_endpoint` (RFC 7009)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<url::Url>,
    /// `device_authorization_endpoint` (RFC 8628)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<url::Url>,
    /// `registration_endpoint`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_endpoint: Option<url::Url>,
    /// `scopes_supported`
    #[serde(default)]
    pub scopes_supported: Vec<String>,
    /// `response_types_supported`
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// `grant_types_supported`
    #[serde(default)]
    pub grant_types_supported: Vec<String>,
    /// `code_challenge_methods_supported`
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// `id_token_signing_alg_values_supported`
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `token_endpoint_auth_methods_supported`
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `pushed_authorization_request_endpoint` (RFC 9126 §5)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed_authorization_request_endpoint: Option<url::Url>,
    /// `require_pushed_authorization_requests` (RFC 9126 §5)
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// `dpop_signing_alg_values_supported` (RFC 9449 §5.1)
    #[serde(default)]
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// `token_endpoint_auth_signing_alg_values_supported`
    #[serde(default)]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3)
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// `backchannel_logout_supported`
    #[serde(default)]
    pub backchannel_logout_supported: bool,
    /// Other fields.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// UMA 2.0 authorization server metadata as served by Keycloak's `uma2-configuration`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UmaMetadata {
    /// `issuer`
    pub issuer: String,
    /// `token_endpoint`
    pub token_endpoint: url::Url,
    /// `resource_registration_endpoint` (UMA Federated Authorization §3)
    pub resource_registration_endpoint: url::Url,
    /// `permission_endpoint` (UMA Federated Authorization §4)
    pub permission_endpoint: url::Url,
    /// `policy_endpoint` (Keycloak's user-managed permission API)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_endpoint: Option<url::Url>,
    /// `introspection_endpoint` (also accepted as `token_introspection_endpoint`)
    #[serde(
        default,
        alias = "token_introspection_endpoint",
        skip_serializing_if = "Option::is_none"
    )]
    pub introspection_endpoint: Option<url::Url>,
    /// Other fields.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

fn check_issuer(expected: &str, got: &str) -> Result<(), Error> {
    // OpenID Connect Discovery §4.3: exact match. Tolerate only a trailing slash difference.
    if expected.trim_end_matches('/') == got.trim_end_matches('/') {
        Ok(())
    } else {
        Err(Error::IssuerMismatch {
            expected: expected.to_string(),
            got: crate::error::sanitize(got),
        })
    }
}

/// Fetches `.well-known/openid-configuration`.
#[derive(Clone, Debug)]
pub struct DiscoveryRequest {
    url: url::Url,
    issuer: String,
    limit: usize,
    /// A JWT client authentication method and its algorithm, checked against the metadata.
    jwt_auth: Option<(&'static str, crate::jws::Algorithm)>,
    /// The DPoP proof algorithm, checked against the metadata.
    dpop_alg: Option<crate::jws::Algorithm>,
}

/// `value` must be in `supported` when the server lists anything (an empty list says nothing).
fn check_supported(what: &'static str, value: &str, supported: &[String]) -> Result<(), Error> {
    if supported.is_empty() || supported.iter().any(|s| s == value) {
        Ok(())
    } else {
        Err(Error::NotSupportedByServer {
            what,
            value: value.to_string(),
            supported: crate::error::sanitize(&supported.join(", ")),
        })
    }
}

impl DiscoveryRequest {
    /// For the configured issuer.
    pub fn new(config: &ClientConfig) -> Self {
        DiscoveryRequest {
            url: config.discovery_url(),
            issuer: config.issuer.clone(),
            limit: config.max_body_bytes,
            jwt_auth: match &config.auth {
                crate::ClientAuth::Jwt(a) => Some((a.method(), a.algorithm())),
                _ => None,
            },
            dpop_alg: config.dpop.as_ref().map(|d| d.algorithm()),
        }
    }
}

impl Exchange for DiscoveryRequest {
    type Output = ProviderMetadata;

    fn request(&self) -> Request {
        Request::new(Method::Get, self.url.clone()).header("accept", "application/json")
    }

    fn handle(self, resp: Response, _now: UnixTime) -> Result<ProviderMetadata, Error> {
        let m: ProviderMetadata = parse_json("discovery", &resp, &[200], self.limit)?;
        check_issuer(&self.issuer, &m.issuer)?;
        if let Some((method, alg)) = self.jwt_auth {
            check_supported(
                "client authentication method",
                method,
                &m.token_endpoint_auth_methods_supported,
            )?;
            check_supported(
                "client assertion algorithm",
                alg.name(),
                &m.token_endpoint_auth_signing_alg_values_supported,
            )?;
        }
        if let Some(alg) = self.dpop_alg {
            check_supported(
                "DPoP proof algorithm",
                alg.name(),
                &m.dpop_signing_alg_values_supported,
            )?;
        }
        Ok(m)
    }
}

/// Fetches `.well-known/uma2-configuration`.
#[derive(Clone, Debug)]
pub struct UmaDiscoveryRequest {
    url: url::Url,
    issuer: String,
    limit: usize,
}

impl UmaDiscoveryRequest {
    /// For the configured issuer.
    pub fn new(config: &ClientConfig) -> Self {
        UmaDiscoveryRequest {
            url: config.uma_discovery_url(),
            issuer: config.issuer.clone(),
            limit: config.max_body_bytes,
        }
    }
}

impl Exchange for UmaDiscoveryRequest {
    type Output = UmaMetadata;

    fn request(&self) -> Request {
        Request::new(Method::Get, self.url.clone()).header("accept", "application/json")
    }

    fn handle(self, resp: Response, _now: UnixTime) -> Result<UmaMetadata, Error> {
        let m: UmaMetadata = parse_json("UMA discovery", &resp, &[200], self.limit)?;
        check_issuer(&self.issuer, &m.issuer)?;
        Ok(m)
    }
}

/// Both discovery documents.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Discovered {
    /// OpenID provider metadata.
    pub provider: ProviderMetadata,
    /// UMA metadata, when requested.
    pub uma: Option<UmaMetadata>,
    /// When the documents were fetched.
    pub fetched_at: UnixTime,
}

/// Flow: OpenID discovery, then (optionally) UMA discovery.
pub struct DiscoverFlow {
    oidc: DiscoveryRequest,
    uma: Option<UmaDiscoveryRequest>,
    provider: Option<ProviderMetadata>,
    uma_meta: Option<UmaMetadata>,
    uma_optional: bool,
    uma_absent: bool,
    awaiting: bool,
    fetched_at: UnixTime,
    ending: Ending,
}

impl DiscoverFlow {
    /// Discovery of the configured issuer; `with_uma` also fetches the UMA document.
    pub fn new(config: &ClientConfig, with_uma: bool) -> Self {
        DiscoverFlow {
            oidc: DiscoveryRequest::new(config),
            uma: with_uma.then(|| UmaDiscoveryRequest::new(config)),
            provider: None,
            uma_meta: None,
            uma_optional: false,
            uma_absent: false,
            awaiting: false,
            fetched_at: UnixTime(0),
            ending: Ending::default(),
        }
    }

    /// Discovery of any OpenID provider: the UMA document is fetched too, but a 404 for it
    /// (a provider without UMA) leaves `uma` empty instead of failing.
    pub fn with_optional_uma(config: &ClientConfig) -> Self {
        let mut f = Self::new(config, true);
        f.uma_optional = true;
        f
    }

    fn wants_uma(&self) -> bool {
        self.uma.is_some() && self.uma_meta.is_none() && !self.uma_absent
    }
}

impl Flow for DiscoverFlow {
    type Output = Discovered;

    fn poll(&mut self) -> Result<Step<Discovered>, Error> {
        self.ending.check()?;
        if self.awaiting {
            return Err(Error::FlowState(
                "awaiting the response to the last request",
            ));
        }
        let next = match (&self.provider, &self.uma) {
            (None, _) => Some(self.oidc.request()),
            (Some(_), Some(u)) if self.wants_uma() => Some(u.request()),
            _ => None,
        };
        if let Some(req) = next {
            self.awaiting = true;
            return Ok(Step::Send(req));
        }
        let provider = self.provider.take();
        let provider = self
            .ending
            .record(provider.ok_or(Error::FlowState("no provider")))?;
        self.ending.finish();
        Ok(Step::Done(Discovered {
            provider,
            uma: self.uma_meta.take(),
            fetched_at: self.fetched_at,
        }))
    }

    fn handle_response(&mut self, response: Response, now: UnixTime) -> Result<(), Error> {
        // After an error nothing is awaited: the state alone answers.
        if !self.awaiting {
            return Err(Error::FlowState("response without request"));
        }
        self.awaiting = false;
        if self.provider.is_none() {
            let provider = self
                .ending
                .record(self.oidc.clone().handle(response, now))?;
            self.provider = Some(provider);
            self.fetched_at = now;
            return Ok(());
        }
        let Some(u) = self.uma.clone() else {
            return Err(Error::FlowState("response without request"));
        };
        if self.uma_optional && response.status == 404 {
            // a provider without UMA: fine in optional mode
            self.uma_absent = true;
            return Ok(());
        }
        let meta = self.ending.record(u.handle(response, now))?;
        self.uma_meta = Some(meta);
        Ok(())
    }
}
