//! API Gateway HTTP API (payload format 2.0) in and out.
//!
//! The request is decoded into our own narrow type rather than `aws_lambda_events`'s: there, JWT claims
//! are `HashMap<String, String>`, and an event whose groups claim is a real JSON array would fail to
//! decode at all instead of being read.

use std::collections::HashMap;

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use aws_lambda_events::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use provisioning::access::Caller;
use provisioning::config::Config;
use provisioning::names::is_valid_username;
use provisioning::{Error, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HttpApiRequest {
    pub body: Option<String>,
    pub is_base64_encoded: bool,
    pub path_parameters: HashMap<String, String>,
    pub request_context: RequestContext,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RequestContext {
    pub request_id: Option<String>,
    pub authorizer: Option<Authorizer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Authorizer {
    pub jwt: Option<Jwt>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Jwt {
    pub claims: Map<String, Value>,
}

impl HttpApiRequest {
    pub fn parse(event: Value) -> Result<Self> {
        if !event.is_object() {
            return Err(Error::InvalidRequest(
                "not an API Gateway HTTP API event: not a JSON object".into(),
            ));
        }
        serde_json::from_value(event).map_err(|error| {
            Error::InvalidRequest(format!("not an API Gateway HTTP API event: {error}"))
        })
    }

    pub fn request_id(&self) -> &str {
        self.request_context.request_id.as_deref().unwrap_or("-")
    }

    /// Who is calling, refused before any AWS call when they are not signed in, not verified, or not
    /// among the people this deployment onboards (every route but discovery goes through here).
    pub fn caller(&self, config: &Config) -> Result<Caller> {
        let empty = Map::new();
        let claims = self
            .request_context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map_or(&empty, |jwt| &jwt.claims);
        let caller = Caller::from_claims(claims, config)?;
        caller.ensure_eligible(config)?;
        Ok(caller)
    }

    /// The JSON body; an absent or empty body reads as `{}`. A body above [`MAX_BODY_BYTES`] is refused
    /// unread, and a body must be a JSON object: serde would also read a struct from an array
    /// (`["someone"]`), a shape without field names that `deny_unknown_fields` cannot check.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T> {
        let within_limit = |size: usize| {
            if size > MAX_BODY_BYTES {
                Err(Error::RequestTooLarge {
                    size,
                    limit: MAX_BODY_BYTES,
                })
            } else {
                Ok(())
            }
        };
        let text = match (&self.body, self.is_base64_encoded) {
            (None, _) => String::new(),
            (Some(body), false) => {
                within_limit(body.len())?;
                body.clone()
            }
            (Some(body), true) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(body)
                    .map_err(|_| Error::InvalidRequest("the body is not valid base64".into()))?;
                within_limit(bytes.len())?;
                String::from_utf8(bytes)
                    .map_err(|_| Error::InvalidRequest("the body is not UTF-8".into()))?
            }
        };
        let text = if text.trim().is_empty() {
            "{}"
        } else {
            text.as_str()
        };
        if !text
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return Err(Error::InvalidRequest(
                "invalid request body: not a JSON object".into(),
            ));
        }
        serde_json::from_str(text)
            .map_err(|error| Error::InvalidRequest(format!("invalid request body: {error}")))
    }

    /// The `{username}` of a route, checked like any other user name.
    pub fn username_parameter(&self) -> Result<String> {
        let name = self
            .path_parameters
            .get("username")
            .ok_or_else(|| Error::InvalidRequest("the route has no {username} parameter".into()))?;
        if is_valid_username(name) {
            Ok(name.clone())
        } else {
            Err(Error::InvalidUsername(format!(
                "{name:?} is not a valid IAM user name"
            )))
        }
    }
}

/// The largest request body read: every body the functions take is a few hundred bytes at most.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub fn status_of(error: &Error) -> u16 {
    match error.code() {
        "unauthenticated" | "email_not_verified" => 401,
        "forbidden" | "not_eligible" => 403,
        "user_not_found" | "access_key_not_found" => 404,
        "request_too_large" => 413,
        "user_exists_unmanaged"
        | "role_exists_unmanaged"
        | "managed_by_another_stack"
        | "username_case_mismatch"
        | "mfa_already_enabled"
        | "trust_policy_full"
        | "too_many_keys"
        | "access_key_active" => 409,
        "upstream_unavailable" | "account_unreachable" => 503,
        "internal" => 500,
        _ => 400,
    }
}

