//! Reading one user, role or group as `state` types: what a plan compares and what `status` reports.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{AttachedPermissionsBoundary, AttachedPolicy, SummaryKeyType, Tag};
use serde_json::Value;

use super::errors::{aws_error, decode, is_code};
use super::{Iam, Reading};
use crate::error::Result;
use crate::state::{AccessKeyInfo, ObservedGroup, ObservedRole, ObservedUser};

impl Iam {
    /// The ARN of the user of that name as IAM holds it now, or `None` when there is none: `GetUser` alone.
    pub async fn current_user_arn(&self, name: &str) -> Result<Option<String>> {
        match self.iam.get_user().user_name(name).send().await {
            Ok(output) => Ok(output.user().map(|user| user.arn().to_string())),
            Err(error) if is_code(&error, &["NoSuchEntity"]) => Ok(None),
            Err(error) => Err(aws_error("GetUser", error)),
        }
    }

    /// The id of the key whose secret the user's record says was answered (`onboarding:key-shown`), now:
    /// `GetUser` alone.
    pub async fn key_shown_record(&self, name: &str) -> Result<Option<String>> {
        match self.iam.get_user().user_name(name).send().await {
            Ok(output) => Ok(output.user().and_then(|user| {
                user.tags()
                    .iter()
                    .find(|tag| tag.key() == crate::names::KEY_SHOWN_TAG)
                    .map(|tag| tag.value().to_string())
            })),
            Err(error) if is_code(&error, &["NoSuchEntity"]) => Ok(None),
            Err(error) => Err(aws_error("GetUser", error)),
        }
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
            tags: tag_map(user.tags()),
            created: std::time::SystemTime::try_from(*user.create_date()).ok(),
            permissions_boundary: boundary_arn(user.permissions_boundary()),
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

        observed.groups = self.user_groups(name).await?;
        observed.inline_policies = self.user_inline_policies(name).await?;
        observed.attached_policies = self.user_attached_policies(name).await?;
        observed.access_keys = self
            .access_keys(name)
            .await?
            .into_iter()
            .map(|key| AccessKeyInfo {
                id: key.id,
                active: key.active,
            })
            .collect();
        observed.mfa_devices = self.mfa_serials(name).await?;
        Ok(Some(observed))
    }

    async fn user_groups(&self, name: &str) -> Result<Vec<String>> {
        let groups = self
            .iam
            .list_groups_for_user()
            .user_name(name)
            .into_paginator()
            .items()
            .send();
        Ok(groups
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListGroupsForUser", e))?
            .iter()
            .map(|group| group.group_name().to_string())
            .collect())
    }

