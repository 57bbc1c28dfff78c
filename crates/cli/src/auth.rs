//! Sign-in with the company's identity provider: OpenID Connect discovery, then either the authorization
//! code flow with PKCE on a loopback redirect (RFC 8252) or the device grant (RFC 8628) for machines without
//! a browser. The ID token is verified by `openidconnect` (JWKS signature, iss, aud, exp, nonce) before it
//! is kept; the API's JWT authorizer is given that ID token, refreshed with the refresh token when needed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClient, CoreClientAuthMethod, CoreDeviceAuthorizationResponse, CoreGenderClaim,
    CoreGrantType, CoreIdTokenVerifier, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    CoreTokenResponse,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, CsrfToken, DeviceAuthorizationUrl,
    IdTokenClaims, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, ProviderMetadata,
    RedirectUrl, RefreshToken, RevocationUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::store;
use crate::vault;

/// Discovery with the two fields `CoreProviderMetadata` leaves out: where the device grant starts, and
/// where a token is revoked (RFC 7009).
#[derive(Clone, Debug, Deserialize, Serialize)]
struct MoreEndpoints {
    #[serde(default)]
    device_authorization_endpoint: Option<DeviceAuthorizationUrl>,
    #[serde(default)]
    revocation_endpoint: Option<RevocationUrl>,
}
impl AdditionalProviderMetadata for MoreEndpoints {}
type Metadata = ProviderMetadata<
    MoreEndpoints,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;
type Claims = IdTokenClaims<openidconnect::EmptyAdditionalClaims, CoreGenderClaim>;

/// What is kept between commands (0600). The ID token is what the API accepts as its bearer token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub id_token: String,
    pub refresh_token: Option<String>,
    /// Seconds since the epoch, from the verified ID token's `exp`.
    pub expires_at: i64,
    pub subject: String,
    pub email: Option<String>,
}

/// In the state directory, encrypted (crate::vault).
const FILE: &str = "tokens";
/// Where CLIs before the vault kept them, in plaintext, in the config directory: moved on first use.
const LEGACY_FILE: &str = "tokens.json";
/// `email` names the person to the API. `openid` is always asked for.
const EMAIL_SCOPE: &str = "email";
/// Asks for a refresh token, where the provider knows the scope: Cognito does not (and refuses a request
/// naming it), and issues a refresh token with every code exchange anyway.
const OFFLINE_ACCESS: &str = "offline_access";
/// The loopback ports the browser may be sent back to, tried in this order, as
/// `http://localhost:<port>/callback`. Fixed, because a provider such as Cognito matches callback URLs
/// exactly, port included: the README's app client registers these three.
pub const CALLBACK_PORTS: [u16; 3] = [47951, 47952, 47953];
/// How long the loopback listener waits for the browser to come back.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

impl Tokens {
    pub fn load() -> Result<Option<Tokens>> {
        vault::this_process()?.read_or_move(&store::state_path(FILE)?, &store::path(LEGACY_FILE)?)
    }

    fn save(&self) -> Result<()> {
        vault::this_process()?.write(&store::state_path(FILE)?, self)
    }

