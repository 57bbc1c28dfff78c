//! `local-api`: the HTTP API as API Gateway serves it, on this machine. Each request is matched to a route
//! of template.yaml, its bearer JWT checked like the HTTP API's JWT authorizer (authorizer.rs), and the
//! payload 2.0 event given to the real handler of the `functions` crate (gateway.rs), talking to moto
//! unless `--aws`; or, with `--lambda-endpoint`, to the function itself through the Lambda Invoke API
//! (`cargo lambda watch`, as scripts/demo runs them). Prints `listening <url>` on stdout once it serves;
//! logs go to stderr.

mod authorizer;
mod gateway;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_config::Region;
use aws_credential_types::Credentials;
use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use clap::Parser;
use functions::app::{App, InitError};
use functions::discovery::Discovery;
use functions::page::{Page, PageConfigError};
use provisioning::config::{Config, ConfigError, DriftSettings};
use provisioning::iam::events::EventBus;
use provisioning::outcomes::event_bus_name;

use crate::authorizer::{Authorizer, DiscoveryError};
use crate::gateway::{Function, Request};

/// The functions' own settings (ROLE_CATALOG, USER_PATH, TRUST_MODE, GRANT_MODE, USERNAME_CLAIM,
/// ADMIN_GROUP, EVENT_BUS_NAME, ...) are read from the environment, as the functions read them in Lambda.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// The issuer the JWT authorizer trusts (its discovery document and JWKS are read from it).
    #[arg(long, env = "JWT_ISSUER")]
    issuer: String,
    /// Accepted audiences (the aud claim, or client_id when there is no aud), comma-separated.
    #[arg(long, env = "JWT_AUDIENCE", value_delimiter = ',', required = true)]
    audience: Vec<String>,
    /// The client id a CLI signs in as, advertised by /.well-known/onboarding; the first audience if unset.
    #[arg(long, env = "CLI_CLIENT_ID")]
    client_id: Option<String>,
    /// Where to listen; port 0 picks a free port (the `listening` line names it).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The API's URL advertised by /.well-known/onboarding; http://<listen address> if unset.
    #[arg(long, env = "API_URL")]
    api_url: Option<String>,
    /// The AWS endpoint the functions call: moto_server's default address unless set. No AWS setting of
    /// the shell (credentials, profile, region) reaches it.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL",
        default_value = "http://127.0.0.1:5000"
    )]
    aws_endpoint_url: String,
    /// Call the real AWS account of the shell's credentials instead (endpoint, region and credentials
    /// as the AWS SDK finds them).
    #[arg(long)]
    aws: bool,
    /// Invoke the functions through the Lambda Invoke API at this URL (`cargo lambda watch`'s, e.g.
    /// http://127.0.0.1:9000) instead of calling their handlers in this process: each request's event is
    /// POSTed to `<URL>/2015-03-31/functions/<binary>/invocations`. The discovery route stays here: only
    /// this process knows the URL it serves.
    #[arg(long, env = "LAMBDA_ENDPOINT")]
    lambda_endpoint: Option<String>,
    /// The identity provider's token endpoint origin when it is not the issuer's (the page may call it).
    #[arg(long, env = "IDP_TOKEN_ORIGIN")]
    idp_token_origin: Option<String>,
}

/// The Lambda functions behind the routes, invoked as Lambda invokes them.
struct Lambda {
    endpoint: String,
    http: reqwest::Client,
}

/// `cargo lambda watch` compiles a function on its first invocation: give it the time a build takes.
const LAMBDA_INVOKE_TIMEOUT: Duration = Duration::from_secs(600);

