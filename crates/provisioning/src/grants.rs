//! Reading the catalog roles a user is granted, with their grant groups, once per request: what onboarding
//! plans against and what `status` judges.

use crate::account::Account;
use crate::config::{CatalogRole, Config};
use crate::desired::grant;
use crate::error::Result;
use crate::iam::{Iam, Reading};
use crate::names::ROLE_INLINE_POLICY_NAME;
use crate::state::ObservedGrants;

/// Reads the catalog roles and their grant groups: everything they hold when `complete` (what `status`
/// judges), otherwise only what an onboarding plan compares.
pub async fn observe_grants(
    iam: &Iam,
    config: &Config,
    account: &Account,
    catalog_roles: &[CatalogRole],
    complete: bool,
) -> Result<ObservedGrants> {
    let mut observed = ObservedGrants::default();
    for role in catalog_roles {
        let reading = if complete {
            Reading::Complete
        } else {
            role_reading_for_plan(role)
        };
        // A member account status could not reach (`accounts_unreachable`) is not read: its roles are
        // neither there nor missing.
        if iam.left_out(&role.name).is_none() {
            observed
                .roles
                .extend(iam.observe_role(&role.name, reading).await?);
        }
        let grant = grant(role, config, account);
        if let Some(group) = &grant.group {
            let reading = if complete {
                Reading::Complete
            } else {
                Reading::ForPlan {
                    inline_policy: Some(&grant.policy_name),
                }
            };
            observed
                .groups
                .extend(iam.observe_group(group, reading).await?);
        }
    }
    Ok(observed)
}

/// What a plan compares of a catalog role: its inline policy only if the catalog gives it one.
pub(crate) fn role_reading_for_plan(role: &CatalogRole) -> Reading<'static> {
    Reading::ForPlan {
        inline_policy: role
            .inline_policy
            .is_some()
            .then_some(ROLE_INLINE_POLICY_NAME),
    }
}
