//! What API Gateway does between the client and a function: matches the route, builds the payload 2.0
//! event (with the authorizer's claims as strings), and turns the function's answer into the HTTP
//! response.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use axum::body::Body as AxumBody;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde_json::{Map, Value, json};

/// The function behind a route, as template.yaml's `HttpApi` events wire them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Onboard,
    EnrollMfa,
    Status,
    IssueKey,
    Offboard,
    /// `GET /.well-known/onboarding`, unauthenticated (the status function answers it when deployed).
    Discovery,
    /// `GET /`, the page, unauthenticated (the status function answers it when deployed).
    Page,
}

impl Function {
    /// The binary (template.yaml's `BuildProperties: Binary`, `cargo lambda watch`'s function name)
    /// behind the route; `None` for the unauthenticated routes, which local-api answers itself: only this
    /// process knows the URL it serves.
    pub fn binary(self) -> Option<&'static str> {
        match self {
            Function::Onboard => Some("onboard"),
            Function::EnrollMfa => Some("enroll-mfa"),
            Function::Status => Some("status"),
            Function::IssueKey => Some("issue-key"),
            Function::Offboard => Some("offboard"),
            Function::Discovery | Function::Page => None,
        }
    }

    /// The routes without the JWT authorizer (template.yaml's `Auth: Authorizer: NONE`).
    pub fn is_public(self) -> bool {
        matches!(self, Function::Discovery | Function::Page)
    }
}

/// Every route of the HTTP API: method, path with `{parameters}`, function. The test
/// `the_routes_are_the_templates` holds this list to template.yaml.
pub const ROUTES: &[(&str, &str, Function)] = &[
    ("POST", "/users", Function::Onboard),
    ("POST", "/users/{username}/mfa", Function::EnrollMfa),
    ("GET", "/users/{username}", Function::Status),
    ("GET", "/me", Function::Status),
    ("POST", "/users/{username}/access-keys", Function::IssueKey),
    (
        "DELETE",
        "/users/{username}/access-keys/{access_key_id}",
        Function::IssueKey,
    ),
    ("DELETE", "/users/{username}", Function::Offboard),
    (
        "DELETE",
        "/users/{username}/roles/{role}",
        Function::Offboard,
    ),
    ("GET", "/.well-known/onboarding", Function::Discovery),
    ("GET", "/", Function::Page),
];

pub struct Route {
    pub function: Function,
    pub route_key: String,
    pub path_parameters: Map<String, Value>,
}

/// The route `method` and `path` match, with its path parameters percent-decoded as API Gateway passes
/// them; `None` is API Gateway's 404.
pub fn route(method: &Method, path: &str) -> Option<Route> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    ROUTES
        .iter()
        .find_map(|(route_method, template, function)| {
            if method.as_str() != *route_method {
                return None;
            }
            let parts: Vec<&str> = template.trim_start_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut path_parameters = Map::new();
            for (part, segment) in parts.iter().zip(&segments) {
                match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                    Some(name) if !segment.is_empty() => {
                        let value = urlencoding::decode(segment)
                            .map(|decoded| decoded.into_owned())
                            .unwrap_or_else(|_| (*segment).to_string());
                        path_parameters.insert(name.to_string(), Value::String(value));
                    }
                    Some(_) => return None,
                    None if part == segment => {}
                    None => return None,
                }
            }
            Some(Route {
                function: *function,
                route_key: format!("{route_method} {template}"),
                path_parameters,
            })
        })
}

/// The claims as API Gateway hands them to the integration: every value a string, arrays as `[a b]`.
pub fn claims_as_api_gateway_passes_them(claims: &Map<String, Value>) -> Map<String, Value> {
    fn text(value: &Value) -> String {
        match value {
            Value::String(text) => text.clone(),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(text).collect();
                format!("[{}]", items.join(" "))
            }
            other => other.to_string(),
        }
    }
    claims
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(text(value))))
        .collect()
}

/// What the event is built from, besides the route.
pub struct Request<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub source_ip: String,
    pub request_id: String,
}

