//! `kcc`: a command-line client for every Keycloak flow, built on the sans-IO core and the ureq
//! adapter. Exit codes: 0 success, 1 protocol or validation failure, 2 usage error, 3 server
//! unreachable.

mod login;
mod output;
mod store;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand};
use keycloak_client::uma::{PermissionRequest, Resource, ResourceQuery, UmaGrantAuth};
use keycloak_client::{Algorithm, ClientConfig, ClientConfigBuilder, TokenKind, TokenTypeHint};
use keycloak_client_ureq::{now, Keycloak, TransportError};

use crate::output::Out;

/// A command-line client for Keycloak: OpenID Connect and UMA 2.0.
#[derive(Parser, Debug)]
#[command(name = "kcc", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct Global {
    /// Keycloak's adapter configuration (keycloak.json)
    #[arg(long, global = true, env = "KEYCLOAK_SETTINGS", value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Issuer URL ({server}/realms/{realm}, or any OpenID provider)
    #[arg(long, global = true, env = "KCC_ISSUER", value_name = "URL")]
    issuer: Option<String>,
    /// OAuth client id (with --issuer)
    #[arg(long, global = true, env = "KCC_CLIENT_ID")]
    client_id: Option<String>,
    /// OAuth client secret (with --issuer); prefer the KCC_CLIENT_SECRET variable
    #[arg(long, global = true, env = "KCC_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Authenticate with private_key_jwt, signing with this PKCS#8 PEM key (RSA, EC P-256/P-384
    /// or Ed25519); its public JWK must be registered with the client
    #[arg(long, global = true, env = "KCC_PRIVATE_KEY", value_name = "FILE")]
    private_key: Option<std::path::PathBuf>,
    /// Algorithm of --private-key (default: the first --alg that fits the key, else RS256 for
    /// RSA, ES256/ES384, EdDSA by key type)
    #[arg(long, global = true, value_name = "ALG")]
    key_alg: Option<String>,
    /// `kid` of --private-key as registered (default: its RFC 7638 thumbprint)
    #[arg(long, global = true, value_name = "KID")]
    key_id: Option<String>,
    /// Authenticate with client_secret_jwt (HS256 with the client secret) instead of HTTP Basic
    #[arg(long, global = true)]
    client_secret_jwt: bool,
    /// DPoP-bind the tokens (RFC 9449): an ES256 key kept next to the stored tokens (0600)
    /// signs a proof for every token and userinfo request
    #[arg(long, global = true, env = "KCC_DPOP")]
    dpop: bool,
    /// Allowed signature algorithms for token validation (default RS256)
    #[arg(long = "alg", global = true, value_name = "ALG", value_delimiter = ',')]
    algs: Vec<String>,
    /// Machine-readable JSON output
    #[arg(long, global = true)]
    json: bool,
    /// Trace requests and responses on stderr (secrets redacted)
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the provider's discovery documents
    Discover,
    /// Log in (authorization code + PKCE through a loopback redirect, or the device grant)
    Login {
        /// Port of the loopback redirect listener (0: any free port)
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Do not open a browser: print the URL on stderr and wait for the redirect
        #[arg(long)]
        no_browser: bool,
        /// Use the device authorization grant instead
        #[arg(long, conflicts_with = "redirect_uri")]
        device: bool,
        /// Redirect to this registered URI instead of a loopback listener (a FAPI 2.0 client's
        /// `https` redirect, a private-use scheme): paste the address the browser lands on
        #[arg(long, value_name = "URI", conflicts_with = "port")]
        redirect_uri: Option<String>,
        /// Push the authorization request first (RFC 9126 PAR); automatic when the server or
        /// the client requires it
        #[arg(long)]
        par: bool,
        /// Extra scopes
        #[arg(long, value_delimiter = ' ')]
        scope: Vec<String>,
        /// Seconds to wait for the login to finish
        #[arg(long, default_value_t = 300)]
        timeout: u64,
    },
    /// Client credentials grant: print an access token for the client itself
    Token {
        /// Scopes to request
        #[arg(long)]
        scope: Option<String>,
    },
    /// The UMA Protection API Token (client credentials of a resource server)
    Pat,
    /// Claims of the logged-in user from the UserInfo endpoint
    Userinfo,
    /// Refresh the stored tokens
    Refresh,
    /// End the Keycloak session and forget the stored tokens
    Logout,
    /// Introspect a token (RFC 7662)
    Introspect {
        /// The token ("-" reads stdin)
        token: String,
        /// Token type hint: access_token, refresh_token, requesting_party_token
        #[arg(long)]
        hint: Option<String>,
    },
    /// Validate an access token's signature and claims against the issuer's keys
    Verify {
        /// The token ("-" reads stdin)
        token: String,
        /// Audience the token must carry (default: the client id)
        #[arg(long)]
        audience: Option<String>,
    },
    /// Decode a JWT without validating anything
    Decode {
        /// The token ("-" reads stdin)
        token: String,
    },
    /// Obtain a UMA permission ticket for a resource and scopes
    Ticket {
        /// Resource name or id
        #[arg(long, required = true)]
        resource: String,
        /// Scopes (repeatable)
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
    /// Obtain an RPT (or a decision) for the logged-in user
    Rpt {
        /// A permission ticket from the resource server
        #[arg(long)]
        ticket: Option<String>,
        /// Permission resource#scope1,scope2 (repeatable)
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Resource server client id (default: the configured client)
        #[arg(long)]
        audience: Option<String>,
        /// Ask only for the decision
        #[arg(long)]
        decision: bool,
    },
    /// Manage UMA resources with the PAT
    #[command(subcommand)]
    Resources(ResourcesCmd),
    /// Print shell completions
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand, Debug)]
enum ResourcesCmd {
    /// List resources
    List {
        /// Name filter
        #[arg(long)]
        name: Option<String>,
        /// Match the name exactly
        #[arg(long)]
        exact: bool,
        /// Type filter
        #[arg(long = "type")]
        resource_type: Option<String>,
        /// Owner filter
        #[arg(long)]
        owner: Option<String>,
        /// Full representations instead of ids
        #[arg(long)]
        deep: bool,
    },
    /// Show one resource
    Get {
        /// Resource id
        id: String,
    },
    /// Create a resource
    Create(ResourceFields),
    /// Replace a resource
    Update {
        /// Resource id
        id: String,
        #[command(flatten)]
        fields: ResourceFields,
    },
    /// Delete a resource
    Delete {
        /// Resource id
        id: String,
    },
}

