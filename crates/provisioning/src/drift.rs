//! The drift rules: every managed user, grant group and catalog role against its desired state.
//!
//! The desired state is the one onboarding builds (`desired`), and where a rule is "this differs from the
//! plan" the repair is the plan's own `Change`s. The rules that are invariants rather than shapes (key
//! age, MFA, console access) carry their repair or say it is manual.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use crate::account::Account;
use crate::config::{CatalogRole, Config, DriftSettings, GrantMode, TrustMode};
use crate::desired::{DesiredRole, desired_role, entitled_roles, grant, kept_trust_principals};
use crate::names::{MANAGED_TAG, ROLE_INLINE_POLICY_NAME, grant_group_name, grant_policy_name};
use crate::plan::{Change, plan_role};
use crate::policy::{
    canonical, policy_size, semantically_equal, statements, string_list, trusted_aws_principals,
};
use crate::state::{AccountSnapshot, ObservedRole, ObservedUser};
use crate::trust::mfa_loopholes;

/// Every rule id, stable: alarms and dashboards are built on them.
pub const RULES: [&str; 20] = [
    GRANT_MISSING.id,
    EXTRA_PERMISSIONS.id,
    CONSOLE_ACCESS.id,
    MFA_MISSING.id,
    MFA_NOT_TOTP.id,
    KEY_TOO_OLD.id,
    KEY_UNUSED.id,
    TOO_MANY_KEYS.id,
    BOUNDARY_DRIFT.id,
    GROUP_POLICY_DRIFT.id,
    UNMANAGED_MEMBER.id,
    ROLE_MISSING.id,
    ROLE_UNOWNED.id,
    ROLE_BOUNDARY_DRIFT.id,
    TRUST_MFA.id,
    TRUST_PRINCIPALS.id,
    TRUST_ORPHANS.id,
    TRUST_NEAR_QUOTA.id,
    TRUST_DRIFT.id,
    ROLE_POLICY_DRIFT.id,
];

const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Remediation {
    Automatic,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub resource_arn: String,
    pub message: String,
    pub expected: Value,
    pub actual: Value,
    pub remediation: Remediation,
    pub remediated: bool,
    /// The changes that repair it; empty for manual findings.
    #[serde(skip)]
    pub repair: Vec<Change>,
}

struct Rule {
    id: &'static str,
    severity: Severity,
}

impl Rule {
    fn finding(
        &self,
        resource_arn: &str,
        message: String,
        expected: Value,
        actual: Value,
        repair: Vec<Change>,
    ) -> Finding {
        Finding {
            rule: self.id,
            severity: self.severity,
            resource_arn: resource_arn.to_string(),
            message,
            expected,
            actual,
            remediation: if repair.is_empty() {
                Remediation::Manual
            } else {
                Remediation::Automatic
            },
            remediated: false,
            repair,
        }
    }
}

const GRANT_MISSING: Rule = Rule {
    id: "user.grant-missing",
    severity: Severity::Medium,
};
const EXTRA_PERMISSIONS: Rule = Rule {
    id: "user.extra-permissions",
    severity: Severity::High,
};
const CONSOLE_ACCESS: Rule = Rule {
    id: "user.console-access",
    severity: Severity::High,
};
const MFA_MISSING: Rule = Rule {
    id: "user.mfa-missing",
    severity: Severity::High,
};
const MFA_NOT_TOTP: Rule = Rule {
    id: "user.mfa-not-totp",
    severity: Severity::Medium,
};
const KEY_TOO_OLD: Rule = Rule {
    id: "user.access-key-too-old",
    severity: Severity::Medium,
};
const KEY_UNUSED: Rule = Rule {
    id: "user.access-key-unused",
    severity: Severity::Low,
};
const TOO_MANY_KEYS: Rule = Rule {
    id: "user.too-many-active-keys",
    severity: Severity::Medium,
};
const BOUNDARY_DRIFT: Rule = Rule {
    id: "user.boundary-drift",
    severity: Severity::High,
};
const GROUP_POLICY_DRIFT: Rule = Rule {
    id: "group.policy-drift",
    severity: Severity::High,
};
const UNMANAGED_MEMBER: Rule = Rule {
    id: "group.unmanaged-member",
    severity: Severity::High,
};
const ROLE_MISSING: Rule = Rule {
    id: "role.missing",
    severity: Severity::High,
};
const ROLE_UNOWNED: Rule = Rule {
    id: "role.unowned",
    severity: Severity::High,
};
const ROLE_BOUNDARY_DRIFT: Rule = Rule {
    id: "role.boundary-drift",
    severity: Severity::High,
};
const TRUST_MFA: Rule = Rule {
    id: "role.trust-mfa-not-enforced",
    severity: Severity::Critical,
};
const TRUST_PRINCIPALS: Rule = Rule {
    id: "role.trust-principal-drift",
    severity: Severity::High,
};
const TRUST_ORPHANS: Rule = Rule {
    id: "role.trust-orphaned-principal",
    severity: Severity::Low,
};
const TRUST_NEAR_QUOTA: Rule = Rule {
    id: "role.trust-near-quota",
    severity: Severity::Medium,
};
const TRUST_DRIFT: Rule = Rule {
    id: "role.trust-drift",
    severity: Severity::Medium,
};
const ROLE_POLICY_DRIFT: Rule = Rule {
    id: "role.policy-drift",
    severity: Severity::High,
};

