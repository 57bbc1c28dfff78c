//! Virtual MFA devices: issue, enable, look up, deactivate and delete.

use aws_sdk_iam::types::AssignmentStatusType;

use super::errors::{aws_error, is_code, tolerate_absent};
use super::{Iam, NewMfaDevice, Secret};
use crate::error::{Error, Result};

impl Iam {
    /// Creates the device named after the user; `None` when one already waits to be enabled.
    pub async fn create_virtual_mfa_device(
        &self,
        user: &str,
        path: &str,
    ) -> Result<Option<NewMfaDevice>> {
        let created = self
            .iam
            .create_virtual_mfa_device()
            .virtual_mfa_device_name(user)
            .path(path)
            .send()
            .await;
        let output = match created {
            Ok(output) => output,
            Err(error) if is_code(&error, &["EntityAlreadyExists"]) => return Ok(None),
            Err(error) => return Err(aws_error("CreateVirtualMFADevice", error)),
        };
        let device = output.virtual_mfa_device().ok_or_else(|| {
            Error::aws(
                "CreateVirtualMFADevice",
                "the response holds no device",
                false,
            )
        })?;
        let seed = device
            .base32_string_seed()
            .and_then(|blob| std::str::from_utf8(blob.as_ref()).ok())
            .ok_or_else(|| {
                Error::aws(
                    "CreateVirtualMFADevice",
                    "the response holds no base32 seed",
                    false,
                )
            })?;
        Ok(Some(NewMfaDevice {
            serial_number: device.serial_number().to_string(),
            base32_seed: Secret::new(seed),
        }))
    }

    /// Removes a virtual device that was never enabled, so that a lost QR code can be issued again.
    pub async fn delete_virtual_mfa_device(&self, serial_number: &str) -> Result<()> {
        match self
            .iam
            .delete_virtual_mfa_device()
            .serial_number(serial_number)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if is_code(&error, &["NoSuchEntity", "NotFoundException"]) => Ok(()),
            Err(error) => Err(aws_error("DeleteVirtualMFADevice", error)),
        }
    }

    pub async fn enable_mfa_device(
        &self,
        user: &str,
        serial_number: &str,
        code1: &str,
        code2: &str,
    ) -> Result<()> {
        let enabled = self
            .iam
            .enable_mfa_device()
            .user_name(user)
            .serial_number(serial_number)
            .authentication_code1(code1)
            .authentication_code2(code2)
            .send()
            .await;
        match enabled {
            Ok(_) => Ok(()),
            Err(error) if is_code(&error, &["InvalidAuthenticationCode"]) => {
                Err(Error::InvalidMfaCodes)
            }
            Err(error) if is_code(&error, &["NoSuchEntity"]) => Err(Error::InvalidRequest(
                "no MFA device is waiting to be enabled: POST an empty body first to issue one"
                    .into(),
            )),
            Err(error) if is_code(&error, &["EntityAlreadyExists"]) => {
                Err(Error::MfaAlreadyEnabled(user.to_string()))
            }
            Err(error) => Err(aws_error("EnableMFADevice", error)),
        }
    }

    /// Whether the virtual device `serial_number` exists and is enabled for nobody. IAM has no
    /// per-device read, so the unassigned devices of the account are listed.
    pub async fn virtual_mfa_device_unassigned(&self, serial_number: &str) -> Result<bool> {
        let devices = self
            .iam
            .list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Unassigned)
            .into_paginator()
            .items()
            .send()
            .collect::<std::result::Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("ListVirtualMFADevices", e))?;
        Ok(devices
            .iter()
            .any(|device| device.serial_number() == serial_number))
    }

    pub async fn deactivate_mfa_device(&self, user: &str, serial_number: &str) -> Result<()> {
        let deactivated = self
            .iam
            .deactivate_mfa_device()
            .user_name(user)
            .serial_number(serial_number)
            .send()
            .await;
        tolerate_absent("DeactivateMFADevice", deactivated)
    }
}
