//! Drift check cost against moto, in bulk (the product) and the per-user way (what it replaces), for
//! 100, 1,000 and 5,000 managed users. Prints wall time, IAM calls and peak heap; asserts nothing.
//! Run: `cargo bench --bench drift` (sizes can be given: `cargo bench --bench drift -- 100 1000`).

use std::time::{Instant, SystemTime};

use provisioning::config::DriftSettings;
use serde_json::json;
use test_support::bench::{PeakHeap, peak_mib_since, populate_managed_users, reset_peak};
use test_support::{Moto, http_event, self_service};

#[global_allocator]
static ALLOCATOR: PeakHeap = PeakHeap;

struct Measure {
    seconds: f64,
    calls: usize,
    peak_mib: f64,
}

async fn measure<F: Future<Output = usize>>(iam: &provisioning::iam::Iam, run: F) -> Measure {
    let base = reset_peak();
    let calls = iam.iam_calls();
    let started = Instant::now();
    let _ = run.await;
    Measure {
        seconds: started.elapsed().as_secs_f64(),
        calls: iam.iam_calls() - calls,
        peak_mib: peak_mib_since(base),
    }
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![100, 1000, 5000]
    } else {
        sizes
    };
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
            count - 1,
            "ResourceCreatorRole",
            "onboarding-ResourceCreatorRole",
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