/// All findings for the account, roles first, then grant groups, then users: the order repairs apply in.
pub fn check(
    snapshot: &AccountSnapshot,
    config: &Config,
    settings: &DriftSettings,
    account: &Account,
    now: SystemTime,
) -> Vec<Finding> {
    let managed: Vec<&ObservedUser> = snapshot
        .users
        .iter()
        .filter(|user| user.is_managed(config))
        .collect();
    let grants: BTreeMap<&str, Vec<&CatalogRole>> = managed
        .iter()
        .map(|user| (user.name.as_str(), entitled_roles(user, config)))
        .collect();
    let holders = |role: &CatalogRole| -> Vec<String> {
        managed
            .iter()
            .filter(|user| grants[user.name.as_str()].contains(&role))
            .map(|user| account.user_arn(&config.user_path, &user.name))
            .collect()
    };

    let mut findings = Vec::new();
    let mut desired_roles = BTreeMap::new();
    for role in &config.catalog {
        let desired = desired_role(role, config, account, &holders(role));
        match snapshot
            .roles
            .iter()
            .find(|observed| observed.name == role.name)
        {
            None => findings.push(ROLE_MISSING.finding(
                &desired.arn,
                format!("catalog role {} does not exist", role.name),
                json!(role.name),
                Value::Null,
                // A role that does not exist is nobody's: the plan creates it.
                plan_role(&desired, None).unwrap_or_default(),
            )),
            Some(observed) => match plan_role(&desired, Some(observed)) {
                // Someone else's role: reported, and neither judged nor repaired. It is left out of
                // `desired_roles` too, so that no user's grant repair edits its trust policy.
                Err(_) => {
                    findings.push(ROLE_UNOWNED.finding(
                        &desired.arn,
                        format!(
                            "catalog role {} exists but is not tagged {MANAGED_TAG}=true: the stack did not create it and does not change it; \"adopt\": true in its catalog entry takes it over",
                            role.name
                        ),
                        json!({MANAGED_TAG: "true"}),
                        json!(observed.tags),
                        Vec::new(),
                    ));
                    continue;
                }
                Ok(plan) => {
                    findings.extend(ownership_and_boundary_findings(&desired, observed, &plan));
                    findings.extend(role_findings(
                        &desired,
                        observed,
                        config,
                        account,
                        snapshot.trust_policy_size_quota,
                    ));
                }
            },
        }
        desired_roles.insert(role.name.as_str(), desired);
    }
    if config.grant_mode == GrantMode::Group {
        for role in &config.catalog {
            findings.extend(group_findings(
                role,
                snapshot,
                config,
                account,
                !holders(role).is_empty(),
            ));
        }
    }
    for user in &managed {
        let granted = &grants[user.name.as_str()];
        findings.extend(user_findings(
            user,
            granted,
            &desired_roles,
            snapshot,
            config,
            settings,
            account,
            now,
        ));
    }
    findings
}

/// The rules `status` applies to one user: those about the user itself, and about the catalog roles and
/// grant groups it is entitled to. The rules about other principals (who else a trust policy names, who
/// else sits in a grant group, how full the trust policy is) need the whole account and stay with the
/// scheduled check.
const PER_USER_RULES: [&str; 15] = [
    GRANT_MISSING.id,
    EXTRA_PERMISSIONS.id,
    CONSOLE_ACCESS.id,
    MFA_MISSING.id,
    MFA_NOT_TOTP.id,
    KEY_TOO_OLD.id,
    KEY_UNUSED.id,
    TOO_MANY_KEYS.id,
    BOUNDARY_DRIFT.id,
    GROUP_POLICY_DRIFT.id,
    ROLE_MISSING.id,
    ROLE_UNOWNED.id,
    ROLE_BOUNDARY_DRIFT.id,
    TRUST_MFA.id,
    ROLE_POLICY_DRIFT.id,
];

/// The findings about `user`, from a snapshot that holds that user and its entitled roles and groups.
pub fn check_user(
    snapshot: &AccountSnapshot,
    user: &ObservedUser,
    config: &Config,
    settings: &DriftSettings,
    account: &Account,
    now: SystemTime,
) -> Vec<Finding> {
    let entitled = entitled_roles(user, config);
    let concerns_user = |arn: &str| {
        arn == user.arn
            || entitled.iter().any(|role| {
                arn == account.role_arn(&role.name)
                    || arn == account.group_arn(&grant_group_name(&role.name))
            })
    };
    check(snapshot, config, settings, account, now)
        .into_iter()
        .filter(|finding| {
            PER_USER_RULES.contains(&finding.rule) && concerns_user(&finding.resource_arn)
        })
        .collect()
}

/// The parts of a role's plan that are findings of their own: adopting it (a role of that name that was
/// not tagged, whose catalog entry says `adopt`), and its permissions boundary. Their repairs are the
/// plan's own changes, so onboarding and the drift check cannot disagree about them.
fn ownership_and_boundary_findings(
    desired: &DesiredRole,
    observed: &ObservedRole,
    plan: &[Change],
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for change in plan {
        match change {
            Change::TagRole { .. } => findings.push(ROLE_UNOWNED.finding(
                &desired.arn,
                format!(
                    "catalog role {} is not tagged {MANAGED_TAG}=true; its catalog entry says \"adopt\": true, so it is taken over",
                    desired.name
                ),
                json!({MANAGED_TAG: "true"}),
                json!(observed.tags),
                vec![change.clone()],
            )),
            Change::SetRoleBoundary { policy_arn, .. } => findings.push(ROLE_BOUNDARY_DRIFT.finding(
                &desired.arn,
                format!(
                    "catalog role {} does not have the permissions boundary {policy_arn}, which keeps its holders away from the stack",
                    desired.name
                ),
                json!(policy_arn),
                json!(observed.permissions_boundary),
                vec![change.clone()],
            )),
            _ => {}
        }
    }
    findings
}

