//! Access keys: listing, last use, creation without a lost secret, deactivation and deletion, and the
//! wait until STS accepts a new key.

use std::time::{Duration, SystemTime};

use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;
use aws_sdk_iam::types::StatusType;
use aws_smithy_types::date_time::Format;

use super::errors::{aws_error, is_code, is_throttling, outcome_unknown, tolerate_absent};
use super::{Iam, NewAccessKey, Secret};
use crate::error::{Error, Result};
use crate::state::{AccessKey, KeyLastUsed};

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

    /// Deactivates the user's active key created at `created`: the credential report names keys by
    /// position and creation time, not by id.
    pub async fn deactivate_access_key_created_at(
        &self,
        user: &str,
        created: SystemTime,
    ) -> Result<()> {
        let keys = self
            .iam
            .list_access_keys()
            .user_name(user)
            .send()
            .await
            .map_err(|e| aws_error("ListAccessKeys", e))?;
        let created_second = aws_smithy_types::DateTime::from(created).secs();
        for key in keys.access_key_metadata() {
            let same_key = key
                .create_date()
                .is_some_and(|date| date.secs() == created_second);
            if same_key && key.status() == Some(&StatusType::Active) {
                self.deactivate_access_key(user, key.access_key_id().unwrap_or_default())
                    .await?;
            }
        }
        Ok(())
    }

    /// Waits until a new access key is accepted by STS, asking as that key. IAM takes 10–15 s to
    /// propagate a key; callers who cannot wait get a hint instead.
    pub async fn wait_until_key_usable(
        &self,
        key: &NewAccessKey,
        timeout: Duration,
    ) -> Result<bool> {
        let credentials = Credentials::new(
            &key.id,
            key.secret.expose(),
            None,
            None,
            "onboarding-new-key",
        );
        let config = aws_sdk_sts::config::Builder::from(&self.sdk_config)
            .credentials_provider(credentials)
            .build();
        let as_new_key = aws_sdk_sts::Client::from_conf(config);
        // The key exists: running out of time must answer "not yet usable", never cut the answer off.
        let ends = crate::deadline::key_check_ends(tokio::time::Instant::now(), timeout);
        loop {
            let checked = tokio::time::timeout_at(ends, as_new_key.get_caller_identity().send());
            match checked.await {
                Err(_) => return Ok(false),
                Ok(Ok(_)) => return Ok(true),
                Ok(Err(error))
                    if is_code(&error, &["InvalidClientTokenId", "SignatureDoesNotMatch"]) => {}
                Ok(Err(error)) => return Err(aws_error("GetCallerIdentity", error)),
            }
            let next = tokio::time::Instant::now() + Duration::from_secs(2);
            if next >= ends {
                return Ok(false);
            }
            tokio::time::sleep_until(next).await;
        }
    }
}
