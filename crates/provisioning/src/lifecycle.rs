//! The rest of a user's life after onboarding: what they have (`status`), a new access key
//! (`rotate_key`), and their removal (`offboard`). Like onboarding, each is observe → decide → apply, and
//! the decisions (`plan_rotation`, `plan_offboarding`, `without_principal`) are pure.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use crate::account::Account;
use crate::config::{CatalogRole, Config, DriftSettings};
use crate::desired::{UserSpec, desired_user, entitled_roles};
use crate::drift::{Finding, check_user};
use crate::error::{Error, Result};
use crate::iam::{Iam, NewAccessKey, Reading};
use crate::mfa::MfaView;
use crate::names::{REQUESTED_AT_TAG, REQUESTED_BY_TAG, grant_group_name, grant_policy_name};
use crate::onboarding::{
    AccessKeyView, KEY_USABLE_AFTER_SECONDS, KEY_WAIT_LIMIT, Named, ObservedGrants, observe_grants,
    parse_timestamp, plan_onboarding, record_key_shown,
};
use crate::plan::Change;
use crate::policy::{statements, string_list};
use crate::state::{AccountSnapshot, CredentialRow, KeyUsage, ObservedRole, ObservedUser};

pub use crate::state::{AccessKey, KeyLastUsed, OtherCredentials, UserDeletion};

// ---------------------------------------------------------------------------------------------------
// status

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Active,
    Inactive,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessKeyStatus {
    pub access_key_id: String,
    pub status: KeyStatus,
    pub created: Option<String>,
    pub last_used_date: Option<String>,
    pub last_used_service: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserStatus {
    pub user: Named,
    /// Catalog roles whose grant (group membership or inline `Assume<Role>`) is in place.
    pub roles: Vec<Named>,
    pub mfa: MfaView,
    pub access_keys: Vec<AccessKeyStatus>,
    /// No differences and no findings.
    pub in_desired_state: bool,
    /// What onboarding the user again would change, one line each.
    pub differences: Vec<String>,
    /// The drift check's rules applied to this user (and to its roles and grant groups).
    pub findings: Vec<Finding>,
}

/// Catalog roles the user holds a grant for, in either grant shape (a `GRANT_MODE` switch leaves the old
/// shape in place, and it still grants).
pub fn granted_roles<'a>(user: &ObservedUser, config: &'a Config) -> Vec<&'a CatalogRole> {
    config
        .catalog
        .iter()
        .filter(|role| {
            user.groups.contains(&grant_group_name(&role.name))
                || user
                    .inline_policies
                    .contains_key(&grant_policy_name(&role.name))
        })
        .collect()
}

/// Reads a managed user. Unmanaged and absent users look the same from outside: nothing is revealed.
async fn managed_user(iam: &Iam, config: &Config, username: &str) -> Result<ObservedUser> {
    match iam.observe_user(username).await? {
        Some(user) if user.is_managed(config) => Ok(user),
        _ => Err(Error::UserNotFound(username.to_string())),
    }
}

