//! Client configuration: a builder, Keycloak's adapter file (`keycloak.json`), or any issuer.
//!
//! A configuration is a plain value: create as many independent clients as you like.

use base64::Engine as _;
use serde::Deserialize;

use crate::claim_rules::ClaimRules;
use crate::client_assertion::ClientAssertion;
use crate::error::Error;
use crate::http::{Request, DEFAULT_MAX_BODY_BYTES};
use crate::jws::Algorithm;
use crate::secret::ClientSecret;

/// How the client authenticates at the token, introspection, revocation and logout endpoints
/// (RFC 6749 §2.3, OpenID Connect Core §9).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientAuth {
    /// A public client: only `client_id` is sent.
    None,
    /// `client_secret_basic`: HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic(ClientSecret),
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost(ClientSecret),
    /// `private_key_jwt` or `client_secret_jwt`: a fresh signed assertion on every request
    /// (RFC 7523 §2.2, OpenID Connect Core §9).
    Jwt(ClientAssertion),
}

impl ClientAuth {
    /// Whether this is a confidential client.
    pub fn is_confidential(&self) -> bool {
        !matches!(self, ClientAuth::None)
    }

    /// The method's name as discovery lists it (`token_endpoint_auth_methods_supported`).
    pub fn method(&self) -> &'static str {
        match self {
            ClientAuth::None => "none",
            ClientAuth::ClientSecretBasic(_) => "client_secret_basic",
            ClientAuth::ClientSecretPost(_) => "client_secret_post",
            ClientAuth::Jwt(a) => a.method(),
        }
    }

    /// Applies client authentication to a form request. `aud` is the audience a client
    /// assertion names.
    pub(crate) fn apply<'a>(
        &'a self,
        client_id: &'a str,
        aud: &str,
        mut req: Request,
        form: &mut Vec<(&'a str, std::borrow::Cow<'a, str>)>,
    ) -> Result<Request, Error> {
        match self {
            ClientAuth::None => form.push(("client_id", client_id.into())),
            ClientAuth::ClientSecretPost(s) => {
                form.push(("client_id", client_id.into()));
                form.push(("client_secret", s.secret().into()));
            }
            ClientAuth::Jwt(a) => {
                let assertion = a.mint(client_id, aud)?;
                form.push(("client_id", client_id.into()));
                form.push((
                    "client_assertion_type",
                    crate::client_assertion::JWT_BEARER_ASSERTION.into(),
                ));
                form.push(("client_assertion", assertion.into()));
            }
            ClientAuth::ClientSecretBasic(s) => {
                let enc = |v: &str| {
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                };
                let raw = format!("{}:{}", enc(client_id), enc(s.secret()));
                let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
                req = req.header("authorization", format!("Basic {b64}"));
            }
        }
        Ok(req)
    }
}

/// JWT client credentials from `keycloak.json` (the Java adapter's `credentials.jwt` and
/// `credentials.secret-jwt`), for a crypto backend to turn into a [`ClientAssertion`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum KeycloakJsonJwt {
    /// `credentials.jwt`: `private_key_jwt`. `client-key-file` (a PKCS#8 PEM file; this
    /// library's name) or the Java adapter's `client-keystore-file`.
    PrivateKey {
        /// The key file.
        key_file: String,
        /// `client-keystore-type` (`PEM` unless given; JKS and PKCS12 need converting).
        key_type: String,
        /// `client-key-alias`: the `kid` registered with Keycloak.
        key_id: Option<String>,
        /// `algorithm` (default RS256, as Keycloak's).
        algorithm: Algorithm,
        /// `token-expiration`, seconds.
        lifetime_secs: Option<u64>,
    },
    /// `credentials.secret-jwt`: `client_secret_jwt`.
    SecretJwt {
        /// `secret`.
        secret: ClientSecret,
        /// `algorithm` (default HS256).
        algorithm: Algorithm,
        /// `token-expiration`, seconds.
        lifetime_secs: Option<u64>,
    },
}

