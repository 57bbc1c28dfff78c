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
    /// The request is held up to this long, a new random pause each call, then forwarded: IAM's answers
    /// come in an order nobody chose.
    Jitter(Duration),
    /// The request takes effect at once; its answer comes this late. What a caller read is then old by
    /// the time it acts on it.
    SlowAnswer(Duration),
    /// `MalformedPolicyDocument: Invalid principal in policy`, as IAM answers for a user it has just
    /// created and does not yet recognise as a principal.
    InvalidPrincipal,
    /// The request reaches IAM and takes effect, but the answer never comes back.
    LoseAnswer,
    /// An error answer in the query protocol (IAM, STS) with this status and code, for refusals moto
    /// never makes: `InvalidAuthenticationCode` (403) for wrong MFA codes, `InvalidClientTokenId` (403)
    /// for a key STS does not know yet. Nothing is changed.
    Refuse { status: u16, code: &'static str },
    /// This answer (a JSON protocol's body, e.g. EventBridge's) instead of upstream's; the request never
    /// reaches upstream.
    Answer {
        content_type: &'static str,
        body: String,
    },
    /// IAM's own validation of what moto takes as it is: a tag key or value (`Tags.member.N.Key|Value`) with
    /// a character outside `[\p{L}\p{Z}\p{N}_.:/=+\-@]` is refused with `400 InvalidInput`, as IAM refuses
    /// it; a valid request is forwarded.
    IamValidation,
    /// Upstream's answer to a list call, which moto always gives in one page, served in pages of at most
    /// this many items (fewer when the request's `MaxItems` asks for fewer), with `IsTruncated` and a
    /// `Marker` that the next request must send back, as IAM pages.
    Pages(usize),
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
    /// Only calls whose request body contains this text (an account id in a role ARN, say).
    pub body_contains: Option<String>,
    seen: usize,
}

impl Fault {
    pub fn on(action: &str, kind: FaultKind, when: When) -> Fault {
        Fault {
            action: Some(action.to_string()),
            kind,
            when,
            body_contains: None,
            seen: 0,
        }
    }

    pub fn everywhere(kind: FaultKind, when: When) -> Fault {
        Fault {
            action: None,
            kind,
            when,
            body_contains: None,
            seen: 0,
        }
    }

    /// Only the calls whose request body contains `text`.
    pub fn matching(mut self, text: &str) -> Fault {
        self.body_contains = Some(text.to_string());
        self
    }

    fn fires(&mut self, action: &str, body: &[u8]) -> bool {
        if self
            .action
            .as_deref()
            .is_some_and(|wanted| wanted != action)
        {
            return false;
        }
        if let Some(text) = &self.body_contains
            && !String::from_utf8_lossy(body).contains(text.as_str())
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

/// One call as it crossed the wire: what was asked and what IAM (or an injected fault) answered.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// `service:Action`, as in [`FaultProxy::calls`].
    pub call: String,
    /// The access key id the request was signed with: who made the call.
    pub caller: String,
    /// The HTTP method, path and query (`PUT /bucket/key`): what REST services (S3) act on.
    pub target: String,
    /// The request body (the query protocol's form, or JSON).
    pub request: String,
    /// The HTTP status of the answer; `None` when no answer came back (dropped or lost).
    pub status: Option<u16>,
    pub response: String,
}

#[derive(Default)]
struct Shared {
    faults: Vec<Fault>,
    calls: Vec<String>,
    bodies: Vec<Bytes>,
    injected: Vec<(String, FaultKind)>,
    exchanges: Vec<Exchange>,
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

    /// Every call with its answer, in the order the answers came back.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.lock().exchanges.clone()
    }

