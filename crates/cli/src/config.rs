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
}

/// The discovery document as served: `api_url` may be left to the client (the URL it was given), and
/// `audience` is one string or a list.
#[derive(Deserialize)]
struct Discovered {
    api_url: Option<String>,
    issuer: String,
    client_id: String,
    audience: Audience,
}

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
    /// own `api_url` wins (the document may sit behind a CDN with another name).
    pub async fn discover(http: &reqwest::Client, api_url: &str) -> Result<Config> {
        let url = format!("{}/.well-known/onboarding", api_url.trim_end_matches('/'));
        let response = http.get(&url).send().await.map_err(|source| Error::Http {
            url: url.clone(),
            source,
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
        Ok(Config {
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