/// The payload format 2.0 event API Gateway sends for `request` on `route`.
pub fn event(
    request: &Request<'_>,
    route: &Route,
    claims: Option<&Map<String, Value>>,
    account_id: &str,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in request.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| Value::String(c.trim().to_string())),
            );
            continue;
        }
        // API Gateway joins repeated headers with commas.
        match headers.get_mut(name.as_str()) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_string(), Value::String(value));
            }
        }
    }
    let mut query_parameters = Map::new();
    for (name, value) in form_pairs(request.query.unwrap_or_default()) {
        match query_parameters.get_mut(&name) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(&value);
            }
            _ => {
                query_parameters.insert(name, Value::String(value));
            }
        }
    }
    // A body that is not UTF-8 text arrives base64-encoded, as API Gateway sends binary bodies.
    let (body, is_base64_encoded) = match std::str::from_utf8(request.body) {
        _ if request.body.is_empty() => (Value::Null, false),
        Ok(text) => (Value::String(text.to_string()), false),
        Err(_) => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(request.body)),
            true,
        ),
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let domain = request
        .headers
        .get("host")
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.path,
        "rawQueryString": request.query.unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or(domain),
            "http": {
                "method": request.method.as_str(),
                "path": request.path,
                "protocol": "HTTP/1.1",
                "sourceIp": request.source_ip,
                "userAgent": request.headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default(),
            },
            "requestId": request.request_id,
            "routeKey": route.route_key,
            "stage": "$default",
            "time": now.as_secs().to_string(),
            "timeEpoch": now.as_millis() as u64,
        },
        "body": body,
        "isBase64Encoded": is_base64_encoded,
    });
    if let Some(claims) = claims {
        event["requestContext"]["authorizer"] = json!({
            "jwt": {"claims": claims_as_api_gateway_passes_them(claims), "scopes": null}
        });
    }
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query_parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(query_parameters);
    }
    if !route.path_parameters.is_empty() {
        event["pathParameters"] = Value::Object(route.path_parameters.clone());
    }
    event
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |text: &str| {
                urlencoding::decode(&text.replace('+', " "))
                    .map(|d| d.into_owned())
                    .unwrap_or_else(|_| text.to_string())
            };
            (decode(name), decode(value))
        })
        .collect()
}

/// The function's answer as the HTTP response API Gateway gives.
pub fn http_response(answer: ApiGatewayV2httpResponse) -> Response {
    let status = u16::try_from(answer.status_code)
        .ok()
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let body = match answer.body {
        None => Vec::new(),
        Some(Body::Text(text)) => text.into_bytes(),
        Some(Body::Binary(bytes)) => bytes,
        Some(Body::Empty) => Vec::new(),
        // A body type added to aws_lambda_events later: API Gateway would fail the integration too.
        Some(_) => return message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
    };
    let mut response = Response::new(AxumBody::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in &answer.headers {
        headers.append(name, value.clone());
    }
    for (name, value) in &answer.multi_value_headers {
        headers.append(name, value.clone());
    }
    response
}

/// API Gateway's own answers (401, 404, 413): `{"message": "..."}`.
pub fn message(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(AxumBody::from(json!({"message": text}).to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_decoded_parameters() {
        let found = route(&Method::POST, "/users/dev%40example.com/mfa").unwrap();
        assert_eq!(found.function, Function::EnrollMfa);
        assert_eq!(found.route_key, "POST /users/{username}/mfa");
        assert_eq!(found.path_parameters["username"], "dev@example.com");
        let revoke = route(&Method::DELETE, "/users/a/roles/R").unwrap();
        assert_eq!(revoke.path_parameters["role"], "R");
        assert!(route(&Method::GET, "/users").is_none());
        assert!(route(&Method::GET, "/users/").is_none());
        assert!(route(&Method::PUT, "/users/a").is_none());
        assert!(route(&Method::GET, "/users/a/b").is_none());
    }

    /// Every `HttpApi` event of template.yaml (its `Method:` and `Path:` lines), and no other route.
    #[test]
    fn the_routes_are_the_templates() {
        let template = include_str!("../../../template.yaml");
        let lines: Vec<&str> = template.lines().map(str::trim).collect();
        let mut deployed: Vec<String> = Vec::new();
        for (at, line) in lines.iter().enumerate() {
            if *line != "Type: HttpApi" {
                continue;
            }
            let field = |name: &str| {
                lines[at..(at + 8).min(lines.len())]
                    .iter()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_string()
            };
            deployed.push(format!("{} {}", field("Method:"), field("Path:")));
        }
        let mut local: Vec<String> = ROUTES.iter().map(|(m, p, _)| format!("{m} {p}")).collect();
        deployed.sort();
        local.sort();
        assert_eq!(local, deployed);
    }

    /// `--lambda-endpoint` invokes a route's function by its binary name: each is one template.yaml builds.
    #[test]
    fn each_routes_binary_is_one_the_template_builds() {
        let template = include_str!("../../../template.yaml");
        for (_, _, function) in ROUTES {
            if let Some(binary) = function.binary() {
                assert!(
                    template.contains(&format!("Binary: {binary}\n")),
                    "{binary}"
                );
            }
        }
        assert_eq!(Function::Discovery.binary(), None);
        assert_eq!(Function::Page.binary(), None);
    }

    #[test]
    fn claims_become_strings_and_arrays_bracketed() {
        let claims = json!({"email": "a@b", "email_verified": true, "exp": 17,
                            "cognito:groups": ["x", "y"], "none": []});
        let passed = claims_as_api_gateway_passes_them(claims.as_object().unwrap());
        assert_eq!(
            Value::Object(passed),
            json!({"email": "a@b", "email_verified": "true", "exp": "17",
                   "cognito:groups": "[x y]", "none": "[]"})
        );
    }
}