    /// Forgets the recorded exchanges, so that the next [`FaultProxy::exchanges`] shows only later calls.
    pub fn clear_exchanges(&self) {
        self.lock().exchanges.clear();
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
        .or_else(|| rest_json_action(service, request))
        .unwrap_or_else(|| "unknown".to_string());
    format!("{service}:{action}")
}

/// REST services name the operation by method and path only (S3 with path-style addressing).
fn rest_json_action(service: &str, request: &hyper::http::request::Parts) -> Option<String> {
    let path = request.uri.path();
    let names_an_object = path.trim_matches('/').contains('/');
    let lists = request
        .uri
        .query()
        .is_some_and(|query| query.split('&').any(|pair| pair == "list-type=2"));
    let action = match (service, request.method.as_str(), path) {
        ("securityhub", "POST", "/findings/import") => "BatchImportFindings",
        ("securityhub", "POST", "/findings") => "GetFindings",
        ("s3", "PUT", _) if names_an_object => "PutObject",
        ("s3", "GET", _) if names_an_object => "GetObject",
        ("s3", "GET", _) if lists => "ListObjectsV2",
        _ => return None,
    };
    Some(action.to_string())
}

/// The access key id of the SigV4 `Credential=` scope.
fn signing_key(request: &hyper::http::request::Parts) -> String {
    request
        .headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').next())
        .unwrap_or("")
        .to_string()
}

fn error_answer(status: u16, code: &str, message: &str) -> Response<Bytes> {
    let body = format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>{}</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>",
        if status >= 500 { "Receiver" } else { "Sender" }
    );
    Response::builder()
        .status(status)
        .header("content-type", "text/xml")
        .body(Bytes::from(body))
        .unwrap_or_else(|_| Response::new(Bytes::new()))
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
    let answer = answer(&parts, body.clone(), &call, &shared, client, upstream).await;
    let exchange = Exchange {
        caller: signing_key(&parts),
        target: format!(
            "{} {}",
            parts.method,
            parts
                .uri
                .path_and_query()
                .map_or("/", |target| target.as_str())
        ),
        call,
        request: String::from_utf8_lossy(&body).into_owned(),
        status: answer.as_ref().ok().map(|answer| answer.status().as_u16()),
        response: answer
            .as_ref()
            .map(|answer| String::from_utf8_lossy(answer.body()).into_owned())
            .unwrap_or_default(),
    };
    shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .exchanges
        .push(exchange);
    Ok(answer?.map(Full::new))
}