fn role_findings(
    desired: &DesiredRole,
    observed: &ObservedRole,
    config: &Config,
    account: &Account,
    quota: usize,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let trust = &observed.trust_policy;
    let repair_trust = || {
        vec![Change::UpdateTrustPolicy {
            role: desired.name.clone(),
            trust_policy: desired.trust_policy.clone(),
        }]
    };

    let loopholes = mfa_loopholes(trust);
    if !loopholes.is_empty() {
        findings.push(TRUST_MFA.finding(
            &desired.arn,
            format!(
                "{} can be assumed without MFA through {}",
                desired.name,
                loopholes.join(", ")
            ),
            desired.trust_policy.clone(),
            trust.clone(),
            repair_trust(),
        ));
    }

    let principals = allowed_principals(trust);
    let orphaned: Vec<&String> = principals.iter().filter(|p| is_unique_id(p)).collect();
    if !orphaned.is_empty() {
        findings.push(TRUST_ORPHANS.finding(
            &desired.arn,
            format!(
                "{} trusts bare unique ids left by deleted principals: {}",
                desired.name,
                join(&orphaned)
            ),
            json!([]),
            json!(orphaned),
            repair_trust(),
        ));
    }

    let expected_principals: BTreeSet<String> = allowed_principals(&desired.trust_policy)
        .into_iter()
        .collect();
    let mut extra: Vec<String> = principals
        .iter()
        .filter(|p| !is_unique_id(p) && !expected_principals.contains(*p) && **p != account.id)
        .cloned()
        .collect();
    if config.trust_mode == TrustMode::Account && !limited_to_managed_path(trust, config, account) {
        extra.push(format!(
            "every principal of account {} (no aws:PrincipalArn limit to {})",
            account.id, config.user_path
        ));
    }
    if !extra.is_empty() {
        findings.push(TRUST_PRINCIPALS.finding(
            &desired.arn,
            format!(
                "{} trusts more than the managed users: {}",
                desired.name,
                extra.join(", ")
            ),
            json!(expected_principals),
            json!(principals),
            repair_trust(),
        ));
    }

    // What is left: a difference that is neither a loophole nor an extra principal, e.g. a missing
    // MFA age limit. Principals of granted users that are missing are reported on those users.
    let missing_holders_only = {
        let kept: Vec<String> = principals
            .iter()
            .filter(|p| expected_principals.contains(*p))
            .cloned()
            .collect();
        semantically_equal(trust, &crate::policy::trust_policy(config, account, &kept))
    };
    if findings.is_empty()
        && !semantically_equal(trust, &desired.trust_policy)
        && !missing_holders_only
    {
        findings.push(TRUST_DRIFT.finding(
            &desired.arn,
            format!(
                "the trust policy of {} differs from the desired one",
                desired.name
            ),
            desired.trust_policy.clone(),
            trust.clone(),
            repair_trust(),
        ));
    }

    let size = policy_size(trust);
    if size.saturating_mul(10) > quota.saturating_mul(9) {
        findings.push(TRUST_NEAR_QUOTA.finding(
            &desired.arn,
            format!("the trust policy of {} uses {size} of {quota} characters; use TRUST_MODE=account or raise the quota", desired.name),
            json!(quota * 9 / 10),
            json!(size),
            Vec::new(),
        ));
    }

    let mut repair = Vec::new();
    let attached: BTreeSet<&String> = observed.attached_policies.iter().collect();
    let wanted: BTreeSet<&String> = desired.managed_policy_arns.iter().collect();
    for arn in wanted.difference(&attached) {
        repair.push(Change::AttachRolePolicy {
            role: desired.name.clone(),
            policy_arn: (*arn).clone(),
        });
    }
    for arn in attached.difference(&wanted) {
        repair.push(Change::DetachRolePolicy {
            role: desired.name.clone(),
            policy_arn: (*arn).clone(),
        });
    }
    for (name, document) in &observed.inline_policies {
        let wanted_document = desired
            .inline_policy
            .as_ref()
            .filter(|_| name == ROLE_INLINE_POLICY_NAME);
        if wanted_document.is_none() {
            repair.push(Change::DeleteRolePolicy {
                role: desired.name.clone(),
                policy_name: name.clone(),
            });
        } else if wanted_document.is_some_and(|wanted| !semantically_equal(wanted, document)) {
            repair.push(Change::PutRolePolicy {
                role: desired.name.clone(),
                policy_name: name.clone(),
                document: wanted_document.cloned().unwrap_or_default(),
            });
        }
    }
    if let Some(document) = &desired.inline_policy
        && !observed
            .inline_policies
            .contains_key(ROLE_INLINE_POLICY_NAME)
    {
        repair.push(Change::PutRolePolicy {
            role: desired.name.clone(),
            policy_name: ROLE_INLINE_POLICY_NAME.into(),
            document: document.clone(),
        });
    }
    if !repair.is_empty() {
        findings.push(ROLE_POLICY_DRIFT.finding(
            &desired.arn,
            format!("the permission policies of {} differ from the catalog", desired.name),
            json!({"managed_policy_arns": desired.managed_policy_arns, "inline_policies": desired.inline_policy.as_ref().map(|d| json!({ROLE_INLINE_POLICY_NAME: canonical(d)}))}),
            json!({"managed_policy_arns": observed.attached_policies, "inline_policies": observed.inline_policies.iter().map(|(n, d)| (n.clone(), canonical(d))).collect::<BTreeMap<_, _>>()}),
            repair,
        ));
    }
    findings
}

fn group_findings(
    role: &CatalogRole,
    snapshot: &AccountSnapshot,
    config: &Config,
    account: &Account,
    has_holders: bool,
) -> Vec<Finding> {
    let grant = grant(role, config, account);
    let name = grant_group_name(&role.name);
    let arn = account.group_arn(&name);
    let mut findings = Vec::new();
    let expected =
        json!({"inline_policies": {&grant.policy_name: grant.document}, "managed_policy_arns": []});
    match snapshot.groups.iter().find(|group| group.name == name) {
        None if has_holders => findings.push(GROUP_POLICY_DRIFT.finding(
            &arn,
            format!(
                "grant group {name} is missing while users hold role {}",
                role.name
            ),
            expected,
            Value::Null,
            vec![
                Change::CreateGroup { name: name.clone() },
                Change::PutGroupPolicy {
                    group: name.clone(),
                    policy_name: grant.policy_name.clone(),
                    document: grant.document.clone(),
                },
            ],
        )),
        None => {}
        Some(group) => {
            let mut repair = Vec::new();
            if !group
                .inline_policies
                .get(&grant.policy_name)
                .is_some_and(|d| semantically_equal(d, &grant.document))
            {
                repair.push(Change::PutGroupPolicy {
                    group: name.clone(),
                    policy_name: grant.policy_name.clone(),
                    document: grant.document.clone(),
                });
            }
            for policy_name in group
                .inline_policies
                .keys()
                .filter(|n| **n != grant.policy_name)
            {
                repair.push(Change::DeleteGroupPolicy {
                    group: name.clone(),
                    policy_name: policy_name.clone(),
                });
            }
            for policy_arn in &group.attached_policies {
                repair.push(Change::DetachGroupPolicy {
                    group: name.clone(),
                    policy_arn: policy_arn.clone(),
                });
            }
            if !repair.is_empty() {
                let actual = json!({
                    "inline_policies": group.inline_policies.iter().map(|(n, d)| (n.clone(), canonical(d))).collect::<BTreeMap<_, _>>(),
                    "managed_policy_arns": group.attached_policies,
                });
                findings.push(GROUP_POLICY_DRIFT.finding(
                    &arn,
                    format!(
                        "grant group {name} holds more or other than {}",
                        grant.policy_name
                    ),
                    expected,
                    actual,
                    repair,
                ));
            }
        }
    }
    for user in snapshot
        .users
        .iter()
        .filter(|user| user.groups.contains(&name) && !user.is_managed(config))
    {
        findings.push(UNMANAGED_MEMBER.finding(
            &arn,
            format!(
                "{} is in grant group {name} but is not a managed user",
                user.name
            ),
            json!([]),
            json!([user.arn]),
            vec![Change::RemoveUserFromGroup {
                user: user.name.clone(),
                group: name.clone(),
            }],
        ));
    }
    findings
}

