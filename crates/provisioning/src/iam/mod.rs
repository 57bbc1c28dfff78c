//! The one module that talks to AWS. Everything else in the crate is pure; this module turns IAM and STS
//! responses into `state` types and applies `plan::Change`s, each one idempotent.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::{StatusType, SummaryKeyType, Tag};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

pub use crate::secret::Secret;

use crate::account::Account;
use crate::error::{Error, Result};
use crate::plan::Change;
use crate::policy::decode_document;
use crate::state::{AccessKeyInfo, ObservedGroup, ObservedRole, ObservedUser};

#[derive(Debug, Clone)]
pub struct NewAccessKey {
    pub id: String,
    pub secret: Secret,
}

#[derive(Debug, Clone)]
pub struct NewMfaDevice {
    pub serial_number: String,
    pub base32_seed: Secret,
}

#[derive(Debug)]
pub enum Applied {
    Done,
    /// `CreateUser` found a user of that name, made since it was observed (a concurrent request).
    UserAlreadyExists,
    AccessKey(NewAccessKey),
    /// `None`: a device was already waiting to be enabled, and its seed is not ours to show again.
    VirtualMfaDevice(Option<NewMfaDevice>),
}

/// How long to keep retrying IAM's "Invalid principal in policy" while a new user propagates: 15 s in
/// all, inside the functions' 29 s timeout.
const PRINCIPAL_PROPAGATION_DELAYS: [u64; 4] = [1, 2, 4, 8];

mod alerts;
mod bulk;
pub mod events;
mod lifecycle;
pub mod locks;

/// How much of a role or group to read.
#[derive(Clone, Copy, Debug)]
pub enum Reading<'a> {
    /// Everything it holds: what `status` reports and judges.
    Complete,
    /// What a plan compares: the entity (a role's trust policy and attached policies) and the one inline
    /// policy the plan writes, if any. Onboarding reads this much, saving the listing calls.
    ForPlan { inline_policy: Option<&'a str> },
}

#[derive(Clone, Debug)]
pub struct Iam {
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    sdk_config: SdkConfig,
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

fn error_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> Option<&str> {
    error.code()
}

fn is_code<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>, codes: &[&str]) -> bool {
    error_code(error).is_some_and(|code| codes.contains(&code))
}

type HttpResponse = aws_smithy_runtime_api::http::Response;

/// Maps an SDK failure that survived the SDK's own retries to a domain error. Throttling and 5xx are
/// marked retryable so a caller (or EventBridge) may try again later.
/// IAM refused the call for its rate: nothing was changed, and the same call can be sent again.
fn is_throttling<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
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
fn outcome_unknown<E>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => service.raw().status().as_u16() >= 500,
        _ => false,
    }
}