#[derive(Args, Debug)]
struct ResourceFields {
    /// Name
    #[arg(long, required = true)]
    name: String,
    /// Scopes (repeatable)
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// URIs (repeatable)
    #[arg(long = "uri")]
    uris: Vec<String>,
    /// Type
    #[arg(long = "type")]
    resource_type: Option<String>,
}

/// A failure with its exit code.
pub struct Failure {
    pub code: u8,
    pub message: String,
    pub detail: Option<String>,
}

impl Failure {
    pub fn protocol(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
            detail: None,
        }
    }
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
            detail: None,
        }
    }
}

impl From<keycloak_client_ureq::Error> for Failure {
    fn from(e: keycloak_client_ureq::Error) -> Self {
        let code = match &e {
            keycloak_client_ureq::Error::Transport(
                TransportError::Connect { .. }
                | TransportError::Timeout { .. }
                | TransportError::Disconnected { .. },
            ) => 3,
            _ => 1,
        };
        Failure {
            code,
            message: e.to_string(),
            detail: Some(format!("{e:?}")),
        }
    }
}

impl From<keycloak_client::Error> for Failure {
    fn from(e: keycloak_client::Error) -> Self {
        Failure {
            code: 1,
            message: e.to_string(),
            detail: Some(format!("{e:?}")),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure {
            code: 1,
            message: e.to_string(),
            detail: None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// The client and what identifies its token store.
pub struct Ctx {
    pub kc: Keycloak,
    pub out: Out,
    pub store: store::Store,
}

fn read_token(arg: &str) -> Result<String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        Ok(s.trim().to_string())
    } else {
        Ok(arg.trim().to_string())
    }
}

fn algorithms(names: &[String]) -> Result<Vec<Algorithm>> {
    if names.is_empty() {
        return Ok(vec![Algorithm::RS256]);
    }
    names
        .iter()
        .map(|n| {
            Algorithm::from_name(n)
                .ok_or_else(|| Failure::usage(format!("unknown or unsupported algorithm `{n}`")))
        })
        .collect()
}

/// JWT client authentication from the flags or from keycloak.json's `credentials.jwt` /
/// `credentials.secret-jwt`.
fn client_authentication(g: &Global, builder: ClientConfigBuilder) -> Result<ClientConfigBuilder> {
    use keycloak_client::{ClientAssertion, ClientSecret};
    use keycloak_client_ring::{RingSigner, SystemClock};
    let builder = keycloak_client_ring::client_assertion_from_keycloak_json(builder)
        .map_err(|e| Failure::usage(e.to_string()))?;
    let clock: Arc<dyn keycloak_client::Clock> = Arc::new(SystemClock);
    if let Some(path) = &g.private_key {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        let signer = match &g.key_alg {
            Some(name) => {
                let alg = Algorithm::from_name(name)
                    .ok_or_else(|| Failure::usage(format!("unknown --key-alg `{name}`")))?;
                RingSigner::from_pem(&pem, alg)
            }
            // The first `--alg` that fits the key, else the key type decides (RSA defaulting
            // to RS256 as Keycloak does).
            None => g
                .algs
                .iter()
                .filter_map(|a| Algorithm::from_name(a))
                .filter(|a| !a.is_symmetric())
                .chain([
                    Algorithm::ES256,
                    Algorithm::ES384,
                    Algorithm::EdDSA,
                    Algorithm::RS256,
                ])
                .map(|alg| RingSigner::from_pem(&pem, alg))
                .find(|r| r.is_ok())
                .unwrap_or_else(|| RingSigner::from_pem(&pem, Algorithm::RS256)),
        }
        .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        let signer = match &g.key_id {
            Some(kid) => signer.with_key_id(kid),
            None => signer,
        };
        let a = ClientAssertion::private_key_jwt(signer.shared(), clock, &mut rand::rng());
        return Ok(builder.client_assertion(a));
    }
    if g.client_secret_jwt {
        let secret = g.client_secret.as_deref().ok_or_else(|| {
            Failure::usage("--client-secret-jwt needs the client secret (KCC_CLIENT_SECRET)")
        })?;
        let a = ClientAssertion::client_secret_jwt(
            ClientSecret::new(secret),
            Algorithm::HS256,
            clock,
            &mut rand::rng(),
        )
        .map_err(|e| Failure::usage(e.to_string()))?;
        return Ok(builder.client_assertion(a));
    }
    Ok(builder)
}

fn context(g: &Global) -> Result<Ctx> {
    let builder = match (&g.config, &g.issuer) {
        (Some(path), _) => {
            let json = std::fs::read_to_string(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
            ClientConfig::keycloak_json_builder(&json).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?
        }
        (None, Some(issuer)) => {
            let id = g.client_id.as_deref().ok_or_else(|| Failure::usage("--issuer needs --client-id"))?;
            let mut b = ClientConfig::issuer(issuer, id);
            if let Some(s) = &g.client_secret {
                b = b.client_secret(s);
            }
            b
        }
        (None, None) => return Err(Failure::usage("no client configured: use --config FILE (or KEYCLOAK_SETTINGS) or --issuer URL --client-id ID")),
    };
    let builder = client_authentication(g, builder)?;
    let config = builder
        .clone()
        .build()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let store = store::Store::for_client(&config.issuer, &config.client_id)?;
    let builder = if g.dpop {
        let signer = store.dpop_key()?;
        let dpop = keycloak_client::Dpop::new(
            signer.shared(),
            Arc::new(keycloak_client_ring::SystemClock),
            &mut rand::rng(),
        )
        .map_err(|e| Failure::usage(e.to_string()))?;
        builder.dpop(dpop)
    } else {
        builder
    };
    let kc = Keycloak::builder(builder)
        .jws_verifier(Arc::new(keycloak_client_ring::RingVerifier))
        .allow_algorithms(&algorithms(&g.algs)?)
        .build()?;
    Ok(Ctx {
        kc,
        out: Out { json: g.json },
        store,
    })
}

/// The stored user tokens, refreshed when about to expire.
fn user_tokens(ctx: &Ctx) -> Result<keycloak_client::TokenSet> {
    let mut saved = ctx
        .store
        .load()?
        .ok_or_else(|| Failure::protocol("not logged in: run `kcc login` first"))?;
    if saved.tokens.needs_refresh(now(), 30) {
        if !saved.tokens.can_refresh(now()) {
            return Err(Failure::protocol(
                "the stored session expired: run `kcc login` again",
            ));
        }
        saved.tokens = ctx.kc.refresh(&saved.tokens)?;
        ctx.store.save(&saved)?;
    }
    Ok(saved.tokens)
}

fn run(cli: Cli) -> Result<()> {
    if let Command::Completions { shell } = &cli.command {
        clap_complete::generate(*shell, &mut Cli::command(), "kcc", &mut std::io::stdout());
        return Ok(());
    }
    if let Command::Decode { token } = &cli.command {
        let out = Out {
            json: cli.global.json,
        };
        let jws = keycloak_client::jwt::decode_compact(&read_token(token)?)?;
        let payload: serde_json::Value = serde_json::from_slice(&jws.payload)
            .map_err(|_| Failure::protocol("the payload is not JSON"))?;
        out.labelled(
            "UNVERIFIED: decoded only, nothing was validated",
            &serde_json::json!({
                "verified": false,
                "header": jws.header,
                "claims": payload,
            }),
        );
        return Ok(());
    }
    let ctx = context(&cli.global)?;
    let out = &ctx.out;
    match cli.command {
        Command::Completions { .. } | Command::Decode { .. } => unreachable!("handled above"),
        Command::Discover => {
            let c = ctx.kc.client()?;
            out.value(
                &serde_json::json!({ "provider": c.provider, "uma": c.uma_metadata }),
                |v| {
                    let p = &v["provider"];
                    let mut s = format!("issuer: {}\n", p["issuer"].as_str().unwrap_or(""));
                    for k in [
                        "authorization_endpoint",
                        "token_endpoint",
                        "userinfo_endpoint",
                        "jwks_uri",
                        "end_session_endpoint",
                        "introspection_endpoint",
                        "revocation_endpoint",
                        "device_authorization_endpoint",
                    ] {
                        if let Some(u) = p[k].as_str() {
                            s.push_str(&format!("{k}: {u}\n"));
                        }
                    }
                    if let Some(u) = v["uma"]["permission_endpoint"].as_str() {
                        s.push_str(&format!("uma permission_endpoint: {u}\n"));
                    }
                    s
                },
            );
        }
        Command::Login {
            port,
            no_browser,
            device,
            redirect_uri,
            par,
            scope,
            timeout,
        } => {
            let saved = if device {
                login::device(&ctx, &scope, timeout)?
            } else if let Some(redirect) = redirect_uri {
                login::pasted(&ctx, &redirect, no_browser, par, &scope, timeout)?
            } else {
                login::browser(&ctx, port, no_browser, par, &scope, timeout)?
            };
            ctx.store.save(&saved)?;
            out.value(
                &serde_json::json!({
                    "logged_in": true,
                    "sub": saved.subject,
                    "username": saved.username,
                    "expires_in": saved.tokens.expires_in(now()),
                    "scope": saved.tokens.scope,
                    "store": ctx.store.path().display().to_string(),
                }),
                |v| {
                    format!(
                        "logged in as {} (access token valid {} s); tokens stored in {}\n",
                        v["username"].as_str().or(v["sub"].as_str()).unwrap_or("?"),
                        v["expires_in"],
                        v["store"].as_str().unwrap_or("")
                    )
                },
            );
        }
        Command::Token { scope } => {
            let mut step = ctx.kc.client()?.client_credentials()?;
            if let Some(s) = &scope {
                step = step.scope(s);
            }
            let t = ctx.kc.http().exec(step)?;
            out.token(&t);
        }
        Command::Pat => {
            let t = ctx.kc.pat()?;
            out.token(&t);
        }
        Command::Userinfo => {
            let t = user_tokens(&ctx)?;
            let saved = ctx
                .store
                .load()?
                .ok_or_else(|| Failure::protocol("not logged in"))?;
            let mut step = ctx.kc.client()?.userinfo(&t.access_token)?;
            if let Some(sub) = &saved.subject {
                step = step.expect_subject(sub);
            }
            let info = ctx.kc.http().exec(step)?;
            out.json_or_pairs(&serde_json::to_value(&info).unwrap_or_default());
        }
        Command::Refresh => {
            let mut saved = ctx
                .store
                .load()?
                .ok_or_else(|| Failure::protocol("not logged in: run `kcc login` first"))?;
            saved.tokens = ctx.kc.refresh(&saved.tokens)?;
            ctx.store.save(&saved)?;
            out.value(&serde_json::json!({"refreshed": true, "expires_in": saved.tokens.expires_in(now())}),
                |v| format!("refreshed; access token valid {} s\n", v["expires_in"]));
        }
        Command::Logout => match ctx.store.load()? {
            Some(saved) => {
                let r = ctx.kc.logout(&saved.tokens);
                ctx.store.remove()?;
                r?;
                out.value(&serde_json::json!({"logged_out": true}), |_| {
                    "logged out\n".into()
                });
            }
            None => out.value(
                &serde_json::json!({"logged_out": true, "was_logged_in": false}),
                |_| "not logged in; nothing to do\n".into(),
            ),
        },
        Command::Introspect { token, hint } => {
            let hint = match hint.as_deref() {
                None => None,
                Some("access_token") => Some(TokenTypeHint::AccessToken),
                Some("refresh_token") => Some(TokenTypeHint::RefreshToken),
                Some("requesting_party_token") | Some("rpt") => {
                    Some(TokenTypeHint::RequestingPartyToken)
                }
                Some(h) => return Err(Failure::usage(format!("unknown token type hint `{h}`"))),
            };
            let i = ctx.kc.introspect(&read_token(&token)?, hint)?;
            out.json_or_pairs(&serde_json::to_value(&i).unwrap_or_default());
        }
        Command::Verify { token, audience } => {
            let token = read_token(&token)?;
            let mut v = TokenValidatorFor::new(&ctx)?;
            if let Some(a) = audience {
                v = v.audience(&a)?;
            }
            match v.validate(&ctx, &token) {
                Ok(claims) => out.labelled(
                    "VALID: signature and claims verified",
                    &serde_json::json!({"verified": true, "claims": claims.0}),
                ),
                Err(e) => {
                    return Err(Failure {
                        code: 1,
                        message: format!("rejected: {}", e.message),
                        detail: e.detail,
                    })
                }
            }
        }
        Command::Ticket { resource, scopes } => {
            let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let t = ctx
                .kc
                .find_ticket(&[PermissionRequest::new(&resource, &scopes)])?;
            out.value(&serde_json::json!({"ticket": t.secret()}), |v| {
                format!("{}\n", v["ticket"].as_str().unwrap_or(""))
            });
        }
        Command::Rpt {
            ticket,
            permissions,
            audience,
            decision,
        } => {
            let t = user_tokens(&ctx)?;
            let client = ctx.kc.client()?;
            let mut g = client.uma_grant(UmaGrantAuth::Bearer(t.access_token.clone()));
            if let Some(tk) = &ticket {
                g = g.ticket(&keycloak_client::PermissionTicket::new(tk.as_str()));
            }
            for p in &permissions {
                let (res, scopes) = p.split_once('#').unwrap_or((p.as_str(), ""));
                let scopes: Vec<&str> = scopes.split(',').filter(|s| !s.is_empty()).collect();
                g = g.permission(res, &scopes);
            }
            if ticket.is_none() {
                g = g.audience(audience.as_deref().unwrap_or(&ctx.kc.config().client_id));
            } else if let Some(a) = &audience {
                g = g.audience(a);
            }
            if decision {
                let granted = ctx.kc.http().exec(g.decision())?;
                out.value(&serde_json::json!({"granted": granted}), |v| {
                    format!(
                        "{}\n",
                        if v["granted"] == true {
                            "granted"
                        } else {
                            "denied"
                        }
                    )
                });
                if !granted {
                    return Err(Failure {
                        code: 1,
                        message: "denied".into(),
                        detail: None,
                    });
                }
            } else {
                let rpt = ctx.kc.http().exec(g.rpt_request())?;
                out.token(&rpt.tokens);
            }
        }
        Command::Resources(cmd) => resources(&ctx, cmd)?,
    }
    Ok(())
}

/// `verify`: access-token validation with an optional audience override.
struct TokenValidatorFor {
    audience: Option<String>,
}

impl TokenValidatorFor {
    fn new(_ctx: &Ctx) -> Result<Self> {
        Ok(TokenValidatorFor { audience: None })
    }
    fn audience(mut self, a: &str) -> Result<Self> {
        self.audience = Some(a.to_string());
        Ok(self)
    }
    fn validate(&self, ctx: &Ctx, token: &str) -> Result<keycloak_client::Claims> {
        let client = ctx.kc.client()?;
        let base = ctx
            .kc
            .token_validator()?
            .ok_or_else(|| Failure::protocol("no verifier"))?;
        match &self.audience {
            None => Ok(ctx
                .kc
                .http()
                .run(base.validate_flow(token, TokenKind::Access, now()))?),
            Some(a) => {
                let v = keycloak_client::TokenValidator::new(
                    &client,
                    Arc::new(keycloak_client_ring::RingVerifier),
                )?
                .access_token_audience(a)
                .with_cache(base.cache());
                Ok(ctx
                    .kc
                    .http()
                    .run(v.validate_flow(token, TokenKind::Access, now()))?)
            }
        }
    }
}

fn resources(ctx: &Ctx, cmd: ResourcesCmd) -> Result<()> {
    let out = &ctx.out;
    let fields = |f: ResourceFields| {
        let scopes: Vec<&str> = f.scopes.iter().map(String::as_str).collect();
        let mut r = Resource::new(&f.name, &scopes);
        r.uris = f.uris.clone();
        r.resource_type = f.resource_type.clone();
        r
    };
    match cmd {
        ResourcesCmd::List {
            name,
            exact,
            resource_type,
            owner,
            deep,
        } => {
            let q = ResourceQuery {
                name,
                exact_name: exact,
                resource_type,
                owner,
                ..Default::default()
            };
            if deep {
                let list = ctx.kc.query_resources_deep(&q)?;
                out.value(&serde_json::to_value(&list).unwrap_or_default(), |v| {
                    v.as_array()
                        .map(|a| {
                            a.iter()
                                .map(|r| {
                                    format!(
                                        "{}  {}\n",
                                        r["_id"].as_str().unwrap_or(""),
                                        r["name"].as_str().unwrap_or("")
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                });
            } else {
                let ids = ctx.kc.query_resources(&q)?;
                out.value(&serde_json::json!(ids), |v| {
                    v.as_array()
                        .map(|a| {
                            a.iter()
                                .map(|i| format!("{}\n", i.as_str().unwrap_or("")))
                                .collect()
                        })
                        .unwrap_or_default()
                });
            }
        }
        ResourcesCmd::Get { id } => {
            let r = ctx.kc.get_resource(&id)?;
            out.json_or_pairs(&serde_json::to_value(&r).unwrap_or_default());
        }
        ResourcesCmd::Create(f) => {
            let r = ctx.kc.create_resource(&fields(f))?;
            out.value(&serde_json::to_value(&r).unwrap_or_default(), |v| {
                format!("created {}\n", v["_id"].as_str().unwrap_or("?"))
            });
        }
        ResourcesCmd::Update { id, fields: f } => {
            let mut r = fields(f);
            r.id = Some(id.clone());
            ctx.kc.update_resource(&id, &r)?;
            out.value(&serde_json::json!({"updated": id}), |v| {
                format!("updated {}\n", v["updated"].as_str().unwrap_or(""))
            });
        }
        ResourcesCmd::Delete { id } => {
            ctx.kc.delete_resource(&id)?;
            out.value(&serde_json::json!({"deleted": id}), |v| {
                format!("deleted {}\n", v["deleted"].as_str().unwrap_or(""))
            });
        }
    }
    Ok(())
}

fn init_tracing(verbose: bool) {
    if !verbose {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("keycloak_client=debug"))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = e.exit_code();
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    let verbose = cli.global.verbose;
    init_tracing(verbose);
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("kcc: {}", f.message);
            if verbose {
                if let Some(d) = f.detail {
                    eprintln!("kcc: detail: {d}");
                }
            }
            ExitCode::from(f.code)
        }
    }
}