    async fn user_inline_policies(&self, name: &str) -> Result<BTreeMap<String, Value>> {
        let policy_names = self
            .iam
            .list_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send();
        let mut policies = BTreeMap::new();
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
            policies.insert(
                policy_name,
                decode("GetUserPolicy", policy.policy_document())?,
            );
        }
        Ok(policies)
    }

    async fn user_attached_policies(&self, name: &str) -> Result<Vec<String>> {
        let attached = self
            .iam
            .list_attached_user_policies()
            .user_name(name)
            .into_paginator()
            .items()
            .send();
        let attached = attached
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListAttachedUserPolicies", e))?;
        Ok(policy_arns(&attached))
    }

    /// The serial numbers of the user's enabled MFA devices.
    async fn mfa_serials(&self, name: &str) -> Result<Vec<String>> {
        let devices = self
            .iam
            .list_mfa_devices()
            .user_name(name)
            .send()
            .await
            .map_err(|e| aws_error("ListMFADevices", e))?;
        Ok(devices
            .mfa_devices()
            .iter()
            .map(|device| device.serial_number().to_string())
            .collect())
    }

    pub async fn observe_role(
        &self,
        name: &str,
        reading: Reading<'_>,
    ) -> Result<Option<ObservedRole>> {
        let home = self.at_home_of(name)?;
        let output = match home.iam.get_role().role_name(name).send().await {
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
        let attached = home
            .iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListAttachedRolePolicies", e))?;
        let attached_policies = policy_arns(&attached);
        let inline_policies = home
            .inline_policies(PolicyHolder::Role(name), reading)
            .await?;
        Ok(Some(ObservedRole {
            name: role.role_name().to_string(),
            arn: role.arn().to_string(),
            trust_policy,
            attached_policies,
            inline_policies,
            max_session_duration: role.max_session_duration(),
            // GetRole carries both: ownership and the boundary cost no call of their own.
            permissions_boundary: boundary_arn(role.permissions_boundary()),
            tags: tag_map(role.tags()),
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
        observed.inline_policies = self
            .inline_policies(PolicyHolder::Group(name), reading)
            .await?;
        if matches!(reading, Reading::Complete) {
            let attached = self
                .iam
                .list_attached_group_policies()
                .group_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<std::result::Result<Vec<_>, _>>()
                .await
                .map_err(|e| aws_error("ListAttachedGroupPolicies", e))?;
            observed.attached_policies = policy_arns(&attached);
        }
        Ok(Some(observed))
    }

    /// The inline policies of a role or group, by name, as much as `reading` asks for: every one it lists
    /// when complete, otherwise the one a plan compares. One that is gone by the time it is read is left
    /// out.
    async fn inline_policies(
        &self,
        holder: PolicyHolder<'_>,
        reading: Reading<'_>,
    ) -> Result<BTreeMap<String, Value>> {
        let names = match reading {
            Reading::Complete => self.inline_policy_names(holder).await?,
            Reading::ForPlan { inline_policy } => {
                inline_policy.into_iter().map(str::to_string).collect()
            }
        };
        let mut policies = BTreeMap::new();
        for policy_name in names {
            if let Some(document) = self.inline_policy(holder, &policy_name).await? {
                policies.insert(policy_name, document);
            }
        }
        Ok(policies)
    }

    async fn inline_policy_names(&self, holder: PolicyHolder<'_>) -> Result<Vec<String>> {
        match holder {
            PolicyHolder::Role(name) => self
                .iam
                .list_role_policies()
                .role_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<std::result::Result<Vec<_>, _>>()
                .await
                .map_err(|e| aws_error("ListRolePolicies", e)),
            PolicyHolder::Group(name) => self
                .iam
                .list_group_policies()
                .group_name(name)
                .into_paginator()
                .items()
                .send()
                .collect::<std::result::Result<Vec<_>, _>>()
                .await
                .map_err(|e| aws_error("ListGroupPolicies", e)),
        }
    }

    /// One inline policy's document, `None` if it does not exist.
    async fn inline_policy(
        &self,
        holder: PolicyHolder<'_>,
        policy_name: &str,
    ) -> Result<Option<Value>> {
        match holder {
            PolicyHolder::Role(name) => {
                let outcome = self
                    .iam
                    .get_role_policy()
                    .role_name(name)
                    .policy_name(policy_name)
                    .send()
                    .await;
                match outcome {
                    Ok(policy) => decode("GetRolePolicy", policy.policy_document()).map(Some),
                    Err(error) if is_code(&error, &["NoSuchEntity"]) => Ok(None),
                    Err(error) => Err(aws_error("GetRolePolicy", error)),
                }
            }
            PolicyHolder::Group(name) => {
                let outcome = self
                    .iam
                    .get_group_policy()
                    .group_name(name)
                    .policy_name(policy_name)
                    .send()
                    .await;
                match outcome {
                    Ok(policy) => decode("GetGroupPolicy", policy.policy_document()).map(Some),
                    Err(error) if is_code(&error, &["NoSuchEntity"]) => Ok(None),
                    Err(error) => Err(aws_error("GetGroupPolicy", error)),
                }
            }
        }
    }

    /// `AssumeRolePolicySizeQuota` of the account `role` lives in, and that account (`None`: the hub):
    /// a member account's quota is its own.
    pub async fn trust_policy_size_quota_of(&self, role: &str) -> Result<(Option<String>, usize)> {
        let home = self.home_of(role).map(str::to_string);
        let quota = self.at_home_of(role)?.trust_policy_size_quota().await?;
        Ok((home, quota))
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

    /// Whether role `name` is owned by the stack named in `tags`, the tags this stack creates it with.
    pub(super) async fn role_is_owned(&self, name: &str, tags: &[Tag]) -> Result<bool> {
        let ours = tags
            .iter()
            .find(|tag| tag.key() == crate::names::STACK_TAG)
            .map(Tag::value)
            .unwrap_or_default();
        let role = self
            .observe_role(name, Reading::WITHOUT_INLINE_POLICIES)
            .await?;
        Ok(role.is_some_and(|role| role.is_owned(ours)))
    }
}

/// An entity's tags, as every IAM read lists them.
pub(super) fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .map(|tag| (tag.key().to_string(), tag.value().to_string()))
        .collect()
}

/// The ARN of a user's or role's permissions boundary, as every IAM read gives it.
pub(super) fn boundary_arn(boundary: Option<&AttachedPermissionsBoundary>) -> Option<String> {
    boundary
        .and_then(|boundary| boundary.permissions_boundary_arn())
        .map(str::to_string)
}

/// The ARNs of attached managed policies, as every IAM read lists them.
pub(super) fn policy_arns(attached: &[AttachedPolicy]) -> Vec<String> {
    attached
        .iter()
        .filter_map(|policy| policy.policy_arn().map(str::to_string))
        .collect()
}

/// A role or a grant group, by name: the two holders of inline policies that are read the same way.
#[derive(Clone, Copy)]
enum PolicyHolder<'a> {
    Role(&'a str),
    Group(&'a str),
}
