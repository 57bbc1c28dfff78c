//! `rotate_key` (the issue-key function): a new access key, AWS's rotation practice. The decision
//! (`plan_rotation`) is pure. `delete_inactive_key`: the end of a rotation, the retired key deleted once
//! the person has switched to the new one (`check_key_deletion` decides, also pure).

use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::iam::{Iam, NewAccessKey};
use crate::key_handover::{KEY_USABLE_AFTER_SECONDS, KEY_WAIT_LIMIT, record_key_shown};
use crate::sealed::SecretRecipient;
use crate::state::AccessKey;
use crate::status::{KeyStatus, managed_user};
use crate::views::{AccessKeyView, Named};

/// What must happen around the new key: IAM allows two keys per user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationPlan {
    /// Deleted first, to make room: the inactive key (the older one if both are inactive).
    pub delete: Option<String>,
    /// Deactivated once the new key exists, not deleted, so the person can switch over.
    pub deactivate: Option<String>,
}

pub fn plan_rotation(keys: &[AccessKey], username: &str) -> Result<RotationPlan> {
    let active: Vec<&AccessKey> = keys.iter().filter(|key| key.active).collect();
    if active.len() >= 2 {
        return Err(Error::TooManyKeys(username.to_string()));
    }
    let delete = if keys.len() >= 2 {
        keys.iter()
            .filter(|key| !key.active)
            .min_by(|a, b| a.created.cmp(&b.created))
            .map(|key| key.id.clone())
    } else {
        None
    };
    Ok(RotationPlan {
        delete,
        deactivate: active.first().map(|key| key.id.clone()),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct PreviousKey {
    pub access_key_id: String,
    pub status: KeyStatus,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyRotation {
    pub user: Named,
    pub access_key: AccessKeyView,
    /// The key that was active until now: inactive, kept until the person deletes it or rotates again.
    pub previous_access_key: Option<PreviousKey>,
    pub deleted_access_key_id: Option<String>,
}

/// Issues a new access key, AWS's rotation practice: the previous active key is deactivated, and an
/// inactive one is deleted when the user already holds two.
pub async fn rotate_key(
    iam: &Iam,
    config: &Config,
    username: &str,
    wait_until_usable: bool,
    encrypt_to: Option<&SecretRecipient>,
) -> Result<KeyRotation> {
    let user = managed_user(iam, config, username).await?;
    let keys = iam.access_keys(username).await?;
    let plan = plan_rotation(&keys, username)?;
    if let Some(key_id) = &plan.delete {
        iam.delete_access_key(username, key_id).await?;
    }
    let kept = keys.len() - usize::from(plan.delete.is_some());
    let key = iam.create_access_key(username, kept).await?;
    // From here on the new secret exists and must reach the person: a failure to deactivate the old key
    // is reported in the response (it stays active), not as an error that would lose the secret.
    let previous_access_key = match &plan.deactivate {
        None => None,
        Some(key_id) => {
            let status = match iam.deactivate_access_key(username, key_id).await {
                Ok(()) => KeyStatus::Inactive,
                Err(error) => {
                    tracing::error!(user = username, access_key_id = %key_id, error = %error, "the previous key could not be deactivated");
                    KeyStatus::Active
                }
            };
            Some(PreviousKey {
                access_key_id: key_id.clone(),
                status,
            })
        }
    };
    let usable = if wait_until_usable {
        Some(
            iam.wait_until_key_usable(&key, KEY_WAIT_LIMIT)
                .await
                .inspect_err(|error| tracing::warn!(user = username, error = %error, "could not check the new key with STS"))
                .unwrap_or(false),
        )
    } else {
        None
    };
    // Last, as in onboarding: only an answer that is about to be sent records its key as shown.
    record_key_shown(iam, username, &key).await;
    Ok(KeyRotation {
        user: Named {
            name: user.name,
            arn: user.arn,
        },
        access_key: new_key_view(&key, usable).sealed_to(encrypt_to)?,
        previous_access_key,
        deleted_access_key_id: plan.delete,
    })
}

fn new_key_view(key: &NewAccessKey, usable: Option<bool>) -> AccessKeyView {
    AccessKeyView {
        access_key_id: Some(key.id.clone()),
        secret_access_key: Some(key.secret.clone()),
        usable_after_seconds: (usable != Some(true)).then_some(KEY_USABLE_AFTER_SECONDS),
        usable,
        ..AccessKeyView::default()
    }
}

/// IAM's access key ids: letters and digits, 16 to 128 of them (`AKIA…`, `ASIA…`).
pub fn is_valid_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// May `key_id` be deleted from a user holding `keys`? Only an inactive key of that user: the active one
/// is what the person signs in with, and an id the user does not hold (someone else's key, or one already
/// deleted) is not found, whoever holds it.
pub fn check_key_deletion(keys: &[AccessKey], username: &str, key_id: &str) -> Result<()> {
    match keys.iter().find(|key| key.id == key_id) {
        None => Err(Error::AccessKeyNotFound {
            user: username.to_string(),
            key: key_id.to_string(),
        }),
        Some(key) if key.active => Err(Error::AccessKeyActive {
            user: username.to_string(),
            key: key_id.to_string(),
        }),
        Some(_) => Ok(()),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyDeletion {
    pub user: Named,
    pub access_key_id: String,
    /// Always `deleted`: a repeated request finds the key gone and is `access_key_not_found`, which a
    /// client retrying its own DELETE takes as done.
    pub outcome: &'static str,
}

/// Deletes an inactive access key of a managed user. Idempotent in effect: a second request changes
/// nothing (and answers `access_key_not_found`); a key deleted by someone else between the listing and
/// the deletion counts as deleted.
pub async fn delete_inactive_key(
    iam: &Iam,
    config: &Config,
    username: &str,
    key_id: &str,
) -> Result<KeyDeletion> {
    if !is_valid_access_key_id(key_id) {
        return Err(Error::InvalidRequest(format!(
            "{key_id:?} is not an access key id (16 to 128 letters and digits)"
        )));
    }
    let user = managed_user(iam, config, username).await?;
    let keys = iam.access_keys(username).await?;
    check_key_deletion(&keys, username, key_id)?;
    iam.delete_access_key(username, key_id).await?;
    Ok(KeyDeletion {
        user: Named {
            name: user.name,
            arn: user.arn,
        },
        access_key_id: key_id.to_string(),
        outcome: "deleted",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_inactive_key_of_the_user_is_deleted() {
        let keys = [
            key("AKIAACTIVE0000000001", true, "2026-06-01T00:00:00Z"),
            key("AKIAINACTIVE00000002", false, "2026-01-01T00:00:00Z"),
        ];
        let code = |id: &str| check_key_deletion(&keys, "dev", id).map_err(|error| error.code());
        assert_eq!(code("AKIAINACTIVE00000002"), Ok(()));
        assert_eq!(code("AKIAACTIVE0000000001"), Err("access_key_active"));
        assert_eq!(code("AKIAOTHERUSER0000003"), Err("access_key_not_found"));
        assert_eq!(
            check_key_deletion(&[], "dev", "AKIAINACTIVE00000002").map_err(|e| e.code()),
            Err("access_key_not_found")
        );
    }

    #[test]
    fn access_key_ids_are_letters_and_digits() {
        assert!(is_valid_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        for bad in [
            "",
            "AKIA",
            "AKIAIOSFODNN7EXAMPL/",
            "../../users/x00000000",
            "AKIAIOSFODNN7EXAMPLE%00",
        ] {
            assert!(!is_valid_access_key_id(bad), "{bad}");
        }
        assert!(!is_valid_access_key_id(&"A".repeat(129)));
    }

    fn key(id: &str, active: bool, created: &str) -> AccessKey {
        AccessKey {
            id: id.into(),
            active,
            created: Some(created.into()),
        }
    }

    #[test]
    fn rotation_follows_aws_practice() {
        let old = "2026-01-01T00:00:00Z";
        let new = "2026-06-01T00:00:00Z";
        type Case<'a> = (&'a str, Vec<AccessKey>, Result<RotationPlan, &'a str>);
        let cases: Vec<Case> = vec![
            ("first key", vec![], Ok(RotationPlan::default())),
            (
                "one active key is deactivated",
                vec![key("A", true, old)],
                Ok(RotationPlan {
                    delete: None,
                    deactivate: Some("A".into()),
                }),
            ),
            (
                "one inactive key stays",
                vec![key("A", false, old)],
                Ok(RotationPlan::default()),
            ),
            (
                "two keys: the inactive one goes first, the active one is deactivated",
                vec![key("A", true, new), key("B", false, old)],
                Ok(RotationPlan {
                    delete: Some("B".into()),
                    deactivate: Some("A".into()),
                }),
            ),
            (
                "two inactive keys: the older one goes",
                vec![key("A", false, new), key("B", false, old)],
                Ok(RotationPlan {
                    delete: Some("B".into()),
                    deactivate: None,
                }),
            ),
            (
                "two active keys: refused",
                vec![key("A", true, old), key("B", true, new)],
                Err("too_many_keys"),
            ),
        ];
        for (name, keys, expected) in cases {
            let outcome = plan_rotation(&keys, "dev").map_err(|error| error.code());
            assert_eq!(outcome, expected, "{name}");
        }
    }
}
