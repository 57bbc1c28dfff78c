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

/// `count` users made the way onboarding leaves them for `role` (path, tags, grant group, one key),
/// created directly so that 5,000 take a minute, not an hour. The grant group must exist.
pub async fn populate_managed_users(
    iam: &aws_sdk_iam::Client,
    count: usize,
    roles: &str,
    group: &str,
) {
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
        });
        while pending.len() >= 16 {
            pending.join_next().await;
        }
    }
    while pending.join_next().await.is_some() {}
}
