//! A fault-injecting HTTP proxy between the SDK and moto. It sees every IAM/STS call on the wire, so it
//! both counts calls (independently of the code's own bookkeeping) and makes chosen calls fail the way
//! IAM fails: throttling, 5xx, dropped connections, slow answers, answers lost after the change was made.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

#[derive(Clone, Debug, PartialEq)]
pub enum FaultKind {
    /// `Throttling`, HTTP 400, as IAM answers when a rate limit is hit; nothing is changed.
    Throttling,
    /// `ServiceFailure`, HTTP 500; nothing is changed.
    ServiceFailure,
    /// `AccessDenied`, HTTP 403: a failure no retry gets past, as when a permission is missing.
    AccessDenied,
    /// The connection is closed before the request reaches IAM.
    Drop,
    /// The answer comes this late (the request is then forwarded as usual).
    Slow(Duration),
    /// `MalformedPolicyDocument: Invalid principal in policy`, as IAM answers for a user it has just
    /// created and does not yet recognise as a principal.
    InvalidPrincipal,
    /// The request reaches IAM and takes effect, but the answer never comes back.
    LoseAnswer,
}

#[derive(Clone, Debug)]
pub enum When {
    Always,
    /// The first `n` matching calls.
    First(usize),
    /// Every `n`-th matching call (the 1st, the n+1-th, ...), so a retry after a fault gets through.
    EveryNth(usize),
}

#[derive(Clone, Debug)]
pub struct Fault {
    /// `"iam:CreateAccessKey"`; `None` matches every call.
    pub action: Option<String>,
    pub kind: FaultKind,
    pub when: When,
    seen: usize,
}

impl Fault {
    pub fn on(action: &str, kind: FaultKind, when: When) -> Fault {
        Fault {
            action: Some(action.to_string()),
            kind,
            when,
            seen: 0,
        }
    }

    pub fn everywhere(kind: FaultKind, when: When) -> Fault {
        Fault {
            action: None,
            kind,
            when,
            seen: 0,
        }
    }

    fn fires(&mut self, action: &str) -> bool {
        if self
            .action
            .as_deref()
            .is_some_and(|wanted| wanted != action)
        {
            return false;
        }
        self.seen += 1;
        match self.when {
            When::Always => true,
            When::First(n) => self.seen <= n,
            When::EveryNth(n) => (self.seen - 1).is_multiple_of(n.max(1)),
        }
    }
}

#[derive(Default)]
struct Shared {
    faults: Vec<Fault>,
    calls: Vec<String>,
    bodies: Vec<Bytes>,
    injected: Vec<(String, FaultKind)>,
}

pub struct FaultProxy {
    pub endpoint: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("a bound port").port();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let upstream = upstream.trim_end_matches('/').to_string();
        let state = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (state, client, upstream) = (state.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        forward(request, state.clone(), client.clone(), upstream.clone())
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            shared,
            task,
        }
    }

    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault: from now on calls go through untouched.
    pub fn heal(&self) {
        self.lock().faults.clear();
    }

    /// Every call seen, as `service:Action`, in arrival order (retries included).
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Every request body sent, as text (the query protocol's form, or JSON).
    pub fn request_bodies(&self) -> Vec<String> {
        self.lock()
            .bodies
            .iter()
            .map(|body| String::from_utf8_lossy(body).into_owned())
            .collect()
    }

    pub fn clear_calls(&self) {
        self.lock().calls.clear();
    }

    /// The faults that actually fired, as `(call, kind)`.
    pub fn injected(&self) -> Vec<(String, FaultKind)> {
        self.lock().injected.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `iam:CreateUser` from the SigV4 credential scope and the query-protocol `Action`, or the JSON
/// protocol's `X-Amz-Target`.
fn call_name(request: &hyper::http::request::Parts, body: &[u8]) -> String {
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    };
    let service = header("authorization")
        .split("Credential=")
        .nth(1)
        .and_then(|scope| scope.split('/').nth(3))
        .unwrap_or("unknown");
    let action = form_urlencoded::parse(body)
        .find(|(key, _)| key == "Action")
        .map(|(_, value)| value.into_owned())
        .or_else(|| {
            header("x-amz-target")
                .rsplit('.')
                .next()
                .filter(|target| !target.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown".to_string());
    format!("{service}:{action}")
}

fn error_answer(status: u16, code: &str, message: &str) -> Response<Full<Bytes>> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{}</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
        if status >= 500 { "Receiver" } else { "Sender" }
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn forward(
    request: Request<Incoming>,
    shared: Arc<Mutex<Shared>>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let call = call_name(&parts, &body);
    let fault = {
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.calls.push(call.clone());
        shared.bodies.push(body.clone());
        let fired = shared
            .faults
            .iter_mut()
            .find_map(|fault| fault.fires(&call).then(|| fault.kind.clone()));
        if let Some(kind) = &fired {
            shared.injected.push((call.clone(), kind.clone()));
        }
        fired
    };
    match &fault {
        Some(FaultKind::Throttling) => return Ok(error_answer(400, "Throttling", "Rate exceeded")),
        Some(FaultKind::ServiceFailure) => {
            return Ok(error_answer(500, "ServiceFailure", "injected failure"));
        }
        Some(FaultKind::AccessDenied) => {
            return Ok(error_answer(403, "AccessDenied", "injected denial"));
        }
        Some(FaultKind::InvalidPrincipal) => {
            return Ok(error_answer(
                400,
                "MalformedPolicyDocument",
                "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:user/new\"",
            ));
        }
        Some(FaultKind::Drop) => return Err(Dropped),
        Some(FaultKind::Slow(delay)) => tokio::time::sleep(*delay).await,
        Some(FaultKind::LoseAnswer) | None => {}
    }
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_string();
    let mut outgoing = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        outgoing = outgoing.header(name, value);
    }
    let outgoing = outgoing.body(Full::new(body)).map_err(|_| Dropped)?;
    let answer = client.request(outgoing).await.map_err(|_| Dropped)?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    if fault == Some(FaultKind::LoseAnswer) {
        return Err(Dropped);
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}
