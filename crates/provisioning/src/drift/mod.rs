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
use crate::desired::{
    DesiredRole, Grant, desired_role, entitled_roles, grant, kept_trust_principals,
};
use crate::names::{
    MANAGED_TAG, ROLE_INLINE_POLICY_NAME, STACK_TAG, grant_group_name, grant_policy_name,
};
use crate::plan::{Change, RefusedRole, plan_role};
use crate::policy::{
    allowed_principals, canonical, policy_size, semantically_equal, statements, string_list,
    trusted_aws_principals,
};
use crate::revoked_sessions::{
    POLICY_NAME as REVOKED_SESSIONS, RevokedSessionsPolicy, max_session, room_beside, write,
};
use crate::state::{AccountSnapshot, ObservedGroup, ObservedRole, ObservedUser};
use crate::trust::{mfa_loopholes, source_identity_loopholes};

/// Every rule id, stable: alarms and dashboards are built on them.
pub const RULES: [&str; 24] = [
    GRANT_MISSING.id,
    EXTRA_PERMISSIONS.id,
    CONSOLE_ACCESS.id,
    MFA_MISSING.id,
    MFA_NOT_TOTP.id,
    KEY_TOO_OLD.id,
    KEY_UNUSED.id,
    TOO_MANY_KEYS.id,
    BOUNDARY_DRIFT.id,
    STACK_TAG_MISSING.id,
    GROUP_POLICY_DRIFT.id,
    UNMANAGED_MEMBER.id,
    ROLE_MISSING.id,
    ROLE_UNOWNED.id,
    ROLE_BOUNDARY_DRIFT.id,
    TRUST_MFA.id,
    TRUST_SOURCE_IDENTITY.id,
    TRUST_PRINCIPALS.id,
    TRUST_ORPHANS.id,
    TRUST_NEAR_QUOTA.id,
    TRUST_DRIFT.id,
    ROLE_POLICY_DRIFT.id,
    REVOKED_SESSIONS_DRIFT.id,
    STACK_IN_MANAGEMENT_ACCOUNT.id,
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
const STACK_TAG_MISSING: Rule = Rule {
    id: "user.stack-tag-missing",
    severity: Severity::Low,
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
const TRUST_SOURCE_IDENTITY: Rule = Rule {
    id: "role.trust-source-identity-not-enforced",
    severity: Severity::High,
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
const REVOKED_SESSIONS_DRIFT: Rule = Rule {
    id: "role.revoked-sessions-drift",
    severity: Severity::High,
};

const STACK_IN_MANAGEMENT_ACCOUNT: Rule = Rule {
    id: "stack.in-management-account",
    severity: Severity::Critical,
};

/// The hub runs in the Organization's management account (`management_account_id`, from
/// `DescribeOrganization`): no SCP bounds that account, its IAM administrators reach every member account
/// through `OrganizationAccountAccessRole`, and a catalog role's boundary is all that stands between the
/// people onboarded there and the Organization. Manual: the stack belongs in a member account with
/// delegated administration for Organizations.
pub fn management_account_finding(
    account: &Account,
    management_account_id: &str,
) -> Option<Finding> {
    (management_account_id == account.id).then(|| {
        STACK_IN_MANAGEMENT_ACCOUNT.finding(
            &format!("arn:{}:iam::{}:root", account.partition, account.id),
            format!(
                "the stack runs in the Organization's management account {}: no SCP bounds it, and its \
                 IAM administrators reach every member account; deploy it in a member account with \
                 delegated administration for Organizations",
                account.id
            ),
            json!({"management_account": "another account"}),
            json!({"management_account": management_account_id}),
            Vec::new(),
        )
    })
}

/// What every rule reads, about users, grant groups and roles alike: the account as observed, the
/// configuration, and the clock.
#[derive(Clone, Copy)]
struct Context<'a> {
    snapshot: &'a AccountSnapshot,
    config: &'a Config,
    settings: &'a DriftSettings,
    account: &'a Account,
    now: SystemTime,
}

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

    let context = Context {
        snapshot,
        config,
        settings,
        account,
        now,
    };
    let mut findings = Vec::new();
    let mut desired_roles = BTreeMap::new();
    let mut not_ours = BTreeSet::new();
    // A bulk read holds the roles of one account (the hub's, or the member account a check is run for):
    // a role living elsewhere is not judged missing here. `status` reads its user's roles wherever they
    // live, and judges them.
    let roles_account = snapshot.roles_account.as_deref().unwrap_or(&account.id);
    let judged = config.catalog.iter().filter(|role| {
        role.account.as_deref().unwrap_or(&account.id) == roles_account
            || snapshot
                .roles
                .iter()
                .any(|observed| observed.name == role.name)
    });
    for role in judged {
        let desired = desired_role(role, config, account, &holders(role));
        match catalog_role_findings(&context, role, &desired) {
            RoleVerdict::Ours(role_findings) => {
                findings.extend(role_findings);
                desired_roles.insert(role.name.as_str(), desired);
            }
            // Left out of `desired_roles`, so that no user's grant repair edits its trust policy.
            RoleVerdict::NotOurs(finding) => {
                findings.push(*finding);
                not_ours.insert(role.name.as_str());
            }
        }
    }
    if config.grant_mode == GrantMode::Group {
        // Another stack's role has that stack's grant group (the name is the role's): its members are
        // that stack's users, not strangers to take out.
        for role in config
            .catalog
            .iter()
            .filter(|role| !not_ours.contains(role.name.as_str()))
        {
            findings.extend(group_findings(&context, role, !holders(role).is_empty()));
        }
    }
    for user in &managed {
        let granted = &grants[user.name.as_str()];
        findings.extend(user_findings(&context, user, granted, &desired_roles));
    }
    findings
}

/// The rules `status` applies to one user: those about the user itself, and about the catalog roles and
/// grant groups it is entitled to. The rules about other principals (who else a trust policy names, who
/// else sits in a grant group, how full the trust policy is) need the whole account and stay with the
/// scheduled check.
const PER_USER_RULES: [&str; 17] = [
    GRANT_MISSING.id,
    EXTRA_PERMISSIONS.id,
    CONSOLE_ACCESS.id,
    MFA_MISSING.id,
    MFA_NOT_TOTP.id,
    KEY_TOO_OLD.id,
    KEY_UNUSED.id,
    TOO_MANY_KEYS.id,
    BOUNDARY_DRIFT.id,
    STACK_TAG_MISSING.id,
    GROUP_POLICY_DRIFT.id,
    ROLE_MISSING.id,
    ROLE_UNOWNED.id,
    ROLE_BOUNDARY_DRIFT.id,
    TRUST_MFA.id,
    TRUST_SOURCE_IDENTITY.id,
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
                arn == account.catalog_role_arn(role)
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

mod groups;
pub mod organization;
mod principals;
mod repair;
mod report;
mod roles;
mod users;

use groups::group_findings;
use principals::{is_unique_id, join, limited_to_managed_path};
pub use repair::{run, run_for_account};
pub use report::{BoundedReport, RESULT_LIMIT_BYTES, Report, Summary};
use roles::{RoleVerdict, catalog_role_findings};
use users::user_findings;

#[cfg(test)]
mod tests;
