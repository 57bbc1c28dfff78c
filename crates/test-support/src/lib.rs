//! What the integration tests (`tests/it`) and the benchmarks (`benches/`) share: a real `moto_server` on
//! a free loopback port, the real SDK pointed at it, helpers to build API Gateway and EventBridge events
//! and read the handlers' responses, and fixtures. `proxy` is the fault-injecting proxy in front of moto,
//! `runtime_api` runs a function binary behind a Lambda Runtime API emulator, `step_functions` runs the
//! drift state machine's definition with those binaries, `oracle` is IAM's
//! authorization decision from an evaluator that is not ours.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod bench;
pub mod logs;
pub mod oracle;
pub mod proxy;
pub mod runtime_api;
pub mod step_functions;

use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_lambda_events::encodings::Body;
use functions::app::App;
use provisioning::config::Config;
use serde_json::{Value, json};

pub const ACCOUNT: &str = "123456789012";

/// A moto server that lives as long as the value; dropping it (also on a failed assertion) kills it.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The workspace's root directory (where `template.yaml`, `.venv` and `tests/` are), whichever package's
/// test or benchmark asks.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/test-support is two levels below the workspace root")
        .to_path_buf()
}

fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let in_venv = workspace_root().join(".venv/bin/moto_server");
    if in_venv.exists() {
        in_venv
    } else {
        PathBuf::from("moto_server")
    }
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(moto_binary())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // The default catalog (and many tests' own) attaches AWS managed policies, which moto holds
            // only when asked.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server must be installed: pip install -r requirements-dev.txt");
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config_at(&self.endpoint).await
    }

    pub async fn sdk_config_as(&self, credentials: Credentials) -> SdkConfig {
        sdk_config_for(&self.endpoint, credentials).await
    }

    /// The SDK acting in another `account` of this moto, as anyone holding a role there would: moto's
    /// AssumeRole answers with credentials of the role ARN's account.
    pub async fn sdk_config_in(&self, account: &str) -> SdkConfig {
        let sts = aws_sdk_sts::Client::new(&self.sdk_config().await);
        let assumed = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/TestReader"))
            .role_session_name("test-reader")
            .send()
            .await
            .expect("moto switches accounts on AssumeRole");
        let credentials = assumed.credentials().expect("credentials");
        self.sdk_config_as(Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_string()),
            None,
            "test-reader",
        ))
        .await
    }

    /// An S3 client of the test's own, with `bucket` made: moto serves buckets on its path.
    pub async fn s3_with_bucket(&self, bucket: &str) -> aws_sdk_s3::Client {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config().await)
                .force_path_style(true)
                .build(),
        );
        s3.create_bucket()
            .bucket(bucket)
            .send()
            .await
            .expect("CreateBucket");
        s3
    }

    /// An IAM client independent of the code under test, to set up and read back what IAM holds.
    pub async fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk_config().await)
    }

    pub async fn app(&self, vars: &[(&str, &str)]) -> App {
        app_at(&self.endpoint, vars).await
    }
}

/// The product's SDK settings (retries, timeouts), pointed at `endpoint` (moto, or a proxy in front).
pub async fn sdk_config_at(endpoint: &str) -> SdkConfig {
    sdk_config_for(
        endpoint,
        Credentials::new("testing", "testing", None, None, "moto"),
    )
    .await
}

async fn sdk_config_for(endpoint: &str, credentials: Credentials) -> SdkConfig {
    provisioning::iam::sdk_config_loader()
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(credentials)
        .load()
        .await
}

/// Who may onboard in tests that are not about it: everyone, said explicitly, since the functions admit
/// nobody by default (tests/it/lambda_runtime.rs and access.rs test the rules themselves).
pub const TEST_ELIGIBILITY: (&str, &str) = ("ELIGIBLE_EVERYONE", "true");

/// The functions' `App` with `vars` as its environment, talking to IAM at `endpoint`. Unless `vars` sets an
/// `ELIGIBLE_*` rule of its own, everyone is eligible ([`TEST_ELIGIBILITY`]).
pub async fn app_at(endpoint: &str, vars: &[(&str, &str)]) -> App {
    let mut vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if !vars.iter().any(|(k, _)| k.starts_with("ELIGIBLE_")) {
        vars.push((TEST_ELIGIBILITY.0.into(), TEST_ELIGIBILITY.1.into()));
    }
    let config =
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("valid test configuration");
    App::new(config, &sdk_config_at(endpoint).await)
        .await
        .expect("the app starts against moto")
}

/// An API Gateway HTTP API event as the JWT authorizer delivers it.
pub fn http_event(claims: Value, body: Value, username: Option<&str>) -> Value {
    let mut event = json!({
        "version": "2.0",
        "routeKey": "POST /users",
        "rawPath": "/users",
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "accountId": ACCOUNT,
            "requestId": "test-request",
            "authorizer": {"jwt": {"claims": claims, "scopes": null}},
            "http": {"method": "POST", "path": "/users"}
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    });
    if let Some(name) = username {
        event["pathParameters"] = json!({"username": name});
        event["routeKey"] = json!("POST /users/{username}/mfa");
    }
    event
}

