//! Handing a new access key to its person, the same for onboarding and issue-key: how long IAM takes to
//! make it usable, how long a request may wait for that, and the record that its secret was answered.

use std::time::Duration;

use crate::iam::{Iam, NewAccessKey};
use crate::names::KEY_SHOWN_TAG;
use crate::plan::Change;

/// IAM's documented propagation time for a new access key.
pub const KEY_USABLE_AFTER_SECONDS: u64 = 15;
/// Below the functions' 29 s timeout (API Gateway gives up at 30 s): a key created by a request that
/// timed out would be a secret nobody ever receives.
pub(crate) const KEY_WAIT_LIMIT: Duration = Duration::from_secs(20);

/// Tags the user with the id of the key whose secret is about to be answered, so that a replay can tell a
/// key whose secret was handed out from one whose creating request died before answering. Best effort:
/// the secret in hand matters more than the record, and a missing record only makes a replay advise a
/// rotation that was not needed.
pub(crate) async fn record_key_shown(iam: &Iam, user: &str, key: &NewAccessKey) {
    let change = Change::TagUser {
        user: user.to_string(),
        tags: vec![(KEY_SHOWN_TAG.to_string(), key.id.clone())],
    };
    if let Err(error) = iam.apply(&change).await {
        tracing::warn!(user, access_key_id = %key.id, error = %error, "could not record that the key's secret was shown");
    }
}
