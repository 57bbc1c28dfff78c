//! Changes to a user: the user itself, and its grants (group membership, inline and attached policies).

use super::{misrouted, sdk_tags};
use crate::error::Result;
use crate::iam::errors::{aws_error, is_code, tolerate_absent};
use crate::iam::{Applied, Iam};
use crate::plan::Change;

impl Iam {
    pub(super) async fn apply_to_user(&self, change: &Change) -> Result<Applied> {
        match change {
            Change::CreateUser {
                name,
                path,
                tags,
                permissions_boundary,
            } => {
                let request = self
                    .iam
                    .create_user()
                    .user_name(name)
                    .path(path)
                    .set_tags(Some(sdk_tags("CreateUser", tags)?))
                    .set_permissions_boundary(permissions_boundary.clone());
                match request.send().await {
                    Ok(_) => {}
                    // Someone made a user of that name since we looked: the caller finds out whose.
                    Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {
                        return Ok(Applied::UserAlreadyExists);
                    }
                    Err(error) => return Err(aws_error("CreateUser", error)),
                }
            }
            Change::SetUserBoundary { user, policy_arn } => {
                self.iam
                    .put_user_permissions_boundary()
                    .user_name(user)
                    .permissions_boundary(policy_arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("PutUserPermissionsBoundary", e))?;
            }
            Change::TagUser { user, tags } => {
                self.iam
                    .tag_user()
                    .user_name(user)
                    .set_tags(Some(sdk_tags("TagUser", tags)?))
                    .send()
                    .await
                    .map_err(|e| aws_error("TagUser", e))?;
            }
            other => return Err(misrouted(other)),
        }
        Ok(Applied::Done)
    }

    pub(super) async fn apply_to_user_grants(&self, change: &Change) -> Result<Applied> {
        match change {
            Change::AddUserToGroup { user, group } => {
                self.iam
                    .add_user_to_group()
                    .user_name(user)
                    .group_name(group)
                    .send()
                    .await
                    .map_err(|e| aws_error("AddUserToGroup", e))?;
            }
            Change::PutUserPolicy {
                user,
                policy_name,
                document,
            } => {
                self.iam
                    .put_user_policy()
                    .user_name(user)
                    .policy_name(policy_name)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .map_err(|e| aws_error("PutUserPolicy", e))?;
            }
            Change::DetachUserPolicy { user, policy_arn } => {
                let detached = self
                    .iam
                    .detach_user_policy()
                    .user_name(user)
                    .policy_arn(policy_arn)
                    .send()
                    .await;
                tolerate_absent("DetachUserPolicy", detached)?;
            }
            Change::DeleteUserPolicy { user, policy_name } => {
                let deleted = self
                    .iam
                    .delete_user_policy()
                    .user_name(user)
                    .policy_name(policy_name)
                    .send()
                    .await;
                tolerate_absent("DeleteUserPolicy", deleted)?;
            }
            Change::RemoveUserFromGroup { user, group } => {
                let removed = self
                    .iam
                    .remove_user_from_group()
                    .user_name(user)
                    .group_name(group)
                    .send()
                    .await;
                tolerate_absent("RemoveUserFromGroup", removed)?;
            }
            other => return Err(misrouted(other)),
        }
        Ok(Applied::Done)
    }
}
