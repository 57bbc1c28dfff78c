//! Revoking one catalog role from a managed user (`DELETE /users/{username}/roles/{role}`): the record of
//! the grant, the grant itself in either shape, and (`TRUST_MODE=users`) the user's ARN in the role's trust
//! policy. Like offboarding it is observe → decide (`plan_revocation`, pure) → apply, and idempotent:
//! revoking what is not granted answers `not_granted`, and a re-run after a failure finishes the job.

use std::time::SystemTime;

use serde::Serialize;

use crate::account::Account;
use crate::config::{CatalogRole, Config};
use crate::desired::entitled_roles;
use crate::error::{Error, Result};
use crate::iam::Iam;
use crate::names::{ROLES_TAG, grant_group_name, grant_policy_name, roles_in_tag, roles_tag_value};
use crate::offboarding::{Removal, remove_trusted_principal};
use crate::plan::Change;
use crate::revoked_sessions::{POLICY_NAME, revoke_sessions};
use crate::state::ObservedUser;
use crate::views::Named;

/// What revoking takes from the user itself; the trust policy is the role's, read under its own lock.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RevocationPlan {
    /// The new value of the `onboarding:roles` record, when the record names the role.
    pub record: Option<String>,
    pub removals: Vec<Removal>,
}

/// The record goes first: were it left naming the role after the grant is gone, the drift check's repair
/// (and an admin's replay) would grant the role again. Both grant shapes are removed whatever `GRANT_MODE`
/// says, since a mode switch leaves the old shape in place, and it still grants.
pub fn plan_revocation(user: &ObservedUser, role: &CatalogRole, config: &Config) -> RevocationPlan {
    let record = match user.tags.get(ROLES_TAG) {
        // Names no longer in the catalog are kept as they are: the record is not this request's to tidy.
        Some(value) => roles_in_tag(value)
            .any(|name| name == role.name)
            .then(|| roles_tag_value(roles_in_tag(value).filter(|name| *name != role.name))),
        // Onboarded before the record existed: its grants are its record, written now without this role
        // so that the drift check does not count the revoked grant as an entitlement.
        None => {
            let entitled = entitled_roles(user, config);
            entitled.contains(&role).then(|| {
                roles_tag_value(
                    entitled
                        .iter()
                        .map(|entitled| entitled.name.as_str())
                        .filter(|name| *name != role.name),
                )
            })
        }
    };
    let mut removals = Vec::new();
    let group = grant_group_name(&role.name);
    if user.groups.contains(&group) {
        removals.push(Removal::RemoveUserFromGroup {
            user: user.name.clone(),
            group,
        });
    }
    let policy_name = grant_policy_name(&role.name);
    if user.inline_policies.contains_key(&policy_name) {
        removals.push(Removal::DeleteUserPolicy {
            user: user.name.clone(),
            policy_name,
        });
    }
    RevocationPlan { record, removals }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationOutcome {
    Revoked,
    /// Nothing to do: the user held no grant of the role and its record did not name it.
    NotGranted,
}

#[derive(Debug, Clone, Serialize)]
pub struct RevocationResult {
    pub user: Named,
    pub role: Named,
    pub outcome: RevocationOutcome,
    /// What was removed, one line each, for the requester's records.
    pub removed: Vec<String>,
}

/// Revokes `role` from the managed user `username`. An unknown role, an absent user and a user that is
/// not ours are refused before anything is read or changed beyond the user itself.
pub async fn revoke(
    iam: &Iam,
    config: &Config,
    account: &Account,
    username: &str,
    role: &str,
) -> Result<RevocationResult> {
    let role = config
        .catalog_role(role)
        .ok_or_else(|| Error::UnknownRole(role.to_string()))?;
    let user = match iam.observe_user(username).await? {
        None => return Err(Error::UserNotFound(username.to_string())),
        Some(user) if !user.is_managed(config) => return Err(user.refusal(config)),
        Some(user) => user,
    };
    let plan = plan_revocation(&user, role, config);
    let mut removed = Vec::new();
    if let Some(value) = plan.record {
        iam.apply(&Change::TagUser {
            user: user.name.clone(),
            tags: vec![(ROLES_TAG.to_string(), value)],
        })
        .await?;
        removed.push(format!("role {} from the record {ROLES_TAG}", role.name));
    }
    for removal in &plan.removals {
        iam.apply(removal).await?;
        removed.push(removal.removed());
    }
    if remove_trusted_principal(iam, config, account, role, &user.arn).await? {
        removed.push(format!(
            "principal in the trust policy of role {}",
            role.name
        ));
    }
    // Their sessions of the role end too, not only their way to start new ones.
    if !removed.is_empty()
        && config.require_source_identity
        && revoke_sessions(iam, config, account, role, &user.name, SystemTime::now()).await?
    {
        removed.push(format!(
            "sessions of role {} issued before now ({POLICY_NAME})",
            role.name
        ));
    }
    let outcome = if removed.is_empty() {
        RevocationOutcome::NotGranted
    } else {
        RevocationOutcome::Revoked
    };
    tracing::info!(user = username, role = %role.name, outcome = ?outcome, "revoked");
    Ok(RevocationResult {
        user: Named {
            name: user.name,
            arn: user.arn,
        },
        role: Named {
            name: role.name.clone(),
            arn: account.catalog_role_arn(role),
        },
        outcome,
        removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "ROLE_CATALOG" => Some(
                r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
                    {"name":"BreakGlass","managed_policy_arns":["arn:aws:iam::aws:policy/AdministratorAccess"]}]"#
                    .into(),
            ),
            _ => None,
        })
        .unwrap()
    }

    fn user(record: Option<&str>, groups: &[&str], inline: &[&str]) -> ObservedUser {
        ObservedUser {
            name: "dev".into(),
            tags: record
                .map(|value| (ROLES_TAG.to_string(), value.to_string()))
                .into_iter()
                .collect(),
            groups: groups.iter().map(|group| group.to_string()).collect(),
            inline_policies: inline
                .iter()
                .map(|name| (name.to_string(), json!({})))
                .collect(),
            ..ObservedUser::default()
        }
    }

    #[test]
    fn revocation_takes_the_record_and_both_grant_shapes() {
        let config = config();
        let break_glass = config.catalog_role("BreakGlass").unwrap();
        let leave = Removal::RemoveUserFromGroup {
            user: "dev".into(),
            group: "onboarding-BreakGlass".into(),
        };
        let delete = Removal::DeleteUserPolicy {
            user: "dev".into(),
            policy_name: "AssumeBreakGlass".into(),
        };
        let cases = [
            (
                "granted by group",
                user(
                    Some("BreakGlass ResourceCreatorRole"),
                    &["onboarding-BreakGlass", "onboarding-ResourceCreatorRole"],
                    &[],
                ),
                Some("ResourceCreatorRole"),
                vec![leave.clone()],
            ),
            (
                "granted inline, and by group after a GRANT_MODE switch",
                user(
                    Some("BreakGlass"),
                    &["onboarding-BreakGlass"],
                    &["AssumeBreakGlass", "quick-fix"],
                ),
                Some(""),
                vec![leave.clone(), delete.clone()],
            ),
            (
                "the grant was removed by hand, the record still names it",
                user(Some("BreakGlass Gone ResourceCreatorRole"), &[], &[]),
                Some("Gone ResourceCreatorRole"),
                vec![],
            ),
            (
                "recorded nowhere but granted: the grant goes, the record stays",
                user(Some("ResourceCreatorRole"), &["onboarding-BreakGlass"], &[]),
                None,
                vec![leave.clone()],
            ),
            (
                "no record yet: written from the grants, without the role",
                user(
                    None,
                    &["onboarding-BreakGlass", "onboarding-ResourceCreatorRole"],
                    &[],
                ),
                Some("ResourceCreatorRole"),
                vec![leave],
            ),
            (
                "not granted",
                user(
                    Some("ResourceCreatorRole"),
                    &["onboarding-ResourceCreatorRole", "developers"],
                    &["quick-fix"],
                ),
                None,
                vec![],
            ),
        ];
        for (case, user, record, removals) in cases {
            let plan = plan_revocation(&user, break_glass, &config);
            assert_eq!(
                plan,
                RevocationPlan {
                    record: record.map(str::to_string),
                    removals
                },
                "{case}"
            );
        }
    }
}