impl KeycloakJsonJwt {
    /// `private_key_jwt` or `client_secret_jwt`.
    pub fn method(&self) -> &'static str {
        match self {
            KeycloakJsonJwt::PrivateKey { .. } => "private_key_jwt",
            KeycloakJsonJwt::SecretJwt { .. } => "client_secret_jwt",
        }
    }
}

/// Configuration of one client of one issuer.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Back-channel base of the issuer: discovery is fetched from
    /// `{issuer_base}/.well-known/openid-configuration`.
    pub issuer_base: url::Url,
    /// Browser-facing base of the issuer, when the browser reaches Keycloak under another URL
    /// than this application does (e.g. a public hostname vs. an internal service name).
    pub browser_issuer_base: Option<url::Url>,
    /// The issuer expected in discovery, tokens and the authorization response.
    pub issuer: String,
    /// The realm name, when the issuer is a Keycloak realm.
    pub realm: Option<String>,
    /// OAuth `client_id` (Keycloak's `resource`).
    pub client_id: String,
    /// Client authentication.
    pub auth: ClientAuth,
    /// Default `redirect_uri` for logins.
    pub redirect_uri: Option<url::Url>,
    /// Default scopes for logins (`openid` is always included).
    pub scopes: Vec<String>,
    /// Largest response body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How long a pending login stays valid, in seconds.
    pub login_ttl_secs: u64,
    /// Push every authorization request (RFC 9126), as a client whose Keycloak configuration
    /// requires it must.
    pub pushed_authorization_requests: bool,
    /// DPoP (RFC 9449): a proof on every token and resource request, tokens bound to its key.
    pub dpop: Option<crate::dpop::Dpop>,
    /// How token claims are checked (leeway, `iat` age, `auth_time`, `typ`).
    pub claim_rules: ClaimRules,
}

/// Joins `/realms/{realm}` onto a server URL, keeping any path prefix such as `/auth`.
pub fn realm_url(server: &url::Url, realm: &str) -> Result<url::Url, Error> {
    if realm.is_empty() {
        return Err(Error::Config("realm is empty".into()));
    }
    let mut u = server.clone();
    if u.cannot_be_a_base() || !(u.scheme() == "http" || u.scheme() == "https") {
        return Err(Error::Config(format!(
            "server URL `{server}` is not an http(s) URL"
        )));
    }
    u.set_query(None);
    u.set_fragment(None);
    {
        let mut segs = u
            .path_segments_mut()
            .map_err(|_| Error::Config("server URL cannot have a path".into()))?;
        segs.pop_if_empty();
        segs.push("realms");
        segs.push(realm);
    }
    Ok(u)
}

fn trim_slash(u: &url::Url) -> String {
    u.as_str().trim_end_matches('/').to_string()
}

impl ClientConfig {
    /// Starts a builder for a Keycloak realm: `server_url` is e.g. `http://127.0.0.1:18080`
    /// (with `/auth` for pre-Quarkus servers).
    ///
    /// ```
    /// use keycloak_client::ClientConfig;
    /// let cfg = ClientConfig::keycloak("http://127.0.0.1:18080", "rkc", "rkc-rs")
    ///     .client_secret("rkc-rs-secret")
    ///     .redirect_uri("http://127.0.0.1:8000/callback")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(cfg.issuer, "http://127.0.0.1:18080/realms/rkc");
    /// ```
    pub fn keycloak(server_url: &str, realm: &str, client_id: &str) -> ClientConfigBuilder {
        ClientConfigBuilder {
            server: Some(server_url.to_string()),
            issuer: None,
            browser_server: None,
            realm: Some(realm.to_string()),
            client_id: client_id.to_string(),
            secret: None,
            post: false,
            assertion: None,
            keycloak_json_jwt: None,
            redirect_uri: None,
            scopes: vec![],
            expected_issuer: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            login_ttl_secs: 600,
            claim_rules: ClaimRules::default(),
            par: false,
            dpop: None,
        }
    }

    /// Starts a builder for any OpenID provider, given its issuer URL.
    pub fn issuer(issuer: &str, client_id: &str) -> ClientConfigBuilder {
        let mut b = Self::keycloak("http://unused", "unused", client_id);
        b.server = None;
        b.realm = None;
        b.issuer = Some(issuer.to_string());
        b
    }