pub async fn onboard_as(app: &App, claims: Value, body: Value) -> Reply {
    reply(functions::onboard::handle(app, http_event(claims, body, None)).await)
}

pub async fn enroll_as(app: &App, claims: Value, username: &str, body: Value) -> Reply {
    reply(functions::enroll_mfa::handle(app, http_event(claims, body, Some(username))).await)
}

pub async fn status_as(app: &App, claims: Value, username: &str) -> Reply {
    reply(functions::status::handle(app, http_event(claims, json!({}), Some(username))).await)
}

pub async fn issue_key_as(app: &App, claims: Value, username: &str) -> Reply {
    reply(functions::issue_key::handle(app, http_event(claims, json!({}), Some(username))).await)
}

pub async fn offboard_as(app: &App, claims: Value, username: &str) -> Reply {
    let mut event = http_event(claims, json!({}), Some(username));
    event["body"] = Value::Null;
    reply(functions::offboard::handle(app, event).await)
}

/// An EventBridge event as the HR system's rule delivers it.
pub fn eventbridge(id: &str, detail_type: &str, detail: Value) -> Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": "com.example.hr",
        "account": ACCOUNT,
        "time": "2026-11-25T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail
    })
}

/// Enables the device whose otpauth URI onboarding returned, with two consecutive codes from it.
pub async fn enroll_with_seed(
    app: &App,
    claims: Value,
    username: &str,
    otpauth_uri: &str,
) -> Reply {
    let (code1, code2) = consecutive_codes(otpauth_uri);
    enroll_as(
        app,
        claims,
        username,
        json!({"code1": code1, "code2": code2}),
    )
    .await
}

/// Claims as API Gateway's HTTP API passes them: every value a string.
pub fn self_service(email: &str) -> Value {
    json!({"email": email, "email_verified": "true", "sub": "0000"})
}

pub fn admin(email: &str) -> Value {
    json!({"email": email, "email_verified": "true", "cognito:groups": "[onboarding-admins]"})
}

pub struct Reply {
    pub status: i64,
    pub body: Value,
    pub response: ApiGatewayV2httpResponse,
}

pub fn reply(response: ApiGatewayV2httpResponse) -> Reply {
    let body = match &response.body {
        Some(Body::Text(text)) => serde_json::from_str(text).expect("a JSON body"),
        other => panic!("expected a text body, got {other:?}"),
    };
    Reply {
        status: response.status_code,
        body,
        response,
    }
}

impl Reply {
    pub fn error_code(&self) -> &str {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code in {}", self.body))
    }

    pub fn header(&self, name: &str) -> &str {
        self.response
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub fn decode_policy(raw: &str) -> Value {
    provisioning::policy::decode_document(raw).expect("IAM returns a valid policy document")
}

/// A role's trust policy as IAM holds it, decoded.
pub async fn trust_policy(iam: &aws_sdk_iam::Client, role: &str) -> Value {
    let role = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    decode_policy(role.assume_role_policy_document().unwrap())
}

/// A role's inline policy, as IAM holds it.
pub async fn role_policy(iam: &aws_sdk_iam::Client, role: &str, name: &str) -> Value {
    let policy = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .unwrap_or_else(|error| panic!("{role}'s {name}: {error:?}"));
    decode_policy(policy.policy_document())
}

/// Two consecutive TOTP codes from an otpauth URI, as an authenticator app would show them.
pub fn consecutive_codes(otpauth_uri: &str) -> (String, String) {
    let totp = totp_rs::Totp::from_url_unchecked(otpauth_uri).expect("a valid otpauth URI");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time after 1970")
        .as_secs();
    (
        totp.generate(now).to_string(),
        totp.generate(now + 30).to_string(),
    )
}

pub fn current_code(otpauth_uri: &str) -> String {
    let totp = totp_rs::Totp::from_url_unchecked(otpauth_uri).expect("a valid otpauth URI");
    totp.generate_current().to_string()
}

/// A managed policy to serve as `CATALOG_ROLE_BOUNDARY_ARN` (the stack creates it in a deployment).
pub async fn catalog_boundary(iam: &aws_sdk_iam::Client) -> String {
    let document = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "lambda:*", "Resource": "*"}]});
    iam.create_policy()
        .policy_name("CatalogRoleBoundary")
        .policy_document(document.to_string())
        .send()
        .await
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap()
}

/// Everything about a role a takeover would change: trust policy, attached and inline policies, tags,
/// boundary.
pub async fn role_state(iam: &aws_sdk_iam::Client, name: &str) -> String {
    let role = iam
        .get_role()
        .role_name(name)
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    let attached = iam
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap();
    let inline = iam
        .list_role_policies()
        .role_name(name)
        .send()
        .await
        .unwrap();
    format!(
        "trust {} attached {:?} inline {:?} tags {:?} boundary {:?}",
        decode_policy(role.assume_role_policy_document().unwrap()),
        attached
            .attached_policies()
            .iter()
            .map(|p| p.policy_arn().unwrap_or_default())
            .collect::<Vec<_>>(),
        inline.policy_names(),
        role.tags(),
        role.permissions_boundary(),
    )
}
