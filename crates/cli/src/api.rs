//! The onboarding HTTP API (README, "HTTP API"), called with the person's ID token.

use std::time::Duration;

use reqwest::{Method, RequestBuilder};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};

/// How long the CLI waits for one answer. API Gateway ends every request after 30 s (the functions stop at
/// 29 s, template.yaml), the slowest being `POST /users` waiting for the new key to be accepted: a healthy
/// API has answered well before this, so running out of it means the service is starting or overloaded.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Api<'a> {
    http: &'a reqwest::Client,
    config: &'a Config,
    token: &'a str,
    timeout: Duration,
}

impl<'a> Api<'a> {
    pub fn new(http: &'a reqwest::Client, config: &'a Config, token: &'a str) -> Self {
        Api {
            http,
            config,
            token,
            timeout: REQUEST_TIMEOUT,
        }
    }

    pub fn with_timeout(self, timeout: Duration) -> Self {
        Api { timeout, ..self }
    }

    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<(u16, Value)> {
        self.send(Method::POST, path, |request| request.json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<(u16, Value)> {
        self.send(Method::DELETE, path, |request| request).await
    }

    pub async fn get(&self, path: &str) -> Result<(u16, Value)> {
        self.send(Method::GET, path, |request| request).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        with_body: impl FnOnce(RequestBuilder) -> RequestBuilder,
    ) -> Result<(u16, Value)> {
        let url = format!("{}{path}", self.config.api_url);
        let request = self
            .http
            .request(method.clone(), &url)
            .bearer_auth(self.token)
            .timeout(self.timeout);
        let response = with_body(request)
            .send()
            .await
            .map_err(|source| Error::request(method.as_str(), path, &url, self.timeout, source))?;
        answer(url, response).await
    }
}

/// `/users/{username}` with the name encoded as one path segment.
pub fn user_path(username: &str, rest: &str) -> String {
    format!("/users/{}{rest}", urlencoding::encode(username))
}

async fn answer(url: String, response: reqwest::Response) -> Result<(u16, Value)> {
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
