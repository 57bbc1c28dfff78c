//! Bulk reads for the drift check: a handful of paged calls for the whole account, whatever the number
//! of users. Per-user calls are made only for the rare user whose enabled MFA is not a virtual device.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use aws_sdk_iam::types::{
    AssignmentStatusType, EntityType, GroupDetail, PolicyDetail, ReportStateType, RoleDetail,
    UserDetail,
};
use serde_json::Value;

use super::Iam;
use super::errors::{aws_error, decode, is_code};
use super::observe::{boundary_arn, policy_arns, tag_map};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::names::grant_group_name;
use crate::state::{
    AccountSnapshot, CredentialRow, KeyUsage, ObservedGroup, ObservedRole, ObservedUser,
};
use crate::timestamps::parse_timestamp;

/// The credential report is generated asynchronously; IAM documents seconds, we allow a minute.
const REPORT_POLL_INTERVAL: Duration = Duration::from_secs(2);
const REPORT_POLLS: usize = 30;

/// IAM's largest page (its default is 100): the check's cost grows by one call per thousand users.
const PAGE_SIZE: i32 = 1000;

impl Iam {
    pub async fn snapshot(&self, config: &Config) -> Result<AccountSnapshot> {
        let mut snapshot = self.authorization_details(config).await?;
        snapshot.managed_policies = self
            .managed_policy_documents(&snapshot.other_groups)
            .await?;
        snapshot.credentials = self.credential_report().await?;
        snapshot.users_with_virtual_mfa = self.users_with_virtual_mfa().await?;
        for user in &snapshot.users {
            let mfa_active = snapshot
                .credentials
                .get(&user.name)
                .is_some_and(|row| row.mfa_active);
            if user.is_managed(config)
                && mfa_active
                && !snapshot.users_with_virtual_mfa.contains(&user.name)
            {
                let devices = self
                    .iam
                    .list_mfa_devices()
                    .user_name(&user.name)
                    .send()
                    .await;
                let devices = devices.map_err(|e| aws_error("ListMFADevices", e))?;
                let serials = devices
                    .mfa_devices()
                    .iter()
                    .map(|d| d.serial_number().to_string())
                    .collect();
                snapshot
                    .other_mfa_serials
                    .insert(user.name.clone(), serials);
            }
        }
        snapshot.trust_policy_size_quota = self.trust_policy_size_quota().await?;
        Ok(snapshot)
    }

    /// What a member account's check reads: the hub's users (who holds which role), and the catalog
    /// roles living in `spoke` with that account's trust-policy quota, read there in bulk.
    pub async fn spoke_snapshot(&self, config: &Config, spoke: &str) -> Result<AccountSnapshot> {
        let hub_users = self.hub_users(config).await?;
        self.spoke_snapshot_with(config, spoke, hub_users).await
    }

    /// The hub's users, as a member account's check needs them: read once per organisation run
    /// (drift-org) and shared through the report bucket, not once per member account.
    pub async fn hub_users(&self, config: &Config) -> Result<Vec<ObservedUser>> {
        Ok(self.authorization_details(config).await?.users)
    }

    /// `spoke_snapshot` with the hub's users already read.
    pub async fn spoke_snapshot_with(
        &self,
        config: &Config,
        spoke: &str,
        hub_users: Vec<ObservedUser>,
    ) -> Result<AccountSnapshot> {
        let there = self.in_account(spoke)?;
        let roles = there.authorization_details(config).await?.roles;
        let roles = roles
            .into_iter()
            .filter(|role| {
                config
                    .catalog_role(&role.name)
                    .is_some_and(|entry| entry.account.as_deref() == Some(spoke))
            })
            .collect();
        Ok(AccountSnapshot {
            users: hub_users,
            roles,
            trust_policy_size_quota: there.trust_policy_size_quota().await?,
            roles_account: Some(spoke.to_string()),
            ..AccountSnapshot::default()
        })
    }

