//! What IAM holds, as the domain sees it: read per user by onboarding, in bulk by the drift check.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Error;
use crate::config::Config;
use crate::names::{MANAGED_TAG, STACK_TAG};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedUser {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub created: Option<std::time::SystemTime>,
    pub tags: BTreeMap<String, String>,
    pub permissions_boundary: Option<String>,
    pub groups: Vec<String>,
    pub inline_policies: BTreeMap<String, Value>,
    pub attached_policies: Vec<String>,
    pub access_keys: Vec<AccessKeyInfo>,
    /// Serial numbers of the MFA devices enabled for the user.
    pub mfa_devices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyInfo {
    pub id: String,
    pub active: bool,
}

impl ObservedUser {
    /// Managed means every mark: the tag, the configured path, and no other stack's name. A tag alone on
    /// a user elsewhere is somebody else's user that happens to carry our tag.
    pub fn is_managed(&self, config: &Config) -> bool {
        self.is_marked_managed(config) && another_stack(&self.tags, &config.stack_name).is_none()
    }

    fn is_marked_managed(&self, config: &Config) -> bool {
        self.tags.get(MANAGED_TAG).map(String::as_str) == Some("true")
            && self.path == config.user_path
    }

    /// Why a user that exists is not ours to act on: another onboarding stack's, or nobody's (`409
    /// user_exists_unmanaged`).
    pub fn refusal(&self, config: &Config) -> Error {
        self.managed_by_another_stack(config)
            .unwrap_or_else(|| Error::UserExistsUnmanaged(self.name.clone()))
    }

    /// Another onboarding stack's user (`409 managed_by_another_stack`, naming it): marked managed at
    /// this path, but by a deployment whose user path is the same as this one's.
    pub fn managed_by_another_stack(&self, config: &Config) -> Option<Error> {
        another_stack(&self.tags, &config.stack_name)
            .filter(|_| self.is_marked_managed(config))
            .map(|stack| Error::ManagedByAnotherStack {
                entity: format!("IAM user {:?}", self.name),
                stack: stack.to_string(),
            })
    }
}

/// The stack named on an entity when it is not this one; `None` when it names this stack or none.
fn another_stack<'a>(tags: &'a BTreeMap<String, String>, ours: &str) -> Option<&'a str> {
    tags.get(STACK_TAG)
        .map(String::as_str)
        .filter(|stack| *stack != ours)
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedRole {
    pub name: String,
    pub arn: String,
    pub trust_policy: Value,
    pub attached_policies: Vec<String>,
    pub inline_policies: BTreeMap<String, Value>,
    pub max_session_duration: Option<i32>,
    pub permissions_boundary: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl ObservedRole {
    /// Ours: this stack created it, or adopted it, and tagged it so. A catalog role's name alone says
    /// nothing: a role of that name may have existed, with its own trust and policies, before the stack,
    /// or belong to another onboarding stack whose catalog has a role of the same name.
    pub fn is_owned(&self, stack: &str) -> bool {
        self.is_marked_managed() && another_stack(&self.tags, stack).is_none()
    }

    fn is_marked_managed(&self) -> bool {
        self.tags.get(MANAGED_TAG).map(String::as_str) == Some("true")
    }

    /// Managed by this stack, but from before roles carried the stack's name: adopted by its next repair.
    pub fn lacks_stack_tag(&self) -> bool {
        self.is_marked_managed() && !self.tags.contains_key(STACK_TAG)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedGroup {
    pub name: String,
    pub inline_policies: BTreeMap<String, Value>,
    pub attached_policies: Vec<String>,
}

/// The catalog roles and grant groups an onboarding plan compares against, read once.
#[derive(Debug, Clone, Default)]
pub struct ObservedGrants {
    pub roles: Vec<ObservedRole>,
    pub groups: Vec<ObservedGroup>,
}

impl ObservedGrants {
    pub fn role(&self, name: &str) -> Option<&ObservedRole> {
        self.roles.iter().find(|role| role.name == name)
    }

    pub fn group(&self, name: &str) -> Option<&ObservedGroup> {
        self.groups.iter().find(|group| group.name == name)
    }
}

/// Everything the drift check reads, in bulk: GetAccountAuthorizationDetails, the credential report, the
/// assigned virtual MFA devices, and the account's trust policy quota.
#[derive(Debug, Clone, Default)]
pub struct AccountSnapshot {
    pub users: Vec<ObservedUser>,
    /// The grant groups.
    pub groups: Vec<ObservedGroup>,
    /// The groups the stack does not manage that a managed user is a member of: whether leaving one can
    /// lift a Deny is read from its policies.
    pub other_groups: Vec<ObservedGroup>,
    /// The operative (default version) documents of the managed policies attached to `other_groups`, by
    /// ARN.
    pub managed_policies: BTreeMap<String, Value>,
    pub roles: Vec<ObservedRole>,
    /// Credential report rows by user name.
    pub credentials: BTreeMap<String, CredentialRow>,
    /// Users with an assigned virtual (TOTP) MFA device.
    pub users_with_virtual_mfa: std::collections::BTreeSet<String>,
    /// MFA serial numbers, read per user only for those whose enabled devices are not virtual.
    pub other_mfa_serials: BTreeMap<String, Vec<String>>,
    pub trust_policy_size_quota: usize,
    /// The member account whose catalog roles `roles` holds; `None`: the hub's.
    pub roles_account: Option<String>,
}

/// One row of the IAM credential report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CredentialRow {
    pub user: String,
    pub created: Option<std::time::SystemTime>,
    pub password_enabled: bool,
    pub mfa_active: bool,
    pub access_keys: [KeyUsage; 2],
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyUsage {
    pub active: bool,
    /// When the key was created (the report's `last_rotated`).
    pub created: Option<std::time::SystemTime>,
    pub last_used: Option<std::time::SystemTime>,
}

/// An access key as `ListAccessKeys` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub active: bool,
    /// RFC 3339; sorts chronologically as text.
    pub created: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLastUsed {
    pub date: Option<String>,
    pub service: Option<String>,
}

/// What a user may hold besides what `ObservedUser` reads. IAM refuses `DeleteUser` while any of it exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtherCredentials {
    pub login_profile: bool,
    pub signing_certificates: Vec<String>,
    pub ssh_public_keys: Vec<String>,
}

/// What `DeleteUser` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserDeletion {
    Deleted,
    AlreadyGone,
    /// Something still attached to the user keeps IAM from deleting it.
    Conflict,
}
