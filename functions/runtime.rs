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

use crate::app::{App, Serves};
use crate::metrics::Metrics;

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
    let cutoff = deadline
        .checked_sub(ANSWER_MARGIN)
        .unwrap_or(deadline)
        .into();
    tokio::time::timeout_at(cutoff, provisioning::deadline::answer_by(cutoff, work))
        .await
        .unwrap_or(Err(Error::DeadlineExceeded))
}

/// Runs `work` if it ends before the invocation must answer; `None` when the deadline came first. For
/// work after the answer is decided (publishing its outcome), which must never keep the answer, and the
/// secret it may hold, from its caller.
pub async fn before_deadline<T>(work: impl Future<Output = T>) -> Option<T> {
    let Ok(deadline) = DEADLINE.try_with(|deadline| *deadline) else {
        return Some(work.await);
    };
    let cutoff = deadline.checked_sub(ANSWER_MARGIN).unwrap_or(deadline);
    tokio::time::timeout_at(cutoff.into(), work).await.ok()
}

/// The Lambda context's deadline (milliseconds since the epoch) as an `Instant`. `None` when it has already
/// passed as the invocation arrives: Lambda never delivers such an invocation, but a local emulator does
/// when it queued the event while compiling the function (`cargo lambda watch`'s first invoke).
fn deadline_of(context: &lambda_runtime::Context) -> Option<Instant> {
    let remaining = context.deadline().duration_since(SystemTime::now()).ok()?;
    Some(Instant::now() + remaining)
}

/// Starts the function named `function` (its binary's name, the metrics' `Function` dimension): init
/// (configuration, clients, account, metrics) once, then one `handler` call per invocation, each bounded
/// by that invocation's deadline and followed by its metrics.
pub async fn serve<F, Fut, R, E>(
    function: &'static str,
    serves: Serves,
    handler: F,
) -> std::result::Result<(), lambda_runtime::Error>
where
    F: Fn(&'static App, Value) -> Fut,
    Fut: Future<Output = std::result::Result<R, E>>,
    R: Serialize,
    E: Into<lambda_runtime::Diagnostic> + std::fmt::Debug,
{
    let app: &'static App = Box::leak(Box::new(crate::app::init(serves).await?));
    let metrics = &*Box::leak(Box::new(
        Metrics::install(function)
            .inspect_err(|error| tracing::error!(error = %error, "init failed"))?,
    ));
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let answer = match deadline_of(&event.context) {
            Some(deadline) => with_deadline(deadline, handler(app, event.payload)).await,
            None => {
                tracing::warn!("the invocation arrived after its deadline; running it without one");
                handler(app, event.payload).await
            }
        };
        metrics.flush(&event.context.request_id, app.iam.iam_retries());
        answer
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context_with_deadline(deadline: SystemTime) -> lambda_runtime::Context {
        let mut context = lambda_runtime::Context::default();
        context.deadline = deadline
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|since| since.as_millis() as u64)
            .unwrap_or(0);
        context
    }

    #[test]
    fn a_deadline_already_passed_is_no_deadline() {
        let past = context_with_deadline(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(deadline_of(&past), None);
        let future = context_with_deadline(SystemTime::now() + Duration::from_secs(29));
        let remaining = deadline_of(&future)
            .expect("a deadline")
            .duration_since(Instant::now());
        assert!(remaining > Duration::from_secs(27) && remaining <= Duration::from_secs(29));
    }

    #[tokio::test]
    async fn work_past_the_deadline_is_cut_off_with_a_retryable_error() {
        let slow = async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        };
        let outcome = with_deadline(
            Instant::now() + ANSWER_MARGIN + Duration::from_millis(100),
            within_deadline(slow),
        )
        .await;
        let error = outcome.expect_err("cut off");
        assert_eq!(error.code(), "upstream_unavailable");
        assert!(error.is_retryable());
        assert_eq!(within_deadline(async { Ok(7) }).await.ok(), Some(7));
    }
}