    /// Users, the grant groups, the other groups of managed users and the catalog roles, from
    /// GetAccountAuthorizationDetails (all pages).
    async fn authorization_details(&self, config: &Config) -> Result<AccountSnapshot> {
        let catalog: BTreeSet<&str> = config
            .catalog
            .iter()
            .map(|role| role.name.as_str())
            .collect();
        let grant_groups: BTreeSet<String> =
            catalog.iter().map(|role| grant_group_name(role)).collect();
        let mut snapshot = AccountSnapshot::default();
        let mut other_groups = Vec::new();
        let mut pages = self
            .iam
            .get_account_authorization_details()
            .filter(EntityType::User)
            .filter(EntityType::Group)
            .filter(EntityType::Role)
            .max_items(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("GetAccountAuthorizationDetails", e))?;
            for user in page.user_detail_list() {
                snapshot.users.push(observed_user(user)?);
            }
            for group in page.group_detail_list() {
                if grant_groups.contains(group.group_name().unwrap_or_default()) {
                    snapshot.groups.push(observed_group(group)?);
                } else {
                    other_groups.push(observed_group(group)?);
                }
            }
            for role in page.role_detail_list() {
                if catalog.contains(role.role_name().unwrap_or_default()) {
                    snapshot.roles.push(observed_role(role)?);
                }
            }
        }
        // A user's page need not be its groups' page: which groups to keep is known only at the end.
        let joined: BTreeSet<&str> = snapshot
            .users
            .iter()
            .filter(|user| user.is_managed(config))
            .flat_map(|user| user.groups.iter().map(String::as_str))
            .collect();
        other_groups.retain(|group| joined.contains(group.name.as_str()));
        snapshot.other_groups = other_groups;
        Ok(snapshot)
    }

    /// The default versions of the managed policies attached to `groups`, from the Policies part of
    /// GetAccountAuthorizationDetails. Asked only when such a group has any, and only for the kinds (the
    /// account's own, AWS's) it has: AWS's are many, and each comes with all its versions.
    async fn managed_policy_documents(
        &self,
        groups: &[ObservedGroup],
    ) -> Result<BTreeMap<String, Value>> {
        let wanted: BTreeSet<&str> = groups
            .iter()
            .flat_map(|group| group.attached_policies.iter().map(String::as_str))
            .collect();
        let aws_managed = |arn: &str| arn.split(':').nth(4) == Some("aws");
        let mut filters = Vec::new();
        if wanted.iter().any(|arn| aws_managed(arn)) {
            filters.push(EntityType::AwsManagedPolicy);
        }
        if wanted.iter().any(|arn| !aws_managed(arn)) {
            filters.push(EntityType::LocalManagedPolicy);
        }
        let mut documents = BTreeMap::new();
        if filters.is_empty() {
            return Ok(documents);
        }
        let mut pages = self
            .iam
            .get_account_authorization_details()
            .set_filter(Some(filters))
            .max_items(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("GetAccountAuthorizationDetails", e))?;
            for policy in page.policies() {
                let arn = policy.arn().unwrap_or_default();
                // A policy without its document stays out: the check then reads the group as unknown.
                let operative = policy
                    .policy_version_list()
                    .iter()
                    .find(|version| version.is_default_version())
                    .and_then(|version| version.document());
                if let (true, Some(raw)) = (wanted.contains(arn), operative) {
                    documents.insert(
                        arn.to_string(),
                        decode("GetAccountAuthorizationDetails", raw)?,
                    );
                }
            }
        }
        Ok(documents)
    }

    /// Asks IAM for a fresh credential report (it reuses one up to 4 hours old) and reads it.
    async fn credential_report(&self) -> Result<BTreeMap<String, CredentialRow>> {
        for _ in 0..REPORT_POLLS {
            match self.iam.generate_credential_report().send().await {
                Ok(output) if output.state() == Some(&ReportStateType::Complete) => {}
                Ok(_) => {
                    tokio::time::sleep(REPORT_POLL_INTERVAL).await;
                    continue;
                }
                Err(error) if is_code(&error, &["LimitExceeded"]) => {
                    tokio::time::sleep(REPORT_POLL_INTERVAL).await;
                    continue;
                }
                Err(error) => return Err(aws_error("GenerateCredentialReport", error)),
            }
            match self.iam.get_credential_report().send().await {
                Ok(report) => {
                    let content = report
                        .content()
                        .map(|blob| blob.as_ref())
                        .unwrap_or_default();
                    return parse_credential_report(content);
                }
                Err(error)
                    if is_code(
                        &error,
                        &["ReportInProgress", "ReportNotPresent", "ReportExpired"],
                    ) =>
                {
                    tokio::time::sleep(REPORT_POLL_INTERVAL).await;
                }
                Err(error) => return Err(aws_error("GetCredentialReport", error)),
            }
        }
        Err(Error::aws(
            "GetCredentialReport",
            "the credential report was not ready after a minute",
            true,
        ))
    }

    async fn users_with_virtual_mfa(&self) -> Result<BTreeSet<String>> {
        let devices = self
            .iam
            .list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Assigned)
            .max_items(PAGE_SIZE)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListVirtualMFADevices", e))?;
        Ok(devices
            .iter()
            .filter_map(|device| device.user())
            .map(|user| user.user_name().to_string())
            .collect())
    }
}

