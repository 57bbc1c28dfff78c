//! The Lambda runtime loop every function binary runs, and the invocation's deadline.
//!
//! Lambda kills an invocation at its deadline without a word; API Gateway then answers 503 with no body
//! and no hint. Work is therefore cut off shortly before the deadline, so the caller always gets our own
//! answer (`upstream_unavailable` with `Retry-After`) and every IAM change made so far is one a retry
//! finishes.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use lambda_runtime::{LambdaEvent, service_fn};
use provisioning::{Error, Result};
use serde::Serialize;
use serde_json::Value;

use crate::app::App;

/// Time kept back to encode the answer and log it before Lambda's own deadline.
const ANSWER_MARGIN: Duration = Duration::from_millis(500);

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Runs `work` with `deadline` as the time by which it must have answered.
pub async fn with_deadline<F: Future>(deadline: Instant, work: F) -> F::Output {
    DEADLINE.scope(deadline, work).await
}

/// Runs `work`, or gives up with `Error::DeadlineExceeded` when the invocation's deadline (less the
/// answer margin) comes first. Outside an invocation (tests, tools) there is no deadline.
pub async fn within_deadline<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    let Ok(deadline) = DEADLINE.try_with(|deadline| *deadline) else {
        return work.await;
    };
    let cutoff = deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline);
    tokio::time::timeout_at(cutoff.into(), work)
        .await
        .unwrap_or(Err(Error::DeadlineExceeded))
}

/// The Lambda context's deadline (milliseconds since the epoch) as an `Instant`.
fn deadline_of(context: &lambda_runtime::Context) -> Instant {
    let remaining = context
        .deadline()
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    Instant::now() + remaining
}

/// Starts the function: init (configuration, clients, account) once, then one `handler` call per
/// invocation, each bounded by that invocation's deadline.
pub async fn serve<F, Fut, R, E>(handler: F) -> std::result::Result<(), lambda_runtime::Error>
where
    F: Fn(&'static App, Value) -> Fut,
    Fut: Future<Output = std::result::Result<R, E>>,
    R: Serialize,
    E: Into<lambda_runtime::Diagnostic> + std::fmt::Debug,
{
    let app: &'static App = Box::leak(Box::new(crate::app::init().await?));
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        with_deadline(deadline_of(&event.context), handler(app, event.payload)).await
    }))
    .await
}
