//! The IAM and STS clients, the SDK settings every function uses, and the count of IAM calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;

use super::errors::aws_error;
use crate::account::Account;
use crate::error::{Error, Result};

#[derive(Clone, Debug)]
pub struct Iam {
    pub(super) iam: aws_sdk_iam::Client,
    pub(super) sts: aws_sdk_sts::Client,
    pub(super) sdk_config: SdkConfig,
    calls: Arc<AtomicUsize>,
}

/// Counts IAM operations (not retry attempts): the drift check reports it, and its cost must grow with
/// pages of results, not with users.
#[derive(Debug)]
struct CountCalls(Arc<AtomicUsize>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "CountIamCalls"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The SDK settings every function uses; `load_sdk_config` adds the environment (credentials, region,
/// `AWS_ENDPOINT_URL`), tests add moto's endpoint.
///
/// Standard retry mode: throttling, 5xx and dropped connections are retried with jittered exponential
/// backoff. An attempt that hangs is cut off so it can be retried; the invocation's deadline bounds the
/// whole (see the functions' `runtime`).
pub fn sdk_config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(6))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .build(),
        )
}

/// IAM answers in well under a second; a page of GetAccountAuthorizationDetails for a large account in
/// a few. Longer than this, the attempt is presumed lost and retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn load_sdk_config() -> SdkConfig {
    sdk_config_loader().load().await
}

impl Iam {
    pub fn new(sdk_config: &SdkConfig) -> Self {
        let calls = Arc::new(AtomicUsize::new(0));
        let iam_config = aws_sdk_iam::config::Builder::from(sdk_config)
            .interceptor(CountCalls(calls.clone()))
            .build();
        Iam {
            iam: aws_sdk_iam::Client::from_conf(iam_config),
            sts: aws_sdk_sts::Client::new(sdk_config),
            sdk_config: sdk_config.clone(),
            calls,
        }
    }

    /// IAM operations made through this client since it was built.
    pub fn iam_calls(&self) -> usize {
        self.calls.load(Ordering::Relaxed)
    }

    pub async fn account(&self) -> Result<Account> {
        let identity = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("GetCallerIdentity", e))?;
        identity.arn().and_then(Account::from_arn).ok_or_else(|| {
            Error::aws(
                "GetCallerIdentity",
                "the caller identity has no usable ARN",
                false,
            )
        })
    }

    /// The SDK settings this client was built from: the publishing ports beside it use the same.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    /// A client that answers from `client` (a mock in unit tests).
    #[cfg(test)]
    pub(crate) fn with_client(client: aws_sdk_iam::Client) -> Self {
        let sdk_config = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Iam {
            iam: client,
            sts: aws_sdk_sts::Client::new(&sdk_config),
            sdk_config,
            calls: Default::default(),
        }
    }
}
