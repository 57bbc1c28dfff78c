//! The answer shapes several use cases share: a name with its ARN, and an access key as the person sees
//! it. What they serialize to is the API's contract.

use serde::Serialize;

use crate::error::Result;
use crate::sealed::SecretRecipient;
use crate::secret::Secret;

#[derive(Debug, Clone, Serialize)]
pub struct Named {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AccessKeyView {
    pub access_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key: Option<Secret>,
    /// The secret age-encrypted to the request's `encrypt_to`, in place of `secret_access_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_access_key_age: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable_after_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usable: Option<bool>,
    /// On a replay: the key exists, but no response ever carried its secret (the request that created it
    /// died or timed out before answering). `recover_with` replaces it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret_lost: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recover_with: Option<String>,
}

impl AccessKeyView {
    /// With a recipient, the secret (if this answer carries one) is answered encrypted to it and never in
    /// plain text.
    pub fn sealed_to(mut self, recipient: Option<&SecretRecipient>) -> Result<AccessKeyView> {
        if let (Some(recipient), Some(secret)) = (recipient, &self.secret_access_key) {
            self.secret_access_key_age = Some(recipient.seal(secret)?);
            self.secret_access_key = None;
        }
        Ok(self)
    }
}
