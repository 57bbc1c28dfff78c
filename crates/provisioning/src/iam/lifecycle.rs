//! IAM calls for the rest of a user's life: key details for `status`, key rotation, and offboarding.
//! Every removal is idempotent: something already gone counts as removed.

use aws_sdk_iam::types::{AssignmentStatusType, StatusType};
use aws_smithy_types::date_time::Format;

use std::time::Duration;

use aws_config::retry::RetryConfig;

use super::{
    Iam, NewAccessKey, Secret, aws_error, is_code, is_throttling, outcome_unknown, tolerate_absent,
};
use crate::error::{Error, Result};
use crate::lifecycle::{AccessKey, KeyLastUsed, OtherCredentials, Removal, UserDeletion};
use crate::plan::Change;

/// Between attempts at creating a key, when IAM throttled or its answer was lost.
const KEY_CREATION_RETRY_DELAYS: [Duration; 4] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
];

/// IAM's answer for a key never used, or a service never named.
const NOT_AVAILABLE: &str = "N/A";

fn timestamp(time: &aws_smithy_types::DateTime) -> Option<String> {
    time.fmt(Format::DateTime).ok()
}

impl Iam {
    pub async fn access_keys(&self, user: &str) -> Result<Vec<AccessKey>> {
        let output = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| aws_error("ListAccessKeys", e))?;
        Ok(output
            .access_key_metadata()
            .iter()
            .filter_map(|key| {
                Some(AccessKey {
                    id: key.access_key_id()?.to_string(),
                    active: key.status() == Some(&StatusType::Active),
                    created: key.create_date().and_then(timestamp),
                })
            })
            .collect())
    }

    /// `None` for a key that is gone; a key never used has neither date nor service.
    pub async fn access_key_last_used(&self, key_id: &str) -> Result<Option<KeyLastUsed>> {
        let output = match self
            .iam
            .get_access_key_last_used()
            .access_key_id(key_id)
            .send()
            .await
        {
            Ok(output) => output,
            Err(error) if is_code(&error, &["NoSuchEntity"]) => return Ok(None),
            Err(error) => return Err(aws_error("GetAccessKeyLastUsed", error)),
        };
        Ok(output.access_key_last_used().map(|used| KeyLastUsed {
            date: used.last_used_date().and_then(timestamp),
            service: Some(used.service_name())
                .filter(|service| !service.is_empty() && *service != NOT_AVAILABLE)
                .map(str::to_string),
        }))
    }

    /// Whether the virtual device `serial_number` exists and is enabled for nobody. IAM has no
    /// per-device read, so the unassigned devices of the account are listed.
    pub async fn virtual_mfa_device_unassigned(&self, serial_number: &str) -> Result<bool> {
        let devices = self
            .iam
            .list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Unassigned)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListVirtualMFADevices", e))?;
        Ok(devices
            .iter()
            .any(|device| device.serial_number() == serial_number))
    }

    /// A key for key rotation; IAM's two-key limit (a concurrent rotation won the race) is `too_many_keys`.
    /// Creates one access key for a user that holds `known_keys` keys, without the SDK's automatic retry:
    /// retrying an attempt whose answer was lost on the way back would make a second key, and the first
    /// one's secret would be gone. A refusal that changed nothing (throttling) is retried here; an outcome
    /// we cannot know (dropped connection, timeout, 5xx) is settled by listing the keys first.
    pub async fn create_access_key(&self, user: &str, known_keys: usize) -> Result<NewAccessKey> {
        let mut delays = KEY_CREATION_RETRY_DELAYS.iter();
        loop {
            let attempt = self
                .iam
                .create_access_key()
                .user_name(user)
                .customize()
                .config_override(
                    aws_sdk_iam::config::Builder::default().retry_config(RetryConfig::disabled()),
                )
                .send()
                .await;
            let error = match attempt {
                Ok(output) => {
                    let key = output.access_key().ok_or_else(|| {
                        Error::aws("CreateAccessKey", "the response holds no key", false)
                    })?;
                    return Ok(NewAccessKey {
                        id: key.access_key_id().to_string(),
                        secret: Secret::new(key.secret_access_key()),
                    });
                }
                Err(error) if is_code(&error, &["LimitExceeded"]) => {
                    return Err(Error::TooManyKeys(user.to_string()));
                }
                Err(error) => error,
            };
            if !is_throttling(&error) && !outcome_unknown(&error) {
                return Err(aws_error("CreateAccessKey", error));
            }
            if outcome_unknown(&error) && self.access_keys(user).await?.len() > known_keys {
                return Err(Error::KeySecretLost(user.to_string()));
            }
            let Some(delay) = delays.next() else {
                return Err(aws_error("CreateAccessKey", error));
            };
            tokio::time::sleep(*delay).await;
        }
    }

    pub async fn deactivate_access_key(&self, user: &str, key_id: &str) -> Result<()> {
        self.iam
            .update_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .status(StatusType::Inactive)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("UpdateAccessKey", e))
    }

    pub async fn delete_access_key(&self, user: &str, key_id: &str) -> Result<()> {
        let deleted = self
            .iam
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send()
            .await;
        tolerate_absent("DeleteAccessKey", deleted)
    }

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

    pub async fn remove(&self, removal: &Removal) -> Result<()> {
        tracing::info!(removal = ?removal, "removing");
        match removal {
            Removal::DeleteAccessKey { user, key_id } => self.delete_access_key(user, key_id).await,
            Removal::DeactivateMfaDevice {
                user,
                serial_number,
            } => {
                let deactivated = self
                    .iam
                    .deactivate_mfa_device()
                    .user_name(user)
                    .serial_number(serial_number)
                    .send()
                    .await;
                tolerate_absent("DeactivateMFADevice", deactivated)
            }
            Removal::DeleteVirtualMfaDevice { serial_number } => {
                self.delete_virtual_mfa_device(serial_number).await
            }
            Removal::DeleteLoginProfile { user } => self
                .apply(&Change::DeleteLoginProfile { user: user.clone() })
                .await
                .map(drop),
            Removal::DeleteSigningCertificate {
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
            Removal::DeleteSshPublicKey { user, key_id } => {
                let deleted = self
                    .iam
                    .delete_ssh_public_key()
                    .user_name(user)
                    .ssh_public_key_id(key_id)
                    .send()
                    .await;
                tolerate_absent("DeleteSSHPublicKey", deleted)
            }
            Removal::DeleteServiceSpecificCredential {
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
            Removal::DeleteUserPolicy { user, policy_name } => {
                let change = Change::DeleteUserPolicy {
                    user: user.clone(),
                    policy_name: policy_name.clone(),
                };
                self.apply(&change).await.map(drop)
            }
            Removal::DetachUserPolicy { user, policy_arn } => {
                let change = Change::DetachUserPolicy {
                    user: user.clone(),
                    policy_arn: policy_arn.clone(),
                };
                self.apply(&change).await.map(drop)
            }
            Removal::RemoveUserFromGroup { user, group } => {
                let change = Change::RemoveUserFromGroup {
                    user: user.clone(),
                    group: group.clone(),
                };
                self.apply(&change).await.map(drop)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::config::Config;
    use aws_sdk_iam::operation::delete_service_specific_credential::DeleteServiceSpecificCredentialOutput;
    use aws_sdk_iam::operation::delete_user::{DeleteUserError, DeleteUserOutput};
    use aws_sdk_iam::operation::get_login_profile::GetLoginProfileError;
    use aws_sdk_iam::operation::get_role::GetRoleError;
    use aws_sdk_iam::operation::get_user::GetUserOutput;
    use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
    use aws_sdk_iam::operation::list_attached_user_policies::ListAttachedUserPoliciesOutput;
    use aws_sdk_iam::operation::list_groups_for_user::ListGroupsForUserOutput;
    use aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput;
    use aws_sdk_iam::operation::list_service_specific_credentials::ListServiceSpecificCredentialsOutput;
    use aws_sdk_iam::operation::list_signing_certificates::ListSigningCertificatesOutput;
    use aws_sdk_iam::operation::list_ssh_public_keys::ListSshPublicKeysOutput;
    use aws_sdk_iam::operation::list_user_policies::ListUserPoliciesOutput;
    use aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMfaDevicesOutput;
    use aws_sdk_iam::types::error::{DeleteConflictException, NoSuchEntityException};
    use aws_sdk_iam::types::{ServiceSpecificCredentialMetadata, Tag, User};
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::error::ErrorMetadata;

    fn iam_with(client: aws_sdk_iam::Client) -> Iam {
        let sdk_config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let mut iam = Iam::new(&sdk_config);
        iam.iam = client;
        iam
    }

    fn conflict() -> DeleteUserError {
        let message = "Cannot delete entity, must remove referenced objects first.";
        DeleteUserError::DeleteConflictException(
            DeleteConflictException::builder()
                .message(message)
                .meta(
                    ErrorMetadata::builder()
                        .code("DeleteConflict")
                        .message(message)
                        .build(),
                )
                .build(),
        )
    }

    /// moto does not implement service-specific credentials: this is the one place they are exercised.
    #[tokio::test]
    async fn service_specific_credentials_are_removed_when_iam_refuses_to_delete_the_user() {
        let date = aws_smithy_types::DateTime::from_secs(1_764_000_000);
        let user = User::builder()
            .user_name("dev")
            .user_id("AIDAEXAMPLE")
            .arn("arn:aws:iam::123456789012:user/onboarded/dev")
            .path("/onboarded/")
            .create_date(date)
            .tags(
                Tag::builder()
                    .key("onboarding:managed")
                    .value("true")
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let credential = ServiceSpecificCredentialMetadata::builder()
            .user_name("dev")
            .status(StatusType::Active)
            .service_user_name("dev-at-123456789012")
            .create_date(date)
            .service_specific_credential_id("ACCAEXAMPLE")
            .service_name("codecommit.amazonaws.com")
            .build()
            .unwrap();
        let rules = [
            mock!(aws_sdk_iam::Client::get_user)
                .then_output(move || GetUserOutput::builder().user(user.clone()).build()),
            mock!(aws_sdk_iam::Client::list_groups_for_user).then_output(|| {
                ListGroupsForUserOutput::builder()
                    .set_groups(Some(vec![]))
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_iam::Client::list_user_policies).then_output(|| {
                ListUserPoliciesOutput::builder()
                    .set_policy_names(Some(vec![]))
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_iam::Client::list_attached_user_policies)
                .then_output(|| ListAttachedUserPoliciesOutput::builder().build()),
            mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
                ListAccessKeysOutput::builder()
                    .set_access_key_metadata(Some(vec![]))
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_iam::Client::list_mfa_devices).then_output(|| {
                ListMfaDevicesOutput::builder()
                    .set_mfa_devices(Some(vec![]))
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_iam::Client::get_login_profile).then_error(|| {
                GetLoginProfileError::NoSuchEntityException(
                    NoSuchEntityException::builder()
                        .meta(ErrorMetadata::builder().code("NoSuchEntity").build())
                        .build(),
                )
            }),
            mock!(aws_sdk_iam::Client::list_signing_certificates).then_output(|| {
                ListSigningCertificatesOutput::builder()
                    .set_certificates(Some(vec![]))
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_iam::Client::list_ssh_public_keys)
                .then_output(|| ListSshPublicKeysOutput::builder().build()),
            mock!(aws_sdk_iam::Client::list_virtual_mfa_devices).then_output(|| {
                ListVirtualMfaDevicesOutput::builder()
                    .set_virtual_mfa_devices(Some(vec![]))
                    .build()
                    .unwrap()
            }),
            mock!(aws_sdk_iam::Client::delete_user)
                .sequence()
                .error(conflict)
                .output(|| DeleteUserOutput::builder().build())
                .build(),
            mock!(aws_sdk_iam::Client::list_service_specific_credentials).then_output(move || {
                ListServiceSpecificCredentialsOutput::builder()
                    .service_specific_credentials(credential.clone())
                    .build()
            }),
            mock!(aws_sdk_iam::Client::delete_service_specific_credential)
                .match_requests(|request| {
                    request.service_specific_credential_id() == Some("ACCAEXAMPLE")
                })
                .then_output(|| DeleteServiceSpecificCredentialOutput::builder().build()),
        ];
        let mut rules = rules.to_vec();
        rules.push(mock!(aws_sdk_iam::Client::get_role).then_error(|| {
            GetRoleError::NoSuchEntityException(
                NoSuchEntityException::builder()
                    .meta(ErrorMetadata::builder().code("NoSuchEntity").build())
                    .build(),
            )
        }));
        let rule_refs: Vec<&aws_smithy_mocks::Rule> = rules.iter().collect();
        let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::MatchAny, &rule_refs));
        let config = Config::from_lookup(|_| None).unwrap();
        let account = Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        };
        let result = crate::lifecycle::offboard(&iam, &config, &account, "dev")
            .await
            .unwrap();
        assert_eq!(
            rules[10].num_calls(),
            2,
            "DeleteUser, then again once the credential is gone"
        );
        assert_eq!(rules[12].num_calls(), 1);
        assert_eq!(
            result.removed,
            ["service-specific credential ACCAEXAMPLE", "user dev"]
        );
    }
}