    /// Parses Keycloak's adapter configuration (`keycloak.json`, as downloaded from the admin
    /// console's "Action → Download adapter config").
    ///
    /// ```
    /// use keycloak_client::ClientConfig;
    /// let cfg = ClientConfig::from_keycloak_json(r#"{
    ///   "realm": "rkc", "auth-server-url": "http://127.0.0.1:18080/",
    ///   "ssl-required": "external", "resource": "rkc-rs",
    ///   "credentials": { "secret": "rkc-rs-secret" }, "confidential-port": 0
    /// }"#).unwrap();
    /// assert_eq!(cfg.client_id, "rkc-rs");
    /// assert!(cfg.auth.is_confidential());
    /// ```
    pub fn from_keycloak_json(json: &str) -> Result<ClientConfig, Error> {
        Self::keycloak_json_builder(json)?.build()
    }

    /// Like [`from_keycloak_json`](Self::from_keycloak_json) but returns the builder, to add a
    /// redirect URI or scopes.
    pub fn keycloak_json_builder(json: &str) -> Result<ClientConfigBuilder, Error> {
        #[derive(Deserialize)]
        struct Credentials {
            secret: Option<String>,
            jwt: Option<JwtCredentials>,
            #[serde(rename = "secret-jwt")]
            secret_jwt: Option<SecretJwtCredentials>,
        }
        #[derive(Deserialize)]
        struct JwtCredentials {
            #[serde(rename = "client-key-file")]
            client_key_file: Option<String>,
            #[serde(rename = "client-keystore-file")]
            client_keystore_file: Option<String>,
            #[serde(rename = "client-keystore-type")]
            client_keystore_type: Option<String>,
            #[serde(rename = "client-key-alias")]
            client_key_alias: Option<String>,
            algorithm: Option<String>,
            #[serde(rename = "token-expiration")]
            token_expiration: Option<u64>,
        }
        #[derive(Deserialize)]
        struct SecretJwtCredentials {
            secret: String,
            algorithm: Option<String>,
            #[serde(rename = "token-expiration")]
            token_expiration: Option<u64>,
        }
        #[derive(Deserialize)]
        struct KeycloakJson {
            realm: String,
            #[serde(rename = "auth-server-url")]
            auth_server_url: String,
            resource: String,
            #[serde(default)]
            credentials: Option<Credentials>,
            #[serde(rename = "public-client", default)]
            public_client: bool,
            #[serde(rename = "bearer-only", default)]
            _bearer_only: bool,
        }
        let k: KeycloakJson = crate::response::parse_slice("keycloak.json", json.as_bytes())?;
        let mut b = Self::keycloak(&k.auth_server_url, &k.realm, &k.resource);
        if !k.public_client {
            let c = k.credentials.ok_or_else(|| {
                Error::Config("keycloak.json: confidential client without credentials".into())
            })?;
            let alg = |name: Option<String>, default: Algorithm| match name {
                None => Ok(default),
                Some(n) => Algorithm::from_name(&n).ok_or_else(|| {
                    Error::Config(format!(
                        "keycloak.json: unknown algorithm `{}`",
                        crate::error::sanitize(&n)
                    ))
                }),
            };
            b.keycloak_json_jwt = match (c.secret, c.jwt, c.secret_jwt) {
                (_, Some(j), _) => Some(KeycloakJsonJwt::PrivateKey {
                    key_file: j
                        .client_key_file
                        .or(j.client_keystore_file)
                        .ok_or_else(|| {
                            Error::Config(
                                "keycloak.json: credentials.jwt names no client-key-file".into(),
                            )
                        })?,
                    key_type: j.client_keystore_type.unwrap_or_else(|| "PEM".into()),
                    key_id: j.client_key_alias,
                    algorithm: alg(j.algorithm, Algorithm::RS256)?,
                    lifetime_secs: j.token_expiration,
                }),
                (_, None, Some(j)) => Some(KeycloakJsonJwt::SecretJwt {
                    secret: ClientSecret::new(j.secret),
                    algorithm: alg(j.algorithm, Algorithm::HS256)?,
                    lifetime_secs: j.token_expiration,
                }),
                (Some(s), None, None) => {
                    b = b.client_secret(&s);
                    None
                }
                (None, None, None) => {
                    return Err(Error::Config(
                        "keycloak.json: confidential client without credentials.secret, \
                         credentials.jwt or credentials.secret-jwt"
                            .into(),
                    ))
                }
            };
        }
        Ok(b)
    }

