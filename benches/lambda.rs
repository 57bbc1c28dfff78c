//! What each function binary costs as Lambda runs it: init time, first and warm request latency, peak
//! memory, IAM/STS calls per operation, and the size of its deployment zip. Every binary is the release
//! build for this machine's architecture, started behind a small Lambda Runtime API emulator (below) and
//! talking to moto on loopback through the fault proxy, which records every IAM/STS call on the wire.
//! The zips are the arm64 ones `sam build` would deploy. Prints one Markdown table; asserts only that
//! each request took its happy path, so that the figures measure that path.
//!
//! Run: `scripts/bench-lambda`, which builds what is measured first. By hand: `cargo build --release
//! --bins`, `cargo lambda build --release --arm64 --output-format zip`, then `cargo bench --bench lambda --
//! [--cold N] [--warm N] [--memory MB] [function ...]` with `LAMBDA_BIN_DIR` naming a copy of the release
//! binaries (`cargo bench` itself rebuilds target/release's with the bench profile); `LAMBDA_ZIP_DIR`
//! (default `target/lambda`) says where the zips are.
//!
//! `--memory MB` runs the functions with the CPU share Lambda gives that MemorySize (1,769 MB is one
//! vCPU, less is a proportional fraction of one), through a CPU cgroup (root only; cgroup v1 or v2):
//! how latency grows as MemorySize shrinks, which is what template.yaml's MemorySize is chosen from.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use serde_json::Value;
use test_support::bench::populate_managed_users;
use test_support::proxy::FaultProxy;
use test_support::{ACCOUNT, Moto};
use tokio::sync::{Mutex, mpsc};

const FUNCTIONS: [&str; 6] = [
    "onboard",
    "enroll-mfa",
    "status",
    "issue-key",
    "offboard",
    "drift-check",
];

/// Drift check account sizes: the targets are stated at 1,000 and 2,000 managed users.
const DRIFT_USERS: [usize; 2] = [1000, 2000];

/// Lambda's limit for one invocation; a request still running after it is a broken benchmark.
const PATIENCE: Duration = Duration::from_secs(900);

/// What the emulator tells the benchmark, in the order it happens.
#[derive(Debug)]
enum Signal {
    /// The function asked for work: `GET /runtime/invocation/next` arrived.
    Polled(Instant),
    /// An event was handed to the function.
    Served(Instant),
    /// The function answered: `response` or `error` of an invocation, or `init/error`.
    Answered {
        at: Instant,
        outcome: String,
        body: Value,
    },
}

/// A Lambda Runtime API for one function process: each `GET next` waits for the event the benchmark
/// sends, as Lambda holds a frozen function until a request comes.
#[derive(Clone)]
struct Emulator {
    signals: mpsc::UnboundedSender<Signal>,
    events: Arc<Mutex<mpsc::UnboundedReceiver<Value>>>,
    requests: Arc<AtomicU64>,
}

async fn next(State(emulator): State<Emulator>) -> (HeaderMap, String) {
    let _ = emulator.signals.send(Signal::Polled(Instant::now()));
    let Some(event) = emulator.events.lock().await.recv().await else {
        // The benchmark is done with this process; it is killed while waiting, as Lambda freezes it.
        return std::future::pending().await;
    };
    let id = emulator.requests.fetch_add(1, Ordering::Relaxed);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() + PATIENCE.as_millis())
        .unwrap_or(0);
    let mut headers = HeaderMap::new();
    let mut header = |name: &'static str, value: String| {
        headers.insert(name, value.parse().expect("a valid header value"));
    };
    header("lambda-runtime-aws-request-id", format!("req-{id}"));
    header("lambda-runtime-deadline-ms", deadline.to_string());
    header(
        "lambda-runtime-invoked-function-arn",
        format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:bench"),
    );
    header(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000".to_string(),
    );
    let body = event.to_string();
    let _ = emulator.signals.send(Signal::Served(Instant::now()));
    (headers, body)
}

async fn answered(emulator: &Emulator, outcome: String, body: String) -> &'static str {
    let at = Instant::now();
    let body = serde_json::from_str(&body).unwrap_or(Value::String(body));
    let _ = emulator
        .signals
        .send(Signal::Answered { at, outcome, body });
    "{}"
}

async fn invocation_outcome(
    State(emulator): State<Emulator>,
    axum::extract::Path((_id, kind)): axum::extract::Path<(String, String)>,
    body: String,
) -> &'static str {
    answered(&emulator, kind, body).await
}

