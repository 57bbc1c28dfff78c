//! Any AWS SDK failure (IAM, STS, SNS, EventBridge) that survived the SDK's own retries, as a domain
//! error: throttling and 5xx are marked retryable so a caller (or EventBridge) may try again later.

use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};

use crate::error::Error;

fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error.code()
}

pub(crate) fn is_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>, codes: &[&str]) -> bool {
    error_code(error).is_some_and(|code| codes.contains(&code))
}

pub(crate) type HttpResponse = aws_smithy_runtime_api::http::Response;

/// IAM refused the call for its rate: nothing was changed, and the same call can be sent again.
pub(crate) fn is_throttling<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::ServiceError(service) => {
            service.raw().status().as_u16() == 429
                || service
                    .err()
                    .code()
                    .is_some_and(|code| code.contains("Throttl") || code == "RequestLimitExceeded")
        }
        _ => false,
    }
}

/// The call may or may not have taken effect: the connection dropped, the answer was late or lost, or
/// IAM failed on its side.
pub(crate) fn outcome_unknown<E>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service.raw().status().as_u16() >= 500,
        _ => false,
    }
}

pub(crate) fn aws_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let retryable = is_throttling(&error) || outcome_unknown(&error);
    let detail = match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("")),
        None => aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
    };
    Error::aws(operation, detail, retryable)
}
