//! `offboard`: a managed user and everything it holds removed, in the order IAM needs, and its principal
//! taken out of the catalog roles' trust policies. The decisions (`plan_offboarding`, `without_principal`)
//! are pure; each removal is an idempotent [`Change`].

use serde::Serialize;
use serde_json::Value;

use std::time::SystemTime;

use crate::account::Account;
use crate::config::{CatalogRole, Config};
use crate::desired::{entitled_roles, granted_roles};
use crate::error::{Error, Result};
use crate::iam::{Iam, Reading};
use crate::plan::Change;
use crate::policy::{statements, string_list};
use crate::revoked_sessions::{POLICY_NAME, revoke_sessions};
use crate::state::{ObservedRole, ObservedUser, OtherCredentials, UserDeletion};
use crate::views::Named;

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
    /// What is left to remove in member accounts that could not be reached, one line per account and
    /// role: the user is gone from the hub all the same, and the next drift check of that account removes
    /// the principal its trust policy still names.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending_cleanup: Vec<String>,
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
                pending_cleanup: Vec::new(),
            });
        }
        Some(user) if !user.is_managed(config) => return Err(user.refusal(config)),
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
    let mut pending_cleanup = Vec::new();
    // With the key gone no new session can start; the ones already running end here. Where sessions do
    // not carry their person's name, no Deny can single them out, and they run until they expire.
    if config.require_source_identity {
        let now = SystemTime::now();
        for role in held_roles(&user, config) {
            if let Some((member, why)) = iam.left_out(&role.name) {
                pending_cleanup.push(format!(
                    "account {member}: ending the sessions {username} holds in role {} (not reachable: {why}); they expire within its maximum session duration",
                    role.name
                ));
                continue;
            }
            if revoke_sessions(iam, config, account, role, &user.name, now).await? {
                removed.push(format!(
                    "sessions of role {} issued before now ({POLICY_NAME})",
                    role.name
                ));
            }
        }
    }
    for role in &config.catalog {
        if let Some((member, why)) = iam.left_out(&role.name) {
            pending_cleanup.push(format!(
                "account {member}: the trust policy of role {} (not reachable: {why})",
                role.name
            ));
            continue;
        }
        if remove_trusted_principal(iam, config, account, role, &user.arn).await? {
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
        pending_cleanup,
    })
}

/// The roles a person may have sessions of: those their record names, and any they hold a grant for.
fn held_roles<'a>(user: &ObservedUser, config: &'a Config) -> Vec<&'a CatalogRole> {
    let mut roles = entitled_roles(user, config);
    for role in granted_roles(user, config) {
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles
}

/// Takes the user's ARN out of a catalog role's trust policy (`users` mode lists it there); true when it
/// was there. The edit is made under the role's trust lock, against a fresh read; a policy that does not
/// name the user (always so in `account` mode) is left alone without taking the lock, and so is a role the
/// stack does not own (no `onboarding:managed` tag: someone else's, whoever it trusts). Offboarding and
/// revocation both use it.
pub(crate) async fn remove_trusted_principal(
    iam: &Iam,
    config: &Config,
    account: &Account,
    role: &CatalogRole,
    user_arn: &str,
) -> Result<bool> {
    let role_arn = account.catalog_role_arn(role);
    let edit = |observed: Option<ObservedRole>| {
        observed
            .filter(|observed| observed.is_owned(&config.stack_name))
            .and_then(|observed| without_principal(&observed.trust_policy, user_arn, &role_arn))
    };
    let role = role.name.as_str();
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
    use crate::state::AccessKeyInfo;
    use serde_json::json;

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
}