async fn init_error(State(emulator): State<Emulator>, body: String) -> &'static str {
    answered(&emulator, "init/error".to_string(), body).await
}

struct Request {
    latency: Duration,
    calls: Vec<String>,
    body: Value,
}

struct Run {
    init: Duration,
    /// CPU time (all threads) until the first poll, and over all the requests.
    init_cpu: Duration,
    requests_cpu: Duration,
    init_calls: Vec<String>,
    requests: Vec<Request>,
    peak_rss_kib: u64,
}

/// Where the binaries are, the proxy (in front of moto) they talk to, and the CPU share they get.
struct Bench {
    bin_dir: PathBuf,
    proxy: FaultProxy,
    cpu: Option<Arc<CpuShare>>,
}

/// MemorySize's CPU share, from the Lambda documentation: 1,769 MB gets one vCPU.
const MB_PER_VCPU: u64 = 1769;

/// Scheduler period of the quota: the quota is granted (and used up) in slices this long.
const CPU_PERIOD_US: u64 = 20_000;

/// A CPU cgroup limited to what Lambda gives `memory_mb`; every function process starts in it.
struct CpuShare {
    memory_mb: u64,
    dir: PathBuf,
    /// `cgroup.procs` of `dir`, as a C string: it is opened between fork and exec, where nothing may
    /// allocate.
    procs: std::ffi::CString,
}

impl CpuShare {
    fn new(memory_mb: u64) -> CpuShare {
        let quota_us = (CPU_PERIOD_US * memory_mb / MB_PER_VCPU).max(1000);
        let name = format!("bench-lambda-{}", std::process::id());
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers");
        let cpu_v2 =
            std::fs::read_to_string(v2).is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"));
        let (dir, limits) = if cpu_v2 {
            let dir = Path::new("/sys/fs/cgroup").join(name);
            (
                dir,
                vec![("cpu.max", format!("{quota_us} {CPU_PERIOD_US}"))],
            )
        } else {
            let dir = Path::new("/sys/fs/cgroup/cpu").join(name);
            let limits = vec![
                ("cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
                ("cpu.cfs_quota_us", quota_us.to_string()),
            ];
            (dir, limits)
        };
        std::fs::create_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "--memory needs a CPU cgroup: cannot create {} ({e}); run as root on Linux",
                dir.display()
            )
        });
        for (file, value) in limits {
            std::fs::write(dir.join(file), value)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.join(file).display()));
        }
        let procs = std::ffi::CString::new(
            dir.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .expect("a path without NUL");
        CpuShare {
            memory_mb,
            dir,
            procs,
        }
    }

    /// Makes `command`'s process join the cgroup before it execs, so that its init is limited too.
    fn apply(self: &Arc<Self>, command: &mut tokio::process::Command) {
        let share = self.clone();
        // SAFETY: the closure runs in the forked child before exec; it only calls async-signal-safe
        // functions (open, write, close) on memory allocated before the fork. Writing "0" to
        // cgroup.procs moves the writing process.
        unsafe {
            command.pre_exec(move || {
                let fd = libc::open(share.procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                Ok(())
            });
        }
    }
}

