//! `Change`: one idempotent step a plan asks for, what it is called, what it touches, and how it reads.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    CreateUser {
        name: String,
        path: String,
        tags: Vec<(String, String)>,
        permissions_boundary: Option<String>,
    },
    SetUserBoundary {
        user: String,
        policy_arn: String,
    },
    CreateRole {
        name: String,
        trust_policy: Value,
        max_session_duration: i32,
        description: Option<String>,
        permissions_boundary: Option<String>,
        tags: Vec<(String, String)>,
    },
    /// Adopts a catalog role that existed without the ownership tag (its entry says `adopt`).
    TagRole {
        role: String,
        tags: Vec<(String, String)>,
    },
    SetRoleBoundary {
        role: String,
        policy_arn: String,
    },
    UpdateTrustPolicy {
        role: String,
        trust_policy: Value,
    },
    UpdateMaxSessionDuration {
        role: String,
        seconds: i32,
    },
    AttachRolePolicy {
        role: String,
        policy_arn: String,
    },
    PutRolePolicy {
        role: String,
        policy_name: String,
        document: Value,
    },
    CreateGroup {
        name: String,
    },
    PutGroupPolicy {
        group: String,
        policy_name: String,
        document: Value,
    },
    AddUserToGroup {
        user: String,
        group: String,
    },
    PutUserPolicy {
        user: String,
        policy_name: String,
        document: Value,
    },
    CreateAccessKey {
        user: String,
    },
    /// Creates the user's virtual MFA device unless one is already waiting to be enabled.
    EnsureVirtualMfaDevice {
        user: String,
        path: String,
    },
    TagUser {
        user: String,
        tags: Vec<(String, String)>,
    },
    // Repairs made by the drift check: removing what someone added outside the project.
    DetachUserPolicy {
        user: String,
        policy_arn: String,
    },
    DeleteUserPolicy {
        user: String,
        policy_name: String,
    },
    RemoveUserFromGroup {
        user: String,
        group: String,
    },
    DeleteLoginProfile {
        user: String,
    },
    DetachRolePolicy {
        role: String,
        policy_arn: String,
    },
    DeleteRolePolicy {
        role: String,
        policy_name: String,
    },
    DetachGroupPolicy {
        group: String,
        policy_arn: String,
    },
    DeleteGroupPolicy {
        group: String,
        policy_name: String,
    },
    /// The credential report names keys by position and creation time, not by id.
    DeactivateAccessKey {
        user: String,
        created: std::time::SystemTime,
    },
    // Removals made by offboarding (besides the user-policy, group and login-profile ones above): what
    // IAM needs gone before it deletes a user. Each is idempotent: something already gone counts as removed.
    DeleteAccessKey {
        user: String,
        key_id: String,
    },
    DeactivateMfaDevice {
        user: String,
        serial_number: String,
    },
    DeleteVirtualMfaDevice {
        serial_number: String,
    },
    DeleteSigningCertificate {
        user: String,
        certificate_id: String,
    },
    DeleteSshPublicKey {
        user: String,
        key_id: String,
    },
    DeleteServiceSpecificCredential {
        user: String,
        credential_id: String,
    },
}

impl Change {
    /// Order in which changes of one onboarding are applied: the user exists before a `users`-mode trust
    /// policy names it, roles and groups exist before grants point at them, and the secrets come last so
    /// that a failure earlier never strands a key nobody saw.
    pub(super) fn stage(&self) -> u8 {
        match self {
            Change::CreateUser { .. } | Change::SetUserBoundary { .. } | Change::TagUser { .. } => {
                0
            }
            Change::CreateRole { .. }
            | Change::TagRole { .. }
            | Change::SetRoleBoundary { .. }
            | Change::UpdateTrustPolicy { .. }
            | Change::UpdateMaxSessionDuration { .. }
            | Change::AttachRolePolicy { .. }
            | Change::PutRolePolicy { .. } => 1,
            Change::CreateGroup { .. } | Change::PutGroupPolicy { .. } => 2,
            Change::AddUserToGroup { .. } | Change::PutUserPolicy { .. } => 3,
            Change::CreateAccessKey { .. } => 4,
            Change::EnsureVirtualMfaDevice { .. } => 5,
            Change::DetachUserPolicy { .. }
            | Change::DeleteUserPolicy { .. }
            | Change::RemoveUserFromGroup { .. }
            | Change::DeleteLoginProfile { .. }
            | Change::DetachRolePolicy { .. }
            | Change::DeleteRolePolicy { .. }
            | Change::DetachGroupPolicy { .. }
            | Change::DeleteGroupPolicy { .. }
            | Change::DeactivateAccessKey { .. }
            | Change::DeleteAccessKey { .. }
            | Change::DeactivateMfaDevice { .. }
            | Change::DeleteVirtualMfaDevice { .. }
            | Change::DeleteSigningCertificate { .. }
            | Change::DeleteSshPublicKey { .. }
            | Change::DeleteServiceSpecificCredential { .. } => 6,
        }
    }

