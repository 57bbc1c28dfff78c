//! The organisation drift run's cost: what one member account's check (the Map's child) costs in
//! IAM/STS/S3 calls, time and peak heap, against a hub of 100, 1,000 and 5,000 managed users, beside the
//! run's first step (the accounts and the hub's users, read once) and the hub's own check; then the wall
//! time and the AWS bill of one run at 1,000 accounts, modeled from those call counts. Calls are counted
//! on the wire by the fault proxy, which also serves GetAccountAuthorizationDetails and
//! ListVirtualMFADevices in pages of 1,000 as IAM does (moto answers in one). Asserts nothing.
//!
//! Run: `cargo bench --bench organization` (sizes can be given: `cargo bench --bench organization -- 1000`).

use std::collections::BTreeMap;

use functions::app::App;
use provisioning::config::DriftSettings;
use serde_json::{Value, json};
use test_support::bench::{PeakHeap, populate_managed_users, sizes_from_args, timed};
use test_support::proxy::{Fault, FaultKind, FaultProxy, When};
use test_support::{ACCOUNT, Moto, app_at, http_event, self_service};

#[global_allocator]
static ALLOCATOR: PeakHeap = PeakHeap;

const SPOKE: &str = "111122223333";
const BUCKET: &str = "drift-reports";
const CATALOG: &str = r#"[
    {"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
    {"name":"WorkloadDeployer","inline_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudformation:*","Resource":"*"}]},"self_service":true,"account":"111122223333"}
]"#;

/// The modeled organisation: 1,000 member accounts.
const ACCOUNTS: f64 = 1000.0;
/// Assumed latencies of the real services (moto answers in milliseconds; these are what the model uses):
/// an IAM bulk page of 1,000 entities, any other IAM or STS call, an S3 call, and the overhead of one
/// Map child (Step Functions starting it, Lambda invoking a warm function).
const IAM_PAGE_SECONDS: f64 = 1.5;
const IAM_CALL_SECONDS: f64 = 0.15;
const S3_CALL_SECONDS: f64 = 0.05;
const CHILD_OVERHEAD_SECONDS: f64 = 0.3;
/// drift-org reads the run's reports this many at once (publish::reports).
const PARALLEL_READS: f64 = 32.0;
/// Prices in us-east-1 (USD): Lambda arm64 per GB-second and per request, a Step Functions Standard
/// state transition, S3 PUT/LIST and GET requests.
const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
const LAMBDA_REQUEST: f64 = 0.000_000_2;
const STATE_TRANSITION: f64 = 0.000_025;
const S3_PUT: f64 = 0.000_005;
const S3_GET: f64 = 0.000_000_4;
const MEMORY_GB: f64 = 0.5;

#[derive(Default, Clone)]
struct Step {
    seconds: f64,
    peak_mib: f64,
    /// Calls on the wire by kind: "iam page", "iam", "sts", "s3".
    calls: BTreeMap<&'static str, usize>,
}

impl Step {
    fn count(&self, kind: &str) -> usize {
        self.calls.get(kind).copied().unwrap_or(0)
    }

    fn iam_sts(&self) -> usize {
        self.count("iam page") + self.count("iam") + self.count("sts")
    }

    /// Its time against the real services, from its calls.
    fn modeled_seconds(&self) -> f64 {
        self.count("iam page") as f64 * IAM_PAGE_SECONDS
            + (self.count("iam") + self.count("sts")) as f64 * IAM_CALL_SECONDS
            + self.count("s3") as f64 * S3_CALL_SECONDS
    }
}

async fn measure<F: Future<Output = Value>>(proxy: &FaultProxy, run: F) -> Step {
    proxy.clear_exchanges();
    let (answer, seconds, peak_mib) = timed(run).await;
    assert!(answer.get("errorType").is_none(), "{answer}");
    let mut calls = BTreeMap::new();
    for exchange in proxy.exchanges() {
        let kind = match exchange.call.split_once(':') {
            Some((
                "iam",
                "GetAccountAuthorizationDetails" | "ListVirtualMFADevices" | "GetCredentialReport",
            )) => "iam page",
            Some(("iam", _)) => "iam",
            Some(("sts", _)) => "sts",
            Some(("s3", _)) => "s3",
            _ => "other",
        };
        *calls.entry(kind).or_insert(0) += 1;
    }
    Step {
        seconds,
        peak_mib,
        calls,
    }
}

