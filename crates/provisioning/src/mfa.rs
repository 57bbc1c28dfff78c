//! Virtual (TOTP) MFA: the only kind STS `AssumeRole` accepts. Issuing, re-issuing and enabling a device,
//! and turning IAM's seed into what an authenticator app scans.

use serde::Serialize;
use totp_rs::{Builder, Secret as TotpSecret};

use crate::account::Account;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::iam::{Iam, NewMfaDevice};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MfaStatus {
    None,
    Pending,
    Enabled,
}

/// The `mfa` object of the HTTP responses. The seed-bearing fields are present only in the response
/// that created the device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaView {
    pub serial_number: Option<String>,
    pub status: MfaStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otpauth_uri: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_code_png_base64: Option<Secret>,
}

impl MfaView {
    pub fn enabled(serial_number: String) -> Self {
        MfaView {
            serial_number: Some(serial_number),
            status: MfaStatus::Enabled,
            otpauth_uri: None,
            qr_code_png_base64: None,
        }
    }

    pub fn pending(serial_number: String) -> Self {
        MfaView {
            serial_number: Some(serial_number),
            status: MfaStatus::Pending,
            otpauth_uri: None,
            qr_code_png_base64: None,
        }
    }

    pub fn none() -> Self {
        MfaView {
            serial_number: None,
            status: MfaStatus::None,
            otpauth_uri: None,
            qr_code_png_base64: None,
        }
    }

    /// A newly created device: the otpauth URI and its QR code, rendered here because IAM's own
    /// `QRCodePNG` is not available from every IAM implementation (moto returns random bytes).
    pub fn new_device(device: &NewMfaDevice, username: &str, account: &Account) -> Result<Self> {
        let internal = |error: String| Error::aws("CreateVirtualMFADevice", error, false);
        let secret = TotpSecret::try_from_base32(device.base32_seed.expose())
            .map_err(|e| internal(e.to_string()))?;
        let totp = Builder::new()
            .with_secret(secret)
            .with_account_name(username)
            .with_issuer(Some(format!("AWS {}", account.id)))
            .build()
            .map_err(|e| internal(e.to_string()))?;
        let otpauth_uri = totp.to_url().map_err(|e| internal(e.to_string()))?;
        let qr_code_png_base64 = totp.to_qr_base64().map_err(|e| internal(e.to_string()))?;
        Ok(MfaView {
            serial_number: Some(device.serial_number.clone()),
            status: MfaStatus::Pending,
            otpauth_uri: Some(Secret::new(otpauth_uri)),
            qr_code_png_base64: Some(Secret::new(qr_code_png_base64)),
        })
    }
}

/// Two codes, six digits each, as IAM's `EnableMFADevice` wants them. Anything else is refused here,
/// before IAM is asked.
pub fn validate_codes(code1: &str, code2: &str) -> Result<()> {
    let well_formed = |code: &str| code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    if well_formed(code1) && well_formed(code2) {
        Ok(())
    } else {
        Err(Error::InvalidMfaCodes)
    }
}

/// A managed user with no enabled device: the precondition of both enrolment steps.
async fn user_awaiting_mfa(iam: &Iam, config: &Config, username: &str) -> Result<()> {
    let user = iam.observe_user(username).await?;
    match user {
        Some(user) if user.is_managed(config) => {
            if user.mfa_devices.is_empty() {
                Ok(())
            } else {
                Err(Error::MfaAlreadyEnabled(username.to_string()))
            }
        }
        // Another stack's user is named as such: the person signed in to the wrong deployment.
        // Unmanaged and absent users look the same from outside: nothing is revealed, nothing touched.
        // Another stack's user is named as such: the person asked the wrong deployment.
        other => Err(other
            .and_then(|user| user.managed_by_another_stack(config))
            .unwrap_or_else(|| Error::UserNotFound(username.to_string()))),
    }
}

/// Issues the user's virtual device again (a lost QR code is recoverable while none is enabled).
pub async fn reissue(
    iam: &Iam,
    config: &Config,
    account: &Account,
    username: &str,
) -> Result<MfaView> {
    user_awaiting_mfa(iam, config, username).await?;
    let serial = account.mfa_serial(&config.user_path, username);
    iam.delete_virtual_mfa_device(&serial).await?;
    let device = iam
        .create_virtual_mfa_device(username, &config.user_path)
        .await?
        .ok_or_else(|| {
            Error::aws(
                "CreateVirtualMFADevice",
                "a device re-appeared while it was being re-issued",
                true,
            )
        })?;
    MfaView::new_device(&device, username, account)
}

/// Enables the pending device with two consecutive codes.
pub async fn enable(
    iam: &Iam,
    config: &Config,
    account: &Account,
    username: &str,
    code1: &str,
    code2: &str,
) -> Result<MfaView> {
    validate_codes(code1, code2)?;
    user_awaiting_mfa(iam, config, username).await?;
    let serial = account.mfa_serial(&config.user_path, username);
    iam.enable_mfa_device(username, &serial, code1, code2)
        .await?;
    Ok(MfaView::enabled(serial))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iam::Secret;

    #[test]
    fn code_format_is_checked_before_iam_is_asked() {
        assert!(validate_codes("123456", "654321").is_ok());
        for (a, b) in [
            ("12345", "654321"),
            ("123456", "65432a"),
            ("", ""),
            ("1234567", "123456"),
            ("12 456", "123456"),
        ] {
            assert_eq!(
                validate_codes(a, b).unwrap_err().code(),
                "invalid_mfa_codes",
                "{a} {b}"
            );
        }
    }

    #[test]
    fn a_new_device_yields_a_scannable_uri_and_png() {
        let device = NewMfaDevice {
            serial_number: "arn:aws:iam::123456789012:mfa/onboarded/dev".into(),
            base32_seed: Secret::new(
                "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
            ),
        };
        let account = Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        };
        let view = MfaView::new_device(&device, "dev@example.com", &account).unwrap();
        let uri = view.otpauth_uri.unwrap().expose().to_string();
        assert!(uri.starts_with("otpauth://totp/"), "{uri}");
        assert!(uri.contains("secret=JBSWY3DPEHPK3PXP"), "{uri}");
        assert!(uri.contains("issuer=AWS%20123456789012"), "{uri}");
        let png = view.qr_code_png_base64.unwrap().expose().to_string();
        assert!(
            png.starts_with("iVBORw0KGgo"),
            "base64 of the PNG signature"
        );
        assert_eq!(view.status, MfaStatus::Pending);
    }
}
