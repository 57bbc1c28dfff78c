//! Drift check cost against moto, in bulk (the product) and the per-user way (what it replaces), for
//! 100, 1,000 and 5,000 managed users. Prints wall time, IAM calls and peak heap; asserts nothing.
//! Run: `cargo bench --bench drift` (sizes can be given: `cargo bench --bench drift -- 100 1000`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use aws_sdk_iam::types::Tag;
use provisioning::config::DriftSettings;
use serde_json::json;
use test_support::{Moto, http_event, self_service};

/// Counts live heap bytes and their high-water mark, so each approach's peak can be read separately.
struct PeakHeap;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for PeakHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakHeap = PeakHeap;

fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

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
        peak_mib: (PEAK.load(Ordering::Relaxed) - base) as f64 / (1024.0 * 1024.0),
    }
}

/// Users made the way onboarding leaves them (path, tags, grant group, one key), created directly so
/// that setting up 5,000 users takes a minute, not an hour.
async fn populate(moto: &Moto, count: usize) {
    let iam = moto.iam().await;
    let tag = |k: &str, v: &str| {
        Tag::builder()
            .key(k)
            .value(v)
            .build()
            .expect("key and value are set")
    };
    let mut pending = tokio::task::JoinSet::new();
    for index in 0..count {
        let iam = iam.clone();
        let tags = vec![
            tag("onboarding:managed", "true"),
            tag("onboarding:roles", "ResourceCreatorRole"),
        ];
        pending.spawn(async move {
            let name = format!("bench-user-{index:05}");
            iam.create_user()
                .user_name(&name)
                .path("/onboarded/")
                .set_tags(Some(tags))
                .send()
                .await
                .expect("create user");
            iam.add_user_to_group()
                .user_name(&name)
                .group_name("onboarding-ResourceCreatorRole")
                .send()
                .await
                .expect("grant");
            iam.create_access_key()
                .user_name(&name)
                .send()
                .await
                .expect("key");
        });
        while pending.len() >= 16 {
            pending.join_next().await;
        }
    }
    while pending.join_next().await.is_some() {}
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
        populate(&moto, count - 1).await;
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