async fn hub_of(users: usize) -> (Moto, FaultProxy, App) {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    for action in [
        "iam:GetAccountAuthorizationDetails",
        "iam:ListVirtualMFADevices",
    ] {
        proxy.inject(Fault::on(action, FaultKind::Pages(1000), When::Always));
    }
    moto.s3_with_bucket(BUCKET).await;
    let app = app_at(&proxy.endpoint, &[("ROLE_CATALOG", CATALOG)]).await;
    let app = App {
        drift: DriftSettings {
            report_bucket: Some(BUCKET.to_string()),
            spoke_account_ids: [SPOKE.to_string()].into(),
            remediate: true,
            ..DriftSettings::default()
        },
        ..app
    };
    let first = functions::onboard::handle(
        &app,
        http_event(
            self_service("bench-first"),
            json!({"roles": ["ResourceCreatorRole", "WorkloadDeployer"], "mfa": "none"}),
            None,
        ),
    )
    .await;
    assert_eq!(first.status_code, 201, "{:?}", first.body);
    populate_managed_users(
        &moto.iam().await,
        1..users,
        "ResourceCreatorRole",
        "onboarding-ResourceCreatorRole",
        false,
    )
    .await;
    (moto, proxy, app)
}

async fn invoke_check(app: &App, account: &str) -> Value {
    let answer =
        functions::drift_check::invoke(app, json!({"account_id": account, "run_id": "bench"}))
            .await
            .expect("the check runs");
    serde_json::to_value(answer).expect("JSON")
}

#[tokio::main]
async fn main() {
    let sizes = sizes_from_args();
    println!(
        "| hub users | step | IAM/STS calls (bulk pages) | S3 calls | time on moto (s) | peak heap (MiB) |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    let mut largest = None;
    for users in sizes {
        let (_moto, proxy, app) = hub_of(users).await;
        let accounts = measure(&proxy, async {
            let listed =
                functions::drift_org::handle(&app, json!({"step": "accounts", "run_id": "bench"}))
                    .await
                    .expect("the accounts step");
            serde_json::to_value(listed).expect("JSON")
        })
        .await;
        // Warm-ups: the member role is made (REMEDIATE), the hub's credential report generated.
        invoke_check(&app, SPOKE).await;
        invoke_check(&app, ACCOUNT).await;
        let member = measure(&proxy, invoke_check(&app, SPOKE)).await;
        let hub = measure(&proxy, invoke_check(&app, ACCOUNT)).await;
        for (name, step) in [
            ("accounts (drift-org, once a run)", &accounts),
            ("a member account (one Map child)", &member),
            ("the hub's own check (one Map child)", &hub),
        ] {
            println!(
                "| {users} | {name} | {} ({}) | {} | {:.2} | {:.1} |",
                step.iam_sts(),
                step.count("iam page"),
                step.count("s3"),
                step.seconds,
                step.peak_mib
            );
        }
        largest = Some((users, accounts, member, hub));
    }
    let Some((users, accounts, member, hub)) = largest else {
        return;
    };
    let summary_seconds = (ACCOUNTS / PARALLEL_READS).ceil() * S3_CALL_SECONDS
        + (ACCOUNTS / 1000.0).ceil() * S3_CALL_SECONDS;
    let child = member.modeled_seconds() + CHILD_OVERHEAD_SECONDS;
    println!();
    println!(
        "Modeled run at {ACCOUNTS} member accounts and {users} hub users (IAM page {IAM_PAGE_SECONDS} s, \
         other IAM/STS call {IAM_CALL_SECONDS} s, S3 call {S3_CALL_SECONDS} s, {CHILD_OVERHEAD_SECONDS} s \
         per Map child): a member account's check {child:.2} s, the hub's {:.2} s, the accounts step \
         {:.2} s, the summary {summary_seconds:.2} s.",
        hub.modeled_seconds() + CHILD_OVERHEAD_SECONDS,
        accounts.modeled_seconds(),
    );
    println!();
    println!("| MaxConcurrency | wall time (min) | Lambda GB-s | cost per run (USD) |");
    println!("|---:|---:|---:|---:|");
    for concurrency in [10.0, 40.0] {
        let waves = (ACCOUNTS / concurrency).ceil();
        let map = (waves * child).max(hub.modeled_seconds() + CHILD_OVERHEAD_SECONDS);
        let wall = accounts.modeled_seconds() + map + summary_seconds;
        let gb_seconds = (accounts.modeled_seconds()
            + ACCOUNTS * member.modeled_seconds()
            + hub.modeled_seconds()
            + summary_seconds)
            * MEMORY_GB;
        // Transitions: the run's three states and its end, and each child's start, task and end.
        let transitions = 4.0 + (ACCOUNTS + 1.0) * 3.0;
        let s3_puts = ACCOUNTS + 3.0 + (ACCOUNTS / 1000.0).ceil();
        let s3_gets = 2.0 * ACCOUNTS;
        let cost = gb_seconds * LAMBDA_GB_SECOND
            + (ACCOUNTS + 3.0) * LAMBDA_REQUEST
            + transitions * STATE_TRANSITION
            + s3_puts * S3_PUT
            + s3_gets * S3_GET;
        println!(
            "| {concurrency} | {:.1} | {gb_seconds:.0} | {cost:.3} |",
            wall / 60.0
        );
    }
}