    /// The change's name, as logs show it.
    pub fn name(&self) -> &'static str {
        match self {
            Change::CreateUser { .. } => "CreateUser",
            Change::SetUserBoundary { .. } => "SetUserBoundary",
            Change::CreateRole { .. } => "CreateRole",
            Change::TagRole { .. } => "TagRole",
            Change::SetRoleBoundary { .. } => "SetRoleBoundary",
            Change::UpdateTrustPolicy { .. } => "UpdateTrustPolicy",
            Change::UpdateMaxSessionDuration { .. } => "UpdateMaxSessionDuration",
            Change::AttachRolePolicy { .. } => "AttachRolePolicy",
            Change::PutRolePolicy { .. } => "PutRolePolicy",
            Change::CreateGroup { .. } => "CreateGroup",
            Change::PutGroupPolicy { .. } => "PutGroupPolicy",
            Change::AddUserToGroup { .. } => "AddUserToGroup",
            Change::PutUserPolicy { .. } => "PutUserPolicy",
            Change::CreateAccessKey { .. } => "CreateAccessKey",
            Change::EnsureVirtualMfaDevice { .. } => "EnsureVirtualMfaDevice",
            Change::TagUser { .. } => "TagUser",
            Change::DetachUserPolicy { .. } => "DetachUserPolicy",
            Change::DeleteUserPolicy { .. } => "DeleteUserPolicy",
            Change::RemoveUserFromGroup { .. } => "RemoveUserFromGroup",
            Change::DeleteLoginProfile { .. } => "DeleteLoginProfile",
            Change::DetachRolePolicy { .. } => "DetachRolePolicy",
            Change::DeleteRolePolicy { .. } => "DeleteRolePolicy",
            Change::DetachGroupPolicy { .. } => "DetachGroupPolicy",
            Change::DeleteGroupPolicy { .. } => "DeleteGroupPolicy",
            Change::DeactivateAccessKey { .. } => "DeactivateAccessKey",
            Change::DeleteAccessKey { .. } => "DeleteAccessKey",
            Change::DeactivateMfaDevice { .. } => "DeactivateMfaDevice",
            Change::DeleteVirtualMfaDevice { .. } => "DeleteVirtualMfaDevice",
            Change::DeleteSigningCertificate { .. } => "DeleteSigningCertificate",
            Change::DeleteSshPublicKey { .. } => "DeleteSshPublicKey",
            Change::DeleteServiceSpecificCredential { .. } => "DeleteServiceSpecificCredential",
        }
    }

    /// The user, role or group the change is made to (a virtual MFA device of no user: its serial).
    pub fn target(&self) -> &str {
        match self {
            Change::CreateUser { name, .. }
            | Change::CreateRole { name, .. }
            | Change::CreateGroup { name } => name,
            Change::UpdateTrustPolicy { role, .. }
            | Change::TagRole { role, .. }
            | Change::SetRoleBoundary { role, .. }
            | Change::UpdateMaxSessionDuration { role, .. }
            | Change::AttachRolePolicy { role, .. }
            | Change::PutRolePolicy { role, .. }
            | Change::DetachRolePolicy { role, .. }
            | Change::DeleteRolePolicy { role, .. } => role,
            Change::PutGroupPolicy { group, .. }
            | Change::DetachGroupPolicy { group, .. }
            | Change::DeleteGroupPolicy { group, .. } => group,
            Change::SetUserBoundary { user, .. }
            | Change::AddUserToGroup { user, .. }
            | Change::PutUserPolicy { user, .. }
            | Change::CreateAccessKey { user }
            | Change::EnsureVirtualMfaDevice { user, .. }
            | Change::TagUser { user, .. }
            | Change::DetachUserPolicy { user, .. }
            | Change::DeleteUserPolicy { user, .. }
            | Change::RemoveUserFromGroup { user, .. }
            | Change::DeleteLoginProfile { user }
            | Change::DeactivateAccessKey { user, .. }
            | Change::DeleteAccessKey { user, .. }
            | Change::DeactivateMfaDevice { user, .. }
            | Change::DeleteSigningCertificate { user, .. }
            | Change::DeleteSshPublicKey { user, .. }
            | Change::DeleteServiceSpecificCredential { user, .. } => user,
            Change::DeleteVirtualMfaDevice { serial_number } => serial_number,
        }
    }

    /// What a removal takes away, as offboarding's record lists it (`access key AKIA…`); any other
    /// change reads as its `Display`.
    pub fn removed(&self) -> String {
        match self {
            Change::DeleteAccessKey { key_id, .. } => format!("access key {key_id}"),
            Change::DeactivateMfaDevice { serial_number, .. } => {
                format!("MFA device {serial_number} (deactivated)")
            }
            Change::DeleteVirtualMfaDevice { serial_number } => {
                format!("virtual MFA device {serial_number}")
            }
            Change::DeleteLoginProfile { .. } => "console password".to_string(),
            Change::DeleteSigningCertificate { certificate_id, .. } => {
                format!("signing certificate {certificate_id}")
            }
            Change::DeleteSshPublicKey { key_id, .. } => format!("SSH public key {key_id}"),
            Change::DeleteServiceSpecificCredential { credential_id, .. } => {
                format!("service-specific credential {credential_id}")
            }
            Change::DeleteUserPolicy { policy_name, .. } => format!("inline policy {policy_name}"),
            Change::DetachUserPolicy { policy_arn, .. } => {
                format!("managed policy {policy_arn} (detached)")
            }
            Change::RemoveUserFromGroup { group, .. } => format!("membership of group {group}"),
            other => other.to_string(),
        }
    }
}

