//! The onboarding HTTP API (README, "HTTP API"), called with the person's ID token.

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};

pub struct Api<'a> {
    pub http: &'a reqwest::Client,
    pub config: &'a Config,
    pub token: &'a str,
}

impl Api<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url)
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<(u16, Value)> {
        let url = self.url(path);
        let response = self
            .http
            .post(&url)
            .bearer_auth(self.token)
            .json(body)
            .send()
            .await;
        answer(url, response).await
    }

    pub async fn delete(&self, path: &str) -> Result<(u16, Value)> {
        let url = self.url(path);
        let response = self.http.delete(&url).bearer_auth(self.token).send().await;
        answer(url, response).await
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let url = self.url(path);
        let response = self.http.get(&url).bearer_auth(self.token).send().await;
        answer(url, response).await
    }
}

/// `/users/{username}` with the name encoded as one path segment.
pub fn user_path(username: &str, rest: &str) -> String {
    format!("/users/{}{rest}", urlencoding::encode(username))
}

async fn answer(
    url: String,
    response: std::result::Result<reqwest::Response, reqwest::Error>,
) -> Result<(u16, Value)> {
    let response = response.map_err(|source| Error::Http {
        url: url.clone(),
        source,
    })?;
    let status = response.status().as_u16();
    let body: Value = response
        .json()
        .await
        .map_err(|e| Error::Protocol(url.clone(), format!("status {status}, {e}")))?;
    if (200..300).contains(&status) {
        return Ok((status, body));
    }
    // Every refusal is {"error": {"code", "message"}}; API Gateway's own 401 is {"message": "Unauthorized"}.
    let code = body
        .pointer("/error/code")
        .and_then(Value::as_str)
        .unwrap_or(if status == 401 {
            "unauthenticated"
        } else {
            "http_error"
        });
    let message = body
        .pointer("/error/message")
        .or_else(|| body.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(Error::Api {
        status,
        code: code.to_string(),
        message: message.to_string(),
    })
}
