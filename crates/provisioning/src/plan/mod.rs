//! `plan(desired, observed) -> Vec<Change>`: pure, ordered, and the only place that decides what to change.
//! Onboarding applies the plan for one user; the drift check reads the same plans as findings.

use crate::desired::{DesiredRole, DesiredUser, Grant};
use crate::names::{MANAGED_TAG, ROLE_INLINE_POLICY_NAME, ROLES_TAG, STACK_TAG};
use crate::policy::semantically_equal;
use crate::state::{ObservedGroup, ObservedRole, ObservedUser};

mod change;
mod onboarding;

pub use change::Change;
pub(crate) use onboarding::role_for;
pub use onboarding::{OnboardingPlan, plan_onboarding};

/// Puts the changes of several plans in the order they can be applied (stable within a stage).
pub fn in_apply_order(mut changes: Vec<Change>) -> Vec<Change> {
    changes.sort_by_key(Change::stage);
    changes
}

/// A catalog role of that name exists and is not this stack's: nothing is planned for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusedRole {
    /// Without the ownership tag, and its catalog entry does not say `adopt`: someone else's.
    Unowned(String),
    /// Tagged managed by another onboarding stack (`onboarding:stack`), whose catalog has the same name.
    OtherStack { role: String, stack: String },
}

impl From<RefusedRole> for crate::Error {
    fn from(refused: RefusedRole) -> Self {
        match refused {
            RefusedRole::Unowned(role) => crate::Error::RoleExistsUnmanaged(role),
            RefusedRole::OtherStack { role, stack } => crate::Error::ManagedByAnotherStack {
                entity: format!("IAM role {role:?}"),
                stack,
            },
        }
    }
}

pub fn plan_role(
    desired: &DesiredRole,
    observed: Option<&ObservedRole>,
) -> Result<Vec<Change>, RefusedRole> {
    let role = desired.name.clone();
    let mut changes = Vec::new();
    let (attached, inline) = match observed {
        None => {
            changes.push(Change::CreateRole {
                name: role.clone(),
                trust_policy: desired.trust_policy.clone(),
                max_session_duration: desired.max_session_duration,
                description: desired.description.clone(),
                permissions_boundary: desired.permissions_boundary.clone(),
                tags: desired.tags.clone(),
            });
            (&[][..], None)
        }
        Some(current) => {
            let marked = current.tags.get(MANAGED_TAG).map(String::as_str) == Some("true");
            let stamped = current.tags.get(STACK_TAG);
            if !marked {
                if !desired.adopt {
                    return Err(RefusedRole::Unowned(role));
                }
                // Tagged first: a request that fails half-way leaves a role that says it is ours,
                // and the changes that follow are made to a role the stack owns.
                changes.push(Change::TagRole {
                    role: role.clone(),
                    tags: desired.tags.clone(),
                });
            } else if let Some(stack) =
                stamped.filter(|stack| Some(stack.as_str()) != desired.stack())
            {
                return Err(RefusedRole::OtherStack {
                    role,
                    stack: stack.clone(),
                });
            } else if stamped.is_none() {
                // Managed from before roles carried the stack's name: ours, and adopted by this repair.
                changes.push(Change::TagRole {
                    role: role.clone(),
                    tags: desired.tags.clone(),
                });
            }
            if let Some(boundary) = &desired.permissions_boundary
                && current.permissions_boundary.as_ref() != Some(boundary)
            {
                changes.push(Change::SetRoleBoundary {
                    role: role.clone(),
                    policy_arn: boundary.clone(),
                });
            }
            if !semantically_equal(&current.trust_policy, &desired.trust_policy) {
                changes.push(Change::UpdateTrustPolicy {
                    role: role.clone(),
                    trust_policy: desired.trust_policy.clone(),
                });
            }
            if current
                .max_session_duration
                .is_some_and(|seconds| seconds != desired.max_session_duration)
            {
                changes.push(Change::UpdateMaxSessionDuration {
                    role: role.clone(),
                    seconds: desired.max_session_duration,
                });
            }
            (
                current.attached_policies.as_slice(),
                current.inline_policies.get(ROLE_INLINE_POLICY_NAME),
            )
        }
    };
    for policy_arn in &desired.managed_policy_arns {
        if !attached.contains(policy_arn) {
            changes.push(Change::AttachRolePolicy {
                role: role.clone(),
                policy_arn: policy_arn.clone(),
            });
        }
    }
    if let Some(document) = &desired.inline_policy
        && !inline.is_some_and(|current| semantically_equal(current, document))
    {
        changes.push(Change::PutRolePolicy {
            role: role.clone(),
            policy_name: ROLE_INLINE_POLICY_NAME.to_string(),
            document: document.clone(),
        });
    }
    Ok(changes)
}