/// One line per change, for people: `status` shows what is not as it should be.
impl std::fmt::Display for Change {
    // One arm per variant, each a sentence: splitting it would only scatter the sentences.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::CreateUser { name, .. } => write!(f, "user {name} does not exist"),
            Change::SetUserBoundary { user, policy_arn } => {
                write!(f, "user {user} lacks the permissions boundary {policy_arn}")
            }
            Change::TagUser { user, tags } => {
                let keys: Vec<&str> = tags.iter().map(|(key, _)| key.as_str()).collect();
                write!(f, "user {user} has stale tags: {}", keys.join(", "))
            }
            Change::CreateRole { name, .. } => write!(f, "role {name} does not exist"),
            Change::TagRole { role, .. } => write!(
                f,
                "role {role} is to be adopted (\"adopt\": true) but is not tagged as managed"
            ),
            Change::SetRoleBoundary { role, policy_arn } => {
                write!(f, "role {role} lacks the permissions boundary {policy_arn}")
            }
            Change::UpdateTrustPolicy { role, .. } => {
                write!(f, "the trust policy of role {role} is not as it must be")
            }
            Change::UpdateMaxSessionDuration { role, seconds } => {
                write!(f, "role {role} should allow sessions of {seconds} s")
            }
            Change::AttachRolePolicy { role, policy_arn } => {
                write!(f, "role {role} lacks the policy {policy_arn}")
            }
            Change::PutRolePolicy {
                role, policy_name, ..
            } => write!(
                f,
                "the inline policy {policy_name} of role {role} is missing or altered"
            ),
            Change::CreateGroup { name } => write!(f, "grant group {name} does not exist"),
            Change::PutGroupPolicy {
                group, policy_name, ..
            } => write!(
                f,
                "the policy {policy_name} of grant group {group} is missing or altered"
            ),
            Change::AddUserToGroup { user, group } => {
                write!(f, "user {user} is not in group {group}")
            }
            Change::PutUserPolicy {
                user, policy_name, ..
            } => write!(
                f,
                "the inline policy {policy_name} of user {user} is missing or altered"
            ),
            Change::CreateAccessKey { user } => write!(
                f,
                "user {user} has no access key (POST /users/{user}/access-keys issues one)"
            ),
            Change::EnsureVirtualMfaDevice { user, .. } => {
                write!(f, "user {user} has no virtual MFA device")
            }
            Change::DetachUserPolicy { user, policy_arn } => {
                write!(
                    f,
                    "user {user} has the managed policy {policy_arn} attached"
                )
            }
            Change::DeleteUserPolicy { user, policy_name } => {
                write!(
                    f,
                    "user {user} has the unexpected inline policy {policy_name}"
                )
            }
            Change::RemoveUserFromGroup { user, group } => {
                write!(f, "user {user} is in the unexpected group {group}")
            }
            Change::DeleteLoginProfile { user } => write!(f, "user {user} has a console password"),
            Change::DetachRolePolicy { role, policy_arn } => {
                write!(
                    f,
                    "role {role} has the unexpected policy {policy_arn} attached"
                )
            }
            Change::DeleteRolePolicy { role, policy_name } => {
                write!(
                    f,
                    "role {role} has the unexpected inline policy {policy_name}"
                )
            }
            Change::DetachGroupPolicy { group, policy_arn } => write!(
                f,
                "grant group {group} has the unexpected policy {policy_arn} attached"
            ),
            Change::DeleteGroupPolicy { group, policy_name } => write!(
                f,
                "grant group {group} has the unexpected inline policy {policy_name}"
            ),
            Change::DeactivateAccessKey { user, .. } => {
                write!(
                    f,
                    "user {user} has an access key that should be deactivated"
                )
            }
            Change::DeleteAccessKey { user, key_id } => {
                write!(f, "user {user} holds the access key {key_id}")
            }
            Change::DeactivateMfaDevice {
                user,
                serial_number,
            } => write!(f, "user {user} has the MFA device {serial_number} enabled"),
            Change::DeleteVirtualMfaDevice { serial_number } => {
                write!(f, "the virtual MFA device {serial_number} exists")
            }
            Change::DeleteSigningCertificate {
                user,
                certificate_id,
            } => write!(
                f,
                "user {user} holds the signing certificate {certificate_id}"
            ),
            Change::DeleteSshPublicKey { user, key_id } => {
                write!(f, "user {user} holds the SSH public key {key_id}")
            }
            Change::DeleteServiceSpecificCredential {
                user,
                credential_id,
            } => write!(
                f,
                "user {user} holds the service-specific credential {credential_id}"
            ),
        }
    }
}
