//! Reading one user, role or group as `state` types: what a plan compares and what `status` reports.

use std::collections::BTreeMap;

use aws_sdk_iam::types::SummaryKeyType;
use serde_json::Value;

use super::errors::{aws_error, decode, is_code};
use super::{Iam, Reading};
use crate::error::Result;
use crate::state::{AccessKeyInfo, ObservedGroup, ObservedRole, ObservedUser};

impl Iam {
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

    pub(super) async fn role_is_owned(&self, name: &str) -> Result<bool> {
        let role = self
            .observe_role(name, Reading::WITHOUT_INLINE_POLICIES)
            .await?;
        Ok(role.is_some_and(|role| role.is_owned()))
    }
}
