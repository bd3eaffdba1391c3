//! # keycloak-client
//!
//! A sans-IO Keycloak client: OpenID Connect (login with state, nonce and PKCE S256, callback,
//! code exchange, userinfo, refresh, logout, revocation, introspection, device grant, token
//! exchange) and UMA 2.0 (PAT, permission tickets, RPT and decisions, resource registration,
//! user-managed policies) as pure steps.
//!
//! The crate does no I/O, reads no clock and uses no ambient randomness. Every flow is either
//! an [`Exchange`] (one request, one response) or a [`Flow`] (a driven state machine); time is a
//! [`UnixTime`] argument and randomness a `rand_core` RNG argument. Drive it with any HTTP stack,
//! or use the `keycloak-client-ureq` / `keycloak-client-reqwest` adapters.
//!
//! ```
//! use keycloak_client::{ClientConfig, DiscoveryRequest, Exchange, Method, Response, UnixTime};
//! let config = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
//!     .client_secret("rkc-rs-secret")
//!     .build()?;
//! let step = DiscoveryRequest::new(&config);
//! let req = step.request();
//! assert_eq!(req.method, Method::Get);
//! assert_eq!(req.url.as_str(), "http://127.0.0.1:18080/realms/rkc/.well-known/openid-configuration");
//! // ... send `req` with your HTTP client, then:
//! let resp = Response::json(200, r#"{"issuer":"http://127.0.0.1:18080/realms/rkc",
//!   "authorization_endpoint":"http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/auth",
//!   "token_endpoint":"http://127.0.0.1:18080/realms/rkc/protocol/openid-connect/token"}"#);
//! let metadata = step.handle(resp, UnixTime(1_700_000_000))?;
//! assert!(metadata.token_endpoint.as_str().ends_with("/token"));
//! # Ok::<(), keycloak_client::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod agent;
mod api;
mod backchannel_logout;
mod callback;
mod challenge;
mod claim_rules;
mod client;
mod client_assertion;
mod config;
mod device;
mod discovery;
pub mod dpop;
pub mod dpop_nonce;
pub mod dpop_proof;
mod drive;
mod error;
mod flow;
mod hmac;
mod http;
mod introspection;
mod jti;
pub mod jws;
mod jws_signer;
pub mod jwt;
mod keycloak;
mod login;
mod logout_url;
mod operation;
mod operations;
mod par;
pub mod policy_enforcer;
mod response;
mod revocation;
mod secret;
mod single_flight;
mod time;
mod token;
mod token_exchange;
pub mod uma;
mod userinfo;
mod validator;

pub use agent::{Agent, AgentBuilder};
pub use api::{EmptyCall, JsonCall};
pub use backchannel_logout::BackchannelLogout;
pub use callback::{CallbackParams, CodeExchange, IdTokenPolicy, LoginTokens};
pub use challenge::{Challenge, UmaChallenge};
pub use claim_rules::ClaimRules;
pub use client::Client;
pub use client_assertion::{AssertionAudience, ClientAssertion, JWT_BEARER_ASSERTION};
pub use config::{realm_url, ClientAuth, ClientConfig, ClientConfigBuilder, KeycloakJsonJwt};
pub use device::{
    DeviceAuthorization, DeviceAuthorizationRequest, DevicePoll, DevicePoller, DeviceWait, OnWait,
};
pub use discovery::{
    DiscoverFlow, Discovered, DiscoveryRequest, ProviderMetadata, UmaDiscoveryRequest, UmaMetadata,
};
pub use dpop::Dpop;
pub use drive::{drive, drive_async, drive_async_http, drive_with_sleep, AsyncHttp, Driver};
pub use error::{Error, OAuthError, RequiredClaim};
pub use flow::{Exchange, Flow, Single, Step};
pub use http::{redacted_url, Method, Request, Response, DEFAULT_MAX_BODY_BYTES};
pub use introspection::{Introspection, IntrospectionRequest};
pub use jws::{Algorithm, Jwk, JwkSet, JwsVerifier, VerificationKey};
pub use jws_signer::{Clock, FixedClock, JwsSigner};
pub use jwt::{Claims, IdTokenExpectations, IdTokenValidator, KeyFetchGuard, KeyStep};
pub use keycloak::{Keycloak, KeycloakBuilder};
pub use login::{pkce_challenge, random_token, LoginBuilder, PendingLogin};
pub use logout_url::LogoutUrlBuilder;
pub use operation::Operation;
pub use par::PushedLogin;
pub use revocation::{RevocationRequest, TokenTypeHint};
pub use secret::{
    constant_time_eq, is_b64token, AccessToken, AuthorizationCode, ClientSecret, DeviceCode,
    IdToken, Nonce, Password, PermissionTicket, PersistedClaimsToken, PkceVerifier, RefreshToken,
    State,
};
pub use single_flight::Waiter;
pub use time::UnixTime;
pub use token::{
    ClientCredentialsRequest, PasswordRequest, RefreshRequest, TokenResponse, TokenSet,
};
pub use token_exchange::{
    TokenExchangeRequest, ACCESS_TOKEN_TYPE, ID_TOKEN_TYPE, REFRESH_TOKEN_TYPE,
};
pub use userinfo::{UserInfo, UserInfoRequest};
pub use validator::{
    JwksCache, JwksPolicy, JwksRequest, RefetchReason, TokenKind, TokenValidator, ValidateFlow,
    BACKCHANNEL_LOGOUT_EVENT,
};

/// The README's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