impl Lambda {
    /// The function's answer to `event`; `None` when the invocation failed (unreachable, a function error,
    /// an answer that is not a payload 2.0 response), which API Gateway answers with a bare 500.
    async fn invoke(
        &self,
        binary: &str,
        event: &serde_json::Value,
    ) -> Option<ApiGatewayV2httpResponse> {
        let url = format!(
            "{}/2015-03-31/functions/{binary}/invocations",
            self.endpoint.trim_end_matches('/')
        );
        let response = match self.http.post(&url).json(event).send().await {
            Ok(response) => response,
            Err(error) => {
                tracing::error!(function = binary, error = %error, "the function could not be invoked");
                return None;
            }
        };
        let function_error = response.headers().contains_key("x-amz-function-error");
        let status = response.status();
        let body = response.bytes().await.unwrap_or_default();
        if function_error || !status.is_success() {
            tracing::error!(function = binary, %status, body = %String::from_utf8_lossy(&body), "the function failed");
            return None;
        }
        serde_json::from_slice(&body)
            .inspect_err(|error| tracing::error!(function = binary, error = %error, "not a payload 2.0 response"))
            .ok()
    }
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Init(#[from] InitError),
    #[error("the issuer cannot be used: {0}")]
    Issuer(#[from] DiscoveryError),
    #[error(transparent)]
    Page(#[from] PageConfigError),
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the server stopped: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the HTTP client for --lambda-endpoint: {0}")]
    Client(#[source] reqwest::Error),
}

struct Gateway {
    app: App,
    authorizer: Authorizer,
    discovery: Discovery,
    page: Page,
    lambda: Option<Lambda>,
    requests: AtomicU64,
}

/// API Gateway's payload limit: larger requests are refused with 413 before any function runs.
const MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// The functions' `Timeout` in template.yaml: a handler still running then is cut off with its own
/// `upstream_unavailable` answer, as in Lambda.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(29);

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing::subscriber::set_global_default(functions::app::json_logs(filter, std::io::stderr))
        .unwrap_or_else(|error| eprintln!("local-api: logging not set up: {error}"));
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("local-api: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), StartError> {
    let sdk_config = if args.aws {
        provisioning::iam::load_sdk_config().await
    } else {
        provisioning::iam::sdk_config_loader()
            .region(Region::new("us-east-1"))
            .endpoint_url(&args.aws_endpoint_url)
            .credentials_provider(Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "local-api",
            ))
            .load()
            .await
    };
    // The routes it serves are the self-service ones: it refuses to start without a rule, as they do.
    let config = Config::from_env()?;
    config.eligibility.require_a_rule()?;
    let mfa_max_age_seconds = config.mfa_max_age_seconds;
    let app = App::new(config, &sdk_config).await?;
    let app = App {
        drift: DriftSettings::from_env()?,
        ..app
    };
    let app = match event_bus_name(|name| std::env::var(name).ok())? {
        Some(name) => app.with_event_bus(EventBus::new(&sdk_config, name)),
        None => app,
    };
    let authorizer = Authorizer::discover(&args.issuer, args.audience.clone()).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| StartError::Listen {
            address: args.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| StartError::Listen {
        address: args.listen,
        source,
    })?;
    let api_url = args.api_url.unwrap_or_else(|| format!("http://{address}"));
    let discovery = Discovery {
        api_url: Some(api_url.clone()),
        api_version: functions::discovery::API_VERSION,
        issuer: args.issuer,
        client_id: args
            .client_id
            .or_else(|| args.audience.first().cloned())
            .unwrap_or_default(),
        audience: args.audience,
        region: sdk_config.region().map(ToString::to_string),
        mfa_max_age_seconds,
    };
    let page = Page::new(&discovery, args.idp_token_origin.as_deref())?;
    let lambda = match args.lambda_endpoint {
        None => None,
        Some(endpoint) => Some(Lambda {
            endpoint,
            http: reqwest::Client::builder()
                .timeout(LAMBDA_INVOKE_TIMEOUT)
                .build()
                .map_err(StartError::Client)?,
        }),
    };
    let gateway = Arc::new(Gateway {
        app,
        authorizer,
        discovery,
        page,
        lambda,
        requests: AtomicU64::new(0),
    });
    let router = axum::Router::new()
        .fallback(serve)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(gateway);
    println!("listening {api_url}");
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(StartError::Serve)
}

async fn serve(
    State(gateway): State<Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(route) = gateway::route(&method, uri.path()) else {
        return gateway::message(StatusCode::NOT_FOUND, "Not Found");
    };
    let claims = if route.function.is_public() {
        None
    } else {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        match gateway.authorizer.authorize(authorization).await {
            Ok(claims) => Some(claims),
            Err(refusal) => {
                tracing::warn!(route = %route.route_key, code = refusal.code(), reason = %refusal, "unauthorized");
                let mut response = gateway::message(StatusCode::UNAUTHORIZED, "Unauthorized");
                let challenge = format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    refusal.code()
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                return response;
            }
        }
    };
    let request_id = format!(
        "local-{}",
        gateway.requests.fetch_add(1, Ordering::Relaxed) + 1
    );
    let request = Request {
        method: &method,
        path: uri.path(),
        query: uri.query(),
        headers: &headers,
        body: &body,
        source_ip: peer.ip().to_string(),
        request_id,
    };
    let event = gateway::event(&request, &route, claims.as_ref(), &gateway.app.account.id);
    if let (Some(lambda), Some(binary)) = (&gateway.lambda, route.function.binary()) {
        return match lambda.invoke(binary, &event).await {
            Some(answer) => gateway::http_response(answer),
            None => gateway::message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        };
    }
    let app = &gateway.app;
    let answer = functions::runtime::with_deadline(Instant::now() + FUNCTION_TIMEOUT, async {
        match route.function {
            Function::Onboard => functions::onboard::handle(app, event).await,
            Function::EnrollMfa => functions::enroll_mfa::handle(app, event).await,
            Function::Status => functions::status::invoke(app, None, event).await,
            Function::IssueKey => functions::issue_key::handle(app, event).await,
            Function::Offboard => functions::offboard::handle(app, event).await,
            Function::Discovery => gateway.discovery.respond(&event),
            Function::Page => gateway.page.respond(),
        }
    })
    .await;
    gateway::http_response(answer)
}
