//! What else a user may hold (console password, signing certificates, SSH keys, service-specific
//! credentials), their removal, and deleting the user. Every removal is idempotent: something already gone
//! counts as removed.

use super::Iam;
use super::errors::{aws_error, is_code, tolerate_absent};
use crate::error::Result;
use crate::plan::Change;
use crate::state::{OtherCredentials, UserDeletion};

impl Iam {
    /// Whether the user has a console password.
    pub async fn has_login_profile(&self, user: &str) -> Result<bool> {
        match self.iam.get_login_profile().user_name(user).send().await {
            Ok(_) => Ok(true),
            Err(error) if is_code(&error, &["NoSuchEntity"]) => Ok(false),
            Err(error) => Err(aws_error("GetLoginProfile", error)),
        }
    }

    pub async fn other_credentials(&self, user: &str) -> Result<OtherCredentials> {
        let login_profile = self.has_login_profile(user).await?;
        let certificates = self
            .iam
            .list_signing_certificates()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListSigningCertificates", e))?;
        let ssh_keys = self
            .iam
            .list_ssh_public_keys()
            .user_name(user)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListSSHPublicKeys", e))?;
        Ok(OtherCredentials {
            login_profile,
            signing_certificates: certificates
                .iter()
                .map(|certificate| certificate.certificate_id().to_string())
                .collect(),
            ssh_public_keys: ssh_keys
                .iter()
                .map(|key| key.ssh_public_key_id().to_string())
                .collect(),
        })
    }

    pub async fn service_specific_credentials(&self, user: &str) -> Result<Vec<String>> {
        let output = self
            .iam
            .list_service_specific_credentials()
            .user_name(user)
            .send()
            .await
            .map_err(|e| aws_error("ListServiceSpecificCredentials", e))?;
        Ok(output
            .service_specific_credentials()
            .iter()
            .map(|credential| credential.service_specific_credential_id().to_string())
            .collect())
    }

    /// Removes one of the credentials above (`DeleteLoginProfile`, `DeleteSigningCertificate`,
    /// `DeleteSshPublicKey`, `DeleteServiceSpecificCredential`).
    pub(super) async fn remove_credential(&self, change: &Change) -> Result<()> {
        match change {
            Change::DeleteLoginProfile { user } => {
                let deleted = self.iam.delete_login_profile().user_name(user).send().await;
                tolerate_absent("DeleteLoginProfile", deleted)
            }
            Change::DeleteSigningCertificate {
                user,
                certificate_id,
            } => {
                let deleted = self
                    .iam
                    .delete_signing_certificate()
                    .user_name(user)
                    .certificate_id(certificate_id)
                    .send()
                    .await;
                tolerate_absent("DeleteSigningCertificate", deleted)
            }
            Change::DeleteSshPublicKey { user, key_id } => {
                let deleted = self
                    .iam
                    .delete_ssh_public_key()
                    .user_name(user)
                    .ssh_public_key_id(key_id)
                    .send()
                    .await;
                tolerate_absent("DeleteSSHPublicKey", deleted)
            }
            Change::DeleteServiceSpecificCredential {
                user,
                credential_id,
            } => {
                let deleted = self
                    .iam
                    .delete_service_specific_credential()
                    .user_name(user)
                    .service_specific_credential_id(credential_id)
                    .send()
                    .await;
                tolerate_absent("DeleteServiceSpecificCredential", deleted)
            }
            other => Err(super::apply::misrouted(other)),
        }
    }

    pub async fn delete_user(&self, user: &str) -> Result<UserDeletion> {
        match self.iam.delete_user().user_name(user).send().await {
            Ok(_) => Ok(UserDeletion::Deleted),
            Err(error) if is_code(&error, &["NoSuchEntity"]) => Ok(UserDeletion::AlreadyGone),
            Err(error) if is_code(&error, &["DeleteConflict"]) => Ok(UserDeletion::Conflict),
            Err(error) => Err(aws_error("DeleteUser", error)),
        }
    }
}
