//! The functions' CloudWatch metrics, namespace `IamOnboarding`, in Embedded Metric Format: one JSON line
//! per metric set on stdout (the function's log stream), which CloudWatch turns into metrics with no
//! PutMetricData call, no permission and no latency. Every metric has the `Function` dimension (the
//! binary's name); each line carries `cold_start` and the Lambda `request_id` as properties.
//!
//! What is counted is decided where the answer is made, once for every handler: a success where the
//! handler answers it ([`count`]), a refusal or an internal error where every error is answered
//! ([`count_failure`], from `http::error_response`, `events::failed` and `app::diagnostic`), and IAM's
//! retries from the IAM client's counter, read by `runtime::serve` after each invocation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use metrics_cloudwatch_embedded::Collector;
use provisioning::Error;

use crate::http::status_of;

pub const NAMESPACE: &str = "IamOnboarding";

/// A request that did what it was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Onboarding,
    MfaEnrolment,
    KeyIssued,
    KeyDeleted,
    Offboarding,
    Revocation,
}

impl Done {
    const ALL: [Done; 6] = [
        Done::Onboarding,
        Done::MfaEnrolment,
        Done::KeyIssued,
        Done::KeyDeleted,
        Done::Offboarding,
        Done::Revocation,
    ];

    pub fn metric(self) -> &'static str {
        match self {
            Done::Onboarding => "Onboardings",
            Done::MfaEnrolment => "MfaEnrolments",
            Done::KeyIssued => "KeysIssued",
            Done::KeyDeleted => "KeysDeleted",
            Done::Offboarding => "Offboardings",
            Done::Revocation => "Revocations",
        }
    }
}

/// The metrics besides [`Done`]'s.
const FAILURES_AND_RETRIES: [&str; 3] = ["Refusals", "InternalErrors", "IamRetries"];

pub fn count(done: Done) {
    metrics::counter!(done.metric()).increment(1);
}

/// A refusal (any 4xx answer, by its stable code) or an internal error (5xx), as the HTTP API would
/// answer it, whatever the trigger: an EventBridge or drift request fails the same way.
pub fn count_failure(error: &Error) {
    if status_of(error) >= 500 {
        metrics::counter!("InternalErrors").increment(1);
    } else {
        metrics::counter!("Refusals", "Code" => error.code()).increment(1);
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the metrics recorder could not be installed: {0}")]
pub struct MetricsError(String);

/// The process's metrics: installed once, written after each invocation.
pub struct Metrics {
    collector: &'static Collector,
    cold_start: AtomicBool,
    iam_retries_reported: AtomicUsize,
}

impl Metrics {
    /// Installs the process-wide recorder, every metric dimensioned by `function`.
    pub fn install(function: &'static str) -> Result<Self, MetricsError> {
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(NAMESPACE)
            .with_dimension("Function", function)
            .init()
            .map_err(|error| MetricsError(error.to_string()))?;
        for name in Done::ALL
            .map(Done::metric)
            .into_iter()
            .chain(FAILURES_AND_RETRIES)
        {
            metrics::describe_counter!(name, metrics::Unit::Count, "");
        }
        Ok(Metrics {
            collector,
            cold_start: AtomicBool::new(true),
            iam_retries_reported: AtomicUsize::new(0),
        })
    }

    /// Writes what the invocation `request_id` counted. `iam_retries` is the IAM client's running total:
    /// its growth since the last invocation is this one's.
    pub fn flush(&self, request_id: &str, iam_retries: usize) {
        let before = self
            .iam_retries_reported
            .swap(iam_retries, Ordering::Relaxed);
        let retried = iam_retries.saturating_sub(before);
        if retried > 0 {
            metrics::counter!("IamRetries").increment(retried as u64);
        }
        let cold_start = self.cold_start.swap(false, Ordering::Relaxed);
        let written = self
            .collector
            .set_property("cold_start", cold_start)
            .set_property("request_id", request_id)
            .flush(std::io::stdout().lock());
        if let Err(error) = written {
            tracing::error!(error = %error, "metrics not written");
        }
    }
}
