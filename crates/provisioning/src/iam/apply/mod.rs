//! `apply(change)`: each `plan::Change` made in IAM, idempotently. The dispatch is here; the calls are
//! grouped by the entity they change (users, roles, groups), and the credential changes sit with the
//! keys, MFA devices and other credentials they concern.

use aws_sdk_iam::types::Tag;

use super::{Applied, Iam};
use crate::error::{Error, Result};
use crate::plan::Change;

mod groups;
mod roles;
mod users;

impl Iam {
    pub async fn apply(&self, change: &Change) -> Result<Applied> {
        tracing::info!(change = change.name(), target = change.target(), "applying");
        match change {
            Change::CreateUser { .. } | Change::SetUserBoundary { .. } | Change::TagUser { .. } => {
                self.apply_to_user(change).await
            }
            Change::AddUserToGroup { .. }
            | Change::PutUserPolicy { .. }
            | Change::DetachUserPolicy { .. }
            | Change::DeleteUserPolicy { .. }
            | Change::RemoveUserFromGroup { .. } => self.apply_to_user_grants(change).await,
            Change::CreateRole { .. }
            | Change::TagRole { .. }
            | Change::SetRoleBoundary { .. }
            | Change::UpdateTrustPolicy { .. }
            | Change::UpdateMaxSessionDuration { .. }
            | Change::AttachRolePolicy { .. }
            | Change::PutRolePolicy { .. }
            | Change::DetachRolePolicy { .. }
            | Change::DeleteRolePolicy { .. } => self.apply_to_role(change).await,
            Change::CreateGroup { .. }
            | Change::PutGroupPolicy { .. }
            | Change::DetachGroupPolicy { .. }
            | Change::DeleteGroupPolicy { .. } => self.apply_to_group(change).await,
            // Planned only for a user that holds no key.
            Change::CreateAccessKey { user } => self
                .create_access_key(user, 0)
                .await
                .map(Applied::AccessKey),
            Change::DeactivateAccessKey { user, created } => self
                .deactivate_access_key_created_at(user, *created)
                .await
                .map(done),
            Change::DeleteAccessKey { user, key_id } => {
                self.delete_access_key(user, key_id).await.map(done)
            }
            Change::EnsureVirtualMfaDevice { user, path } => self
                .create_virtual_mfa_device(user, path)
                .await
                .map(Applied::VirtualMfaDevice),
            Change::DeactivateMfaDevice {
                user,
                serial_number,
            } => self
                .deactivate_mfa_device(user, serial_number)
                .await
                .map(done),
            Change::DeleteVirtualMfaDevice { serial_number } => self
                .delete_virtual_mfa_device(serial_number)
                .await
                .map(done),
            Change::DeleteLoginProfile { .. }
            | Change::DeleteSigningCertificate { .. }
            | Change::DeleteSshPublicKey { .. }
            | Change::DeleteServiceSpecificCredential { .. } => {
                self.remove_credential(change).await.map(done)
            }
        }
    }
}

fn done(_: ()) -> Applied {
    Applied::Done
}

/// The tags of a change as the SDK takes them.
fn sdk_tags(operation: &'static str, tags: &[(String, String)]) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::aws(operation, e, false))
}

/// A change handed to the wrong entity's `apply_to_*`: a bug in the dispatch above, refused rather than
/// guessed at.
pub(super) fn misrouted(change: &Change) -> Error {
    Error::aws(change.name(), "no IAM call applies this change here", false)
}
