//! `GET /.well-known/onboarding`, unauthenticated: the one URL a person gets from their platform team is
//! enough for a client to find the issuer to sign in with, the client id to sign in as, and the audience
//! the API's authorizer accepts. Nothing in it is secret, and it changes only with a deployment, so it
//! may be cached.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use serde::Serialize;
use serde_json::Value;

pub const ROUTE_KEY: &str = "GET /.well-known/onboarding";

/// Long enough that a client need not ask on every run, short enough that a changed issuer is seen soon.
const CACHE_CONTROL: &str = "public, max-age=300";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Discovery {
    /// The API's base URL; `None` derives it from the request (`https://` and API Gateway's domain name).
    pub api_url: Option<String>,
    pub issuer: String,
    pub client_id: String,
    pub audience: Vec<String>,
}

impl Discovery {
    /// The answer to `event`, a payload 2.0 event of the discovery route.
    pub fn respond(&self, event: &Value) -> ApiGatewayV2httpResponse {
        let api_url = self.api_url.clone().or_else(|| {
            event
                .pointer("/requestContext/domainName")
                .and_then(Value::as_str)
                .map(|domain| format!("https://{domain}"))
        });
        let body = serde_json::json!({
            "api_url": api_url,
            "issuer": self.issuer,
            "client_id": self.client_id,
            "audience": self.audience,
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        let mut response = ApiGatewayV2httpResponse::default();
        response.status_code = 200;
        response.headers = headers;
        response.body = Some(Body::Text(body.to_string()));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_api_url_is_configured_or_the_requests_domain() {
        let discovery = Discovery {
            api_url: None,
            issuer: "https://issuer.example".into(),
            client_id: "cli".into(),
            audience: vec!["cli".into()],
        };
        let response =
            discovery.respond(&json!({"requestContext": {"domainName": "api.example.com"}}));
        assert_eq!(response.status_code, 200);
        assert_eq!(response.headers[header::CACHE_CONTROL], CACHE_CONTROL);
        let Some(Body::Text(text)) = response.body else {
            panic!("a text body")
        };
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body,
            json!({"api_url": "https://api.example.com", "issuer": "https://issuer.example",
                   "client_id": "cli", "audience": ["cli"]})
        );
        let configured = Discovery {
            api_url: Some("http://127.0.0.1:9".into()),
            ..discovery
        };
        let Some(Body::Text(text)) = configured.respond(&json!({})).body else {
            panic!("a text body")
        };
        assert!(text.contains(r#""api_url":"http://127.0.0.1:9""#));
    }
}
