//! The time by which the current request must have answered, when it runs inside an invocation with a
//! deadline (the functions set it; tests and tools run without one). A step that may take longer than the
//! time left, and whose outcome the answer can do without, ends early: the answer may carry a secret that
//! exists already, and an invocation cut off at its deadline loses it.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

tokio::task_local! {
    static ANSWER_BY: Instant;
}

/// What follows a new key's check only builds the answer, without calling AWS: this is ample for it.
const AFTER_KEY_CHECK: Duration = Duration::from_millis(250);

/// Runs `work` knowing it must have answered by `cutoff`.
pub async fn answer_by<F: Future>(cutoff: Instant, work: F) -> F::Output {
    ANSWER_BY.scope(cutoff, work).await
}

/// When the wait for a new key to be usable must end: after `limit`, or sooner when the request must
/// answer before then.
pub fn key_check_ends(now: Instant, limit: Duration) -> Instant {
    key_check_ends_by(now, limit, ANSWER_BY.try_with(|cutoff| *cutoff).ok())
}

fn key_check_ends_by(now: Instant, limit: Duration, cutoff: Option<Instant>) -> Instant {
    let by_limit = now + limit;
    match cutoff.and_then(|cutoff| cutoff.checked_sub(AFTER_KEY_CHECK)) {
        Some(by_cutoff) => by_limit.min(by_cutoff.max(now)),
        None => by_limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_check_ends_in_time_to_answer() {
        let now = Instant::now();
        let limit = Duration::from_secs(20);
        assert_eq!(key_check_ends_by(now, limit, None), now + limit);
        let plenty = now + Duration::from_secs(28);
        assert_eq!(key_check_ends_by(now, limit, Some(plenty)), now + limit);
        let little = now + Duration::from_secs(3);
        assert_eq!(
            key_check_ends_by(now, limit, Some(little)),
            little - AFTER_KEY_CHECK
        );
        let none_left = now + Duration::from_millis(100);
        assert_eq!(key_check_ends_by(now, limit, Some(none_left)), now);
    }

    #[tokio::test]
    async fn the_cutoff_is_the_one_of_the_request_running() {
        let now = Instant::now();
        let limit = Duration::from_secs(20);
        assert_eq!(key_check_ends(now, limit), now + limit);
        let cutoff = now + Duration::from_secs(5);
        let ends = answer_by(cutoff, async { key_check_ends(now, limit) }).await;
        assert_eq!(ends, cutoff - AFTER_KEY_CHECK);
    }
}
