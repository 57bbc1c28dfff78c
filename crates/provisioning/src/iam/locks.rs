//! Locks, for the read-modify-writes IAM cannot make atomic. In `users` mode a role's trust policy lists
//! every holder, so adding or removing one is a read-modify-write, and IAM has no conditional write: two
//! writers that read the same version would each drop the other's principal. A role's revoked-sessions
//! policy is the same. And two requests for the same person at once must not each decide that the person
//! has no key yet. IAM does refuse to create a second policy of the same name, atomically, so a lock is a
//! customer managed policy under `/onboarding/locks/`, created to take the lock and deleted to release
//! it. It is never attached and allows nothing.
//!
//! A holder that died leaves its lock behind; a lock older than `LEASE` is taken to be such a one and
//! broken, once: only if it is still the same lock when read again just before deleting it. Holders keep
//! it for a few IAM calls, far less than the lease.

use std::time::{Duration, SystemTime};

use super::errors::{aws_error, is_code, tolerate_absent};
use super::{Iam, Reading};
use crate::account::Account;
use crate::error::Result;
use crate::names::{TRUST_LOCK_PATH, secrets_lock_name, trust_lock_name};
use crate::plan::Change;
use crate::policy::semantically_equal;
use crate::state::ObservedRole;

/// Longer than any function holds a lock, even throttled, and than the HTTP functions' 29 s timeout.
const LEASE: Duration = Duration::from_secs(60);
/// Waiting writers poll with jittered, growing pauses, so twenty of them do not throttle IAM.
const FIRST_PAUSE_MS: u64 = 100;
const MAX_PAUSE_MS: u64 = 1_000;
/// The policy denies nothing and allows nothing: IAM needs a valid document, and this one is inert.
const LOCK_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TrustPolicyLock","Effect":"Deny","Action":"none:null","Resource":"*"}]}"#;

/// Proof of holding a role's trust-policy lock; give it back with `Iam::release_trust_lock`, on every
/// path. A holder cut off mid-edit (the invocation's deadline) cannot release it, and nothing it starts
/// then is sure to run before Lambda freezes the environment: the lease is what frees the lock then.
#[derive(Debug)]
#[must_use = "a lock is released explicitly"]
pub struct Lock {
    arn: String,
}

/// One lock policy as IAM holds it: which creation of it (IAM gives each a new id), and when.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeldLock {
    policy_id: String,
    created: Option<SystemTime>,
}

impl HeldLock {
    fn is_stale(&self) -> bool {
        self.created
            .and_then(|created| SystemTime::now().duration_since(created).ok())
            .is_some_and(|age| age > LEASE)
    }
}

impl Iam {
    /// Waits for, then takes, the lock `name` (`held_for` says what it guards, for the logs and the
    /// policy's description). The invocation's deadline bounds the wait.
    async fn acquire_lock(&self, held_for: &str, name: &str, lock_arn: &str) -> Result<Lock> {
        let mut pause_ms = FIRST_PAUSE_MS;
        loop {
            let created = self
                .iam
                .create_policy()
                .policy_name(name)
                .path(TRUST_LOCK_PATH)
                .description(format!(
                    "Held while onboarding {held_for}; deleted when done"
                ))
                .policy_document(LOCK_DOCUMENT)
                .send()
                .await;
            match created {
                Ok(_) => {
                    return Ok(Lock {
                        arn: lock_arn.to_string(),
                    });
                }
                Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {}
                Err(error) => return Err(aws_error("CreatePolicy", error)),
            }
            if let Some(held) = self.held_lock(lock_arn).await?
                && held.is_stale()
            {
                // Read again just before deleting: another waiter that judged the same lock stale may
                // have broken it and taken a fresh one since, and that one is not ours to delete.
                if self.held_lock(lock_arn).await?.as_ref() == Some(&held) {
                    tracing::warn!(
                        held_for,
                        lock = lock_arn,
                        "breaking a lock older than its lease"
                    );
                    self.delete_lock(lock_arn).await?;
                }
                continue;
            }
            tokio::time::sleep(Duration::from_millis(fastrand::u64(
                pause_ms / 2..=pause_ms,
            )))
            .await;
            pause_ms = (pause_ms * 2).min(MAX_PAUSE_MS);
        }
    }

    async fn release_lock(&self, lock: Lock) -> Result<()> {
        self.delete_lock(&lock.arn).await
    }