pub async fn status(
    iam: &Iam,
    config: &Config,
    settings: &DriftSettings,
    account: &Account,
    username: &str,
    now: SystemTime,
) -> Result<UserStatus> {
    let user = managed_user(iam, config, username).await?;
    let tag = |key: &str| user.tags.get(key).map(String::as_str).unwrap_or_default();
    let entitled: Vec<CatalogRole> = entitled_roles(&user, config).into_iter().cloned().collect();
    let desired = desired_user(
        UserSpec {
            name: username,
            roles: &entitled,
            // MFA has its own field; a device waiting to be enabled is not a difference to repair.
            virtual_mfa: false,
            requested_by: tag(REQUESTED_BY_TAG),
            requested_at: tag(REQUESTED_AT_TAG),
        },
        config,
        account,
    );
    let grants = observe_grants(iam, config, account, &entitled, true).await?;
    // A catalog role that is not ours gets no difference here: the `role.unowned` finding reports it.
    let changes =
        plan_onboarding(config, account, &desired, Some(&user), &entitled, &grants).changes;

    let mfa = match user.mfa_devices.first() {
        Some(serial) => MfaView::enabled(serial.clone()),
        None => {
            let serial = account.mfa_serial(&config.user_path, username);
            if iam.virtual_mfa_device_unassigned(&serial).await? {
                MfaView::pending(serial)
            } else {
                MfaView::none()
            }
        }
    };
    let mut access_keys = Vec::new();
    for key in iam.access_keys(username).await? {
        let last_used = iam.access_key_last_used(&key.id).await?.unwrap_or_default();
        access_keys.push(AccessKeyStatus {
            status: if key.active {
                KeyStatus::Active
            } else {
                KeyStatus::Inactive
            },
            access_key_id: key.id,
            created: key.created,
            last_used_date: last_used.date,
            last_used_service: last_used.service,
        });
    }
    let differences: Vec<String> = changes.iter().map(Change::to_string).collect();
    let snapshot = drift_snapshot(iam, &user, grants, &access_keys).await?;
    let findings = check_user(&snapshot, &user, config, settings, account, now);
    Ok(UserStatus {
        roles: granted_roles(&user, config)
            .into_iter()
            .map(|role| Named {
                name: role.name.clone(),
                arn: account.role_arn(&role.name),
            })
            .collect(),
        user: Named {
            name: user.name,
            arn: user.arn,
        },
        mfa,
        access_keys,
        in_desired_state: differences.is_empty() && findings.is_empty(),
        differences,
        findings,
    })
}

/// The drift check's view of one user, read per user: the user, its entitled roles and grant groups, and
/// the credential-report row rebuilt from `status`'s own reads (the real report is account-wide and can be
/// four hours old).
async fn drift_snapshot(
    iam: &Iam,
    user: &ObservedUser,
    grants: ObservedGrants,
    keys: &[AccessKeyStatus],
) -> Result<AccountSnapshot> {
    let mut snapshot = AccountSnapshot {
        users: vec![user.clone()],
        roles: grants.roles,
        groups: grants.groups,
        // How full a trust policy is concerns the account, not this user: judged by the scheduled check.
        trust_policy_size_quota: usize::MAX,
        ..AccountSnapshot::default()
    };
    let mut usage = [KeyUsage::default(), KeyUsage::default()];
    for (slot, key) in usage.iter_mut().zip(keys) {
        *slot = KeyUsage {
            active: key.status == KeyStatus::Active,
            created: key.created.as_deref().and_then(parse_timestamp),
            last_used: key.last_used_date.as_deref().and_then(parse_timestamp),
        };
    }
    if user
        .mfa_devices
        .iter()
        .any(|serial| serial.contains(":mfa/"))
    {
        snapshot.users_with_virtual_mfa.insert(user.name.clone());
    } else {
        snapshot
            .other_mfa_serials
            .insert(user.name.clone(), user.mfa_devices.clone());
    }
    snapshot.credentials.insert(
        user.name.clone(),
        CredentialRow {
            user: user.name.clone(),
            created: user.created,
            password_enabled: iam.has_login_profile(&user.name).await?,
            mfa_active: !user.mfa_devices.is_empty(),
            access_keys: usage,
        },
    );
    Ok(snapshot)
}

// ---------------------------------------------------------------------------------------------------
// issue-key

/// What must happen around the new key: IAM allows two keys per user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationPlan {
    /// Deleted first, to make room: the inactive key (the older one if both are inactive).
    pub delete: Option<String>,
    /// Deactivated once the new key exists, not deleted, so the person can switch over.
    pub deactivate: Option<String>,
}

