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

/// The API's contract version (semver): a client refuses an API whose major version is not its own. Bumped
/// with CHANGELOG.md; a new optional field is a minor change, a removed or renamed one a major.
pub const API_VERSION: &str = "1.0.0";

/// Long enough that a client need not ask on every run, short enough that a changed issuer is seen soon.
const CACHE_CONTROL: &str = "public, max-age=300";

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Discovery {
    /// The API's base URL; `None` derives it from the request (`https://` and API Gateway's domain name).
    pub api_url: Option<String>,
    /// [`API_VERSION`].
    pub api_version: &'static str,
    pub issuer: String,
    pub client_id: String,
    pub audience: Vec<String>,
    /// The stack's own region (`AWS_REGION`, which Lambda sets): the CLI writes it into every profile, so
    /// that `aws ec2 …` works without the person setting one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// `MFA_MAX_AGE_SECONDS` where the deployment sets it: the trust policies then refuse a session whose
    /// MFA is older, so the CLI asks for a new code before that instead of failing with AccessDenied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_max_age_seconds: Option<u64>,
}

/// A discovery variable the function cannot serve: init fails naming it, as with every other setting.
#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct DiscoveryConfigError {
    pub variable: &'static str,
    pub message: &'static str,
}

impl Discovery {
    /// From the status function's environment (template.yaml): `JWT_ISSUER`, `JWT_AUDIENCE`
    /// (comma-separated, the authorizer's audiences) and `CLI_CLIENT_ID` (the first audience when empty).
    /// `None` without `JWT_ISSUER`: a status function deployed without them serves no discovery.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Discovery>, DiscoveryConfigError> {
        let Some(issuer) = lookup("JWT_ISSUER").filter(|issuer| !issuer.trim().is_empty()) else {
            return Ok(None);
        };
        if !issuer.starts_with("https://") {
            return Err(DiscoveryConfigError {
                variable: "JWT_ISSUER",
                message: "the issuer must be an https:// URL",
            });
        }
        let audience: Vec<String> = lookup("JWT_AUDIENCE")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|audience| !audience.is_empty())
            .map(str::to_string)
            .collect();
        let client_id = lookup("CLI_CLIENT_ID")
            .map(|id| id.trim().to_string())
            .filter(|id| !id.is_empty())
            .or_else(|| audience.first().cloned())
            .ok_or(DiscoveryConfigError {
                variable: "JWT_AUDIENCE",
                message: "at least one audience is needed, or CLI_CLIENT_ID",
            })?;
        // A client checks that its ID token's audience is one the authorizer accepts.
        if !audience.contains(&client_id) {
            return Err(DiscoveryConfigError {
                variable: "CLI_CLIENT_ID",
                message: "the CLI's client id must be one of JWT_AUDIENCE, or its tokens are refused",
            });
        }
        Ok(Some(Discovery {
            api_url: None,
            api_version: API_VERSION,
            issuer,
            client_id,
            audience,
            region: lookup("AWS_REGION").filter(|region| !region.trim().is_empty()),
            // The provisioning config refuses a malformed value at init; here only a number is served.
            mfa_max_age_seconds: lookup("MFA_MAX_AGE_SECONDS")
                .and_then(|seconds| seconds.trim().parse().ok()),
        }))
    }

    /// The answer to `event`, a payload 2.0 event of the discovery route.
    pub fn respond(&self, event: &Value) -> ApiGatewayV2httpResponse {
        let api_url = self.api_url.clone().or_else(|| {
            event
                .pointer("/requestContext/domainName")
                .and_then(Value::as_str)
                .map(|domain| format!("https://{domain}"))
        });
        let body = serde_json::to_value(Discovery {
            api_url,
            ..self.clone()
        })
        .unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        );
        crate::http::security_headers(&mut headers);
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
    fn read_from_the_environment_as_template_yaml_sets_it() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let found = Discovery::from_lookup(env(&[
            ("JWT_ISSUER", "https://issuer.example"),
            ("JWT_AUDIENCE", "cli,web"),
            ("CLI_CLIENT_ID", ""),
            ("AWS_REGION", "eu-central-1"),
            ("MFA_MAX_AGE_SECONDS", "3600"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(found.region.as_deref(), Some("eu-central-1"));
        assert_eq!(found.mfa_max_age_seconds, Some(3600));
        assert_eq!(found.client_id, "cli");
        assert_eq!(found.audience, ["cli", "web"]);
        assert_eq!(found.api_url, None);
        assert!(Discovery::from_lookup(env(&[])).unwrap().is_none());
        for (vars, variable) in [
            (
                &[
                    ("JWT_ISSUER", "http://issuer.example"),
                    ("JWT_AUDIENCE", "cli"),
                ][..],
                "JWT_ISSUER",
            ),
            (
                &[
                    ("JWT_ISSUER", "https://issuer.example"),
                    ("JWT_AUDIENCE", " "),
                ][..],
                "JWT_AUDIENCE",
            ),
            (
                &[
                    ("JWT_ISSUER", "https://i.example"),
                    ("JWT_AUDIENCE", "web"),
                    ("CLI_CLIENT_ID", "cli"),
                ][..],
                "CLI_CLIENT_ID",
            ),
        ] {
            let vars: &'static [(&'static str, &'static str)] = vars;
            let refused = Discovery::from_lookup(env(vars)).unwrap_err();
            assert_eq!(refused.variable, variable);
        }
    }

    #[test]
    fn the_api_url_is_configured_or_the_requests_domain() {
        let discovery = Discovery {
            api_url: None,
            api_version: API_VERSION,
            issuer: "https://issuer.example".into(),
            client_id: "cli".into(),
            audience: vec!["cli".into()],
            region: None,
            mfa_max_age_seconds: None,
        };
        let response =
            discovery.respond(&json!({"requestContext": {"domainName": "api.example.com"}}));
        assert_eq!(response.status_code, 200);
        assert_eq!(response.headers[header::CACHE_CONTROL], CACHE_CONTROL);
        assert_eq!(response.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let Some(Body::Text(text)) = response.body else {
            panic!("a text body")
        };
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body,
            json!({"api_url": "https://api.example.com", "api_version": API_VERSION,
                   "issuer": "https://issuer.example", "client_id": "cli", "audience": ["cli"]})
        );
        let configured = Discovery {
            api_url: Some("http://127.0.0.1:9".into()),
            region: Some("eu-central-1".into()),
            mfa_max_age_seconds: Some(3600),
            ..discovery
        };
        let Some(Body::Text(text)) = configured.respond(&json!({})).body else {
            panic!("a text body")
        };
        assert!(text.contains(r#""api_url":"http://127.0.0.1:9""#));
        assert!(text.contains(r#""region":"eu-central-1""#), "{text}");
        assert!(text.contains(r#""mfa_max_age_seconds":3600"#), "{text}");
    }
}