fn aws_error<E>(operation: &'static str, error: SdkError<E, HttpResponse>) -> Error
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

fn decode(operation: &'static str, raw: &str) -> Result<Value> {
    decode_document(raw).map_err(|error| Error::aws(operation, error, false))
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

    pub async fn observe_user(&self, name: &str) -> Result<Option<ObservedUser>> {
        let output = match self.iam.get_user().user_name(name).send().await {
            Ok(output) => output,
            Err(error) if is_code(&error, &["NoSuchEntity"]) => return Ok(None),
            Err(error) => return Err(aws_error("GetUser", error)),
        };
        let Some(user) = output.user() else {
            return Ok(None);
        };
        crate::names::check_returned_user_name(name, user.user_name())?;
        let mut observed = ObservedUser {
            name: user.user_name().to_string(),
            arn: user.arn().to_string(),
            path: user.path().to_string(),
            tags: user
                .tags()
                .iter()
                .map(|tag| (tag.key().to_string(), tag.value().to_string()))
                .collect(),
            created: std::time::SystemTime::try_from(*user.create_date()).ok(),
            permissions_boundary: user
                .permissions_boundary()
                .and_then(|boundary| boundary.permissions_boundary_arn())
                .map(str::to_string),
            ..ObservedUser::default()
        };
        // An unmanaged user is refused before anything else is read: we learn no more of it than we need.
        if observed
            .tags
            .get(crate::names::MANAGED_TAG)
            .map(String::as_str)
            != Some("true")
        {
            return Ok(Some(observed));
        }

        let groups = self
            .iam
            .list_groups_for_user()
            .user_name(name)
            .into_paginator()
            .items()
            .send();
        observed.groups = groups
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListGroupsForUser", e))?
            .iter()
            .map(|group| group.group_name().to_string())
            .collect();

        let policy_names = self
            .iam
            .list_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send();
        for policy_name in policy_names
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListUserPolicies", e))?
        {
            let policy = self
                .iam
                .get_user_policy()
                .user_name(name)
                .policy_name(&policy_name)
                .send()
                .await
                .map_err(|e| aws_error("GetUserPolicy", e))?;
            observed.inline_policies.insert(
                policy_name,
                decode("GetUserPolicy", policy.policy_document())?,
            );
        }

        let attached = self
            .iam
            .list_attached_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send();
        observed.attached_policies = attached
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListAttachedUserPolicies", e))?
            .iter()
            .filter_map(|policy| policy.policy_arn().map(str::to_string))
            .collect();

        observed.access_keys = self
            .access_keys(name)
            .await?
            .into_iter()
            .map(|key| AccessKeyInfo {
                id: key.id,
                active: key.active,
            })
            .collect();

        let devices = self
            .iam
            .list_mfa_devices()
            .user_name(name)
            .send()
            .await
            .map_err(|e| aws_error("ListMFADevices", e))?;
        observed.mfa_devices = devices
            .mfa_devices()
            .iter()
            .map(|device| device.serial_number().to_string())
            .collect();
        Ok(Some(observed))
    }

    pub async fn observe_role(
        &self,
        name: &str,
        reading: Reading<'_>,
    ) -> Result<Option<ObservedRole>> {
        let output = match self.iam.get_role().role_name(name).send().await {
            Ok(output) => output,
            Err(error) if is_code(&error, &["NoSuchEntity"]) => return Ok(None),
            Err(error) => return Err(aws_error("GetRole", error)),
        };
        let Some(role) = output.role() else {
            return Ok(None);
        };
        let trust_policy = match role.assume_role_policy_document() {
            Some(raw) => decode("GetRole", raw)?,
            None => Value::Null,
        };
        let attached = self
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send();
        let attached_policies = attached
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListAttachedRolePolicies", e))?
            .iter()
            .filter_map(|policy| policy.policy_arn().map(str::to_string))
            .collect();
        let mut inline_policies = BTreeMap::new();
        let names = match reading {
            Reading::Complete => self
                .iam
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<std::result::Result<Vec<_>, _>>()
                .await
                .map_err(|e| aws_error("ListRolePolicies", e))?,
            Reading::ForPlan { inline_policy } => {
                inline_policy.into_iter().map(str::to_string).collect()
            }
        };
        for policy_name in names {
            let policy = match self
                .iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy_name)
                .send()
                .await
            {
                Ok(policy) => policy,
                Err(error) if is_code(&error, &["NoSuchEntity"]) => continue,
                Err(error) => return Err(aws_error("GetRolePolicy", error)),
            };
            inline_policies.insert(
                policy_name,
                decode("GetRolePolicy", policy.policy_document())?,
            );
        }
        Ok(Some(ObservedRole {
            name: role.role_name().to_string(),
            arn: role.arn().to_string(),
            trust_policy,
            attached_policies,
            inline_policies,
            max_session_duration: role.max_session_duration(),
            // GetRole carries both: ownership and the boundary cost no call of their own.
            permissions_boundary: role
                .permissions_boundary()
                .and_then(|boundary| boundary.permissions_boundary_arn())
                .map(str::to_string),
            tags: role
                .tags()
                .iter()
                .map(|tag| (tag.key().to_string(), tag.value().to_string()))
                .collect(),
        }))
    }

    pub async fn observe_group(
        &self,
        name: &str,
        reading: Reading<'_>,
    ) -> Result<Option<ObservedGroup>> {
        match self
            .iam
            .get_group()
            .group_name(name)
            .max_items(1)
            .send()
            .await
        {
            Ok(_) => {}
            Err(error) if is_code(&error, &["NoSuchEntity"]) => return Ok(None),
            Err(error) => return Err(aws_error("GetGroup", error)),
        }
        let mut observed = ObservedGroup {
            name: name.to_string(),
            ..ObservedGroup::default()
        };
        let names = match reading {
            Reading::Complete => self
                .iam
                .list_group_policies()
                .group_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<std::result::Result<Vec<_>, _>>()
                .await
                .map_err(|e| aws_error("ListGroupPolicies", e))?,
            Reading::ForPlan { inline_policy } => {
                inline_policy.into_iter().map(str::to_string).collect()
            }
        };
        for policy_name in names {
            let policy = match self
                .iam
                .get_group_policy()
                .group_name(name)
                .policy_name(&policy_name)
                .send()
                .await
            {
                Ok(policy) => policy,
                Err(error) if is_code(&error, &["NoSuchEntity"]) => continue,
                Err(error) => return Err(aws_error("GetGroupPolicy", error)),
            };
            observed.inline_policies.insert(
                policy_name,
                decode("GetGroupPolicy", policy.policy_document())?,
            );
        }
        if matches!(reading, Reading::Complete) {
            let attached = self
                .iam
                .list_attached_group_policies()
                .group_name(name)
                .into_paginator()
                .items()
                .send();
            observed.attached_policies = attached
                .collect::<std::result::Result<Vec<_>, _>>()
                .await
                .map_err(|e| aws_error("ListAttachedGroupPolicies", e))?
                .iter()
                .filter_map(|policy| policy.policy_arn().map(str::to_string))
                .collect();
        }
        Ok(Some(observed))
    }

    /// `AssumeRolePolicySizeQuota` of the account (2,048 unless raised).
    pub async fn trust_policy_size_quota(&self) -> Result<usize> {
        let summary = self
            .iam
            .get_account_summary()
            .send()
            .await
            .map_err(|e| aws_error("GetAccountSummary", e))?;
        let quota = summary
            .summary_map()
            .and_then(|map| map.get(&SummaryKeyType::AssumeRolePolicySizeQuota))
            .copied();
        Ok(quota.and_then(|q| usize::try_from(q).ok()).unwrap_or(2048))
    }

    pub async fn apply(&self, change: &Change) -> Result<Applied> {
        tracing::info!(
            change = change_name(change),
            target = change_target(change),
            "applying"
        );
        match change {
            Change::CreateUser {
                name,
                path,
                tags,
                permissions_boundary,
            } => {
                let tags = tags
                    .iter()
                    .map(|(key, value)| Tag::builder().key(key).value(value).build())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::aws("CreateUser", e, false))?;
                let request = self
                    .iam
                    .create_user()
                    .user_name(name)
                    .path(path)
                    .set_tags(Some(tags))
                    .set_permissions_boundary(permissions_boundary.clone());
                match request.send().await {
                    Ok(_) => {}
                    // Someone made a user of that name since we looked: the caller finds out whose.
                    Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {
                        return Ok(Applied::UserAlreadyExists);
                    }
                    Err(error) => return Err(aws_error("CreateUser", error)),
                }
            }
            Change::SetUserBoundary { user, policy_arn } => {
                self.iam
                    .put_user_permissions_boundary()
                    .user_name(user)
                    .permissions_boundary(policy_arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("PutUserPermissionsBoundary", e))?;
            }
            Change::CreateRole {
                name,
                trust_policy,
                max_session_duration,
                description,
                permissions_boundary,
                tags,
            } => {
                let document = trust_policy.to_string();
                let tags = tags
                    .iter()
                    .map(|(key, value)| Tag::builder().key(key).value(value).build())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::aws("CreateRole", e, false))?;
                let created = retry_while_principal_propagates(|| {
                    self.iam
                        .create_role()
                        .role_name(name)
                        .assume_role_policy_document(&document)
                        .max_session_duration(*max_session_duration)
                        .set_description(description.clone())
                        .set_permissions_boundary(permissions_boundary.clone())
                        .set_tags(Some(tags.clone()))
                        .send()
                })
                .await;
                match created {
                    Ok(_) => {}
                    // Created since we looked. By a concurrent onboarding with the same catalog entry, it
                    // is ours: in `users` mode its trust policy is edited next, under the lock, and
                    // overwriting it here would drop the other request's principal. By anyone else, the
                    // changes planned after this one must not be made to it.
                    Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {
                        if !self.role_is_owned(name).await? {
                            return Err(Error::RoleExistsUnmanaged(name.clone()));
                        }
                    }
                    Err(error) => return Err(aws_error("CreateRole", error)),
                }
            }
            Change::TagRole { role, tags } => {
                let tags = tags
                    .iter()
                    .map(|(key, value)| Tag::builder().key(key).value(value).build())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::aws("TagRole", e, false))?;
                self.iam
                    .tag_role()
                    .role_name(role)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws_error("TagRole", e))?;
            }
            Change::SetRoleBoundary { role, policy_arn } => {
                self.iam
                    .put_role_permissions_boundary()
                    .role_name(role)
                    .permissions_boundary(policy_arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("PutRolePermissionsBoundary", e))?;
            }
            Change::UpdateTrustPolicy { role, trust_policy } => {
                self.update_trust_policy(role, &trust_policy.to_string())
                    .await?;
            }
            Change::UpdateMaxSessionDuration { role, seconds } => {
                self.iam
                    .update_role()
                    .role_name(role)
                    .max_session_duration(*seconds)
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateRole", e))?;
            }
            Change::AttachRolePolicy { role, policy_arn } => {
                self.iam
                    .attach_role_policy()
                    .role_name(role)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("AttachRolePolicy", e))?;
            }
            Change::PutRolePolicy {
                role,
                policy_name,
                document,
            } => {
                self.iam
                    .put_role_policy()
                    .role_name(role)
                    .policy_name(policy_name)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .map_err(|e| aws_error("PutRolePolicy", e))?;
            }
            Change::CreateGroup { name } => {
                match self.iam.create_group().group_name(name).send().await {
                    Ok(_) => {}
                    Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {}
                    Err(error) => return Err(aws_error("CreateGroup", error)),
                }
            }
            Change::PutGroupPolicy {
                group,
                policy_name,
                document,
            } => {
                self.iam
                    .put_group_policy()
                    .group_name(group)
                    .policy_name(policy_name)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .map_err(|e| aws_error("PutGroupPolicy", e))?;
            }
            Change::AddUserToGroup { user, group } => {
                self.iam
                    .add_user_to_group()
                    .user_name(user)
                    .group_name(group)
                    .send()
                    .await
                    .map_err(|e| aws_error("AddUserToGroup", e))?;
            }
            Change::PutUserPolicy {
                user,
                policy_name,
                document,
            } => {
                self.iam
                    .put_user_policy()
                    .user_name(user)
                    .policy_name(policy_name)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .map_err(|e| aws_error("PutUserPolicy", e))?;
            }
            // Planned only for a user that holds no key.
            Change::CreateAccessKey { user } => {
                return self
                    .create_access_key(user, 0)
                    .await
                    .map(Applied::AccessKey);
            }
            Change::EnsureVirtualMfaDevice { user, path } => {
                return self
                    .create_virtual_mfa_device(user, path)
                    .await
                    .map(Applied::VirtualMfaDevice);
            }
            Change::TagUser { user, tags } => {
                let tags = tags
                    .iter()
                    .map(|(key, value)| Tag::builder().key(key).value(value).build())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::aws("TagUser", e, false))?;
                self.iam
                    .tag_user()
                    .user_name(user)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| aws_error("TagUser", e))?;
            }
            Change::DetachUserPolicy { user, policy_arn } => {
                let detached = self
                    .iam
                    .detach_user_policy()
                    .user_name(user)
                    .policy_arn(policy_arn)
                    .send()
                    .await;
                tolerate_absent("DetachUserPolicy", detached)?;
            }
            Change::DeleteUserPolicy { user, policy_name } => {
                let deleted = self
                    .iam
                    .delete_user_policy()
                    .user_name(user)
                    .policy_name(policy_name)
                    .send()
                    .await;
                tolerate_absent("DeleteUserPolicy", deleted)?;
            }
            Change::RemoveUserFromGroup { user, group } => {
                let removed = self
                    .iam
                    .remove_user_from_group()
                    .user_name(user)
                    .group_name(group)
                    .send()
                    .await;
                tolerate_absent("RemoveUserFromGroup", removed)?;
            }
            Change::DeleteLoginProfile { user } => {
                let deleted = self.iam.delete_login_profile().user_name(user).send().await;
                tolerate_absent("DeleteLoginProfile", deleted)?;
            }
            Change::DetachRolePolicy { role, policy_arn } => {
                let detached = self
                    .iam
                    .detach_role_policy()
                    .role_name(role)
                    .policy_arn(policy_arn)
                    .send()
                    .await;
                tolerate_absent("DetachRolePolicy", detached)?;
            }
            Change::DeleteRolePolicy { role, policy_name } => {
                let deleted = self
                    .iam
                    .delete_role_policy()
                    .role_name(role)
                    .policy_name(policy_name)
                    .send()
                    .await;
                tolerate_absent("DeleteRolePolicy", deleted)?;
            }
            Change::DetachGroupPolicy { group, policy_arn } => {
                let detached = self
                    .iam
                    .detach_group_policy()
                    .group_name(group)
                    .policy_arn(policy_arn)
                    .send()
                    .await;
                tolerate_absent("DetachGroupPolicy", detached)?;
            }
            Change::DeleteGroupPolicy { group, policy_name } => {
                let deleted = self
                    .iam
                    .delete_group_policy()
                    .group_name(group)
                    .policy_name(policy_name)
                    .send()
                    .await;
                tolerate_absent("DeleteGroupPolicy", deleted)?;
            }
            Change::DeactivateAccessKey { user, created } => {
                let keys = self
                    .iam
                    .list_access_keys()
                    .user_name(user)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListAccessKeys", e))?;
                let created_second = aws_smithy_types::DateTime::from(*created).secs();
                for key in keys.access_key_metadata() {
                    let same_key = key
                        .create_date()
                        .is_some_and(|date| date.secs() == created_second);
                    if same_key && key.status() == Some(&StatusType::Active) {
                        self.iam
                            .update_access_key()
                            .user_name(user)
                            .access_key_id(key.access_key_id().unwrap_or_default())
                            .status(StatusType::Inactive)
                            .send()
                            .await
                            .map_err(|e| aws_error("UpdateAccessKey", e))?;
                    }
                }
            }
        }
        Ok(Applied::Done)
    }

    async fn role_is_owned(&self, name: &str) -> Result<bool> {
        let reading = Reading::ForPlan {
            inline_policy: None,
        };
        let role = self.observe_role(name, reading).await?;
        Ok(role.is_some_and(|role| role.is_owned()))
    }

    async fn update_trust_policy(&self, role: &str, document: &str) -> Result<()> {
        retry_while_principal_propagates(|| {
            self.iam
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| aws_error("UpdateAssumeRolePolicy", e))
    }

    /// Creates the device named after the user; `None` when one already waits to be enabled.
    pub async fn create_virtual_mfa_device(
        &self,
        user: &str,
        path: &str,
    ) -> Result<Option<NewMfaDevice>> {
        let created = self
            .iam
            .create_virtual_mfa_device()
            .virtual_mfa_device_name(user)
            .path(path)
            .send()
            .await;
        let output = match created {
            Ok(output) => output,
            Err(error) if is_code(&error, &["EntityAlreadyExists"]) => return Ok(None),
            Err(error) => return Err(aws_error("CreateVirtualMFADevice", error)),
        };
        let device = output.virtual_mfa_device().ok_or_else(|| {
            Error::aws(
                "CreateVirtualMFADevice",
                "the response holds no device",
                false,
            )
        })?;
        let seed = device
            .base32_string_seed()
            .and_then(|blob| std::str::from_utf8(blob.as_ref()).ok())
            .ok_or_else(|| {
                Error::aws(
                    "CreateVirtualMFADevice",
                    "the response holds no base32 seed",
                    false,
                )
            })?;
        Ok(Some(NewMfaDevice {
            serial_number: device.serial_number().to_string(),
            base32_seed: Secret::new(seed),
        }))
    }

    /// Removes a virtual device that was never enabled, so that a lost QR code can be issued again.
    pub async fn delete_virtual_mfa_device(&self, serial_number: &str) -> Result<()> {
        match self
            .iam
            .delete_virtual_mfa_device()
            .serial_number(serial_number)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if is_code(&error, &["NoSuchEntity", "NotFoundException"]) => Ok(()),
            Err(error) => Err(aws_error("DeleteVirtualMFADevice", error)),
        }
    }

    pub async fn enable_mfa_device(
        &self,
        user: &str,
        serial_number: &str,
        code1: &str,
        code2: &str,
    ) -> Result<()> {
        let enabled = self
            .iam
            .enable_mfa_device()
            .user_name(user)
            .serial_number(serial_number)
            .authentication_code1(code1)
            .authentication_code2(code2)
            .send()
            .await;
        match enabled {
            Ok(_) => Ok(()),
            Err(error) if is_code(&error, &["InvalidAuthenticationCode"]) => {
                Err(Error::InvalidMfaCodes)
            }
            Err(error) if is_code(&error, &["NoSuchEntity"]) => Err(Error::InvalidRequest(
                "no MFA device is waiting to be enabled: POST an empty body first to issue one"
                    .into(),
            )),
            Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {
                Err(Error::MfaAlreadyEnabled(user.to_string()))
            }
            Err(error) => Err(aws_error("EnableMFADevice", error)),
        }
    }

    /// Waits until a new access key is accepted by STS, asking as that key. IAM takes 10–15 s to
    /// propagate a key; callers who cannot wait get a hint instead.
    pub async fn wait_until_key_usable(
        &self,
        key: &NewAccessKey,
        timeout: Duration,
    ) -> Result<bool> {
        let credentials = Credentials::new(
            &key.id,
            key.secret.expose(),
            None,
            None,
            "onboarding-new-key",
        );
        let config = aws_sdk_sts::config::Builder::from(&self.sdk_config)
            .credentials_provider(credentials)
            .build();
        let as_new_key = aws_sdk_sts::Client::from_conf(config);
        // The key exists: running out of time must answer "not yet usable", never cut the answer off.
        let ends = crate::deadline::key_check_ends(tokio::time::Instant::now(), timeout);
        loop {
            let checked = tokio::time::timeout_at(ends, as_new_key.get_caller_identity().send());
            match checked.await {
                Err(_) => return Ok(false),
                Ok(Ok(_)) => return Ok(true),
                Ok(Err(error))
                    if is_code(&error, &["InvalidClientTokenId", "SignatureDoesNotMatch"]) => {}
                Ok(Err(error)) => return Err(aws_error("GetCallerIdentity", error)),
            }
            let next = tokio::time::Instant::now() + Duration::from_secs(2);
            if next >= ends {
                return Ok(false);
            }
            tokio::time::sleep_until(next).await;
        }
    }
}

