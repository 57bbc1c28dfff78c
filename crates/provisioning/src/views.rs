//! The answer shapes several use cases share: a name with its ARN, and an access key as the person sees
//! it. What they serialize to is the API's contract.

use serde::Serialize;

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
