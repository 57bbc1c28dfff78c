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
    pub audience: String,
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
        let config: Config = response
            .json()
            .await
            .map_err(|e| Error::Protocol(url.clone(), e.to_string()))?;
        for (name, value) in [
            ("api_url", &config.api_url),
            ("issuer", &config.issuer),
            ("client_id", &config.client_id),
            ("audience", &config.audience),
        ] {
            if value.is_empty() {
                return Err(Error::Protocol(url, format!("{name} is empty")));
            }
        }
        Ok(Config {
            api_url: config.api_url.trim_end_matches('/').to_string(),
            ..config
        })
    }
}
