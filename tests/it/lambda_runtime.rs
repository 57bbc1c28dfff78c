//! The built binaries, run as Lambda runs them: behind a Runtime API (a small emulator here),
//! fed a sample event from `events/`, talking to IAM (moto) through the SDK.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::Value;
use test_support::proxy::{Fault, FaultKind, FaultProxy, When};
use test_support::{ACCOUNT, Moto, TEST_ELIGIBILITY};
use tokio::sync::mpsc;

#[derive(Clone)]
struct Emulator {
    event: Value,
    served: std::sync::Arc<std::sync::atomic::AtomicBool>,
    outcomes: mpsc::UnboundedSender<(String, Value)>,
}

/// Serves the one event once; afterwards `next` never answers, as when Lambda freezes an idle function.
async fn next(State(emulator): State<Emulator>) -> (HeaderMap, String) {
    if emulator
        .served
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        std::future::pending::<()>().await;
    }
    let mut headers = HeaderMap::new();
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or(0);
    headers.insert("lambda-runtime-aws-request-id", "req-1".parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:onboard")
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".parse().unwrap(),
    );
    (headers, emulator.event.to_string())
}

async fn outcome(
    State(emulator): State<Emulator>,
    UrlPath((id, kind)): UrlPath<(String, String)>,
    body: String,
) -> &'static str {
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = emulator.outcomes.send((format!("{id}/{kind}"), body));
    "{}"
}

fn event_file(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event"))
        .expect("sample event is JSON")
}

/// The Embedded Metric Format lines among a function's output: CloudWatch's metrics, as it extracts them.
fn emf_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect()
}

/// The value `metric` has in an `IamOnboarding` EMF line whose dimensions are exactly `dimensions`, each
/// with its value; `None` when no line says so.
fn metric(logs: &str, metric: &str, dimensions: &[(&str, &str)]) -> Option<Value> {
    emf_lines(logs).into_iter().find_map(|line| {
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        let names: Vec<&str> = directive["Dimensions"][0]
            .as_array()?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let declared = directive["Metrics"]
            .as_array()?
            .iter()
            .any(|m| m["Name"] == metric && m["Unit"] == "Count");
        let wanted: Vec<&str> = dimensions.iter().map(|(name, _)| *name).collect();
        let same_set = names.len() == wanted.len() && wanted.iter().all(|n| names.contains(n));
        (directive["Namespace"] == "IamOnboarding"
            && declared
            && same_set
            && dimensions.iter().all(|(name, value)| line[*name] == *value))
        .then(|| line[metric].clone())
    })
}

