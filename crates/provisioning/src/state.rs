//! What IAM holds, as the domain sees it: read per user by onboarding, in bulk by the drift check.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::Config;
use crate::names::MANAGED_TAG;

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
    /// Managed means both marks: the tag and the configured path. A tag alone on a user elsewhere is
    /// somebody else's user that happens to carry our tag.
    pub fn is_managed(&self, config: &Config) -> bool {
        self.tags.get(MANAGED_TAG).map(String::as_str) == Some("true")
            && self.path == config.user_path
    }
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
    /// Ours: the stack created it, or adopted it, and tagged it so. A catalog role's name alone says
    /// nothing: a role of that name may have existed, with its own trust and policies, before the stack.
    pub fn is_owned(&self) -> bool {
        self.tags.get(MANAGED_TAG).map(String::as_str) == Some("true")
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
