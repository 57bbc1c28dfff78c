//! Drift check cost against moto, in bulk (the product) and the per-user way (what it replaces), for
//! 100, 1,000 and 5,000 managed users. Prints wall time, IAM calls and peak heap; asserts nothing.
//! Run: `cargo bench --bench drift` (sizes can be given: `cargo bench --bench drift -- 100 1000`).

use std::time::SystemTime;

use provisioning::config::DriftSettings;
use serde_json::json;
use test_support::bench::{PeakHeap, populate_managed_users, sizes_from_args, timed};
use test_support::{Moto, http_event, self_service};

#[global_allocator]
static ALLOCATOR: PeakHeap = PeakHeap;

struct Measure {
    seconds: f64,
    calls: usize,
    peak_mib: f64,
}

async fn measure<F: Future<Output = usize>>(iam: &provisioning::iam::Iam, run: F) -> Measure {
    let calls = iam.iam_calls();
    let (_, seconds, peak_mib) = timed(run).await;
    Measure {
        seconds,
        calls: iam.iam_calls() - calls,
        peak_mib,
    }
}

#[tokio::main]
async fn main() {
    let sizes = sizes_from_args();
    println!("| managed users | approach | wall time (s) | IAM calls | peak heap (MiB) |");
    println!("|---:|---|---:|---:|---:|");
    for count in sizes {
        let moto = Moto::start();
        let app = moto.app(&[]).await;
        let first = functions::onboard::handle(
            &app,
            http_event(self_service("bench-first"), json!({"mfa": "none"}), None),
        )
        .await;
        assert_eq!(
            first.status_code, 201,
            "the first onboarding creates the role and the grant group"
        );
        populate_managed_users(
            &moto.iam().await,
            1..count,
            "ResourceCreatorRole",
            "onboarding-ResourceCreatorRole",
            false,
        )
        .await;
        let settings = DriftSettings::from_lookup(|_| None).expect("default settings");
        // The first check waits for IAM to generate the credential report; measure a steady-state run.
        provisioning::drift::run(
            &app.iam,
            &app.config,
            &settings,
            &app.account,
            SystemTime::now(),
        )
        .await
        .expect("warm-up");

        let bulk = measure(&app.iam, async {
            let report = provisioning::drift::run(
                &app.iam,
                &app.config,
                &settings,
                &app.account,
                SystemTime::now(),
            )
            .await
            .expect("drift check");
            report.summary.users
        })
        .await;
        let per_user = measure(&app.iam, async {
            let names: Vec<String> = moto
                .iam()
                .await
                .list_users()
                .path_prefix("/onboarded/")
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .expect("list users")
                .iter()
                .map(|user| user.user_name().to_string())
                .collect();
            let mut observed = 0;
            for name in names {
                if app
                    .iam
                    .observe_user(&name)
                    .await
                    .expect("observe")
                    .is_some()
                {
                    observed += 1;
                }
            }
            observed
        })
        .await;
        for (approach, m) in [("bulk (drift-check)", &bulk), ("per user", &per_user)] {
            println!(
                "| {count} | {approach} | {:.2} | {} | {:.1} |",
                m.seconds, m.calls, m.peak_mib
            );
        }
    }
}