pub fn plan_rotation(keys: &[AccessKey], username: &str) -> Result<RotationPlan> {
    let active: Vec<&AccessKey> = keys.iter().filter(|key| key.active).collect();
    if active.len() >= 2 {
        return Err(Error::TooManyKeys(username.to_string()));
    }
    let delete = if keys.len() >= 2 {
        keys.iter()
            .filter(|key| !key.active)
            .min_by(|a, b| a.created.cmp(&b.created))
            .map(|key| key.id.clone())
    } else {
        None
    };
    Ok(RotationPlan {
        delete,
        deactivate: active.first().map(|key| key.id.clone()),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviousKey {
    pub access_key_id: String,
    pub status: KeyStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyRotation {
    pub user: Named,
    pub access_key: AccessKeyView,
    /// The key that was active until now: inactive, kept until the person deletes it or rotates again.
    pub previous_access_key: Option<PreviousKey>,
    pub deleted_access_key_id: Option<String>,
}

/// Issues a new access key, AWS's rotation practice: the previous active key is deactivated, and an
/// inactive one is deleted when the user already holds two.
pub async fn rotate_key(
    iam: &Iam,
    config: &Config,
    username: &str,
    wait_until_usable: bool,
) -> Result<KeyRotation> {
    let user = managed_user(iam, config, username).await?;
    let keys = iam.access_keys(username).await?;
    let plan = plan_rotation(&keys, username)?;
    if let Some(key_id) = &plan.delete {
        iam.delete_access_key(username, key_id).await?;
    }
    let kept = keys.len() - usize::from(plan.delete.is_some());
    let key = iam.create_access_key(username, kept).await?;
    // From here on the new secret exists and must reach the person: a failure to deactivate the old key
    // is reported in the response (it stays active), not as an error that would lose the secret.
    let previous_access_key = match &plan.deactivate {
        None => None,
        Some(key_id) => {
            let status = match iam.deactivate_access_key(username, key_id).await {
                Ok(()) => KeyStatus::Inactive,
                Err(error) => {
                    tracing::error!(user = username, access_key_id = %key_id, error = %error, "the previous key could not be deactivated");
                    KeyStatus::Active
                }
            };
            Some(PreviousKey {
                access_key_id: key_id.clone(),
                status,
            })
        }
    };
    let usable = if wait_until_usable {
        Some(
            iam.wait_until_key_usable(&key, KEY_WAIT_LIMIT)
                .await
                .inspect_err(|error| tracing::warn!(user = username, error = %error, "could not check the new key with STS"))
                .unwrap_or(false),
        )
    } else {
        None
    };
    // Last, as in onboarding: only an answer that is about to be sent records its key as shown.
    record_key_shown(iam, username, &key).await;
    Ok(KeyRotation {
        user: Named {
            name: user.name,
            arn: user.arn,
        },
        access_key: new_key_view(&key, usable),
        previous_access_key,
        deleted_access_key_id: plan.delete,
    })
}

fn new_key_view(key: &NewAccessKey, usable: Option<bool>) -> AccessKeyView {
    AccessKeyView {
        access_key_id: Some(key.id.clone()),
        secret_access_key: Some(key.secret.clone()),
        usable_after_seconds: (usable != Some(true)).then_some(KEY_USABLE_AFTER_SECONDS),
        usable,
        ..AccessKeyView::default()
    }
}

// ---------------------------------------------------------------------------------------------------
// offboard

/// One thing removed from a user before IAM lets it be deleted: a [`Change`], each one idempotent.
pub type Removal = Change;

/// Everything to remove, in the order IAM needs: credentials first (so the person is locked out as
/// early as possible), MFA devices deactivated before the virtual ones under our path are deleted,
/// then policies and groups. `pending_device` is the user's own virtual device, issued but never enabled.
pub fn plan_offboarding(
    user: &ObservedUser,
    other: &OtherCredentials,
    own_mfa_path_prefix: &str,
    pending_device: Option<&str>,
) -> Vec<Removal> {
    let name = || user.name.clone();
    let mut removals: Vec<Removal> = user
        .access_keys
        .iter()
        .map(|key| Removal::DeleteAccessKey {
            user: name(),
            key_id: key.id.clone(),
        })
        .collect();
    if other.login_profile {
        removals.push(Removal::DeleteLoginProfile { user: name() });
    }
    removals.extend(other.signing_certificates.iter().map(|id| {
        Removal::DeleteSigningCertificate {
            user: name(),
            certificate_id: id.clone(),
        }
    }));
    removals.extend(
        other
            .ssh_public_keys
            .iter()
            .map(|id| Removal::DeleteSshPublicKey {
                user: name(),
                key_id: id.clone(),
            }),
    );
    for serial in &user.mfa_devices {
        removals.push(Removal::DeactivateMfaDevice {
            user: name(),
            serial_number: serial.clone(),
        });
    }
    // Devices elsewhere (hardware, another team's path) are only detached: they are not ours to delete.
    let ours = user
        .mfa_devices
        .iter()
        .map(String::as_str)
        .filter(|serial| serial.starts_with(own_mfa_path_prefix))
        .chain(pending_device);
    for serial in ours {
        removals.push(Removal::DeleteVirtualMfaDevice {
            serial_number: serial.to_string(),
        });
    }
    removals.extend(
        user.inline_policies
            .keys()
            .map(|policy| Removal::DeleteUserPolicy {
                user: name(),
                policy_name: policy.clone(),
            }),
    );
    removals.extend(
        user.attached_policies
            .iter()
            .map(|arn| Removal::DetachUserPolicy {
                user: name(),
                policy_arn: arn.clone(),
            }),
    );
    removals.extend(
        user.groups
            .iter()
            .map(|group| Removal::RemoveUserFromGroup {
                user: name(),
                group: group.clone(),
            }),
    );
    removals
}

/// A trust policy without `principal`, or `None` when it does not name it. A statement left with no
/// principal trusts the role itself instead: IAM refuses an empty principal, and a role that trusts
/// only itself lets nobody new in (onboarding drops that placeholder when it adds the next user).
pub fn without_principal(document: &Value, principal: &str, role_arn: &str) -> Option<Value> {
    let names_it = statements(document).into_iter().any(|statement| {
        statement
            .get("Principal")
            .and_then(|p| p.get("AWS"))
            .is_some_and(|aws| string_list(aws).iter().any(|p| p == principal))
    });
    if !names_it {
        return None;
    }
    let mut document = document.clone();
    let edit = |statement: &mut Value| {
        let Some(aws) = statement
            .get_mut("Principal")
            .and_then(|p| p.get_mut("AWS"))
        else {
            return;
        };
        let kept: Vec<String> = string_list(aws)
            .into_iter()
            .filter(|p| p != principal)
            .collect();
        *aws = match kept.as_slice() {
            [] => Value::String(role_arn.to_string()),
            [single] => Value::String(single.clone()),
            _ => Value::from(kept),
        };
    };
    match document.get_mut("Statement") {
        Some(Value::Array(list)) => list.iter_mut().for_each(edit),
        Some(single) => edit(single),
        None => {}
    }
    Some(document)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OffboardingOutcome {
    Removed,
    /// Nothing to do: the user did not exist (offboarded before, or never onboarded).
    AlreadyAbsent,
}

#[derive(Debug, Clone, Serialize)]
pub struct OffboardingResult {
    pub user: Named,
    pub outcome: OffboardingOutcome,
    /// What was removed, one line each, for the requester's records.
    pub removed: Vec<String>,
}

/// Removes a managed user and everything it holds. Idempotent: a re-run after a failure finishes the
/// job, and a run for an absent user succeeds with `already_absent`.
pub async fn offboard(
    iam: &Iam,
    config: &Config,
    account: &Account,
    username: &str,
) -> Result<OffboardingResult> {
    let arn = account.user_arn(&config.user_path, username);
    let named = Named {
        name: username.to_string(),
        arn: arn.clone(),
    };
    let user = match iam.observe_user(username).await? {
        None => {
            return Ok(OffboardingResult {
                user: named,
                outcome: OffboardingOutcome::AlreadyAbsent,
                removed: Vec::new(),
            });
        }
        Some(user) if !user.is_managed(config) => {
            return Err(Error::UserExistsUnmanaged(username.to_string()));
        }
        Some(user) => user,
    };
    let other = iam.other_credentials(username).await?;
    let own_serial = account.mfa_serial(&config.user_path, username);
    let pending = (!user.mfa_devices.contains(&own_serial)
        && iam.virtual_mfa_device_unassigned(&own_serial).await?)
        .then_some(own_serial.as_str());
    let own_prefix = account.mfa_serial(&config.user_path, "");
    let mut removed = Vec::new();
    for removal in plan_offboarding(&user, &other, &own_prefix, pending) {
        iam.apply(&removal).await?;
        removed.push(removal.removed());
    }
    for role in &config.catalog {
        if remove_trusted_principal(iam, account, &role.name, &user.arn).await? {
            removed.push(format!(
                "principal in the trust policy of role {}",
                role.name
            ));
        }
    }
    delete_user(iam, username, &mut removed).await?;
    removed.push(format!("user {username}"));
    tracing::info!(user = username, removed = removed.len(), "offboarded");
    Ok(OffboardingResult {
        user: Named {
            name: user.name,
            arn: user.arn,
        },
        outcome: OffboardingOutcome::Removed,
        removed,
    })
}

/// Takes the user's ARN out of a catalog role's trust policy (`users` mode lists it there); true when it
/// was there. The edit is made under the role's trust lock, against a fresh read; a policy that does not
/// name the user (always so in `account` mode) is left alone without taking the lock. Offboarding and
/// revocation both use it.
pub(crate) async fn remove_trusted_principal(
    iam: &Iam,
    account: &Account,
    role: &str,
    user_arn: &str,
) -> Result<bool> {
    let edit = |observed: Option<ObservedRole>| {
        observed.and_then(|observed| {
            without_principal(&observed.trust_policy, user_arn, &account.role_arn(role))
        })
    };
    // Read once without the lock: a policy that does not name the user needs no lock at all.
    let reading = Reading::WITHOUT_INLINE_POLICIES;
    if edit(iam.observe_role(role, reading).await?).is_none() {
        return Ok(false);
    }
    iam.edit_trust_policy(account, role, reading, async |current| {
        Ok(edit(current)
            .map(|trust_policy| Change::UpdateTrustPolicy {
                role: role.to_string(),
                trust_policy,
            })
            .into_iter()
            .collect())
    })
    .await
}

/// Service-specific credentials (CodeCommit, Keyspaces) are rare, and not every IAM implementation lists
/// them: they are looked for only when IAM says something still holds the user.
async fn delete_user(iam: &Iam, username: &str, removed: &mut Vec<String>) -> Result<()> {
    match iam.delete_user(username).await? {
        UserDeletion::Deleted | UserDeletion::AlreadyGone => return Ok(()),
        UserDeletion::Conflict => {}
    }
    for credential_id in iam.service_specific_credentials(username).await? {
        let removal = Removal::DeleteServiceSpecificCredential {
            user: username.to_string(),
            credential_id,
        };
        iam.apply(&removal).await?;
        removed.push(removal.removed());
    }
    match iam.delete_user(username).await? {
        UserDeletion::Deleted | UserDeletion::AlreadyGone => Ok(()),
        UserDeletion::Conflict => Err(Error::aws(
            "DeleteUser",
            format!("{username} still holds something IAM will not delete it with"),
            true,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ROLES_TAG;
    use crate::state::AccessKeyInfo;
    use serde_json::json;

    fn key(id: &str, active: bool, created: &str) -> AccessKey {
        AccessKey {
            id: id.into(),
            active,
            created: Some(created.into()),
        }
    }

    #[test]
    fn rotation_follows_aws_practice() {
        let old = "2026-01-01T00:00:00Z";
        let new = "2026-06-01T00:00:00Z";
        type Case<'a> = (&'a str, Vec<AccessKey>, Result<RotationPlan, &'a str>);
        let cases: Vec<Case> = vec![
            ("first key", vec![], Ok(RotationPlan::default())),
            (
                "one active key is deactivated",
                vec![key("A", true, old)],
                Ok(RotationPlan {
                    delete: None,
                    deactivate: Some("A".into()),
                }),
            ),
            (
                "one inactive key stays",
                vec![key("A", false, old)],
                Ok(RotationPlan::default()),
            ),
            (
                "two keys: the inactive one goes first, the active one is deactivated",
                vec![key("A", true, new), key("B", false, old)],
                Ok(RotationPlan {
                    delete: Some("B".into()),
                    deactivate: Some("A".into()),
                }),
            ),
            (
                "two inactive keys: the older one goes",
                vec![key("A", false, new), key("B", false, old)],
                Ok(RotationPlan {
                    delete: Some("B".into()),
                    deactivate: None,
                }),
            ),
            (
                "two active keys: refused",
                vec![key("A", true, old), key("B", true, new)],
                Err("too_many_keys"),
            ),
        ];
        for (name, keys, expected) in cases {
            let outcome = plan_rotation(&keys, "dev").map_err(|error| error.code());
            assert_eq!(outcome, expected, "{name}");
        }
    }

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "ROLE_CATALOG" => Some(
                r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"]},
                    {"name":"ReadOnly","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
                    {"name":"BreakGlass","managed_policy_arns":["arn:aws:iam::aws:policy/AdministratorAccess"]}]"#
                    .into(),
            ),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn granted_roles_are_read_from_either_grant_shape() {
        let config = config();
        let user = ObservedUser {
            groups: vec!["onboarding-ReadOnly".into(), "developers".into()],
            inline_policies: [("AssumeBreakGlass".to_string(), json!({}))]
                .into_iter()
                .collect(),
            ..ObservedUser::default()
        };
        let names: Vec<&str> = granted_roles(&user, &config)
            .iter()
            .map(|role| role.name.as_str())
            .collect();
        assert_eq!(names, ["ReadOnly", "BreakGlass"]);
    }

    #[test]
    fn a_grant_removed_by_hand_is_still_an_entitlement() {
        let config = config();
        let user = ObservedUser {
            groups: vec!["onboarding-ReadOnly".into()],
            tags: [(
                ROLES_TAG.to_string(),
                "ReadOnly ResourceCreatorRole Gone".to_string(),
            )]
            .into_iter()
            .collect(),
            ..ObservedUser::default()
        };
        let names: Vec<String> = entitled_roles(&user, &config)
            .into_iter()
            .map(|role| role.name.clone())
            .collect();
        assert_eq!(
            names,
            ["ReadOnly", "ResourceCreatorRole"],
            "not in the catalog: ignored"
        );
    }

    #[test]
    fn offboarding_removes_everything_in_the_order_iam_needs() {
        let user = ObservedUser {
            name: "dev".into(),
            groups: vec!["onboarding-ReadOnly".into(), "developers".into()],
            inline_policies: [("AssumeReadOnly".to_string(), json!({}))]
                .into_iter()
                .collect(),
            attached_policies: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
            access_keys: vec![AccessKeyInfo {
                id: "AKIA1".into(),
                active: true,
            }],
            mfa_devices: vec![
                "arn:aws:iam::123456789012:mfa/onboarded/dev".into(),
                "arn:aws:iam::123456789012:mfa/hardware-token".into(),
            ],
            ..ObservedUser::default()
        };
        let other = OtherCredentials {
            login_profile: true,
            signing_certificates: vec!["CERT1".into()],
            ssh_public_keys: vec!["APKA1".into()],
        };
        let user_name = || "dev".to_string();
        assert_eq!(
            plan_offboarding(
                &user,
                &other,
                "arn:aws:iam::123456789012:mfa/onboarded/",
                None
            ),
            vec![
                Removal::DeleteAccessKey {
                    user: user_name(),
                    key_id: "AKIA1".into()
                },
                Removal::DeleteLoginProfile { user: user_name() },
                Removal::DeleteSigningCertificate {
                    user: user_name(),
                    certificate_id: "CERT1".into()
                },
                Removal::DeleteSshPublicKey {
                    user: user_name(),
                    key_id: "APKA1".into()
                },
                Removal::DeactivateMfaDevice {
                    user: user_name(),
                    serial_number: "arn:aws:iam::123456789012:mfa/onboarded/dev".into()
                },
                Removal::DeactivateMfaDevice {
                    user: user_name(),
                    serial_number: "arn:aws:iam::123456789012:mfa/hardware-token".into()
                },
                Removal::DeleteVirtualMfaDevice {
                    serial_number: "arn:aws:iam::123456789012:mfa/onboarded/dev".into()
                },
                Removal::DeleteUserPolicy {
                    user: user_name(),
                    policy_name: "AssumeReadOnly".into()
                },
                Removal::DetachUserPolicy {
                    user: user_name(),
                    policy_arn: "arn:aws:iam::aws:policy/ReadOnlyAccess".into()
                },
                Removal::RemoveUserFromGroup {
                    user: user_name(),
                    group: "onboarding-ReadOnly".into()
                },
                Removal::RemoveUserFromGroup {
                    user: user_name(),
                    group: "developers".into()
                },
            ]
        );
    }

    #[test]
    fn a_device_never_enabled_is_deleted_too() {
        let user = ObservedUser {
            name: "dev".into(),
            ..ObservedUser::default()
        };
        assert_eq!(
            plan_offboarding(
                &user,
                &OtherCredentials::default(),
                "arn:aws:iam::123456789012:mfa/onboarded/",
                Some("arn:aws:iam::123456789012:mfa/onboarded/dev"),
            ),
            vec![Removal::DeleteVirtualMfaDevice {
                serial_number: "arn:aws:iam::123456789012:mfa/onboarded/dev".into()
            }]
        );
    }

    const ROLE: &str = "arn:aws:iam::123456789012:role/ResourceCreatorRole";
    const DEV: &str = "arn:aws:iam::123456789012:user/onboarded/dev";
    const QA: &str = "arn:aws:iam::123456789012:user/onboarded/qa";

    fn trust(aws: Value) -> Value {
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": aws}, "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]})
    }

    #[test]
    fn the_principal_is_taken_out_of_the_trust_policy_and_nothing_else() {
        assert_eq!(
            without_principal(&trust(json!([DEV, QA])), DEV, ROLE),
            Some(trust(json!(QA)))
        );
        assert_eq!(
            without_principal(&trust(json!([DEV, QA, "AIDAEXAMPLE"])), DEV, ROLE),
            Some(trust(json!([QA, "AIDAEXAMPLE"])))
        );
        assert_eq!(without_principal(&trust(json!(QA)), DEV, ROLE), None);
        let account_mode = trust(json!("arn:aws:iam::123456789012:root"));
        assert_eq!(without_principal(&account_mode, DEV, ROLE), None);
    }

    #[test]
    fn the_last_principal_leaves_a_role_that_trusts_only_itself() {
        assert_eq!(
            without_principal(&trust(json!(DEV)), DEV, ROLE),
            Some(trust(json!(ROLE)))
        );
        let single_statement = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": [DEV]}, "Action": "sts:AssumeRole"}});
        assert_eq!(
            without_principal(&single_statement, DEV, ROLE),
            Some(
                json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sts:AssumeRole"}})
            )
        );
    }

    #[test]
    fn every_change_reads_as_a_sentence() {
        let text = Change::AddUserToGroup {
            user: "dev".into(),
            group: "onboarding-ReadOnly".into(),
        }
        .to_string();
        assert_eq!(text, "user dev is not in group onboarding-ReadOnly");
        assert!(
            Change::CreateAccessKey { user: "dev".into() }
                .to_string()
                .contains("POST /users/dev/access-keys")
        );
    }
}