    /// The lock policy now, or `None` when nobody holds it.
    async fn held_lock(&self, lock_arn: &str) -> Result<Option<HeldLock>> {
        let policy = match self.iam.get_policy().policy_arn(lock_arn).send().await {
            Ok(output) => output.policy,
            Err(error) if is_code(&error, &["NoSuchEntity"]) => return Ok(None),
            Err(error) => return Err(aws_error("GetPolicy", error)),
        };
        Ok(policy.map(|policy| HeldLock {
            policy_id: policy.policy_id().unwrap_or_default().to_string(),
            created: policy
                .create_date()
                .and_then(|date| SystemTime::try_from(*date).ok()),
        }))
    }

    async fn delete_lock(&self, lock_arn: &str) -> Result<()> {
        tolerate_absent(
            "DeletePolicy",
            self.iam.delete_policy().policy_arn(lock_arn).send().await,
        )
    }
}

impl Iam {
    /// The one way a `users`-mode trust policy is edited: holding the role's trust lock, the role is read
    /// again (`reading`), `edit` derives the changes from that fresh read (none: nothing to write), and
    /// they are applied before the lock is released. True when something was written. Onboarding adds a
    /// principal; offboarding and revocation remove one; the drift repair replaces the list. The role's
    /// revoked-sessions policy, also a read-modify-write by concurrent offboardings, is edited the same way.
    pub async fn edit_trust_policy<E>(
        &self,
        account: &Account,
        role: &str,
        reading: Reading<'_>,
        edit: E,
    ) -> Result<bool>
    where
        E: AsyncFnOnce(Option<ObservedRole>) -> Result<Vec<Change>>,
    {
        // The lock lives beside the role: in its spoke account when it is not the hub's.
        let home = self.at_home_of(role)?;
        let lock_arn = home.acting_account(account).trust_lock_arn(role);
        let held_for = format!("edits the trust policy of {role}");
        with_lock(
            &home,
            &held_for,
            &trust_lock_name(role),
            &lock_arn,
            async || {
                let current = home.observe_role(role, reading).await?;
                let changes = edit(current).await?;
                for change in &changes {
                    home.apply(change).await?;
                }
                home.verify_trust_policy_written(role, &changes).await?;
                Ok(!changes.is_empty())
            },
        )
        .await
    }
}

impl Iam {
    /// The lock's promise, checked: the trust policy now is the one this holder wrote. It is not when a
    /// writer broke the lock while it was held (a lease judged by a skewed clock, a holder stalled past
    /// it); the edit is then refused as retryable, and its retry reads what the other writer left.
    async fn verify_trust_policy_written(&self, role: &str, changes: &[Change]) -> Result<()> {
        let Some(written) = changes.iter().rev().find_map(|change| match change {
            Change::UpdateTrustPolicy { trust_policy, .. } => Some(trust_policy),
            _ => None,
        }) else {
            return Ok(());
        };
        let now = self
            .observe_role(role, Reading::WITHOUT_INLINE_POLICIES)
            .await?;
        if now.is_some_and(|now| semantically_equal(&now.trust_policy, written)) {
            return Ok(());
        }
        Err(crate::Error::aws(
            "UpdateAssumeRolePolicy",
            format!(
                "the trust policy of {role} was changed by another writer while its lock was held"
            ),
            true,
        ))
    }
}

impl Iam {
    /// Runs `issue` holding the lock on issuing `user`'s secrets (its access key and MFA seed): requests
    /// for the same person at once (a double click, a retry, a reload) then decide one after the other,
    /// each on what the one before made, and one key is made, not one each.
    pub async fn with_user_secrets_lock<T>(
        &self,
        account: &Account,
        user: &str,
        issue: impl AsyncFnOnce() -> Result<T>,
    ) -> Result<T> {
        let held_for = format!("issues the access key and MFA seed of {user}");
        let name = secrets_lock_name(user);
        let lock_arn = account.lock_arn(&name);
        with_lock(self, &held_for, &name, &lock_arn, issue).await
    }
}

/// Runs `work` while holding the lock `name`, and releases it whatever the outcome.
async fn with_lock<T, F>(
    iam: &Iam,
    held_for: &str,
    name: &str,
    lock_arn: &str,
    work: F,
) -> Result<T>
where
    F: AsyncFnOnce() -> Result<T>,
{
    let lock = iam.acquire_lock(held_for, name, lock_arn).await?;
    let outcome = work().await;
    // The work is done (or failed) either way; a lock left behind only delays the next holder by the lease.
    if let Err(error) = iam.release_lock(lock).await {
        tracing::error!(held_for, lock = lock_arn, error = %error, "could not release a lock");
    }
    outcome
}
