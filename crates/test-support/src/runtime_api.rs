//! A function binary run as Lambda runs it: one long-lived process behind a Lambda Runtime API emulator,
//! invoked as many times as a test likes (warm, like a Lambda execution environment between requests).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Where an invocation ended: Lambda's `response` or `error` endpoint, and what was posted there.
#[derive(Debug)]
pub struct Outcome {
    pub kind: String,
    pub body: Value,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;

#[derive(Clone)]
struct Emulator {
    queue: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>>,
    pending: Pending,
    function_arn: String,
}

async fn next(State(emulator): State<Emulator>) -> (HeaderMap, String) {
    let Some((id, event)) = emulator.queue.lock().await.recv().await else {
        // No more invocations: Lambda keeps an idle function frozen on this request.
        return std::future::pending().await;
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + 60_000)
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let mut header = |name: &'static str, value: String| {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    };
    header("lambda-runtime-aws-request-id", id);
    header("lambda-runtime-deadline-ms", deadline.to_string());
    header(
        "lambda-runtime-invoked-function-arn",
        emulator.function_arn.clone(),
    );
    header(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".to_string(),
    );
    (headers, event.to_string())
}

async fn outcome(
    State(emulator): State<Emulator>,
    UrlPath((id, kind)): UrlPath<(String, String)>,
    body: String,
) -> &'static str {
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let waiting = emulator
        .pending
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    if let Some(waiting) = waiting {
        let _ = waiting.send(Outcome { kind, body });
    }
    "{}"
}

/// One function's process and its Runtime API. Dropping it kills the process.
pub struct LambdaProcess {
    invocations: mpsc::UnboundedSender<(String, Value)>,
    pending: Pending,
    next_id: usize,
    pub log_file: PathBuf,
    _process: tokio::process::Child,
    _server: tokio::task::JoinHandle<()>,
}

impl LambdaProcess {
    /// Starts `binary` with exactly `environment` (nothing inherited from the test's own environment)
    /// plus the variables Lambda sets for the Runtime API.
    pub async fn start(
        binary: &str,
        function_name: &str,
        environment: &HashMap<String, String>,
    ) -> LambdaProcess {
        let (invocations, queue) = mpsc::unbounded_channel();
        let pending: Pending = Arc::default();
        let emulator = Emulator {
            queue: Arc::new(tokio::sync::Mutex::new(queue)),
            pending: pending.clone(),
            function_arn: format!(
                "arn:aws:lambda:us-east-1:{}:function:{function_name}",
                crate::ACCOUNT
            ),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(outcome))
            .with_state(emulator);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let runtime_api = listener.local_addr().expect("a bound port").to_string();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        // A file, not a pipe: a pipe nobody reads fills up and blocks the function's logging.
        let log_file = std::env::temp_dir().join(format!(
            "lambda-{function_name}-{}-{}.log",
            std::process::id(),
            runtime_api.replace([':', '.'], "-")
        ));
        let log = std::fs::File::create(&log_file).expect("a log file");
        let process = tokio::process::Command::new(binary)
            .env_clear()
            .envs(environment)
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                environment
                    .get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
                    .map_or("512", String::as_str),
            )
            .stdout(Stdio::from(log.try_clone().expect("a second handle")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
        LambdaProcess {
            invocations,
            pending,
            next_id: 0,
            log_file,
            _process: process,
            _server: server,
        }
    }

    /// Hands `event` to the function and waits for its answer.
    pub async fn invoke(&mut self, event: Value) -> Outcome {
        self.next_id += 1;
        let id = format!("request-{}", self.next_id);
        let (answer, answered) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), answer);
        self.invocations
            .send((id, event))
            .expect("the emulator is running");
        match tokio::time::timeout(Duration::from_secs(120), answered).await {
            Ok(Ok(outcome)) => outcome,
            _ => panic!(
                "no answer within two minutes; the function's log:\n{}",
                self.logs()
            ),
        }
    }

    /// Everything the process wrote so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.log_file);
    }
}
