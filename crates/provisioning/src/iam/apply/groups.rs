//! Changes to a grant group: the group and its policies.

use super::misrouted;
use crate::error::Result;
use crate::iam::errors::{aws_error, is_code, tolerate_absent};
use crate::iam::{Applied, Iam};
use crate::plan::Change;

impl Iam {
    pub(super) async fn apply_to_group(&self, change: &Change) -> Result<Applied> {
        match change {
            Change::CreateGroup { name } => {
                match self.iam.create_group().group_name(name).send().await {
                    Ok(_) => {}
                    Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {}
                    Err(error) => return Err(aws_error("CreateGroup", error)),
                }
            }
            Change::PutGroupPolicy {
                group,
                policy_name,
                document,
            } => {
                self.iam
                    .put_group_policy()
                    .group_name(group)
                    .policy_name(policy_name)
                    .policy_document(document.to_string())
                    .send()
                    .await
                    .map_err(|e| aws_error("PutGroupPolicy", e))?;
            }
            Change::DetachGroupPolicy { group, policy_arn } => {
                let detached = self
                    .iam
                    .detach_group_policy()
                    .group_name(group)
                    .policy_arn(policy_arn)
                    .send()
                    .await;
                tolerate_absent("DetachGroupPolicy", detached)?;
            }
            Change::DeleteGroupPolicy { group, policy_name } => {
                let deleted = self
                    .iam
                    .delete_group_policy()
                    .group_name(group)
                    .policy_name(policy_name)
                    .send()
                    .await;
                tolerate_absent("DeleteGroupPolicy", deleted)?;
            }
            other => return Err(misrouted(other)),
        }
        Ok(Applied::Done)
    }
}
