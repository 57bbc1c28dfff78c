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
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedGroup {
    pub name: String,
    pub inline_policies: BTreeMap<String, Value>,
    pub attached_policies: Vec<String>,
}