/// Removing something that is already gone is success: repairs are idempotent.
pub(super) fn tolerate_absent<T, E>(
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
/// yet visible to the policy validator. Any other outcome is returned at once.
async fn retry_while_principal_propagates<T, E, R, F, Fut>(
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

fn change_name(change: &Change) -> &'static str {
    match change {
        Change::CreateUser { .. } => "CreateUser",
        Change::SetUserBoundary { .. } => "SetUserBoundary",
        Change::CreateRole { .. } => "CreateRole",
        Change::TagRole { .. } => "TagRole",
        Change::SetRoleBoundary { .. } => "SetRoleBoundary",
        Change::UpdateTrustPolicy { .. } => "UpdateTrustPolicy",
        Change::UpdateMaxSessionDuration { .. } => "UpdateMaxSessionDuration",
        Change::AttachRolePolicy { .. } => "AttachRolePolicy",
        Change::PutRolePolicy { .. } => "PutRolePolicy",
        Change::CreateGroup { .. } => "CreateGroup",
        Change::PutGroupPolicy { .. } => "PutGroupPolicy",
        Change::AddUserToGroup { .. } => "AddUserToGroup",
        Change::PutUserPolicy { .. } => "PutUserPolicy",
        Change::CreateAccessKey { .. } => "CreateAccessKey",
        Change::EnsureVirtualMfaDevice { .. } => "EnsureVirtualMfaDevice",
        Change::TagUser { .. } => "TagUser",
        Change::DetachUserPolicy { .. } => "DetachUserPolicy",
        Change::DeleteUserPolicy { .. } => "DeleteUserPolicy",
        Change::RemoveUserFromGroup { .. } => "RemoveUserFromGroup",
        Change::DeleteLoginProfile { .. } => "DeleteLoginProfile",
        Change::DetachRolePolicy { .. } => "DetachRolePolicy",
        Change::DeleteRolePolicy { .. } => "DeleteRolePolicy",
        Change::DetachGroupPolicy { .. } => "DetachGroupPolicy",
        Change::DeleteGroupPolicy { .. } => "DeleteGroupPolicy",
        Change::DeactivateAccessKey { .. } => "DeactivateAccessKey",
    }
}

fn change_target(change: &Change) -> &str {
    match change {
        Change::CreateUser { name, .. }
        | Change::CreateRole { name, .. }
        | Change::CreateGroup { name } => name,
        Change::UpdateTrustPolicy { role, .. }
        | Change::TagRole { role, .. }
        | Change::SetRoleBoundary { role, .. }
        | Change::UpdateMaxSessionDuration { role, .. }
        | Change::AttachRolePolicy { role, .. }
        | Change::PutRolePolicy { role, .. }
        | Change::DetachRolePolicy { role, .. }
        | Change::DeleteRolePolicy { role, .. } => role,
        Change::PutGroupPolicy { group, .. }
        | Change::DetachGroupPolicy { group, .. }
        | Change::DeleteGroupPolicy { group, .. } => group,
        Change::SetUserBoundary { user, .. }
        | Change::AddUserToGroup { user, .. }
        | Change::PutUserPolicy { user, .. }
        | Change::CreateAccessKey { user }
        | Change::EnsureVirtualMfaDevice { user, .. }
        | Change::TagUser { user, .. }
        | Change::DetachUserPolicy { user, .. }
        | Change::DeleteUserPolicy { user, .. }
        | Change::RemoveUserFromGroup { user, .. }
        | Change::DeleteLoginProfile { user }
        | Change::DeactivateAccessKey { user, .. } => user,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::operation::update_assume_role_policy::{
        UpdateAssumeRolePolicyError, UpdateAssumeRolePolicyOutput,
    };
    use aws_sdk_iam::types::error::MalformedPolicyDocumentException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    fn iam_with(client: aws_sdk_iam::Client) -> Iam {
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

    fn malformed(
        message: &'static str,
    ) -> impl Fn() -> UpdateAssumeRolePolicyError + Send + Sync + 'static {
        move || {
            let meta = ErrorMetadata::builder()
                .code("MalformedPolicyDocument")
                .message(message)
                .build();
            UpdateAssumeRolePolicyError::MalformedPolicyDocumentException(
                MalformedPolicyDocumentException::builder()
                    .message(message)
                    .meta(meta)
                    .build(),
            )
        }
    }

    const INVALID_PRINCIPAL: &str =
        "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:user/onboarded/new\"";

    #[tokio::test(start_paused = true)]
    async fn a_new_principal_is_retried_until_iam_sees_it() {
        let rule = mock!(aws_sdk_iam::Client::update_assume_role_policy)
            .sequence()
            .error(malformed(INVALID_PRINCIPAL))
            .times(3)
            .output(|| UpdateAssumeRolePolicyOutput::builder().build())
            .build();
        let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]));
        let started = tokio::time::Instant::now();
        iam.update_trust_policy("ResourceCreatorRole", "{}")
            .await
            .expect("succeeds once the user propagated");
        assert_eq!(rule.num_calls(), 4);
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(1 + 2 + 4),
            "backs off 1, 2, 4 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_principal_that_never_appears_is_an_error_after_the_backoff() {
        let rule = mock!(aws_sdk_iam::Client::update_assume_role_policy)
            .sequence()
            .error(malformed(INVALID_PRINCIPAL))
            .repeatedly()
            .build();
        let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]));
        let error = iam
            .update_trust_policy("ResourceCreatorRole", "{}")
            .await
            .unwrap_err();
        assert_eq!(rule.num_calls(), 1 + PRINCIPAL_PROPAGATION_DELAYS.len());
        assert_eq!(error.code(), "internal");
        assert!(error.to_string().contains("Invalid principal"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn other_malformed_documents_are_not_retried() {
        let rule = mock!(aws_sdk_iam::Client::update_assume_role_policy)
            .sequence()
            .error(malformed("Syntax errors in policy."))
            .repeatedly()
            .build();
        let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]));
        assert!(
            iam.update_trust_policy("ResourceCreatorRole", "{")
                .await
                .is_err()
        );
        assert_eq!(rule.num_calls(), 1);
    }

    /// Real IAM answers `GetUser` of `Alice` with the user `alice`; moto does not, so this is where it is
    /// shown. Every operation on a user reads it first, and each stops there.
    #[tokio::test]
    async fn a_user_iam_holds_under_another_case_is_never_acted_on() {
        use crate::access::{MfaChoice, OnboardingOrder};
        use crate::config::{Config, DriftSettings};

        let user = aws_sdk_iam::types::User::builder()
            .user_name("alice")
            .user_id("AIDAEXAMPLE")
            .arn("arn:aws:iam::123456789012:user/onboarded/alice")
            .path("/onboarded/")
            .create_date(aws_smithy_types::DateTime::from_secs(1_764_000_000))
            .tags(
                Tag::builder()
                    .key(crate::names::MANAGED_TAG)
                    .value("true")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let get_user = mock!(aws_sdk_iam::Client::get_user).then_output(move || {
            aws_sdk_iam::operation::get_user::GetUserOutput::builder()
                .user(user.clone())
                .build()
        });
        let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&get_user]));
        let config = Config::from_lookup(|_| None).unwrap();
        let account = Account::from_arn("arn:aws:iam::123456789012:root").unwrap();
        let order = OnboardingOrder {
            username: "Alice".into(),
            roles: config.catalog.clone(),
            mfa: MfaChoice::Virtual,
            wait_until_usable: false,
            requested_by: "admin@example.com".into(),
            issue_secrets: true,
            by_admin: true,
        };
        let now = std::time::SystemTime::now();
        let settings = DriftSettings::default();
        let outcomes = [
            ("observe", iam.observe_user("Alice").await.map(|_| ())),
            (
                "onboard",
                crate::onboarding::onboard(&iam, &config, &account, &order, now)
                    .await
                    .map(|_| ()),
            ),
            (
                "status",
                crate::lifecycle::status(&iam, &config, &settings, &account, "Alice", now)
                    .await
                    .map(|_| ()),
            ),
            (
                "issue-key",
                crate::lifecycle::rotate_key(&iam, &config, "Alice", false)
                    .await
                    .map(|_| ()),
            ),
            (
                "reissue MFA",
                crate::mfa::reissue(&iam, &config, &account, "Alice")
                    .await
                    .map(|_| ()),
            ),
            (
                "enable MFA",
                crate::mfa::enable(&iam, &config, &account, "Alice", "123456", "654321")
                    .await
                    .map(|_| ()),
            ),
            (
                "offboard",
                crate::lifecycle::offboard(&iam, &config, &account, "Alice")
                    .await
                    .map(|_| ()),
            ),
        ];
        for (operation, outcome) in outcomes {
            let error = outcome.expect_err(operation);
            assert_eq!(
                error.code(),
                "username_case_mismatch",
                "{operation}: {error}"
            );
        }
        // One GetUser per operation and nothing else: a second call would have needed another rule.
        assert_eq!(get_user.num_calls(), 7);
    }

    /// `CreateRole` answered `EntityAlreadyExists`: the role was made since onboarding read it. Made by a
    /// concurrent onboarding, it carries the ownership tag and is used; made by hand, the plan's next
    /// changes must not reach it. moto cannot be made to create a role between two calls, so it is here.
    #[tokio::test]
    async fn a_role_created_since_it_was_read_is_used_only_if_it_is_ours() {
        use aws_sdk_iam::operation::create_role::CreateRoleError;
        use aws_sdk_iam::types::error::EntityAlreadyExistsException;

        for (tags, owned) in [
            (vec![("onboarding:managed", "true")], true),
            (vec![("owner", "team-a")], false),
            (vec![], false),
        ] {
            let exists = mock!(aws_sdk_iam::Client::create_role).then_error(|| {
                CreateRoleError::EntityAlreadyExistsException(
                    EntityAlreadyExistsException::builder()
                        .message("Role with name ResourceCreatorRole already exists.")
                        .meta(ErrorMetadata::builder().code("EntityAlreadyExists").build())
                        .build(),
                )
            });
            let role = aws_sdk_iam::types::Role::builder()
                .path("/")
                .role_name("ResourceCreatorRole")
                .role_id("AROAEXAMPLE")
                .arn("arn:aws:iam::123456789012:role/ResourceCreatorRole")
                .create_date(aws_smithy_types::DateTime::from_secs(1_764_000_000))
                .set_tags(Some(
                    tags.iter()
                        .map(|(key, value)| Tag::builder().key(*key).value(*value).build().unwrap())
                        .collect(),
                ))
                .build()
                .unwrap();
            let get_role = mock!(aws_sdk_iam::Client::get_role).then_output(move || {
                aws_sdk_iam::operation::get_role::GetRoleOutput::builder()
                    .role(role.clone())
                    .build()
            });
            let attached = mock!(aws_sdk_iam::Client::list_attached_role_policies).then_output(|| {
                aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput::builder().build()
            });
            let iam = iam_with(mock_client!(
                aws_sdk_iam,
                RuleMode::MatchAny,
                [&exists, &get_role, &attached]
            ));
            let outcome = iam
                .apply(&Change::CreateRole {
                    name: "ResourceCreatorRole".into(),
                    trust_policy: serde_json::json!({"Version": "2012-10-17", "Statement": []}),
                    max_session_duration: 3600,
                    description: None,
                    permissions_boundary: None,
                    tags: vec![(crate::names::MANAGED_TAG.into(), "true".into())],
                })
                .await;
            match outcome {
                Ok(Applied::Done) => assert!(owned, "{tags:?}"),
                Err(error) => {
                    assert!(!owned, "{tags:?}: {error}");
                    assert_eq!(error.code(), "role_exists_unmanaged");
                }
                Ok(_) => panic!("{tags:?}: CreateRole answers Done"),
            }
            assert_eq!(get_role.num_calls(), 1);
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let key = NewAccessKey {
            id: "AKIAEXAMPLE".into(),
            secret: Secret::new("wJalrXUtnFEMI/K7MDENG"),
        };
        let printed = format!("{key:?}");
        assert!(
            printed.contains("AKIAEXAMPLE") && !printed.contains("wJalr"),
            "{printed}"
        );
    }
}