fn observed_user(user: &UserDetail) -> Result<ObservedUser> {
    Ok(ObservedUser {
        name: user.user_name().unwrap_or_default().to_string(),
        arn: user.arn().unwrap_or_default().to_string(),
        path: user.path().unwrap_or_default().to_string(),
        tags: tag_map(user.tags()),
        created: user
            .create_date()
            .and_then(|date| SystemTime::try_from(*date).ok()),
        permissions_boundary: boundary_arn(user.permissions_boundary()),
        groups: user.group_list().to_vec(),
        inline_policies: inline_policies(user.user_policy_list())?,
        attached_policies: policy_arns(user.attached_managed_policies()),
        access_keys: Vec::new(),
        mfa_devices: Vec::new(),
    })
}

fn observed_group(group: &GroupDetail) -> Result<ObservedGroup> {
    Ok(ObservedGroup {
        name: group.group_name().unwrap_or_default().to_string(),
        inline_policies: inline_policies(group.group_policy_list())?,
        attached_policies: policy_arns(group.attached_managed_policies()),
    })
}

fn observed_role(role: &RoleDetail) -> Result<ObservedRole> {
    Ok(ObservedRole {
        name: role.role_name().unwrap_or_default().to_string(),
        arn: role.arn().unwrap_or_default().to_string(),
        trust_policy: document(role.assume_role_policy_document())?,
        attached_policies: policy_arns(role.attached_managed_policies()),
        inline_policies: inline_policies(role.role_policy_list())?,
        // Not part of GetAccountAuthorizationDetails; the drift check does not judge it.
        max_session_duration: None,
        permissions_boundary: boundary_arn(role.permissions_boundary()),
        tags: tag_map(role.tags()),
    })
}

fn inline_policies(policies: &[PolicyDetail]) -> Result<BTreeMap<String, Value>> {
    policies
        .iter()
        .map(|policy| {
            let name = policy.policy_name().unwrap_or_default().to_string();
            Ok((name, document(policy.policy_document())?))
        })
        .collect()
}

fn document(raw: Option<&str>) -> Result<Value> {
    raw.map_or(Ok(Value::Null), |raw| {
        decode("GetAccountAuthorizationDetails", raw)
    })
}

/// The CSV of GetCredentialReport, by column name (AWS adds columns over time).
pub fn parse_credential_report(content: &[u8]) -> Result<BTreeMap<String, CredentialRow>> {
    let invalid = |error: csv::Error| Error::aws("GetCredentialReport", error, false);
    let mut reader = csv::Reader::from_reader(content);
    let headers = reader.headers().map_err(invalid)?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let mut rows = BTreeMap::new();
    for record in reader.records() {
        let record = record.map_err(invalid)?;
        let field = |name: &str| column(name).and_then(|i| record.get(i)).unwrap_or("");
        let key = |n: u8| KeyUsage {
            active: field(&format!("access_key_{n}_active")) == "true",
            created: parse_timestamp(field(&format!("access_key_{n}_last_rotated"))),
            last_used: parse_timestamp(field(&format!("access_key_{n}_last_used_date"))),
        };
        let row = CredentialRow {
            user: field("user").to_string(),
            created: parse_timestamp(field("user_creation_time")),
            password_enabled: field("password_enabled") == "true",
            mfa_active: field("mfa_active") == "true",
            access_keys: [key(1), key(2)],
        };
        rows.insert(row.user.clone(), row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_credential_report_by_column_name() {
        let report = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n\
<root_account>,arn:aws:iam::123456789012:root,2020-01-01T00:00:00+00:00,not_supported,2026-11-01T00:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
dev,arn:aws:iam::123456789012:user/onboarded/dev,2026-01-01T10:00:00+00:00,true,no_information,2026-01-01T10:00:00+00:00,N/A,false,true,2026-01-02T10:00:00+00:00,2026-03-01T08:30:00+00:00,us-east-1,sts,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";
        let rows = parse_credential_report(report.as_bytes()).unwrap();
        let dev = &rows["dev"];
        assert!(dev.password_enabled && !dev.mfa_active);
        assert!(dev.access_keys[0].active && !dev.access_keys[1].active);
        assert_eq!(dev.created, parse_timestamp("2026-01-01T10:00:00+00:00"));
        assert!(dev.created.is_some());
        assert_eq!(
            dev.access_keys[0].last_used,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_772_353_800))
        );
        assert_eq!(dev.access_keys[1].created, None);
        assert!(rows["<root_account>"].mfa_active);
    }
}