/// The grant group and its `Assume<Role>` policy (group mode only).
pub fn plan_grant_group(grant: &Grant, observed: Option<&ObservedGroup>) -> Vec<Change> {
    let Some(group) = &grant.group else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    if observed.is_none() {
        changes.push(Change::CreateGroup {
            name: group.clone(),
        });
    }
    let current = observed.and_then(|g| g.inline_policies.get(&grant.policy_name));
    if !current.is_some_and(|document| semantically_equal(document, &grant.document)) {
        changes.push(Change::PutGroupPolicy {
            group: group.clone(),
            policy_name: grant.policy_name.clone(),
            document: grant.document.clone(),
        });
    }
    changes
}

/// Plans the user's own changes. The caller has already refused unmanaged users.
pub fn plan_user(desired: &DesiredUser, observed: Option<&ObservedUser>) -> Vec<Change> {
    let user = desired.name.clone();
    let mut changes = Vec::new();
    match observed {
        None => changes.push(Change::CreateUser {
            name: user.clone(),
            path: desired.path.clone(),
            tags: desired.tags.clone(),
            permissions_boundary: desired.permissions_boundary.clone(),
        }),
        Some(current) => {
            // The record of granted roles, and the stack's name on a user managed from before users carried
            // it (the caller has refused another stack's user).
            let retagged: Vec<(String, String)> = desired
                .tags
                .iter()
                .filter(|(key, value)| {
                    (key == ROLES_TAG || key == STACK_TAG) && current.tags.get(key) != Some(value)
                })
                .cloned()
                .collect();
            if !retagged.is_empty() {
                changes.push(Change::TagUser {
                    user: user.clone(),
                    tags: retagged,
                });
            }
            if let Some(boundary) = &desired.permissions_boundary
                && current.permissions_boundary.as_ref() != Some(boundary)
            {
                changes.push(Change::SetUserBoundary {
                    user: user.clone(),
                    policy_arn: boundary.clone(),
                });
            }
        }
    }
    for grant in &desired.grants {
        match &grant.group {
            Some(group) => {
                if !observed.is_some_and(|u| u.groups.contains(group)) {
                    changes.push(Change::AddUserToGroup {
                        user: user.clone(),
                        group: group.clone(),
                    });
                }
            }
            None => {
                let current = observed.and_then(|u| u.inline_policies.get(&grant.policy_name));
                if !current.is_some_and(|document| semantically_equal(document, &grant.document)) {
                    changes.push(Change::PutUserPolicy {
                        user: user.clone(),
                        policy_name: grant.policy_name.clone(),
                        document: grant.document.clone(),
                    });
                }
            }
        }
    }
    if observed.is_none_or(|u| u.access_keys.is_empty()) {
        changes.push(Change::CreateAccessKey { user: user.clone() });
    }
    if desired.virtual_mfa && observed.is_none_or(|u| u.mfa_devices.is_empty()) {
        changes.push(Change::EnsureVirtualMfaDevice {
            user: user.clone(),
            path: desired.path.clone(),
        });
    }
    changes
}

#[cfg(test)]
mod tests;