    /// The discovery document URL (OpenID Connect Discovery §4).
    pub fn discovery_url(&self) -> url::Url {
        join(&self.issuer_base, ".well-known/openid-configuration")
    }

    /// The UMA 2.0 discovery document URL (Keycloak's `uma2-configuration`).
    pub fn uma_discovery_url(&self) -> url::Url {
        join(&self.issuer_base, ".well-known/uma2-configuration")
    }

    /// Rewrites an endpoint from the browser-facing base to the back-channel base.
    pub fn to_backchannel(&self, endpoint: &url::Url) -> url::Url {
        rebase(
            endpoint,
            self.browser_issuer_base.as_ref(),
            &self.issuer_base,
        )
    }

    /// Rewrites an endpoint from the back-channel base to the browser-facing base.
    pub fn to_browser(&self, endpoint: &url::Url) -> url::Url {
        match &self.browser_issuer_base {
            Some(b) => rebase(endpoint, Some(&self.issuer_base), b),
            None => endpoint.clone(),
        }
    }
}

fn join(base: &url::Url, rest: &str) -> url::Url {
    let s = format!("{}/{}", trim_slash(base), rest);
    url::Url::parse(&s).unwrap_or_else(|_| base.clone())
}

fn rebase(endpoint: &url::Url, from: Option<&url::Url>, to: &url::Url) -> url::Url {
    let Some(from) = from else {
        return endpoint.clone();
    };
    let from_s = trim_slash(from);
    let e = endpoint.as_str();
    match e.strip_prefix(&from_s) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') || rest.starts_with('?') => {
            url::Url::parse(&format!("{}{}", trim_slash(to), rest))
                .unwrap_or_else(|_| endpoint.clone())
        }
        _ => endpoint.clone(),
    }
}

/// Builder for [`ClientConfig`].
#[derive(Clone, Debug)]
pub struct ClientConfigBuilder {
    server: Option<String>,
    issuer: Option<String>,
    browser_server: Option<String>,
    realm: Option<String>,
    client_id: String,
    secret: Option<ClientSecret>,
    post: bool,
    assertion: Option<ClientAssertion>,
    keycloak_json_jwt: Option<KeycloakJsonJwt>,
    redirect_uri: Option<String>,
    scopes: Vec<String>,
    expected_issuer: Option<String>,
    max_body_bytes: usize,
    login_ttl_secs: u64,
    claim_rules: ClaimRules,
    par: bool,
    dpop: Option<crate::dpop::Dpop>,
}

impl ClientConfigBuilder {
    /// Makes this a confidential client using `client_secret_basic`.
    pub fn client_secret(mut self, secret: &str) -> Self {
        self.secret = Some(ClientSecret::new(secret));
        self
    }

    /// Authenticates with JWT assertions (`private_key_jwt` or `client_secret_jwt`, RFC 7523)
    /// on every call that authenticates the client; replaces a client secret.
    pub fn client_assertion(mut self, assertion: ClientAssertion) -> Self {
        self.assertion = Some(assertion);
        self.keycloak_json_jwt = None;
        self
    }

    /// The JWT credentials a `keycloak.json` asked for (`credentials.jwt` or
    /// `credentials.secret-jwt`), still to be installed with
    /// [`client_assertion`](Self::client_assertion) (`keycloak_client_ring` does it).
    pub fn keycloak_json_jwt(&self) -> Option<&KeycloakJsonJwt> {
        self.keycloak_json_jwt.as_ref()
    }

