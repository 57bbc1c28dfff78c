//! `status`: what a managed user holds, what onboarding them again would change, and the drift check's
//! findings about them, read per user. Observe → plan (nothing applied) → judge.

use std::time::SystemTime;

use serde::Serialize;

use crate::account::Account;
use crate::config::{CatalogRole, Config, DriftSettings};
use crate::desired::{UserSpec, desired_user, entitled_roles, granted_roles};
use crate::drift::{Finding, check_user};
use crate::error::{Error, Result};
use crate::grants::observe_grants;
use crate::iam::Iam;
use crate::mfa::MfaView;
use crate::names::{REQUESTED_AT_TAG, REQUESTED_BY_TAG};
use crate::plan::{Change, plan_onboarding};
use crate::state::{AccountSnapshot, CredentialRow, KeyUsage, ObservedGrants, ObservedUser};
use crate::timestamps::parse_timestamp;
use crate::views::Named;

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
    /// Member accounts whose spoke role could not be assumed, one line each with why: their roles are
    /// left out of `differences` and `findings`, and the user is not said to be in the desired state.
    pub accounts_unreachable: Vec<String>,
}

impl UserStatus {
    /// The answer for the person themselves, not an admin: a finding about a role they hold quotes the
    /// role's policies, and in `TRUST_MODE=users` its trust policy names every other holder. Every IAM
    /// principal in the findings but the person's own user becomes "another principal".
    pub fn for_the_person(mut self) -> UserStatus {
        let own = self.user.arn.clone();
        for finding in &mut self.findings {
            hide_other_principals(&mut finding.expected, &own);
            hide_other_principals(&mut finding.actual, &own);
        }
        self
    }
}

const ANOTHER_PRINCIPAL: &str = "another principal";

/// Every other person anywhere, and inside a `Principal` (or `NotPrincipal`) every other user or role and
/// the bare unique id a trust policy keeps of a deleted one (`AIDA…`, `AROA…`). A role named outside a
/// principal (the catalog role a grant allows) is not a person and stays.
fn hide_other_principals(value: &mut serde_json::Value, own: &str) {
    hide(value, own, false);
}

fn hide(value: &mut serde_json::Value, own: &str, in_principal: bool) {
    use serde_json::Value;
    match value {
        Value::String(text) if text != own && is_someone(text, in_principal) => {
            *text = ANOTHER_PRINCIPAL.to_string();
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| hide(item, own, in_principal)),
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                let principal = in_principal
                    || key.eq_ignore_ascii_case("principal")
                    || key.eq_ignore_ascii_case("notprincipal");
                hide(field, own, principal);
            }
        }
        _ => {}
    }
}

fn is_someone(text: &str, in_principal: bool) -> bool {
    let iam_resource = (text.starts_with("arn:") && text.split(':').nth(2) == Some("iam"))
        .then(|| text.splitn(6, ':').nth(5).unwrap_or_default());
    let user = iam_resource.is_some_and(|resource| resource.starts_with("user/"));
    let role = iam_resource.is_some_and(|resource| resource.starts_with("role/"));
    let unique_id = text.len() == 21
        && (text.starts_with("AIDA") || text.starts_with("AROA"))
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    user || (in_principal && (role || unique_id))
}

/// Reads a managed user. Unmanaged and absent users look the same from outside: nothing is revealed.
pub(crate) async fn managed_user(
    iam: &Iam,
    config: &Config,
    username: &str,
) -> Result<ObservedUser> {
    match iam.observe_user(username).await? {
        Some(user) if user.is_managed(config) => Ok(user),
        // Another stack's user is named as such: the person asked the wrong deployment.
        other => Err(other
            .and_then(|user| user.managed_by_another_stack(config))
            .unwrap_or_else(|| Error::UserNotFound(username.to_string()))),
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
    let unread: Vec<&CatalogRole> = entitled
        .iter()
        .filter(|role| iam.left_out(&role.name).is_some())
        .collect();
    let mut accounts_unreachable: Vec<String> = unread
        .iter()
        .filter_map(|role| iam.left_out(&role.name))
        .map(|(member, why)| format!("account {member}: {why}"))
        .collect();
    accounts_unreachable.dedup();
    let differences: Vec<String> = changes
        .iter()
        .filter(|change| !unread.iter().any(|role| role.name == change.target()))
        .map(Change::to_string)
        .collect();
    let snapshot = drift_snapshot(iam, &user, grants, &access_keys).await?;
    let findings: Vec<Finding> = check_user(&snapshot, &user, config, settings, account, now)
        .into_iter()
        .filter(|finding| {
            !unread
                .iter()
                .any(|role| finding.resource_arn == account.catalog_role_arn(role))
        })
        .collect();
    Ok(UserStatus {
        roles: granted_roles(&user, config)
            .into_iter()
            .map(|role| Named {
                name: role.name.clone(),
                arn: account.catalog_role_arn(role),
            })
            .collect(),
        user: Named {
            name: user.name,
            arn: user.arn,
        },
        mfa,
        access_keys,
        in_desired_state: differences.is_empty()
            && findings.is_empty()
            && accounts_unreachable.is_empty(),
        differences,
        findings,
        accounts_unreachable,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_person_sees_their_own_principal_and_nobody_elses() {
        let own = "arn:aws:iam::123456789012:user/onboarded/alice@example.com";
        let mut trust = json!({"Statement": [{"Principal": {"AWS": [
            own,
            "arn:aws:iam::123456789012:user/onboarded/bob@example.com",
            "arn:aws:iam::123456789012:role/some-role",
            "AIDAABCDEFGHIJKLMNOPQ",
            "arn:aws:iam::123456789012:root"
        ]}, "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::123456789012:role/ResourceCreatorRole"}]});
        hide_other_principals(&mut trust, own);
        assert_eq!(
            trust["Statement"][0]["Principal"]["AWS"],
            json!([
                own,
                "another principal",
                "another principal",
                "another principal",
                "arn:aws:iam::123456789012:root"
            ])
        );
        assert_eq!(trust["Statement"][0]["Action"], "sts:AssumeRole");
        assert_eq!(
            trust["Statement"][0]["Resource"], "arn:aws:iam::123456789012:role/ResourceCreatorRole",
            "the role a grant names is no person"
        );
        let mut elsewhere =
            json!({"members": ["arn:aws:iam::123456789012:user/onboarded/bob@example.com", own]});
        hide_other_principals(&mut elsewhere, own);
        assert_eq!(elsewhere["members"], json!(["another principal", own]));
    }
}