/// The answer to one call: an injected fault's, or upstream's.
async fn answer(
    parts: &hyper::http::request::Parts,
    body: Bytes,
    call: &str,
    shared: &Mutex<Shared>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: String,
) -> Result<Response<Bytes>, Dropped> {
    let fault = {
        let mut shared = shared.lock().unwrap_or_else(|p| p.into_inner());
        shared.calls.push(call.to_string());
        shared.bodies.push(body.clone());
        let fired = shared
            .faults
            .iter_mut()
            .find_map(|fault| fault.fires(call, &body).then(|| fault.kind.clone()));
        if let Some(kind) = &fired {
            shared.injected.push((call.to_string(), kind.clone()));
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
        Some(FaultKind::Refuse { status, code }) => {
            return Ok(error_answer(*status, code, "injected refusal"));
        }
        Some(FaultKind::Answer { content_type, body }) => {
            return Ok(Response::builder()
                .status(200)
                .header("content-type", *content_type)
                .body(Bytes::from(body.clone()))
                .unwrap_or_else(|_| Response::new(Bytes::new())));
        }
        Some(FaultKind::Pages(size)) => {
            return paged(parts, &body, *size, client, &upstream).await;
        }
        Some(FaultKind::IamValidation) => {
            if let Some(refusal) = invalid_tag(&body) {
                return Ok(error_answer(400, "InvalidInput", &refusal));
            }
        }
        Some(FaultKind::Drop) => return Err(Dropped),
        Some(FaultKind::Slow(delay)) => tokio::time::sleep(*delay).await,
        Some(FaultKind::Jitter(most)) => {
            let millis = u64::try_from(most.as_millis()).unwrap_or(u64::MAX);
            tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=millis))).await;
        }
        Some(FaultKind::LoseAnswer | FaultKind::SlowAnswer(_)) | None => {}
    }
    let answer = upstream_answer(parts, body, client, &upstream).await?;
    if let Some(FaultKind::SlowAnswer(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    if fault == Some(FaultKind::LoseAnswer) {
        return Err(Dropped);
    }
    Ok(answer)
}

/// IAM's refusal of a tag it would not store, in its words; `None` when every tag is valid.
fn invalid_tag(body: &[u8]) -> Option<String> {
    let valid = |c: char| {
        c.is_alphabetic()
            || c.is_numeric()
            || (c.is_whitespace() && !c.is_control())
            || "_.:/=+-@".contains(c)
    };
    form_urlencoded::parse(body).find_map(|(name, value)| {
        let field = name.strip_prefix("Tags.member.")?;
        (field.ends_with(".Key") || field.ends_with(".Value"))
            .then_some(())
            .filter(|()| !value.chars().all(valid))
            .map(|()| {
                format!(
                    "1 validation error detected: Value at 'tags.{}' failed to satisfy constraint: Member \
                     must satisfy regular expression pattern: [\\p{{L}}\\p{{Z}}\\p{{N}}_.:/=+\\-@]*",
                    field.to_ascii_lowercase()
                )
            })
    })
}

async fn upstream_answer(
    parts: &hyper::http::request::Parts,
    body: Bytes,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
) -> Result<Response<Bytes>, Dropped> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .to_string();
    let mut outgoing = Request::builder()
        .method(parts.method.clone())
        .uri(format!("{upstream}{path}"));
    for (name, value) in &parts.headers {
        // The body may have been rewritten; hyper sets the length of the one sent.
        if name != hyper::header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let outgoing = outgoing.body(Full::new(body)).map_err(|_| Dropped)?;
    let answer = client.request(outgoing).await.map_err(|_| Dropped)?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// The lists a paged IAM answer holds, in the order moto writes them.
const PAGED_LISTS: [&str; 5] = [
    "UserDetailList",
    "GroupDetailList",
    "RoleDetailList",
    "Policies",
    "VirtualMFADevices",
];

/// One page of upstream's whole list: upstream is asked without `Marker` and `MaxItems` (so that it answers
/// everything, whatever its own paging), and the items from the request's `Marker` on are served.
async fn paged(
    parts: &hyper::http::request::Parts,
    body: &Bytes,
    size: usize,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: &str,
) -> Result<Response<Bytes>, Dropped> {
    let form: Vec<(String, String)> = form_urlencoded::parse(body)
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    let param = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let start = match param("Marker") {
        None => 0,
        Some(marker) => match marker.strip_prefix("fault-proxy-page-").map(str::parse) {
            Some(Ok(start)) => start,
            _ => return Ok(error_answer(400, "ValidationError", "Invalid Marker.")),
        },
    };
    let size = param("MaxItems")
        .and_then(|max| max.parse::<usize>().ok())
        .map_or(size, |max| max.min(size))
        .max(1);
    let whole: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form.iter()
                .filter(|(key, _)| key != "Marker" && key != "MaxItems"),
        )
        .finish();
    let answer = upstream_answer(parts, Bytes::from(whole), client, upstream).await?;
    if answer.status() != 200 {
        return Ok(answer);
    }
    let (mut parts, body) = answer.into_parts();
    // hyper sets the length of the page.
    parts.headers.remove(hyper::header::CONTENT_LENGTH);
    let page = page_of(&String::from_utf8_lossy(&body), start, size);
    Ok(Response::from_parts(parts, Bytes::from(page)))
}

/// Items `start..start + size` of every list in `xml`, taken in order across the lists, with
/// `IsTruncated` and `Marker` saying whether and where the next page starts.
fn page_of(xml: &str, start: usize, size: usize) -> String {
    let mut items = Vec::new();
    let mut lists = Vec::new();
    for name in PAGED_LISTS {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let Some(from) = xml.find(&open) else {
            continue;
        };
        let inner_from = from + open.len();
        let Some(inner_len) = xml[inner_from..].find(&close) else {
            continue;
        };
        for member in members(&xml[inner_from..inner_from + inner_len]) {
            items.push((name, member.to_string()));
        }
        lists.push((name, from, inner_from + inner_len + close.len()));
    }
    let end = (start + size).min(items.len());
    let page = items.get(start..end).unwrap_or_default();
    let mut out = xml.to_string();
    // From the last list back, so that the earlier lists' offsets stay valid.
    for (name, from, to) in lists.into_iter().rev() {
        let kept: String = page
            .iter()
            .filter(|(list, _)| *list == name)
            .map(|(_, member)| member.as_str())
            .collect();
        out.replace_range(from..to, &format!("<{name}>{kept}</{name}>"));
    }
    let truncated = end < items.len();
    let mut paging = format!("<IsTruncated>{truncated}</IsTruncated>");
    if truncated {
        paging.push_str(&format!("<Marker>fault-proxy-page-{end}</Marker>"));
    }
    for old in [
        "<IsTruncated>false</IsTruncated>",
        "<IsTruncated>true</IsTruncated>",
    ] {
        out = out.replace(old, &paging);
    }
    out
}

/// The top-level `<member>…</member>` elements of a list, nested lists' members kept inside their own.
fn members(list: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut depth = 0usize;
    let mut begin = 0;
    let mut at = 0;
    while let Some(offset) = list[at..].find('<') {
        let tag_start = at + offset;
        let rest = &list[tag_start..];
        if rest.starts_with("<member>") {
            if depth == 0 {
                begin = tag_start;
            }
            depth += 1;
            at = tag_start + "<member>".len();
        } else if rest.starts_with("</member>") {
            depth = depth.saturating_sub(1);
            at = tag_start + "</member>".len();
            if depth == 0 {
                found.push(&list[begin..at]);
            }
        } else {
            at = tag_start + 1;
        }
    }
    found
}