impl Drop for CpuShare {
    fn drop(&mut self) {
        // The function processes are gone by now; an empty cgroup is removed with rmdir.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl Bench {
    /// One cold start of `function`: spawn it, serve it `events` one after another, read its peak RSS once
    /// it is idle again, and kill it.
    async fn run(&self, function: &str, events: Vec<Value>) -> Run {
        let (signal_tx, mut signals) = mpsc::unbounded_channel();
        let (event_tx, event_rx) = mpsc::unbounded_channel();
        let emulator = Emulator {
            signals: signal_tx,
            events: Arc::new(Mutex::new(event_rx)),
            requests: Arc::default(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/{kind}",
                post(invocation_outcome),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(emulator);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let runtime_api = listener.local_addr().expect("a bound port").to_string();
        let server = tokio::spawn(async move { axum::serve(listener, router).await });

        self.proxy.clear_calls();
        let started = Instant::now();
        let mut command = tokio::process::Command::new(self.bin_dir.join(function));
        if let Some(cpu) = &self.cpu {
            cpu.apply(&mut command);
        }
        let memory_mb = self.cpu.as_ref().map_or(256, |cpu| cpu.memory_mb);
        let mut child = command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            // What Lambda sets for provided.al2023 (the SDK puts it in its user agent).
            .env("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_ENDPOINT_URL", &self.proxy.endpoint)
            .env(
                test_support::TEST_ELIGIBILITY.0,
                test_support::TEST_ELIGIBILITY.1,
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {function}: {e} (run scripts/bench-lambda)"));
        let pid = child.id().expect("a running child");

        let init = polled(&mut signals, function).await - started;
        let init_cpu = cpu_time(pid);
        let init_calls = self.proxy.calls();
        let mut requests = Vec::with_capacity(events.len());
        for event in events {
            self.proxy.clear_calls();
            event_tx.send(event).expect("the emulator is running");
            let served = match signal(&mut signals, function).await {
                Signal::Served(at) => at,
                other => panic!("{function}: expected the event to be served, got {other:?}"),
            };
            let (at, body) = match signal(&mut signals, function).await {
                Signal::Answered { at, outcome, body } if outcome == "response" => (at, body),
                other => panic!("{function}: the invocation failed: {other:?}"),
            };
            // Idle again: everything the request caused has happened, so the calls are all in.
            polled(&mut signals, function).await;
            requests.push(Request {
                latency: at - served,
                calls: self.proxy.calls(),
                body,
            });
        }
        let peak_rss_kib = peak_rss_kib(pid);
        let requests_cpu = cpu_time(pid).saturating_sub(init_cpu);
        child.kill().await.ok();
        server.abort();
        Run {
            init,
            init_cpu,
            requests_cpu,
            init_calls,
            requests,
            peak_rss_kib,
        }
    }
}

async fn signal(signals: &mut mpsc::UnboundedReceiver<Signal>, function: &str) -> Signal {
    tokio::time::timeout(PATIENCE, signals.recv())
        .await
        .unwrap_or_else(|_| panic!("{function} did not answer in {PATIENCE:?}"))
        .expect("the emulator is running")
}

async fn polled(signals: &mut mpsc::UnboundedReceiver<Signal>, function: &str) -> Instant {
    match signal(signals, function).await {
        Signal::Polled(at) => at,
        other => panic!("{function}: expected a poll for the next event, got {other:?}"),
    }
}

/// `VmHWM`: the most resident memory the process has had, which is what Lambda's "Max Memory Used"
/// reports (a function over its MemorySize is killed).
fn peak_rss_kib(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// CPU time the process has used, from each thread's `schedstat` (nanoseconds on a CPU). Lambda gives a
/// function CPU in proportion to its MemorySize, so this is the part of a request that a smaller setting
/// stretches; waiting for IAM is not.
fn cpu_time(pid: u32) -> Duration {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/<pid>/task");
    let nanos: u64 = threads
        .filter_map(|thread| {
            let stat = std::fs::read_to_string(thread.ok()?.path().join("schedstat")).ok()?;
            stat.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum();
    Duration::from_nanos(nanos)
}

fn event_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("events")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A sample event whose user (caller and target alike) is `user` instead of developer@example.com.
fn event_for(name: &str, user: &str) -> Value {
    serde_json::from_str(&event_file(name).replace("developer@example.com", user))
        .expect("a JSON sample event")
}

fn status_code(body: &Value) -> i64 {
    body["statusCode"].as_i64().unwrap_or_default()
}

fn expect_status(function: &str, run: &Run, wanted: i64) {
    for request in &run.requests {
        assert_eq!(
            status_code(&request.body),
            wanted,
            "{function} left its happy path: {}",
            request.body
        );
    }
}

/// Onboards `users` through the onboard binary (self-service, virtual MFA pending), and returns each one's
/// response body. The first onboarding in an empty account also creates the catalog role and its group.
async fn onboard(bench: &Bench, users: &[String]) -> Vec<Value> {
    let events = users
        .iter()
        .map(|user| event_for("onboard-self-service.json", user))
        .collect();
    let run = bench.run("onboard", events).await;
    expect_status("onboard", &run, 201);
    run.requests
        .into_iter()
        .map(|request| {
            serde_json::from_str(request.body["body"].as_str().expect("a body"))
                .expect("a JSON body")
        })
        .collect()
}

/// Enables each onboarded user's pending virtual MFA device, as the person would with enroll-mfa (moto
/// accepts any two codes).
async fn enable_mfa(iam: &aws_sdk_iam::Client, users: &[String], onboarded: &[Value]) {
    for (user, body) in users.iter().zip(onboarded) {
        iam.enable_mfa_device()
            .user_name(user)
            .serial_number(body["mfa"]["serial_number"].as_str().expect("a serial"))
            .authentication_code1("123456")
            .authentication_code2("654321")
            .send()
            .await
            .expect("enable MFA");
    }
}

/// One row of the table: every cold start of one function on one kind of request.
struct Row {
    function: String,
    request: String,
    runs: Vec<Run>,
    zip: Option<u64>,
    /// A one-off (the account's first onboarding, which also warms moto up): its calls count, its times
    /// do not.
    calls_only: bool,
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Nearest-rank 95th percentile: with 10 samples, the largest.
fn p95(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[((sorted.len() as f64 * 0.95).ceil() as usize).max(1) - 1]
}

/// `12`, or `11–12` when cold starts did not all make the same number of calls.
fn span(counts: impl Iterator<Item = usize>) -> String {
    let counts: Vec<usize> = counts.collect();
    let (lo, hi) = (
        counts.iter().min().copied().unwrap_or(0),
        counts.iter().max().copied().unwrap_or(0),
    );
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    }
}

impl Row {
    fn print(&self) {
        let init: Vec<f64> = self.runs.iter().map(|r| millis(r.init)).collect();
        let first: Vec<f64> = self
            .runs
            .iter()
            .map(|r| millis(r.requests[0].latency))
            .collect();
        let warm: Vec<f64> = self
            .runs
            .iter()
            .flat_map(|r| r.requests[1..].iter().map(|q| millis(q.latency)))
            .collect();
        let warm = if warm.is_empty() {
            "–".to_string()
        } else {
            format!("{:.1} / {:.1}", median(&warm), p95(&warm))
        };
        let rss = self.runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        let init_cpu: Vec<f64> = self.runs.iter().map(|r| millis(r.init_cpu)).collect();
        let request_cpu: Vec<f64> = self
            .runs
            .iter()
            .map(|r| millis(r.requests_cpu) / r.requests.len() as f64)
            .collect();
        let calls = format!(
            "{} + {}",
            span(self.runs.iter().map(|r| r.init_calls.len())),
            span(
                self.runs
                    .iter()
                    .flat_map(|r| r.requests.iter().map(|q| q.calls.len()))
            )
        );
        let zip = self.zip.map_or("–".to_string(), |bytes| {
            format!("{:.2}", bytes as f64 / (1024.0 * 1024.0))
        });
        if self.calls_only {
            println!(
                "| {} | {} | – | – | – | – | – | {calls} | – |",
                self.function, self.request
            );
            return;
        }
        println!(
            "| {} | {} | {:.1} | {:.1} / {:.1} | {warm} | {:.1} / {:.1} | {rss:.1} | {calls} | {zip} |",
            self.function,
            self.request,
            median(&init),
            median(&first),
            p95(&first),
            median(&init_cpu),
            median(&request_cpu),
        );
    }

    /// The calls of the first cold start's first request, in order (repeats as `×n`), e.g. for the
    /// README's call list.
    fn calls(&self) -> String {
        let run = &self.runs[0];
        let mut calls: Vec<String> = run
            .init_calls
            .iter()
            .map(|call| format!("{call} (init)"))
            .collect();
        calls.extend(run.requests[0].calls.iter().cloned());
        let mut compact: Vec<(String, usize)> = Vec::new();
        for call in calls {
            match compact.last_mut() {
                Some((last, times)) if *last == call => *times += 1,
                _ => compact.push((call, 1)),
            }
        }
        compact
            .iter()
            .map(|(call, times)| match times {
                1 => call.clone(),
                n => format!("{call} ×{n}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

struct Options {
    cold: usize,
    warm: usize,
    /// Lambda's CPU share for this MemorySize; `None`: a whole core, as far as the machine allows.
    memory_mb: Option<u64>,
    functions: Vec<String>,
}

fn options() -> Options {
    let mut options = Options {
        cold: 10,
        warm: 9,
        memory_mb: None,
        functions: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut count = |what: &str| {
            args.next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{what} needs a number"))
        };
        match arg.as_str() {
            "--cold" => options.cold = count("--cold"),
            "--warm" => options.warm = count("--warm"),
            "--memory" => options.memory_mb = Some(count("--memory") as u64),
            // `cargo bench` passes `--bench` to every benchmark binary.
            "--bench" => {}
            name if FUNCTIONS.contains(&name) => options.functions.push(name.to_string()),
            other => {
                panic!(
                    "unknown argument {other}: [--cold N] [--warm N] [--memory MB] [function ...]"
                )
            }
        }
    }
    assert!(options.cold >= 1, "--cold must be at least 1");
    if options.functions.is_empty() {
        options.functions = FUNCTIONS.iter().map(|f| f.to_string()).collect();
    }
    options
}

fn dir_from_env(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(default),
        PathBuf::from,
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|model| model.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_default();
    format!("{cores} cores ({cpu}), {date}, {}", load())
}

/// Other work on the machine distorts the timings: the load average is printed beside them.
fn load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let minute = load.split_whitespace().next().unwrap_or("?");
    format!("load average {minute}")
}

#[tokio::main]
async fn main() {
    let options = options();
    let (cold, warm) = (options.cold, options.warm);
    let zip_dir = dir_from_env("LAMBDA_ZIP_DIR", "target/lambda");
    let zip = |function: &str| {
        std::fs::metadata(zip_dir.join(function).join("bootstrap.zip"))
            .ok()
            .map(|m| m.len())
    };
    let wanted = |function: &str| options.functions.iter().any(|f| f == function);
    let bin_dir = dir_from_env("LAMBDA_BIN_DIR", "target/bench-lambda");
    eprintln!("machine: {}", machine());

    let cpu = options.memory_mb.map(|mb| Arc::new(CpuShare::new(mb)));
    let moto = Moto::start();
    let bench = Bench {
        bin_dir: bin_dir.clone(),
        proxy: FaultProxy::start(&moto.endpoint).await,
        cpu: cpu.clone(),
    };
    let iam = moto.iam().await;
    let mut rows = Vec::new();
    let requests = 1 + warm;
    let pool = |prefix: &str| -> Vec<Vec<String>> {
        (0..cold)
            .map(|run| {
                (0..requests)
                    .map(|i| format!("bench-{prefix}-{run}-{i}@example.com"))
                    .collect()
            })
            .collect()
    };

    // The status sample's user; onboarding it first, in the empty account, creates the catalog role and
    // grant group, which every later onboarding finds in place.
    let first = bench
        .run(
            "onboard",
            vec![event_for(
                "onboard-self-service.json",
                "developer@example.com",
            )],
        )
        .await;
    expect_status("onboard", &first, 201);
    let first = Row {
        function: "onboard".into(),
        request: "first user of the account (creates role and group)".into(),
        runs: vec![first],
        zip: zip("onboard"),
        calls_only: true,
    };

    if wanted("onboard") {
        eprintln!("onboard: {cold} cold starts × {requests} requests");
        let mut runs = Vec::new();
        for users in pool("onboard") {
            let events = users
                .iter()
                .map(|user| event_for("onboard-self-service.json", user))
                .collect();
            let run = bench.run("onboard", events).await;
            expect_status("onboard", &run, 201);
            runs.push(run);
        }
        rows.push(first);
        rows.push(Row {
            function: "onboard".into(),
            request: "self-service, a new user (role and group exist)".into(),
            runs,
            zip: zip("onboard"),
            calls_only: false,
        });
    }

    if wanted("enroll-mfa") {
        eprintln!("enroll-mfa: onboarding {} users first", cold * requests);
        let users = pool("mfa");
        let mut runs = Vec::new();
        for users in &users {
            onboard(&bench, users).await;
        }
        for users in users {
            let events = users
                .iter()
                .map(|user| event_for("enroll-mfa-enable.json", user))
                .collect();
            let run = bench.run("enroll-mfa", events).await;
            expect_status("enroll-mfa", &run, 200);
            runs.push(run);
        }
        rows.push(Row {
            function: "enroll-mfa".into(),
            request: "enable the pending virtual MFA device".into(),
            runs,
            zip: zip("enroll-mfa"),
            calls_only: false,
        });
    }

    if wanted("status") {
        let mut runs = Vec::new();
        for _ in 0..cold {
            let events = (0..requests)
                .map(|_| event_for("status.json", "developer@example.com"))
                .collect();
            let run = bench.run("status", events).await;
            expect_status("status", &run, 200);
            runs.push(run);
        }
        rows.push(Row {
            function: "status".into(),
            request: "own status, MFA pending".into(),
            runs,
            zip: zip("status"),
            calls_only: false,
        });
    }

    if wanted("issue-key") {
        eprintln!("issue-key: onboarding {} users first", cold * requests);
        let users = pool("key");
        for users in &users {
            onboard(&bench, users).await;
        }
        let mut runs = Vec::new();
        for users in users {
            let events = users
                .iter()
                .map(|user| event_for("issue-key.json", user))
                .collect();
            let run = bench.run("issue-key", events).await;
            expect_status("issue-key", &run, 201);
            runs.push(run);
        }
        rows.push(Row {
            function: "issue-key".into(),
            request: "rotate: new key, the old one deactivated".into(),
            runs,
            zip: zip("issue-key"),
            calls_only: false,
        });
    }

    if wanted("offboard") {
        eprintln!("offboard: onboarding {} users first", cold * requests);
        let users = pool("gone");
        for users in &users {
            let onboarded = onboard(&bench, users).await;
            enable_mfa(&iam, users, &onboarded).await;
        }
        let mut runs = Vec::new();
        for users in users {
            let events = users
                .iter()
                .map(|user| event_for("offboard.json", user))
                .collect();
            let run = bench.run("offboard", events).await;
            expect_status("offboard", &run, 200);
            runs.push(run);
        }
        rows.push(Row {
            function: "offboard".into(),
            request: "a user with a key, MFA enabled, one grant".into(),
            runs,
            zip: zip("offboard"),
            calls_only: false,
        });
    }

    if wanted("drift-check") {
        // An account of its own, so that its size is exactly the one named.
        let drift_moto = Moto::start();
        let drift = Bench {
            bin_dir: bin_dir.clone(),
            proxy: FaultProxy::start(&drift_moto.endpoint).await,
            cpu: cpu.clone(),
        };
        let iam = drift_moto.iam().await;
        // The first user, onboarded through the function; the others made directly, with MFA enabled.
        let first = ["bench-user-00000".to_string()];
        let onboarded = onboard(&drift, &first).await;
        enable_mfa(&iam, &first, &onboarded).await;
        let mut seeded = 1;
        let event: Value = serde_json::from_str(&event_file("drift-check-scheduled.json"))
            .expect("a JSON sample event");
        // The drift check runs once a day: a warm request is rare, two per cold start are enough.
        let requests = 1 + warm.min(2);
        for users in DRIFT_USERS {
            eprintln!("drift-check: {users} managed users");
            populate_managed_users(
                &iam,
                seeded..users,
                "ResourceCreatorRole",
                "onboarding-ResourceCreatorRole",
                true,
            )
            .await;
            seeded = users;
            // IAM generates the credential report at most every 4 hours; measure runs that find it made.
            drift.run("drift-check", vec![event.clone()]).await;
            let mut runs = Vec::new();
            for _ in 0..cold {
                let run = drift
                    .run("drift-check", vec![event.clone(); requests])
                    .await;
                for request in &run.requests {
                    assert_eq!(
                        request.body["summary"]["users"], users,
                        "drift-check: {}",
                        request.body
                    );
                }
                runs.push(run);
            }
            rows.push(Row {
                function: "drift-check".into(),
                request: format!("scheduled, {users} managed users"),
                runs,
                zip: zip("drift-check"),
                calls_only: false,
            });
        }
    }

    println!("Machine: {}.", machine());
    let cpu_note = options
        .memory_mb
        .map_or("a whole core each".to_string(), |mb| {
            format!("the CPU share of MemorySize {mb} MB ({mb}/{MB_PER_VCPU} of a core)")
        });
    println!(
        "Binaries: {} (release, host architecture), with {cpu_note}; zips: {} (arm64). Medians of {cold} \
         cold starts, {warm} warm requests after each (the drift check {}); p95 by nearest rank.\n",
        bin_dir.display(),
        zip_dir.display(),
        warm.min(2),
    );
    println!(
        "| function | request | init (ms) | first request (ms, median / p95) | warm request (ms, median / p95) | CPU (ms, init / per request) | peak RSS (MiB) | IAM/STS calls (init + request) | arm64 zip (MiB) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        row.print();
    }
    println!("\nCalls on the wire, in order (first request of the first cold start):");
    for row in &rows {
        println!("- {}, {}: {}", row.function, row.request, row.calls());
    }
}
