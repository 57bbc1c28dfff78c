//! The plan of onboarding one user: the user, the catalog roles it is granted and their grant groups.

use crate::account::Account;
use crate::config::{CatalogRole, Config, TrustMode};
use crate::desired::{DesiredRole, DesiredUser, desired_role, grant, kept_trust_principals};
use crate::policy::trusted_aws_principals;
use crate::state::{ObservedGrants, ObservedRole, ObservedUser};

use super::{Change, RefusedRole, plan_grant_group, plan_role, plan_user};

/// What onboarding one user would change; pure.
#[derive(Debug, Clone, PartialEq)]
pub struct OnboardingPlan {
    pub changes: Vec<Change>,
    pub roles: Vec<DesiredRole>,
    /// Catalog roles that are not this stack's (no ownership tag and no `adopt`, or another stack's):
    /// nothing is planned for them, and onboarding refuses before it changes anything.
    pub refused_roles: Vec<RefusedRole>,
}

/// The plan of one user and the catalog roles and grant groups it needs.
pub fn plan_onboarding(
    config: &Config,
    account: &Account,
    desired: &DesiredUser,
    observed: Option<&ObservedUser>,
    catalog_roles: &[CatalogRole],
    grants: &ObservedGrants,
) -> OnboardingPlan {
    let mut plan = OnboardingPlan {
        changes: plan_user(desired, observed),
        roles: Vec::new(),
        refused_roles: Vec::new(),
    };
    for role in catalog_roles {
        let observed_role = grants.role(&role.name);
        let desired_role = role_for(config, account, role, observed_role, &desired.arn);
        match plan_role(&desired_role, observed_role) {
            Ok(changes) => plan.changes.extend(changes),
            Err(refused) => plan.refused_roles.push(refused),
        }
        let grant = grant(role, config, account);
        if let Some(group) = &grant.group {
            plan.changes
                .extend(plan_grant_group(&grant, grants.group(group)));
        }
        plan.roles.push(desired_role);
    }
    plan
}

/// In `users` mode the desired trust policy keeps the managed users it already names and adds this one.
pub(crate) fn role_for(
    config: &Config,
    account: &Account,
    role: &CatalogRole,
    observed: Option<&ObservedRole>,
    user_arn: &str,
) -> DesiredRole {
    let mut principals = Vec::new();
    if config.trust_mode == TrustMode::Users {
        if let Some(current) = observed {
            principals = kept_trust_principals(
                &trusted_aws_principals(&current.trust_policy),
                config,
                account,
            );
        }
        principals.push(user_arn.to_string());
    }
    desired_role(role, config, account, &principals)
}
