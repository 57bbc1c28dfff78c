//! `ROLE_CATALOG_PARAMETER`: a catalog too large for a CloudFormation parameter and Lambda's 4 KB of
//! environment (a few roles with inline policies) is kept in an SSM parameter the platform team writes, and
//! each function reads it once, at init. Its checks are then `ROLE_CATALOG`'s (`config::parse_catalog`).

use aws_config::SdkConfig;

use crate::error::{Error, Result};
use crate::sdk_error::aws_error;

/// The parameter's value: a String (a catalog is no secret), or a SecureString, decrypted.
pub async fn read(sdk_config: &SdkConfig, name: &str) -> Result<String> {
    let answer = aws_sdk_ssm::Client::new(sdk_config)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|error| aws_error("ssm:GetParameter", error))?;
    answer
        .parameter
        .and_then(|parameter| parameter.value)
        .ok_or_else(|| Error::aws("ssm:GetParameter", format!("{name} has no value"), false))
}