    pub fn remove() -> Result<bool> {
        let legacy = store::remove(&store::path(LEGACY_FILE)?)?;
        Ok(store::remove(&store::state_path(FILE)?)? || legacy)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A message with every cause in it: openidconnect's errors say the useful part in their sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

fn login_err(what: &str) -> impl FnOnce(&dyn std::error::Error) -> Error + '_ {
    move |e| Error::Login(format!("{what}: {}", chain(e)))
}

async fn discover(config: &Config, http: &reqwest::Client) -> Result<Metadata> {
    let issuer = IssuerUrl::new(config.issuer.clone())
        .map_err(|e| login_err("issuer URL")(&e as &dyn std::error::Error))?;
    Metadata::discover_async(issuer, http)
        .await
        .map_err(|e| login_err("OpenID discovery")(&e as &dyn std::error::Error))
}

/// Turns a token response into kept tokens, after verifying its ID token.
fn keep(
    response: &CoreTokenResponse,
    verifier: &CoreIdTokenVerifier,
    nonce: Option<&Nonce>,
    previous_refresh: Option<String>,
) -> Result<Tokens> {
    let id_token = response
        .id_token()
        .ok_or_else(|| Error::Login("the identity provider sent no ID token".into()))?;
    let claims: &Claims = match nonce {
        Some(nonce) => id_token.claims(verifier, nonce),
        // The device grant and refreshes have no authorization request, so no nonce to compare.
        None => id_token.claims(verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|e| login_err("ID token rejected")(&e as &dyn std::error::Error))?;
    let tokens = Tokens {
        id_token: id_token.to_string(),
        refresh_token: response
            .refresh_token()
            .map(|t| t.secret().clone())
            .or(previous_refresh),
        expires_at: claims.expiration().timestamp(),
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
    };
    tokens.save()?;
    Ok(tokens)
}

/// The scopes to ask for: `email`, and `offline_access` where the provider's discovery lists it (or
/// lists no scopes at all).
fn scopes(metadata: &Metadata) -> Vec<Scope> {
    let offline = metadata.scopes_supported().is_none_or(|supported| {
        supported
            .iter()
            .any(|scope| scope.as_str() == OFFLINE_ACCESS)
    });
    [EMAIL_SCOPE]
        .into_iter()
        .chain(offline.then_some(OFFLINE_ACCESS))
        .map(|scope| Scope::new(scope.to_string()))
        .collect()
}

/// The first of [`CALLBACK_PORTS`] free on this machine, listened on.
async fn callback_listener() -> Result<(TcpListener, u16)> {
    for port in CALLBACK_PORTS {
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
            return Ok((listener, port));
        }
    }
    Err(Error::Login(format!(
        "the sign-in callback ports {CALLBACK_PORTS:?} are all in use on this machine (another sign-in in progress?)"
    )))
}

/// Authorization code + PKCE (S256) with the browser sent back to `http://localhost:<port>/callback`.
/// The URL is always printed on stderr; `open_browser` also hands it to the desktop.
pub async fn login_browser(
    config: &Config,
    http: &reqwest::Client,
    open_browser: bool,
) -> Result<Tokens> {
    let (listener, port) = callback_listener().await?;
    let redirect = RedirectUrl::new(format!("http://localhost:{port}/callback"))
        .map_err(|e| login_err("redirect URL")(&e as &dyn std::error::Error))?;
    let metadata = discover(config, http).await?;
    let scopes = scopes(&metadata);
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(config.client_id.clone()), None)
            .set_redirect_uri(redirect);

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .add_scopes(scopes.iter().cloned());
    if scopes.iter().any(|scope| scope.as_str() == OFFLINE_ACCESS) {
        // Providers hand out a refresh token for offline_access only after explicit consent.
        request = request.add_prompt(CoreAuthPrompt::Consent);
    }
    let (url, state, nonce) = request.url();

    eprintln!("Sign in at this address (opened in your browser if there is one):\n{url}");
    if open_browser && open::that_detached(url.as_str()).is_err() {
        eprintln!("(no browser could be opened: copy the address above)");
    }

    let code = tokio::time::timeout(LOGIN_TIMEOUT, wait_for_callback(&listener, &state))
        .await
        .map_err(|_| Error::Login("no answer from the browser within 5 minutes".into()))??;

    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| login_err("token endpoint")(&e as &dyn std::error::Error))?
        .set_pkce_verifier(verifier)
        .request_async(http)
        .await
        .map_err(|e| login_err("code exchange")(&e as &dyn std::error::Error))?;
    keep(&response, &client.id_token_verifier(), Some(&nonce), None)
}