fn lambda_command(binary: &str, moto: &Moto, runtime_api: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", "function")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env(TEST_ELIGIBILITY.0, TEST_ELIGIBILITY.1)
        .kill_on_drop(true)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Starts `binary` behind the emulator, serves it `event`, and returns where it answered (`req-1/response`
/// or `req-1/error`), the answer, and everything it wrote to stdout.
async fn invoke_once(binary: &str, moto: &Moto, event: Value) -> (String, Value, String) {
    invoke_configured(binary, moto, event, |_| {}).await
}

/// [`invoke_once`], with the function's environment changed by `configure` first.
async fn invoke_configured(
    binary: &str,
    moto: &Moto,
    event: Value,
    configure: impl FnOnce(&mut tokio::process::Command),
) -> (String, Value, String) {
    let (outcomes, mut received) = mpsc::unbounded_channel();
    let emulator = Emulator {
        event,
        served: Default::default(),
        outcomes,
    };
    let router = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(outcome))
        .with_state(emulator);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_api = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut command = lambda_command(binary, moto, &runtime_api);
    configure(&mut command);
    let mut function = command.spawn().expect("the binary starts");
    let (path, response) = tokio::time::timeout(Duration::from_secs(60), received.recv())
        .await
        .expect("the function answers within a minute")
        .expect("an outcome");
    function.kill().await.ok();
    let output = function
        .wait_with_output()
        .await
        .expect("the function's output");
    (
        path,
        response,
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_onboard_binary_serves_a_sample_event_through_the_runtime_api() {
    let moto = Moto::start();
    let (path, response, logs) = invoke_once(
        env!("CARGO_BIN_EXE_onboard"),
        &moto,
        event_file("onboard-self-service.json"),
    )
    .await;

    assert_eq!(path, "req-1/response", "{response}");
    assert_eq!(response["statusCode"], 201, "{response}");
    assert_eq!(response["headers"]["cache-control"], "no-store");
    let body: Value =
        serde_json::from_str(response["body"].as_str().expect("a body")).expect("a JSON body");
    assert_eq!(body["user"]["name"], "developer@example.com");
    let secret = body["access_key"]["secret_access_key"]
        .as_str()
        .expect("a new secret");
    for line in logs.lines() {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON log line: {line}"));
        assert!(
            entry.get("level").is_some() || entry.get("_aws").is_some(),
            "a log line or a metrics line: {line}"
        );
    }
    assert!(logs.contains("\"onboarded\""), "{logs}");
    // The invocation's log lines name its Lambda request id; start-up's come before there is one.
    let invocation: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_none())
        .skip_while(|line| line["fields"]["message"] != "onboarded")
        .collect();
    assert!(!invocation.is_empty(), "{logs}");
    for line in &invocation {
        assert_eq!(line["spans"][0]["requestId"], "req-1", "{line}");
    }
    assert_eq!(
        metric(&logs, "Onboardings", &[("Function", "onboard")]),
        Some(Value::from(1)),
        "{logs}"
    );
    let emf = emf_lines(&logs);
    assert!(
        emf.iter()
            .all(|line| line["cold_start"] == true && line["request_id"] == "req-1"),
        "the first invocation is the cold start: {emf:?}"
    );
    assert_eq!(
        metric(&logs, "InternalErrors", &[("Function", "onboard")]),
        None
    );
    assert!(
        !logs.contains(secret),
        "the secret never reaches a log line"
    );

    let iam = moto.iam().await;
    assert_eq!(
        iam.list_access_keys()
            .user_name("developer@example.com")
            .send()
            .await
            .unwrap()
            .access_key_metadata()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_refusal_is_counted_by_its_code() {
    let moto = Moto::start();
    let (path, response, logs) = invoke_once(
        env!("CARGO_BIN_EXE_onboard"),
        &moto,
        event_file("onboard-bad-username.json"),
    )
    .await;
    assert_eq!(path, "req-1/response", "{response}");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap_or("{}")).unwrap();
    let code = body["error"]["code"].as_str().expect("an error code");
    assert!(
        response["statusCode"]
            .as_u64()
            .is_some_and(|s| (400..500).contains(&s))
    );
    assert_eq!(
        metric(
            &logs,
            "Refusals",
            &[("Function", "onboard"), ("Code", code)]
        ),
        Some(Value::from(1)),
        "{logs}"
    );
    assert_eq!(
        metric(&logs, "Onboardings", &[("Function", "onboard")]),
        None
    );
    assert_eq!(
        metric(&logs, "InternalErrors", &[("Function", "onboard")]),
        None
    );
}

/// IAM refusing the function's own calls (a permission missing from its role) answers 500 `internal`,
/// which only the `InternalErrors` metric tells an operator about; throttling the SDK got past is
/// counted as `IamRetries`.
#[tokio::test]
async fn an_internal_error_and_iam_retries_are_counted() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    proxy.inject(Fault::on(
        "iam:GetUser",
        FaultKind::Throttling,
        When::First(2),
    ));
    proxy.inject(Fault::on(
        "iam:CreateUser",
        FaultKind::AccessDenied,
        When::Always,
    ));
    let (path, response, logs) = invoke_configured(
        env!("CARGO_BIN_EXE_onboard"),
        &moto,
        event_file("onboard-self-service.json"),
        |command| {
            command.env("AWS_ENDPOINT_URL", &proxy.endpoint);
        },
    )
    .await;
    assert_eq!(path, "req-1/response", "{response}");
    assert_eq!(response["statusCode"], 500, "{response}");
    assert_eq!(
        metric(&logs, "InternalErrors", &[("Function", "onboard")]),
        Some(Value::from(1)),
        "{logs}"
    );
    assert_eq!(
        metric(&logs, "IamRetries", &[("Function", "onboard")]),
        Some(Value::from(2)),
        "{logs}"
    );
}

#[tokio::test]
async fn an_invalid_configuration_fails_the_init_naming_the_variable() {
    let moto = Moto::start();
    let output = lambda_command(env!("CARGO_BIN_EXE_onboard"), &moto, "127.0.0.1:9")
        .env("TRUST_MODE", "everyone")
        .output()
        .await
        .expect("the onboard binary runs");
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(
        logs.contains("TRUST_MODE") && logs.contains("init failed"),
        "{logs}"
    );
}

/// A deployment that names nobody eligible serves nobody: each self-service function refuses to start,
/// naming both variables, until a rule or `ELIGIBLE_EVERYONE=true` is set; the others start as before.
#[tokio::test]
async fn without_an_eligibility_rule_the_self_service_functions_refuse_to_start() {
    let moto = Moto::start();
    for binary in [
        env!("CARGO_BIN_EXE_onboard"),
        env!("CARGO_BIN_EXE_enroll-mfa"),
        env!("CARGO_BIN_EXE_issue-key"),
        env!("CARGO_BIN_EXE_status"),
    ] {
        let output = lambda_command(binary, &moto, "127.0.0.1:9")
            .env_remove(TEST_ELIGIBILITY.0)
            .output()
            .await
            .expect("the binary runs");
        assert!(!output.status.success(), "{binary} started");
        let logs =
            String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        assert!(
            logs.contains("ELIGIBLE_GROUPS, ELIGIBLE_EMAIL_DOMAINS")
                && logs.contains("init failed"),
            "{binary}: {logs}"
        );
    }
    let (path, answer, _) = invoke_configured(
        env!("CARGO_BIN_EXE_onboard"),
        &moto,
        event_file("onboard-self-service.json"),
        |command| {
            command
                .env_remove(TEST_ELIGIBILITY.0)
                .env("ELIGIBLE_EVERYONE", "true");
        },
    )
    .await;
    assert_eq!(path, "req-1/response", "{answer}");
    assert_eq!(answer["statusCode"], 201, "{answer}");
}

#[tokio::test]
async fn the_drift_check_binary_answers_a_scheduled_event_with_its_report() {
    let moto = Moto::start();
    let (path, report, logs) = invoke_once(
        env!("CARGO_BIN_EXE_drift-check"),
        &moto,
        event_file("drift-check-scheduled.json"),
    )
    .await;
    assert_eq!(path, "req-1/response", "{report}");
    assert_eq!(report["account_id"], ACCOUNT);
    // An empty account: the catalog role does not exist yet.
    assert_eq!(report["summary"]["findings"], 1, "{report}");
    assert_eq!(report["findings"][0]["rule"], "role.missing");
    let metrics: Vec<Value> = logs
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line.get("_aws").is_some())
        .collect();
    assert_eq!(
        metrics.len(),
        provisioning::drift::RULES.len(),
        "one EMF line per rule: {logs}"
    );
    assert!(
        metrics
            .iter()
            .any(|m| m["Rule"] == "role.missing" && m["Findings"] == 1)
    );
}