    /// Pushes every authorization request (RFC 9126): logins go through
    /// [`LoginBuilder::build_pushed`](crate::LoginBuilder::build_pushed) (the agent and the
    /// middleware do it by themselves).
    pub fn pushed_authorization_requests(mut self, on: bool) -> Self {
        self.par = on;
        self
    }

    /// DPoP-binds the tokens (RFC 9449): every token request and every request this client
    /// makes with its access token carries a proof of `dpop`'s key; logins send `dpop_jkt`.
    pub fn dpop(mut self, dpop: crate::dpop::Dpop) -> Self {
        self.dpop = Some(dpop);
        self
    }

    /// Sends the secret in the form body (`client_secret_post`) instead of HTTP Basic.
    pub fn client_secret_post(mut self) -> Self {
        self.post = true;
        self
    }

    /// Default redirect URI for logins.
    pub fn redirect_uri(mut self, uri: &str) -> Self {
        self.redirect_uri = Some(uri.to_string());
        self
    }

    /// Adds a default scope (besides `openid`).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.to_string());
        self
    }

    /// The server URL as browsers see it, when it differs from the back-channel URL.
    pub fn browser_server_url(mut self, url: &str) -> Self {
        self.browser_server = Some(url.to_string());
        self
    }

    /// Overrides the expected issuer (default: the browser-facing realm URL).
    pub fn expected_issuer(mut self, issuer: &str) -> Self {
        self.expected_issuer = Some(issuer.to_string());
        self
    }

    /// Largest response body accepted (default 1 MiB).
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.max_body_bytes = n;
        self
    }

    /// How long a pending login stays valid (default 600 s).
    pub fn login_ttl_secs(mut self, secs: u64) -> Self {
        self.login_ttl_secs = secs;
        self
    }

    /// Allowed clock skew for token times, in seconds (default 60).
    pub fn leeway_secs(mut self, secs: u64) -> Self {
        self.claim_rules.leeway_secs = secs;
        self
    }

    /// The oldest acceptable ID token by `iat`, in seconds (default 600).
    pub fn max_iat_age_secs(mut self, secs: u64) -> Self {
        self.claim_rules.max_iat_age_secs = secs;
        self
    }

    /// Requires `auth_time` in every ID token (OpenID Connect Core §2 `require_auth_time`).
    pub fn require_auth_time(mut self, required: bool) -> Self {
        self.claim_rules.require_auth_time = required;
        self
    }

    /// Requires Keycloak's payload `typ` in every token (`ID`, `Bearer`, `Logout`).
    pub fn require_typ(mut self, required: bool) -> Self {
        self.claim_rules.require_typ = required;
        self
    }

    /// Replaces all claim rules at once.
    pub fn claim_rules(mut self, rules: ClaimRules) -> Self {
        self.claim_rules = rules;
        self
    }

    /// Validates and builds the configuration.
    pub fn build(self) -> Result<ClientConfig, Error> {
        if self.client_id.is_empty() {
            return Err(Error::Config("client_id is empty".into()));
        }
        let parse = |what: &str, s: &str| {
            url::Url::parse(s).map_err(|e| Error::Config(format!("{what} `{s}`: {e}")))
        };
        let (issuer_base, browser_base) = match (&self.server, &self.issuer) {
            (Some(server), _) => {
                let realm = self.realm.as_deref().unwrap_or_default();
                let base = realm_url(&parse("server URL", server)?, realm)?;
                let browser = match &self.browser_server {
                    Some(b) => Some(realm_url(&parse("browser server URL", b)?, realm)?),
                    None => None,
                };
                (base, browser)
            }
            (None, Some(issuer)) => {
                let base = parse("issuer", issuer)?;
                if !(base.scheme() == "http" || base.scheme() == "https") {
                    return Err(Error::Config(format!("issuer `{issuer}` is not http(s)")));
                }
                let browser = match &self.browser_server {
                    Some(b) => Some(parse("browser issuer URL", b)?),
                    None => None,
                };
                (base, browser)
            }
            (None, None) => return Err(Error::Config("no server URL or issuer".into())),
        };
        let issuer = match (&self.expected_issuer, &self.issuer) {
            (Some(i), _) => i.clone(),
            (None, Some(i)) => i.trim_end_matches('/').to_string(),
            (None, None) => trim_slash(browser_base.as_ref().unwrap_or(&issuer_base)),
        };
        let redirect_uri = match &self.redirect_uri {
            Some(r) => Some(parse("redirect_uri", r)?),
            None => None,
        };
        if let Some(j) = &self.keycloak_json_jwt {
            return Err(Error::Config(format!(
                "keycloak.json asks for {}: install it with ClientConfigBuilder::client_assertion \
                 (keycloak_client_ring::client_assertion_from_keycloak_json reads the key)",
                j.method()
            )));
        }
        let auth = match (self.assertion, self.secret, self.post) {
            (Some(a), _, _) => ClientAuth::Jwt(a),
            (None, None, _) => ClientAuth::None,
            (None, Some(s), false) => ClientAuth::ClientSecretBasic(s),
            (None, Some(s), true) => ClientAuth::ClientSecretPost(s),
        };
        Ok(ClientConfig {
            issuer_base,
            browser_issuer_base: browser_base,
            issuer,
            realm: self.realm,
            client_id: self.client_id,
            auth,
            redirect_uri,
            scopes: self.scopes,
            max_body_bytes: self.max_body_bytes,
            login_ttl_secs: self.login_ttl_secs,
            pushed_authorization_requests: self.par,
            dpop: self.dpop,
            claim_rules: self.claim_rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realm_url_keeps_prefix() {
        let u = realm_url(&"http://h:8080/auth/".parse().unwrap(), "my realm").unwrap();
        assert_eq!(u.as_str(), "http://h:8080/auth/realms/my%20realm");
        assert!(realm_url(&"mailto:x@y".parse().unwrap(), "r").is_err());
    }

    #[test]
    fn keycloak_json_public_and_confidential() {
        let c = ClientConfig::from_keycloak_json(
            r#"{"realm":"r","auth-server-url":"http://h/","resource":"app","public-client":true}"#,
        )
        .unwrap();
        assert!(!c.auth.is_confidential());
        assert_eq!(
            c.discovery_url().as_str(),
            "http://h/realms/r/.well-known/openid-configuration"
        );
        let e = ClientConfig::from_keycloak_json(
            r#"{"realm":"r","auth-server-url":"http://h/","resource":"app"}"#,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        let e = ClientConfig::from_keycloak_json(r#"{"realm":"r"}"#).unwrap_err();
        assert!(matches!(e, Error::MissingField { .. }), "{e:?}");
    }

    #[test]
    fn browser_and_backchannel_rebase() {
        let c = ClientConfig::keycloak("http://keycloak:8080", "r", "app")
            .browser_server_url("https://sso.example.test")
            .build()
            .unwrap();
        assert_eq!(c.issuer, "https://sso.example.test/realms/r");
        let tok: url::Url = "https://sso.example.test/realms/r/protocol/openid-connect/token"
            .parse()
            .unwrap();
        assert_eq!(
            c.to_backchannel(&tok).as_str(),
            "http://keycloak:8080/realms/r/protocol/openid-connect/token"
        );
        let auth: url::Url = "http://keycloak:8080/realms/r/protocol/openid-connect/auth"
            .parse()
            .unwrap();
        assert_eq!(
            c.to_browser(&auth).as_str(),
            "https://sso.example.test/realms/r/protocol/openid-connect/auth"
        );
        let other: url::Url = "https://sso.example.test/realms/rx/token".parse().unwrap();
        assert_eq!(c.to_backchannel(&other), other);
    }

    #[test]
    fn basic_auth_is_form_encoded() {
        let auth = ClientAuth::ClientSecretBasic(ClientSecret::new("a:b c"));
        let mut form = vec![];
        let req = auth
            .apply(
                "my client",
                "http://h/realms/r",
                Request::new(crate::Method::Post, "http://h/".parse().unwrap()),
                &mut form,
            )
            .unwrap();
        let h = req.header_value("authorization").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(&h[6..])
            .unwrap();
        assert_eq!(String::from_utf8(raw).unwrap(), "my+client:a%3Ab+c");
        assert!(form.is_empty());
    }
}