/// Accepts connections on the loopback listener until one carries the redirect; answers each with a page
/// the person can read. A request with the wrong `state` is refused (it is not our redirect).
async fn wait_for_callback(listener: &TcpListener, state: &CsrfToken) -> Result<String> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(crate::error::io_err("the sign-in callback"))?;
        let mut buffer = vec![0u8; 8192];
        let mut filled = 0;
        let target = loop {
            let n = stream.read(&mut buffer[filled..]).await.unwrap_or(0);
            if n == 0 {
                break None;
            }
            filled += n;
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(&buffer[..filled]) {
                Ok(httparse::Status::Complete(_)) => break parsed.path.map(str::to_string),
                Ok(httparse::Status::Partial) if filled < buffer.len() => continue,
                _ => break None,
            }
        };
        let Some(target) = target else { continue };
        let Ok(url) = reqwest::Url::parse(&format!("http://127.0.0.1{target}")) else {
            continue;
        };
        if url.path() != "/callback" {
            let _ = respond(&mut stream, "404 Not Found", "Not found").await;
            continue;
        }
        let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
        if query.get("state").map(String::as_str) != Some(state.secret().as_str()) {
            let _ = respond(
                &mut stream,
                "400 Bad Request",
                "This sign-in was not started here.",
            )
            .await;
            continue;
        }
        if let Some(error) = query.get("error") {
            let _ = respond(
                &mut stream,
                "200 OK",
                "Sign-in failed: back to the terminal.",
            )
            .await;
            let detail = query.get("error_description").cloned().unwrap_or_default();
            return Err(Error::Login(format!("{error} {detail}").trim().to_string()));
        }
        if let Some(code) = query.get("code") {
            let _ = respond(
                &mut stream,
                "200 OK",
                "Signed in. You can close this window.",
            )
            .await;
            return Ok(code.clone());
        }
        let _ = respond(&mut stream, "400 Bad Request", "No code in this request.").await;
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    text: &str,
) -> std::io::Result<()> {
    let body = format!("<!doctype html><title>onboarding</title><p>{text}</p>");
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
         cache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

/// The device grant: the person opens the printed address on any device and types the code.
pub async fn login_device(config: &Config, http: &reqwest::Client) -> Result<Tokens> {
    let metadata = discover(config, http).await?;
    let device_url = metadata
        .additional_metadata()
        .device_authorization_endpoint
        .clone()
        .ok_or_else(|| {
            Error::Login(
                "this identity provider does not offer the device grant: leave --device out".into(),
            )
        })?;
    let scopes = scopes(&metadata);
    let client =
        CoreClient::from_provider_metadata(metadata, ClientId::new(config.client_id.clone()), None)
            .set_device_authorization_url(device_url);
    let request = client.exchange_device_code().add_scopes(scopes);
    let details: CoreDeviceAuthorizationResponse = request
        .request_async(http)
        .await
        .map_err(|e| login_err("device authorization")(&e as &dyn std::error::Error))?;
    eprintln!(
        "On any device, open {} and enter the code {}",
        details.verification_uri().as_str(),
        details.user_code().secret()
    );
    if let Some(complete) = details.verification_uri_complete() {
        eprintln!("(or open {} directly)", complete.secret());
    }
    let response = client
        .exchange_device_access_token(&details)
        .map_err(|e| login_err("token endpoint")(&e as &dyn std::error::Error))?
        .request_async(http, tokio::time::sleep, None)
        .await
        .map_err(|e| login_err("device grant")(&e as &dyn std::error::Error))?;
    keep(&response, &client.id_token_verifier(), None, None)
}

/// A valid ID token for the API: the kept one while it has a minute left, else a refreshed one.
pub async fn id_token(config: &Config, http: &reqwest::Client) -> Result<Tokens> {
    let tokens = Tokens::load()?.ok_or(Error::NotLoggedIn)?;
    if tokens.expires_at > now() + 60 {
        return Ok(tokens);
    }
    let refresh = tokens.refresh_token.clone().ok_or(Error::NotLoggedIn)?;
    let client = CoreClient::from_provider_metadata(
        discover(config, http).await?,
        ClientId::new(config.client_id.clone()),
        None,
    );
    let response = client
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .map_err(|e| login_err("token endpoint")(&e as &dyn std::error::Error))?
        .request_async(http)
        .await
        .map_err(|_| Error::NotLoggedIn)?;
    keep(&response, &client.id_token_verifier(), None, Some(refresh))
}

/// Revokes the refresh token at the provider (RFC 7009), where its discovery document names a revocation
/// endpoint: a copy of the token left elsewhere (a backup, a synced dotfile) then signs nobody in.
/// `Ok(false)` when the provider offers no revocation. The request is RFC 7009's one form POST, made here
/// rather than by `oauth2`, which refuses any endpoint but `https`, a local provider's `http` on this
/// machine included; anywhere else the endpoint must be `https`, as the RFC requires.
pub async fn revoke_refresh_token(
    config: &Config,
    http: &reqwest::Client,
    refresh_token: &str,
) -> Result<bool> {
    let metadata = discover(config, http).await?;
    let Some(endpoint) = &metadata.additional_metadata().revocation_endpoint else {
        return Ok(false);
    };
    let url = endpoint.url();
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(Error::Login(format!(
            "the revocation endpoint {url} is not https: the token was not sent"
        )));
    }
    let http_error = |source| Error::Http {
        url: url.to_string(),
        source,
    };
    http.post(url.clone())
        .form(&[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
            ("client_id", config.client_id.as_str()),
        ])
        .send()
        .await
        .map_err(http_error)?
        .error_for_status()
        .map_err(http_error)?;
    Ok(true)
}