/// What every answer says to a browser that loads it: it is data, never a page (nothing in it runs, no
/// page may frame it, no type is guessed) and it sends no referrer onward. A JSON body carrying an access
/// key must not become a document an attacker can frame or script.
pub fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Every response may carry a secret or say something about a person: none of them is cached.
pub fn json_response(status: u16, body: &impl serde::Serialize) -> ApiGatewayV2httpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(&mut headers);
    let text = serde_json::to_string(body).unwrap_or_else(|_| {
        r#"{"error":{"code":"internal","message":"response encoding failed"}}"#.into()
    });
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response.headers = headers;
    response.body = Some(Body::Text(text));
    response
}

/// The error body every function returns, logged once with what the caller is not shown, and counted.
pub fn error_response(error: &Error, request_id: &str) -> ApiGatewayV2httpResponse {
    crate::metrics::count_failure(error);
    let status = status_of(error);
    if status >= 500 {
        tracing::error!(request_id, code = error.code(), error = %error, retryable = error.is_retryable(), "request failed");
    } else {
        tracing::warn!(request_id, code = error.code(), error = %error, "request refused");
    }
    let mut response = json_response(
        status,
        &json!({"error": {"code": error.code(), "message": error.public_message()}}),
    );
    if status == 503 {
        response.headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// IAM's throttling clears within seconds; sooner, the retry would likely meet it again.
const RETRY_AFTER_SECONDS: &str = "5";

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::from_lookup(|_| None).unwrap()
    }

    #[test]
    fn claims_as_api_gateway_sends_them_and_as_json_arrays() {
        for groups in [
            json!("[onboarding-admins devs]"),
            json!(["onboarding-admins", "devs"]),
        ] {
            let event = json!({"requestContext": {"requestId": "r1", "authorizer": {"jwt": {"claims": {"email": "a@example.com", "email_verified": "true", "cognito:groups": groups}}}}});
            let request = HttpApiRequest::parse(event).unwrap();
            let caller = request.caller(&config()).unwrap();
            assert_eq!(caller.username, "a@example.com");
            assert!(caller.is_admin(&config()));
            assert_eq!(request.request_id(), "r1");
        }
    }

    #[test]
    fn a_signed_in_person_outside_every_eligibility_rule_is_refused_before_any_aws_call() {
        let config = Config::from_lookup(|name| {
            (name == "ELIGIBLE_EMAIL_DOMAINS").then(|| r#"["example.com"]"#.to_string())
        })
        .unwrap();
        let from = |email: &str| {
            HttpApiRequest::parse(json!({"requestContext": {"authorizer": {"jwt": {"claims": {"email": email, "email_verified": "true"}}}}}))
                .unwrap()
        };
        assert!(from("a@example.com").caller(&config).is_ok());
        let refused = from("a@evil-example.com").caller(&config).unwrap_err();
        assert_eq!(refused.code(), "not_eligible");
        assert_eq!(status_of(&refused), 403);
    }

    #[test]
    fn no_authorizer_means_unauthenticated() {
        let request = HttpApiRequest::parse(json!({"body": "{}"})).unwrap();
        assert_eq!(
            request.caller(&config()).unwrap_err().code(),
            "unauthenticated"
        );
    }

    #[test]
    fn bodies_plain_base64_and_absent() {
        let plain = HttpApiRequest::parse(json!({"body": "{\"a\":1}"})).unwrap();
        assert_eq!(plain.json_body::<Value>().unwrap(), json!({"a": 1}));
        let encoded =
            HttpApiRequest::parse(json!({"body": "eyJhIjoxfQ==", "isBase64Encoded": true}))
                .unwrap();
        assert_eq!(encoded.json_body::<Value>().unwrap(), json!({"a": 1}));
        let absent = HttpApiRequest::parse(json!({})).unwrap();
        assert_eq!(absent.json_body::<Value>().unwrap(), json!({}));
        let broken = HttpApiRequest::parse(json!({"body": "{not json"})).unwrap();
        assert_eq!(
            broken.json_body::<Value>().unwrap_err().code(),
            "invalid_request"
        );
        assert_eq!(
            HttpApiRequest::parse(json!("a string")).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn a_body_above_the_limit_is_refused_unread() {
        let padded = format!("{{\"mfa\": \"none\"}}{}", " ".repeat(MAX_BODY_BYTES));
        let plain = HttpApiRequest::parse(json!({"body": padded})).unwrap();
        let error = plain.json_body::<Value>().unwrap_err();
        assert_eq!(error.code(), "request_too_large");
        assert_eq!(status_of(&error), 413);
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(" ".repeat(MAX_BODY_BYTES + 1));
        let encoded =
            HttpApiRequest::parse(json!({"body": encoded, "isBase64Encoded": true})).unwrap();
        assert_eq!(
            encoded.json_body::<Value>().unwrap_err().code(),
            "request_too_large"
        );
        let at_limit = format!("{{}}{}", " ".repeat(MAX_BODY_BYTES - 2));
        let at_limit = HttpApiRequest::parse(json!({"body": at_limit})).unwrap();
        assert_eq!(at_limit.json_body::<Value>().unwrap(), json!({}));
    }

    #[test]
    fn a_body_is_a_json_object_or_nothing() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(default)]
            username: Option<String>,
        }
        for body in ["[]", "[\"carol\"]", " \n[null]", "null", "\"carol\"", "5"] {
            let request = HttpApiRequest::parse(json!({"body": body})).unwrap();
            let error = request.json_body::<Body>().unwrap_err();
            assert_eq!(error.code(), "invalid_request", "{body}");
        }
        let object =
            HttpApiRequest::parse(json!({"body": " \r\n{\"username\": \"carol\"}"})).unwrap();
        assert_eq!(
            object.json_body::<Body>().unwrap().username.as_deref(),
            Some("carol")
        );
        assert_eq!(
            HttpApiRequest::parse(json!([null, false, {}, {}]))
                .unwrap_err()
                .code(),
            "invalid_request"
        );
    }

    #[test]
    fn errors_are_json_with_a_stable_code_and_no_store() {
        let response = error_response(&Error::Forbidden("no".into()), "r");
        assert_eq!(response.status_code, 403);
        assert_eq!(response.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(response.headers[header::CONTENT_TYPE], "application/json");
        let Some(Body::Text(text)) = response.body else {
            panic!("text body expected")
        };
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            body,
            json!({"error": {"code": "forbidden", "message": "no"}})
        );
    }

    #[test]
    fn internal_errors_do_not_leak_aws_details() {
        let error = Error::Aws {
            operation: "CreateUser",
            detail: "AccessDenied: arn:aws:iam::123456789012:role/x is not authorized".into(),
            retryable: false,
        };
        let Some(Body::Text(text)) = error_response(&error, "r").body else {
            panic!("text body expected")
        };
        assert!(!text.contains("arn:aws"), "{text}");
        assert!(text.contains("\"internal\""));
    }

    #[test]
    fn every_code_has_its_status() {
        let cases = [
            (Error::InvalidRequest(String::new()), 400),
            (Error::InvalidUsername(String::new()), 400),
            (Error::UnknownRole(String::new()), 400),
            (Error::InvalidMfaCodes, 400),
            (Error::Unauthenticated(String::new()), 401),
            (Error::EmailNotVerified, 401),
            (Error::Forbidden(String::new()), 403),
            (Error::NotEligible(String::new()), 403),
            (Error::UserNotFound(String::new()), 404),
            (Error::UserExistsUnmanaged(String::new()), 409),
            (Error::RoleExistsUnmanaged(String::new()), 409),
            (
                Error::ManagedByAnotherStack {
                    entity: String::new(),
                    stack: String::new(),
                },
                409,
            ),
            (
                Error::UsernameCaseMismatch {
                    asked: "Alice".into(),
                    matches: "alice".into(),
                },
                409,
            ),
            (Error::MfaAlreadyEnabled(String::new()), 409),
            (
                Error::TrustPolicyFull {
                    role: String::new(),
                    size: 1,
                    quota: 0,
                },
                409,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(status_of(&error), status, "{}", error.code());
        }
    }
}
