//! What a managed user, its grants and its catalog roles must look like.

use serde_json::Value;

use crate::account::Account;
use crate::config::{CatalogRole, Config, GrantMode, TrustMode};
use crate::names::{
    MANAGED_TAG, REQUESTED_AT_TAG, REQUESTED_BY_TAG, ROLES_TAG, STACK_TAG, grant_group_name,
    grant_policy_name, roles_in_tag, roles_tag_value, tag_value,
};
use crate::policy::{assume_role_grant, trust_policy};
use crate::state::ObservedUser;

/// IAM's default when a role is created without `MaxSessionDuration`.
pub const DEFAULT_MAX_SESSION_SECONDS: i32 = 3600;

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRole {
    pub name: String,
    pub arn: String,
    pub trust_policy: Value,
    pub managed_policy_arns: Vec<String>,
    pub inline_policy: Option<Value>,
    pub max_session_duration: i32,
    pub description: Option<String>,
    /// `CATALOG_ROLE_BOUNDARY_ARN`: what keeps the role's holders away from the stack itself.
    pub permissions_boundary: Option<String>,
    /// The ownership tags (managed, and by which stack); a role without them is someone else's unless
    /// `adopt` says to take it over.
    pub tags: Vec<(String, String)>,
    pub adopt: bool,
}

impl DesiredRole {
    /// The stack that owns the role: the one whose desired state this is.
    pub fn stack(&self) -> Option<&str> {
        self.tags
            .iter()
            .find(|(key, _)| key == STACK_TAG)
            .map(|(_, stack)| stack.as_str())
    }
}

/// `trusted_users` matters only in `users` trust mode: the user ARNs the trust policy must list.
pub fn desired_role(
    role: &CatalogRole,
    config: &Config,
    account: &Account,
    trusted_users: &[String],
) -> DesiredRole {
    let home = account.home_of(role);
    let arn = home.role_arn(&role.name);
    // IAM refuses an empty principal list: with nobody granted, a `users`-mode role trusts only itself,
    // which lets nobody new in (offboarding the last user leaves it so, onboarding replaces it).
    let placeholder = [arn.clone()];
    let principals = match (config.trust_mode, trusted_users) {
        (TrustMode::Users, []) => &placeholder[..],
        _ => trusted_users,
    };
    DesiredRole {
        name: role.name.clone(),
        trust_policy: trust_policy(config, account, principals),
        arn,
        managed_policy_arns: role.managed_policy_arns.clone(),
        inline_policy: role.inline_policy.clone(),
        max_session_duration: role
            .max_session_duration
            .unwrap_or(DEFAULT_MAX_SESSION_SECONDS),
        description: role.description.clone(),
        permissions_boundary: config
            .catalog_role_boundary_arn
            .as_deref()
            .map(|boundary| home.same_policy_here(boundary)),
        tags: vec![
            (MANAGED_TAG.to_string(), "true".to_string()),
            (STACK_TAG.to_string(), config.stack_name.clone()),
        ],
        adopt: role.adopt,
    }
}

/// "This user may assume this role": where the `Assume<Role>` document lives depends on `GRANT_MODE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub role: String,
    pub role_arn: String,
    pub policy_name: String,
    pub document: Value,
    /// The grant group in `group` mode; `None` in `inline` mode, where the policy sits on the user.
    pub group: Option<String>,
}

pub fn grant(role: &CatalogRole, config: &Config, account: &Account) -> Grant {
    let role_arn = account.catalog_role_arn(role);
    Grant {
        role: role.name.clone(),
        policy_name: grant_policy_name(&role.name),
        document: assume_role_grant(config, &role_arn),
        role_arn,
        group: match config.grant_mode {
            GrantMode::Group => Some(grant_group_name(&role.name)),
            GrantMode::Inline => None,
        },
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredUser {
    pub name: String,
    pub path: String,
    pub arn: String,
    pub tags: Vec<(String, String)>,
    pub permissions_boundary: Option<String>,
    pub grants: Vec<Grant>,
    pub virtual_mfa: bool,
}

pub struct UserSpec<'a> {
    pub name: &'a str,
    pub roles: &'a [CatalogRole],
    pub virtual_mfa: bool,
    pub requested_by: &'a str,
    /// RFC 3339, injected so that plans are reproducible.
    pub requested_at: &'a str,
}

pub fn desired_user(spec: UserSpec<'_>, config: &Config, account: &Account) -> DesiredUser {
    DesiredUser {
        name: spec.name.to_string(),
        path: config.user_path.clone(),
        arn: account.user_arn(&config.user_path, spec.name),
        tags: vec![
            (MANAGED_TAG.to_string(), "true".to_string()),
            (STACK_TAG.to_string(), config.stack_name.clone()),
            (REQUESTED_BY_TAG.to_string(), tag_value(spec.requested_by)),
            (REQUESTED_AT_TAG.to_string(), spec.requested_at.to_string()),
            (
                ROLES_TAG.to_string(),
                roles_tag_value(spec.roles.iter().map(|role| role.name.as_str())),
            ),
        ],
        permissions_boundary: config.permissions_boundary_arn.clone(),
        grants: spec
            .roles
            .iter()
            .map(|role| grant(role, config, account))
            .collect(),
        virtual_mfa: spec.virtual_mfa,
    }
}

/// Principals a `users`-mode trust policy keeps when a user is added: the user ARNs under the managed
/// path that are already there. Anything else (another account, a bare unique id left by a deleted user)
/// is not ours to keep; the drift check reports it.
pub fn kept_trust_principals(
    current: &[String],
    config: &Config,
    account: &Account,
) -> Vec<String> {
    if config.trust_mode != TrustMode::Users {
        return Vec::new();
    }
    let managed_prefix = account.user_arn(&config.user_path, "");
    current
        .iter()
        .filter(|arn| arn.starts_with(&managed_prefix))
        .cloned()
        .collect()
}

/// The catalog roles a managed user is entitled to: its `onboarding:roles` record, or for a user onboarded
/// before that record existed, the grants it carries now (in either grant shape).
pub fn entitled_roles<'a>(user: &ObservedUser, config: &'a Config) -> Vec<&'a CatalogRole> {
    match user.tags.get(ROLES_TAG) {
        Some(value) => roles_in_tag(value)
            .filter_map(|name| config.catalog_role(name))
            .collect(),
        None => config
            .catalog
            .iter()
            .filter(|role| {
                user.groups.contains(&grant_group_name(&role.name))
                    || user
                        .inline_policies
                        .contains_key(&grant_policy_name(&role.name))
            })
            .collect(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::ROLES_TAG;
    use serde_json::json;

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
}
