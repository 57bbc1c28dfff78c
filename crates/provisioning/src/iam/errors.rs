//! What IAM's own answers call for: documents to decode, "already gone" that counts as done, and the
//! retry while a new principal propagates. The mapping of any SDK failure is `crate::sdk_error`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::policy::decode_document;
use crate::sdk_error::HttpResponse;
pub(crate) use crate::sdk_error::{aws_error, is_code, is_throttling, outcome_unknown};

/// How long to keep retrying IAM's "Invalid principal in policy" while a new user propagates: 15 s in
/// all, inside the functions' 29 s timeout.
pub(crate) const PRINCIPAL_PROPAGATION_DELAYS: [u64; 4] = [1, 2, 4, 8];

pub(crate) fn decode(operation: &'static str, raw: &str) -> Result<Value> {
    decode_document(raw).map_err(|error| Error::aws(operation, error, false))
}

/// Removing something that is already gone is success: repairs are idempotent.
pub(crate) fn tolerate_absent<T, E>(
    operation: &'static str,
    outcome: std::result::Result<T, SdkError<E, HttpResponse>>,
) -> Result<()>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match outcome {
        Ok(_) => Ok(()),
        Err(error) if is_code(&error, &["NoSuchEntity"]) => Ok(()),
        Err(error) => Err(aws_error(operation, error)),
    }
}

/// Retries a call that IAM refuses with "Invalid principal in policy": a user created a moment ago is not
/// yet visible to the policy validator. Any other outcome is returned at once. Each retry is added to
/// `retries`.
pub(crate) async fn retry_while_principal_propagates<T, E, R, F, Fut>(
    retries: &AtomicUsize,
    mut call: F,
) -> std::result::Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, SdkError<E, R>>>,
{
    let mut delays = PRINCIPAL_PROPAGATION_DELAYS.iter();
    loop {
        match call().await {
            Err(error) if is_invalid_principal(&error) => match delays.next() {
                Some(seconds) => {
                    tracing::warn!(
                        retry_in_seconds = seconds,
                        "IAM does not see a new principal yet; retrying"
                    );
                    tokio::time::sleep(Duration::from_secs(*seconds)).await;
                    retries.fetch_add(1, Ordering::Relaxed);
                }
                None => return Err(error),
            },
            outcome => return outcome,
        }
    }
}

fn is_invalid_principal<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    is_code(error, &["MalformedPolicyDocument"])
        && error
            .message()
            .is_some_and(|m| m.contains("Invalid principal"))
}