#[allow(clippy::too_many_arguments)]
fn user_findings(
    user: &ObservedUser,
    granted: &[&CatalogRole],
    desired_roles: &BTreeMap<&str, DesiredRole>,
    snapshot: &AccountSnapshot,
    config: &Config,
    settings: &DriftSettings,
    account: &Account,
    now: SystemTime,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let name = &user.name;
    let arn = &user.arn;

    for role in granted {
        let grant = grant(role, config, account);
        let mut repair = Vec::new();
        match &grant.group {
            Some(group) if !user.groups.contains(group) => {
                repair.push(Change::AddUserToGroup {
                    user: name.clone(),
                    group: group.clone(),
                });
            }
            None if !user
                .inline_policies
                .get(&grant.policy_name)
                .is_some_and(|d| semantically_equal(d, &grant.document)) =>
            {
                repair.push(Change::PutUserPolicy {
                    user: name.clone(),
                    policy_name: grant.policy_name.clone(),
                    document: grant.document.clone(),
                });
            }
            _ => {}
        }
        if config.trust_mode == TrustMode::Users {
            let user_arn = account.user_arn(&config.user_path, name);
            let trusted = snapshot
                .roles
                .iter()
                .find(|r| r.name == role.name)
                .is_some_and(|r| allowed_principals(&r.trust_policy).contains(&user_arn));
            // No desired role for a catalog role that is not ours: its trust policy is not repaired.
            if let (false, Some(desired)) = (trusted, desired_roles.get(role.name.as_str())) {
                repair.push(Change::UpdateTrustPolicy {
                    role: role.name.clone(),
                    trust_policy: desired.trust_policy.clone(),
                });
            }
        }
        if !repair.is_empty() {
            findings.push(GRANT_MISSING.finding(
                arn,
                format!("{name} was granted {} but the grant is missing or altered", role.name),
                json!({"role": role.name, "policy": grant.policy_name, "group": grant.group}),
                json!({"groups": user.groups, "inline_policies": user.inline_policies.keys().collect::<Vec<_>>()}),
                repair,
            ));
        }
    }

    let allowed_groups: BTreeSet<String> = granted
        .iter()
        .filter_map(|role| grant(role, config, account).group)
        .collect();
    let allowed_inline: BTreeSet<String> = match config.grant_mode {
        GrantMode::Inline => granted
            .iter()
            .map(|role| grant_policy_name(&role.name))
            .collect(),
        GrantMode::Group => BTreeSet::new(),
    };
    let mut extras = Vec::new();
    let mut repair = Vec::new();
    for policy_arn in &user.attached_policies {
        extras.push(format!("attached policy {policy_arn}"));
        repair.push(Change::DetachUserPolicy {
            user: name.clone(),
            policy_arn: policy_arn.clone(),
        });
    }
    for policy_name in user
        .inline_policies
        .keys()
        .filter(|n| !allowed_inline.contains(*n))
    {
        extras.push(format!("inline policy {policy_name}"));
        repair.push(Change::DeleteUserPolicy {
            user: name.clone(),
            policy_name: policy_name.clone(),
        });
    }
    // The grant groups of the whole catalog are ours to change; any other group is not (DESIGN: never
    // touch what the project does not manage), and leaving it could lift a Deny it holds, such as a
    // quarantine an administrator put the person in. Such a membership is reported for a person to judge.
    let grant_groups: BTreeSet<String> = config
        .catalog
        .iter()
        .filter_map(|role| grant(role, config, account).group)
        .collect();
    let mut foreign_groups = Vec::new();
    for group in user.groups.iter().filter(|g| !allowed_groups.contains(*g)) {
        if grant_groups.contains(group) {
            extras.push(format!("group {group}"));
            repair.push(Change::RemoveUserFromGroup {
                user: name.clone(),
                group: group.clone(),
            });
        } else {
            foreign_groups.push(group.clone());
        }
    }
    let expected = json!({"groups": allowed_groups, "inline_policies": allowed_inline, "managed_policy_arns": []});
    let actual = json!({"groups": user.groups, "inline_policies": user.inline_policies.keys().collect::<Vec<_>>(), "managed_policy_arns": user.attached_policies});
    if !extras.is_empty() {
        findings.push(EXTRA_PERMISSIONS.finding(
            arn,
            format!(
                "{name} has permissions beyond its grants: {}",
                extras.join(", ")
            ),
            expected.clone(),
            actual.clone(),
            repair,
        ));
    }
    if !foreign_groups.is_empty() {
        findings.push(EXTRA_PERMISSIONS.finding(
            arn,
            format!(
                "{name} is a member of groups the stack does not manage: {} (remove by hand after checking that none of them holds a Deny)",
                foreign_groups.join(", ")
            ),
            expected,
            actual,
            Vec::new(),
        ));
    }

    if let Some(boundary) = &config.permissions_boundary_arn
        && user.permissions_boundary.as_ref() != Some(boundary)
    {
        findings.push(BOUNDARY_DRIFT.finding(
            arn,
            format!("{name} does not have the configured permissions boundary"),
            json!(boundary),
            json!(user.permissions_boundary),
            vec![Change::SetUserBoundary {
                user: name.clone(),
                policy_arn: boundary.clone(),
            }],
        ));
    }

    let Some(row) = snapshot.credentials.get(name) else {
        return findings;
    };
    if row.password_enabled {
        findings.push(CONSOLE_ACCESS.finding(
            arn,
            format!("{name} has a console password; managed users work through the CLI and assumed roles only"),
            json!(false),
            json!(true),
            vec![Change::DeleteLoginProfile { user: name.clone() }],
        ));
    }
    let grace = DAY * u32::try_from(settings.mfa_grace_days).unwrap_or(u32::MAX);
    if !row.mfa_active
        && row
            .created
            .is_some_and(|created| older_than(created, grace, now))
    {
        findings.push(MFA_MISSING.finding(
            arn,
            format!(
                "{name} has no MFA device {} days after creation: it cannot assume any role",
                settings.mfa_grace_days
            ),
            json!("an enabled virtual MFA device"),
            json!("none"),
            Vec::new(),
        ));
    }
    let other_serials = snapshot.other_mfa_serials.get(name);
    if row.mfa_active
        && !snapshot.users_with_virtual_mfa.contains(name)
        && other_serials.is_some_and(|serials| {
            !serials.is_empty() && serials.iter().all(|s| s.contains(":u2f/"))
        })
    {
        findings.push(MFA_NOT_TOTP.finding(
            arn,
            format!("{name} has only FIDO security keys, which sts:AssumeRole cannot use; enrol a virtual MFA device"),
            json!("a virtual (TOTP) MFA device"),
            json!(other_serials),
            Vec::new(),
        ));
    }

    let max_age = DAY * u32::try_from(settings.access_key_max_age_days).unwrap_or(u32::MAX);
    let max_unused = DAY * u32::try_from(settings.access_key_max_unused_days).unwrap_or(u32::MAX);
    let key_repair = |created: Option<SystemTime>| match (settings.remediate_keys, created) {
        (true, Some(created)) => vec![Change::DeactivateAccessKey {
            user: name.clone(),
            created,
        }],
        _ => Vec::new(),
    };
    for (position, key) in row
        .access_keys
        .iter()
        .enumerate()
        .filter(|(_, key)| key.active)
    {
        let label = format!("access key {} of {name}", position + 1);
        if key
            .created
            .is_some_and(|created| older_than(created, max_age, now))
        {
            findings.push(KEY_TOO_OLD.finding(
                arn,
                format!(
                    "{label} is older than {} days: rotate it with issue-key",
                    settings.access_key_max_age_days
                ),
                json!(format!(
                    "younger than {} days",
                    settings.access_key_max_age_days
                )),
                json!(key.created.map(crate::onboarding::rfc3339)),
                key_repair(key.created),
            ));
        }
        let last_activity = key.last_used.or(key.created);
        if last_activity.is_some_and(|at| older_than(at, max_unused, now)) {
            findings.push(KEY_UNUSED.finding(
                arn,
                format!(
                    "{label} has not been used for {} days",
                    settings.access_key_max_unused_days
                ),
                json!(format!(
                    "used within {} days",
                    settings.access_key_max_unused_days
                )),
                json!(key.last_used.map(crate::onboarding::rfc3339)),
                key_repair(key.created),
            ));
        }
    }
    if row.access_keys.iter().all(|key| key.active) {
        findings.push(TOO_MANY_KEYS.finding(
            arn,
            format!("{name} has two active access keys; deactivate the one no longer in use"),
            json!(1),
            json!(2),
            Vec::new(),
        ));
    }
    findings
}

