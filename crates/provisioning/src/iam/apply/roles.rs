//! Changes to a catalog role: creation (raced by concurrent onboardings), ownership, boundary, trust
//! policy, session length and policies.

use serde_json::Value;

use super::{misrouted, sdk_tags};
use crate::error::{Error, Result};
use crate::iam::errors::{aws_error, is_code, retry_while_principal_propagates, tolerate_absent};
use crate::iam::{Applied, Iam};
use crate::plan::Change;

impl Iam {
    /// In the account the role lives in: the hub, or its spoke.
    pub(super) async fn apply_to_role(&self, change: &Change) -> Result<Applied> {
        self.at_home_of(change.target())?
            .apply_to_role_here(change)
            .await
    }

    async fn apply_to_role_here(&self, change: &Change) -> Result<Applied> {
        match change {
            Change::CreateRole { .. } => self.create_role(change).await?,
            Change::TagRole { role, tags } => {
                self.iam
                    .tag_role()
                    .role_name(role)
                    .set_tags(Some(sdk_tags("TagRole", tags)?))
                    .send()
                    .await
                    .map_err(|e| aws_error("TagRole", e))?;
            }
            Change::SetRoleBoundary { role, policy_arn } => {
                self.iam
                    .put_role_permissions_boundary()
                    .role_name(role)
                    .permissions_boundary(policy_arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("PutRolePermissionsBoundary", e))?;
            }
            Change::UpdateTrustPolicy { role, trust_policy } => {
                self.update_trust_policy(role, &trust_policy.to_string())
                    .await?;
            }
            Change::UpdateMaxSessionDuration { role, seconds } => {
                self.iam
                    .update_role()
                    .role_name(role)
                    .max_session_duration(*seconds)
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateRole", e))?;
            }
            Change::AttachRolePolicy { role, policy_arn } => {
                self.iam
                    .attach_role_policy()
                    .role_name(role)
                    .policy_arn(policy_arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("AttachRolePolicy", e))?;
            }
            Change::PutRolePolicy {
                role,
                policy_name,
                document,
            } => self.put_role_policy(role, policy_name, document).await?,
            Change::DetachRolePolicy { role, policy_arn } => {
                let detached = self
                    .iam
                    .detach_role_policy()
                    .role_name(role)
                    .policy_arn(policy_arn)
                    .send()
                    .await;
                tolerate_absent("DetachRolePolicy", detached)?;
            }
            Change::DeleteRolePolicy { role, policy_name } => {
                let deleted = self
                    .iam
                    .delete_role_policy()
                    .role_name(role)
                    .policy_name(policy_name)
                    .send()
                    .await;
                tolerate_absent("DeleteRolePolicy", deleted)?;
            }
            other => return Err(misrouted(other)),
        }
        Ok(Applied::Done)
    }

    async fn create_role(&self, change: &Change) -> Result<()> {
        let Change::CreateRole {
            name,
            trust_policy,
            max_session_duration,
            description,
            permissions_boundary,
            tags,
        } = change
        else {
            return Err(misrouted(change));
        };
        let document = trust_policy.to_string();
        let tags = sdk_tags("CreateRole", tags)?;
        let created = retry_while_principal_propagates(&self.retries, || {
            self.iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(&document)
                .max_session_duration(*max_session_duration)
                .set_description(description.clone())
                .set_permissions_boundary(permissions_boundary.clone())
                .set_tags(Some(tags.clone()))
                .send()
        })
        .await;
        match created {
            Ok(_) => Ok(()),
            // Created since we looked. By a concurrent onboarding with the same catalog entry, it is
            // ours: in `users` mode its trust policy is edited next, under the lock, and overwriting it
            // here would drop the other request's principal. By anyone else, the changes planned after
            // this one must not be made to it.
            Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {
                if self.role_is_owned(name, &tags).await? {
                    Ok(())
                } else {
                    Err(Error::RoleExistsUnmanaged(name.clone()))
                }
            }
            Err(error) => Err(aws_error("CreateRole", error)),
        }
    }

    async fn put_role_policy(&self, role: &str, policy_name: &str, document: &Value) -> Result<()> {
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(policy_name)
            .policy_document(document.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("PutRolePolicy", e))
    }

    pub(crate) async fn update_trust_policy(&self, role: &str, document: &str) -> Result<()> {
        retry_while_principal_propagates(&self.retries, || {
            self.iam
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send()
        })
        .await
        .map(|_| ())
        .map_err(|e| aws_error("UpdateAssumeRolePolicy", e))
    }
}
