//! What the CLI learns from the one URL a person is given: the API's unauthenticated
//! `GET /.well-known/onboarding` names the issuer, the public client id and the audience.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Config {
    pub api_url: String,
    pub issuer: String,
    pub client_id: String,
    /// The audiences the API's JWT authorizer accepts.
    pub audience: Vec<String>,
    /// The stack's region, written into every profile `setup` writes; `None` from an API that names none.
    #[serde(default)]
    pub region: Option<String>,
    /// The deployment's `MFA_MAX_AGE_SECONDS`: the day's MFA session is used only while its code is younger.
    #[serde(default)]
    pub mfa_max_age_seconds: Option<u64>,
}

/// The discovery document as served: `api_url` may be left to the client (the URL it was given), and
/// `audience` is one string or a list.
#[derive(Deserialize)]
struct Discovered {
    api_url: Option<String>,
    issuer: String,
    client_id: String,
    audience: Audience,
    region: Option<String>,
    mfa_max_age_seconds: Option<u64>,
    /// Absent from APIs before it was stated, which are 1.x.
    api_version: Option<String>,
}

/// The major version of the API contract this CLI speaks (`api_version` in the discovery document).
pub const API_MAJOR: &str = "1";

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

const FILE: &str = "config.json";

impl Config {
    pub fn load() -> Result<Config> {
        store::read_json(&store::path(FILE)?)?.ok_or(Error::NotConfigured)
    }

    pub fn save(&self) -> Result<()> {
        store::write_json(&store::path(FILE)?, self)
    }

    /// Fetches the API's discovery document. `api_url` is what the platform team handed out; the answer's
    /// own `api_url` wins when it is on the same host (the API may sit under another path there).
    pub async fn discover(http: &reqwest::Client, api_url: &str) -> Result<Config> {
        let given = trusted_url(api_url)?;
        let url = format!("{}/.well-known/onboarding", api_url.trim_end_matches('/'));
        let response = http.get(&url).send().await.map_err(|source| {
            Error::request(
                "GET",
                "/.well-known/onboarding",
                &url,
                crate::api::REQUEST_TIMEOUT,
                source,
            )
        })?;
        if !response.status().is_success() {
            return Err(Error::Protocol(
                url,
                format!("status {} (is this the onboarding API?)", response.status()),
            ));
        }
        let found: Discovered = response
            .json()
            .await
            .map_err(|e| Error::Protocol(url.clone(), e.to_string()))?;
        let audience = match found.audience {
            Audience::One(one) => vec![one],
            Audience::Many(many) => many,
        };
        if found.issuer.is_empty() || found.client_id.is_empty() {
            return Err(Error::Protocol(url, "no issuer or client_id".into()));
        }
        // The CLI calls the API with its ID token, whose aud is the client id.
        if !audience.contains(&found.client_id) {
            return Err(Error::Protocol(
                url,
                format!(
                    "the API accepts tokens for {audience:?}, not for the CLI's client id {}",
                    found.client_id
                ),
            ));
        }
        // The document may name the API by another path, never another host: an answer that could move
        // every later request (and the person's token) elsewhere is not taken on the word of one reply.
        if let Some(named) = &found.api_url {
            let named_url = trusted_url(named)?;
            if named_url.host_str() != given.host_str()
                || named_url.port_or_known_default() != given.port_or_known_default()
            {
                return Err(Error::Protocol(
                    url,
                    format!("its api_url {named:?} is on another host than {api_url:?}"),
                ));
            }
        }
        if let Some(version) = &found.api_version
            && version.split('.').next() != Some(API_MAJOR)
        {
            return Err(Error::IncompatibleApi {
                api_version: version.clone(),
            });
        }
        // Written into ~/.aws/config: anything but a region name (a newline, a `credential_process`) is refused.
        if let Some(region) = found.region.as_deref().filter(|region| !is_region(region)) {
            return Err(Error::Protocol(
                url,
                format!("its region {region:?} is not an AWS region name"),
            ));
        }
        Ok(Config {
            region: found.region,
            mfa_max_age_seconds: found.mfa_max_age_seconds,
            api_url: found
                .api_url
                .unwrap_or_else(|| api_url.to_string())
                .trim_end_matches('/')
                .to_string(),
            issuer: found.issuer,
            client_id: found.client_id,
            audience,
        })
    }
}

/// An AWS region's name as AWS spells them (`us-east-1`, `eu-central-2`, `us-gov-west-1`): lower-case
/// letters and digits in hyphen-separated parts, the first letters only, the last digits only.
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    name.len() <= 32
        && parts.len() >= 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// An API URL the CLI sends a person's token to: `https`, or `http` to this machine only (a local API).
fn trusted_url(text: &str) -> Result<reqwest::Url> {
    let url = reqwest::Url::parse(text)
        .map_err(|e| Error::Input(format!("{text:?} is not a URL: {e}")))?;
    let host = url.host_str().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(Error::Input(format!(
            "{text:?} is not an https URL: the API is only reached over https (http only to this machine)"
        ))),
    }
}
