//! What the benchmarks share: a heap high-water mark, and managed users made in bulk.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_iam::types::Tag;

/// Counts live heap bytes and their high-water mark. A benchmark installs it as its
/// `#[global_allocator]`, then reads each step's peak with `reset_peak` and `peak_since`.
pub struct PeakHeap;

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

/// Starts a new measurement; returns the bytes live now, its baseline.
pub fn reset_peak() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// The high-water mark above `baseline`, in MiB.
pub fn peak_mib_since(baseline: usize) -> f64 {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline) as f64 / (1024.0 * 1024.0)
}

/// What `run` answers, with its wall time in seconds and its heap high-water mark in MiB.
pub async fn timed<T>(run: impl Future<Output = T>) -> (T, f64, f64) {
    let base = reset_peak();
    let started = std::time::Instant::now();
    let answer = run.await;
    (
        answer,
        started.elapsed().as_secs_f64(),
        peak_mib_since(base),
    )
}

/// The hub sizes a benchmark measures: its arguments, or 100, 1,000 and 5,000 managed users.
pub fn sizes_from_args() -> Vec<usize> {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        vec![100, 1000, 5000]
    } else {
        sizes
    }
}

/// Users `bench-user-<index>` for each index of `indices`, made the way onboarding leaves them for `roles`
/// (path, tags, the grant `group`, one access key and, with `mfa`, an enabled virtual MFA device), created
/// directly with the SDK so that 5,000 take a minute, not an hour. The grant group must exist.
pub async fn populate_managed_users(
    iam: &aws_sdk_iam::Client,
    indices: std::ops::Range<usize>,
    roles: &str,
    group: &str,
    mfa: bool,
) {
    let tag = |k: &str, v: &str| {
        Tag::builder()
            .key(k)
            .value(v)
            .build()
            .expect("key and value are set")
    };
    let mut pending = tokio::task::JoinSet::new();
    for index in indices {
        let iam = iam.clone();
        let tags = vec![
            tag("onboarding:managed", "true"),
            tag("onboarding:stack", "iam-onboarding"),
            tag("onboarding:roles", roles),
        ];
        let group = group.to_string();
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
                .group_name(&group)
                .send()
                .await
                .expect("grant");
            iam.create_access_key()
                .user_name(&name)
                .send()
                .await
                .expect("key");
            if mfa {
                let device = iam
                    .create_virtual_mfa_device()
                    .virtual_mfa_device_name(&name)
                    .path("/onboarded/")
                    .send()
                    .await
                    .expect("MFA device");
                let serial = device
                    .virtual_mfa_device()
                    .map(|d| d.serial_number().to_string())
                    .expect("a serial number");
                iam.enable_mfa_device()
                    .user_name(&name)
                    .serial_number(serial)
                    .authentication_code1("123456")
                    .authentication_code2("654321")
                    .send()
                    .await
                    .expect("enable MFA");
            }
        });
        while pending.len() >= 16 {
            pending.join_next().await;
        }
    }
    while pending.join_next().await.is_some() {}
}