fn older_than(at: SystemTime, limit: Duration, now: SystemTime) -> bool {
    now.duration_since(at).is_ok_and(|age| age > limit)
}

/// Every principal an Allow statement names, as text: ARNs, account ids, unique ids, `*`, and
/// `Service:`/`Federated:` entries.
fn allowed_principals(document: &Value) -> Vec<String> {
    let mut principals = Vec::new();
    for statement in statements(document) {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        match statement.get("Principal") {
            Some(Value::String(star)) => principals.push(star.clone()),
            Some(Value::Object(kinds)) => {
                for (kind, ids) in kinds {
                    for id in string_list(ids) {
                        principals.push(if kind == "AWS" {
                            id
                        } else {
                            format!("{kind}:{id}")
                        });
                    }
                }
            }
            _ => {}
        }
    }
    principals.sort();
    principals.dedup();
    principals
}

/// IAM replaces the ARN of a deleted user or role in a trust policy with its unique id (AIDA…, AROA…).
fn is_unique_id(principal: &str) -> bool {
    let prefix_ok = ["AIDA", "AROA"]
        .iter()
        .any(|prefix| principal.starts_with(prefix));
    prefix_ok
        && principal.len() >= 16
        && principal
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// In account mode the root principal is safe only with a condition that limits it to the managed path.
fn limited_to_managed_path(document: &Value, config: &Config, account: &Account) -> bool {
    let managed_prefix = account.user_arn(&config.user_path, "");
    statements(document)
        .into_iter()
        .filter(|statement| statement.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .all(|statement| {
            let Some(Value::Object(operators)) = statement.get("Condition") else {
                return false;
            };
            operators.iter().any(|(operator, keys)| {
                let operator = operator.to_ascii_lowercase();
                let limiting = ["arnlike", "arnequals", "stringlike", "stringequals"]
                    .contains(&operator.as_str());
                limiting
                    && keys.as_object().is_some_and(|keys| {
                        keys.iter().any(|(key, values)| {
                            let values = string_list(values);
                            key.eq_ignore_ascii_case("aws:PrincipalArn")
                                && !values.is_empty()
                                && values.iter().all(|v| v.starts_with(&managed_prefix))
                        })
                    })
            })
        })
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub users: usize,
    pub groups: usize,
    pub roles: usize,
    pub findings: usize,
    pub by_severity: BTreeMap<Severity, usize>,
    pub iam_calls: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checked_at: String,
    pub account_id: String,
    pub summary: Summary,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn new(
        snapshot: &AccountSnapshot,
        config: &Config,
        account: &Account,
        findings: Vec<Finding>,
        iam_calls: usize,
        now: SystemTime,
    ) -> Self {
        let mut by_severity = BTreeMap::new();
        for finding in &findings {
            *by_severity.entry(finding.severity).or_insert(0) += 1;
        }
        Report {
            checked_at: crate::onboarding::rfc3339(now),
            account_id: account.id.clone(),
            summary: Summary {
                users: snapshot
                    .users
                    .iter()
                    .filter(|user| user.is_managed(config))
                    .count(),
                groups: snapshot.groups.len(),
                roles: snapshot.roles.len(),
                findings: findings.len(),
                by_severity,
                iam_calls,
            },
            findings,
        }
    }

    /// One CloudWatch Embedded Metric Format document per rule, zero counts included so that alarms
    /// see data every day.
    pub fn metric_lines(&self, now: SystemTime) -> Vec<String> {
        let millis = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        RULES
            .iter()
            .map(|rule| {
                let count = self.findings.iter().filter(|f| f.rule == *rule).count();
                json!({
                    "_aws": {
                        "Timestamp": millis,
                        "CloudWatchMetrics": [{
                            "Namespace": "IamOnboarding/Drift",
                            "Dimensions": [["Rule"]],
                            "Metrics": [{"Name": "Findings", "Unit": "Count"}]
                        }]
                    },
                    "Rule": rule,
                    "Findings": count
                })
                .to_string()
            })
            .collect()
    }

    /// The SNS alert: the summary and the worst findings first. Findings never hold secrets.
    pub fn alert(&self, worst: usize) -> (String, String) {
        let mut findings: Vec<&Finding> = self.findings.iter().collect();
        findings.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
        let subject = format!(
            "IAM drift in {}: {} finding(s)",
            self.account_id, self.summary.findings
        );
        let body = json!({
            "checked_at": self.checked_at,
            "account_id": self.account_id,
            "summary": self.summary,
            "worst_findings": findings.into_iter().take(worst).map(|f| json!({
                "rule": f.rule, "severity": f.severity, "resource_arn": f.resource_arn, "message": f.message,
                "remediation": f.remediation, "remediated": f.remediated
            })).collect::<Vec<_>>()
        });
        (
            subject,
            serde_json::to_string_pretty(&body).unwrap_or_default(),
        )
    }
}

/// Applies one repair. In `users` mode a trust policy lists every holder and onboardings edit it while the
/// check runs, so its repair is made under the role's trust lock, against a fresh read: a user onboarded
/// since the snapshot was read is not in the snapshot, and keeps its principal.
async fn repair(
    iam: &crate::iam::Iam,
    config: &Config,
    account: &Account,
    snapshot: &AccountSnapshot,
    change: &Change,
) -> crate::Result<()> {
    let users_mode = config.trust_mode == TrustMode::Users;
    let Change::UpdateTrustPolicy { role, trust_policy } = change else {
        return iam.apply(change).await.map(|_| ());
    };
    let Some(catalog_role) = config.catalog_role(role).filter(|_| users_mode) else {
        return iam.apply(change).await.map(|_| ());
    };
    let known: BTreeSet<&str> = snapshot
        .users
        .iter()
        .map(|user| user.arn.as_str())
        .collect();
    let reading = crate::iam::Reading::WITHOUT_INLINE_POLICIES;
    iam.edit_trust_policy(account, role, reading, async |current| {
        // Principals added since the snapshot (a concurrent onboarding) are kept.
        let newcomers = current
            .map(|current| {
                kept_trust_principals(
                    &trusted_aws_principals(&current.trust_policy),
                    config,
                    account,
                )
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|principal| !known.contains(principal.as_str()));
        let mut principals =
            kept_trust_principals(&trusted_aws_principals(trust_policy), config, account);
        principals.extend(newcomers);
        let trust_policy = desired_role(catalog_role, config, account, &principals).trust_policy;
        Ok(vec![Change::UpdateTrustPolicy {
            role: role.clone(),
            trust_policy,
        }])
    })
    .await
    .map(drop)
}

/// The scheduled check: read in bulk, find, and with `REMEDIATE=true` repair what is marked automatic.
/// A repair that fails leaves its finding `remediated: false` and is logged; the others still run.
pub async fn run(
    iam: &crate::iam::Iam,
    config: &Config,
    settings: &DriftSettings,
    account: &Account,
    now: SystemTime,
) -> crate::Result<Report> {
    let calls_before = iam.iam_calls();
    let snapshot = iam.snapshot(config).await?;
    let mut findings = check(&snapshot, config, settings, account, now);
    if settings.remediate {
        let mut applied: Vec<Change> = Vec::new();
        for finding in findings
            .iter_mut()
            .filter(|f| f.remediation == Remediation::Automatic)
        {
            let mut repaired = true;
            for change in &finding.repair {
                if applied.contains(change) {
                    continue;
                }
                match repair(iam, config, account, &snapshot, change).await {
                    Ok(()) => applied.push(change.clone()),
                    Err(error) => {
                        tracing::error!(rule = finding.rule, resource = %finding.resource_arn, error = %error, "repair failed");
                        repaired = false;
                        break;
                    }
                }
            }
            finding.remediated = repaired;
        }
    }
    Ok(Report::new(
        &snapshot,
        config,
        account,
        findings,
        iam.iam_calls() - calls_before,
        now,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{UserSpec, desired_user};
    use crate::state::{CredentialRow, KeyUsage, ObservedGroup};

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    fn account() -> Account {
        Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        }
    }

    fn config(vars: &'static [(&'static str, &'static str)]) -> Config {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    fn settings() -> DriftSettings {
        DriftSettings::from_lookup(|_| None).unwrap()
    }

    /// A snapshot of an account where `dev` was onboarded exactly as desired, MFA enabled, one fresh key.
    fn clean(config: &Config) -> AccountSnapshot {
        let account = account();
        let now = SystemTime::UNIX_EPOCH + NOW;
        let desired = desired_user(
            UserSpec {
                name: "dev",
                roles: &config.catalog,
                virtual_mfa: true,
                requested_by: "dev",
                requested_at: "t",
            },
            config,
            &account,
        );
        let user = ObservedUser {
            name: "dev".into(),
            arn: desired.arn.clone(),
            path: desired.path.clone(),
            tags: desired.tags.iter().cloned().collect(),
            permissions_boundary: desired.permissions_boundary.clone(),
            groups: desired
                .grants
                .iter()
                .filter_map(|g| g.group.clone())
                .collect(),
            inline_policies: desired
                .grants
                .iter()
                .filter(|g| g.group.is_none())
                .map(|g| (g.policy_name.clone(), g.document.clone()))
                .collect(),
            ..ObservedUser::default()
        };
        let role = desired_role(
            &config.catalog[0],
            config,
            &account,
            std::slice::from_ref(&desired.arn),
        );
        let grant = grant(&config.catalog[0], config, &account);
        AccountSnapshot {
            users: vec![user],
            groups: grant
                .group
                .iter()
                .map(|name| ObservedGroup {
                    name: name.clone(),
                    inline_policies: [(grant.policy_name.clone(), grant.document.clone())].into(),
                    attached_policies: vec![],
                })
                .collect(),
            roles: vec![ObservedRole {
                name: role.name.clone(),
                arn: role.arn.clone(),
                trust_policy: role.trust_policy.clone(),
                attached_policies: role.managed_policy_arns.clone(),
                permissions_boundary: role.permissions_boundary.clone(),
                tags: role.tags.iter().cloned().collect(),
                ..ObservedRole::default()
            }],
            credentials: [(
                "dev".to_string(),
                CredentialRow {
                    user: "dev".into(),
                    created: Some(now - Duration::from_secs(86_400)),
                    password_enabled: false,
                    mfa_active: true,
                    access_keys: [
                        KeyUsage {
                            active: true,
                            created: Some(now),
                            last_used: Some(now),
                        },
                        KeyUsage::default(),
                    ],
                },
            )]
            .into(),
            users_with_virtual_mfa: ["dev".to_string()].into(),
            other_mfa_serials: Default::default(),
            trust_policy_size_quota: 2048,
        }
    }

    fn found(snapshot: &AccountSnapshot, config: &Config) -> Vec<&'static str> {
        check(
            snapshot,
            config,
            &settings(),
            &account(),
            SystemTime::UNIX_EPOCH + NOW,
        )
        .iter()
        .map(|f| f.rule)
        .collect()
    }

    #[test]
    fn a_clean_account_in_every_mode_has_no_findings() {
        for vars in [
            &[][..],
            &[("GRANT_MODE", "inline")][..],
            &[("TRUST_MODE", "users")][..],
            &[("MFA_MAX_AGE_SECONDS", "3600")][..],
        ] {
            let config = config(vars);
            assert_eq!(
                found(&clean(&config), &config),
                Vec::<&str>::new(),
                "{vars:?}"
            );
        }
    }

    #[test]
    fn a_missing_boundary_is_drift_and_its_repair_sets_it() {
        let config = config(&[(
            "PERMISSIONS_BOUNDARY_ARN",
            "arn:aws:iam::123456789012:policy/Boundary",
        )]);
        let mut snapshot = clean(&config);
        snapshot.users[0].permissions_boundary =
            Some("arn:aws:iam::aws:policy/AdministratorAccess".into());
        let findings = check(
            &snapshot,
            &config,
            &settings(),
            &account(),
            SystemTime::UNIX_EPOCH + NOW,
        );
        assert_eq!(
            findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["user.boundary-drift"]
        );
        assert_eq!(
            findings[0].repair,
            vec![Change::SetUserBoundary {
                user: "dev".into(),
                policy_arn: "arn:aws:iam::123456789012:policy/Boundary".into()
            }]
        );
    }

    const CATALOG_BOUNDARY: &str = "arn:aws:iam::123456789012:policy/CatalogRoleBoundary";

    #[test]
    fn a_catalog_role_without_its_boundary_is_drift_and_its_repair_sets_it() {
        let config = config(&[("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY)]);
        assert_eq!(found(&clean(&config), &config), Vec::<&str>::new());
        for boundary in [None, Some("arn:aws:iam::aws:policy/AdministratorAccess")] {
            let mut snapshot = clean(&config);
            snapshot.roles[0].permissions_boundary = boundary.map(str::to_string);
            let findings = check(
                &snapshot,
                &config,
                &settings(),
                &account(),
                SystemTime::UNIX_EPOCH + NOW,
            );
            assert_eq!(
                findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
                ["role.boundary-drift"],
                "{boundary:?}"
            );
            assert_eq!(findings[0].severity, Severity::High);
            assert_eq!(findings[0].remediation, Remediation::Automatic);
            assert_eq!(
                findings[0].repair,
                vec![Change::SetRoleBoundary {
                    role: "ResourceCreatorRole".into(),
                    policy_arn: CATALOG_BOUNDARY.into()
                }]
            );
        }
    }

    /// A role someone else made under a catalog name: whatever it holds, the one finding is that it is
    /// not ours, with no repair, and no other rule (trust, policies, boundary, a user's principal in
    /// `users` mode) touches it. With `adopt`, the repair tags it and the other rules apply as usual.
    #[test]
    fn an_unowned_catalog_role_is_reported_and_never_repaired_unless_adopted() {
        let weak_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
        for vars in [
            &[("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY)][..],
            &[
                ("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY),
                ("TRUST_MODE", "users"),
            ][..],
            &[("GRANT_MODE", "inline")][..],
        ] {
            let config = config(vars);
            let mut snapshot = clean(&config);
            let role = &mut snapshot.roles[0];
            role.tags = [("owner".to_string(), "team-a".to_string())].into();
            role.trust_policy = weak_trust.clone();
            role.permissions_boundary = None;
            role.attached_policies = vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()];
            role.inline_policies.insert(
                "Extra".into(),
                json!({"Version": "2012-10-17", "Statement": []}),
            );
            let findings = check(
                &snapshot,
                &config,
                &settings(),
                &account(),
                SystemTime::UNIX_EPOCH + NOW,
            );
            assert_eq!(
                findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
                ["role.unowned"],
                "{vars:?}"
            );
            assert_eq!(findings[0].severity, Severity::High);
            assert_eq!(findings[0].remediation, Remediation::Manual);
            assert!(findings[0].repair.is_empty());
            assert_eq!(findings[0].actual, json!({"owner": "team-a"}));

            let mut adopting = config.clone();
            adopting.catalog[0].adopt = true;
            let findings = check(
                &snapshot,
                &adopting,
                &settings(),
                &account(),
                SystemTime::UNIX_EPOCH + NOW,
            );
            let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
            assert_eq!(rules[0], "role.unowned", "{vars:?}");
            assert_eq!(
                findings[0].repair,
                vec![Change::TagRole {
                    role: "ResourceCreatorRole".into(),
                    tags: vec![("onboarding:managed".into(), "true".into())]
                }]
            );
            assert!(rules.contains(&"role.trust-mfa-not-enforced"), "{rules:?}");
            assert!(rules.contains(&"role.policy-drift"), "{rules:?}");
            assert_eq!(
                rules.contains(&"role.boundary-drift"),
                config.catalog_role_boundary_arn.is_some(),
                "{rules:?}"
            );
        }
    }

    #[test]
    fn a_users_mode_grant_missing_from_an_unowned_role_is_not_repaired_in_its_trust_policy() {
        let config = config(&[("TRUST_MODE", "users")]);
        let mut snapshot = clean(&config);
        snapshot.roles[0].trust_policy =
            desired_role(&config.catalog[0], &config, &account(), &[]).trust_policy;
        // Ours: the missing principal is a grant to repair, in the trust policy.
        let repairs: Vec<Change> = check(
            &snapshot,
            &config,
            &settings(),
            &account(),
            SystemTime::UNIX_EPOCH + NOW,
        )
        .into_iter()
        .flat_map(|f| f.repair)
        .collect();
        assert!(
            repairs
                .iter()
                .any(|c| matches!(c, Change::UpdateTrustPolicy { .. })),
            "{repairs:?}"
        );
        snapshot.roles[0].tags.clear();
        let findings = check(
            &snapshot,
            &config,
            &settings(),
            &account(),
            SystemTime::UNIX_EPOCH + NOW,
        );
        assert_eq!(
            findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["role.unowned"]
        );
    }

    #[test]
    fn fido_only_mfa_cannot_assume_roles_but_hardware_totp_can() {
        let config = config(&[]);
        let mut snapshot = clean(&config);
        snapshot.users_with_virtual_mfa.clear();
        snapshot.other_mfa_serials.insert(
            "dev".into(),
            vec!["arn:aws:iam::123456789012:u2f/user/dev/key-ABC".into()],
        );
        assert_eq!(found(&snapshot, &config), ["user.mfa-not-totp"]);
        snapshot
            .other_mfa_serials
            .insert("dev".into(), vec!["GAHT12345678".into()]);
        assert_eq!(found(&snapshot, &config), Vec::<&str>::new());
    }

    #[test]
    fn the_root_principal_without_the_path_limit_trusts_the_whole_account() {
        let config = config(&[]);
        let mut snapshot = clean(&config);
        snapshot.roles[0].trust_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]});
        assert_eq!(found(&snapshot, &config), ["role.trust-principal-drift"]);
    }

    #[test]
    fn a_missing_mfa_age_limit_is_trust_drift() {
        let config = config(&[("MFA_MAX_AGE_SECONDS", "3600")]);
        let mut snapshot = clean(&config);
        let unlimited = crate::policy::trust_policy(&self::config(&[]), &account(), &[]);
        snapshot.roles[0].trust_policy = unlimited;
        assert_eq!(found(&snapshot, &config), ["role.trust-drift"]);
    }

    #[test]
    fn a_users_mode_role_nobody_holds_trusts_only_itself_and_that_is_not_drift() {
        let config = config(&[("TRUST_MODE", "users")]);
        let mut snapshot = clean(&config);
        snapshot.users.clear();
        snapshot.credentials.clear();
        let nobody = desired_role(&config.catalog[0], &config, &account(), &[]);
        assert_eq!(
            nobody.trust_policy["Statement"][0]["Principal"]["AWS"],
            nobody.arn
        );
        assert!(crate::trust::mfa_enforced(&nobody.trust_policy));
        snapshot.roles[0].trust_policy = nobody.trust_policy;
        assert_eq!(found(&snapshot, &config), Vec::<&str>::new());
    }

    #[test]
    fn unique_ids_are_recognised() {
        assert!(is_unique_id("AIDAJQABLZS4A3QDU576Q"));
        assert!(is_unique_id("AROAJQABLZS4A3QDU576Q"));
        assert!(!is_unique_id("arn:aws:iam::123456789012:user/AIDA"));
        assert!(!is_unique_id("AIDA"));
    }

    #[test]
    fn grace_and_key_limits_use_the_clock() {
        let config = config(&[]);
        let mut snapshot = clean(&config);
        let row = snapshot.credentials.get_mut("dev").unwrap();
        row.mfa_active = false;
        assert_eq!(
            found(&snapshot, &config),
            Vec::<&str>::new(),
            "one day old: within the grace period"
        );
        let later = SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(91 * 86_400);
        let rules: Vec<&str> = check(&snapshot, &config, &settings(), &account(), later)
            .iter()
            .map(|f| f.rule)
            .collect();
        assert_eq!(
            rules,
            [
                "user.mfa-missing",
                "user.access-key-too-old",
                "user.access-key-unused"
            ]
        );
    }

    #[test]
    fn alerts_list_the_worst_findings_first_and_metrics_cover_every_rule() {
        let config = config(&[]);
        let mut snapshot = clean(&config);
        snapshot
            .credentials
            .get_mut("dev")
            .unwrap()
            .password_enabled = true;
        snapshot.roles[0].trust_policy["Statement"][0]["Condition"] =
            serde_json::json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}});
        let now = SystemTime::UNIX_EPOCH + NOW;
        let findings = check(&snapshot, &config, &settings(), &account(), now);
        let report = Report::new(&snapshot, &config, &account(), findings, 5, now);
        let (subject, body) = report.alert(1);
        assert!(subject.contains("123456789012"), "{subject}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["worst_findings"].as_array().unwrap().len(), 1);
        assert_eq!(
            body["worst_findings"][0]["rule"],
            "role.trust-mfa-not-enforced"
        );
        let lines = report.metric_lines(now);
        assert_eq!(lines.len(), RULES.len());
        let console: Value = serde_json::from_str(&lines[2]).unwrap();
        assert_eq!(
            (console["Rule"].as_str(), console["Findings"].as_u64()),
            (Some("user.console-access"), Some(1))
        );
        assert_eq!(
            console["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "Findings"
        );
    }
}
