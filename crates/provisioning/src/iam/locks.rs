//! A lock on one role's trust policy. In `users` mode the trust policy lists every holder, so adding or
//! removing one is a read-modify-write, and IAM has no conditional write: two writers that read the same
//! version would each drop the other's principal. IAM does refuse to create a second policy of the same
//! name, atomically, so the lock is a customer managed policy under `/onboarding/locks/`, created to take
//! the lock and deleted to release it. It is never attached and allows nothing.
//!
//! A holder that died leaves its lock behind; a lock older than `LEASE` is taken to be such a one and
//! broken. Holders keep it for a few IAM calls, far less than the lease.

use std::time::{Duration, SystemTime};

use super::errors::{aws_error, is_code, tolerate_absent};
use super::{Iam, Reading};
use crate::account::Account;
use crate::error::Result;
use crate::names::{TRUST_LOCK_PATH, trust_lock_name};
use crate::plan::Change;
use crate::state::ObservedRole;

/// Longer than any function holds a lock, even throttled, and than the HTTP functions' 29 s timeout.
const LEASE: Duration = Duration::from_secs(60);
/// Waiting writers poll with jittered, growing pauses, so twenty of them do not throttle IAM.
const FIRST_PAUSE_MS: u64 = 100;
const MAX_PAUSE_MS: u64 = 1_000;
/// The policy denies nothing and allows nothing: IAM needs a valid document, and this one is inert.
const LOCK_DOCUMENT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"TrustPolicyLock","Effect":"Deny","Action":"none:null","Resource":"*"}]}"#;

/// Proof of holding a role's trust-policy lock; give it back with `Iam::release_trust_lock`. Dropped
/// unreleased (the invocation ran out of time mid-edit), it is released in the background, so the next
/// writer need not wait out the lease.
#[derive(Debug)]
pub struct TrustLock {
    arn: String,
    iam: Option<Iam>,
}

impl Drop for TrustLock {
    fn drop(&mut self) {
        if let Some(iam) = self.iam.take() {
            let arn = std::mem::take(&mut self.arn);
            tokio::spawn(async move { iam.delete_lock(&arn).await });
        }
    }
}

impl Iam {
    /// Waits for, then takes, the lock on `role`'s trust policy. The invocation's deadline bounds the wait.
    pub async fn acquire_trust_lock(&self, role: &str, lock_arn: &str) -> Result<TrustLock> {
        let name = trust_lock_name(role);
        let mut pause_ms = FIRST_PAUSE_MS;
        loop {
            let created = self
                .iam
                .create_policy()
                .policy_name(&name)
                .path(TRUST_LOCK_PATH)
                .description(format!(
                    "Held while onboarding edits the trust policy of {role}; deleted when done"
                ))
                .policy_document(LOCK_DOCUMENT)
                .send()
                .await;
            match created {
                Ok(_) => {
                    return Ok(TrustLock {
                        arn: lock_arn.to_string(),
                        iam: Some(self.clone()),
                    });
                }
                Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {}
                Err(error) => return Err(aws_error("CreatePolicy", error)),
            }
            if self.lock_is_stale(lock_arn).await? {
                tracing::warn!(
                    role,
                    lock = lock_arn,
                    "breaking a trust-policy lock older than its lease"
                );
                self.delete_lock(lock_arn).await?;
                continue;
            }
            tokio::time::sleep(Duration::from_millis(fastrand::u64(
                pause_ms / 2..=pause_ms,
            )))
            .await;
            pause_ms = (pause_ms * 2).min(MAX_PAUSE_MS);
        }
    }

    pub async fn release_trust_lock(&self, mut lock: TrustLock) -> Result<()> {
        lock.iam = None;
        self.delete_lock(&lock.arn).await
    }

    async fn lock_is_stale(&self, lock_arn: &str) -> Result<bool> {
        let found = self.iam.get_policy().policy_arn(lock_arn).send().await;
        let created = match found {
            Ok(output) => output
                .policy()
                .and_then(|policy| policy.create_date().copied()),
            Err(error) if is_code(&error, &["NoSuchEntity"]) => return Ok(false),
            Err(error) => return Err(aws_error("GetPolicy", error)),
        };
        let age = created
            .and_then(|date| SystemTime::try_from(date).ok())
            .and_then(|date| SystemTime::now().duration_since(date).ok());
        Ok(age.is_some_and(|age| age > LEASE))
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
    /// principal; offboarding and revocation remove one; the drift repair replaces the list.
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
        with_trust_lock(&home, role, &lock_arn, async || {
            let current = home.observe_role(role, reading).await?;
            let changes = edit(current).await?;
            for change in &changes {
                home.apply(change).await?;
            }
            Ok(!changes.is_empty())
        })
        .await
    }
}

/// Runs `edit` while holding the lock on `role`'s trust policy, and releases it whatever the outcome.
async fn with_trust_lock<T, F>(iam: &Iam, role: &str, lock_arn: &str, edit: F) -> Result<T>
where
    F: AsyncFnOnce() -> Result<T>,
{
    let lock = iam.acquire_trust_lock(role, lock_arn).await?;
    let outcome = edit().await;
    // The edit is done (or failed) either way; a lock left behind only delays the next writer by the lease.
    if let Err(error) = iam.release_trust_lock(lock).await {
        tracing::error!(role, lock = lock_arn, error = %error, "could not release a trust-policy lock");
    }
    outcome
}
