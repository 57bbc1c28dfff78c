//! Everything a person reads while a command works goes to stderr or the terminal, never stdout: stdout is
//! the command's answer (`--json`, or `credential_process`'s JSON that an SDK parses).

use crate::error::{Error, Result};

/// Reads a six-digit MFA code from the terminal (`/dev/tty`, not stdin: stdin may be a pipe).
/// `None` when there is no terminal to ask.
pub fn mfa_code(prompt: &str) -> Result<Option<String>> {
    for _ in 0..3 {
        let Ok(code) = rpassword::prompt_password(prompt) else {
            return Ok(None);
        };
        let code = code.trim().to_string();
        if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Some(code));
        }
        eprintln!("A code is six digits, as your authenticator app shows it.");
    }
    Err(Error::Input("no valid six-digit code was typed".into()))
}

/// `ONBOARDING_MFA_PROCESS`: a command that prints the current code (as aws-vault's `mfa_process`, e.g.
/// `op item get AWS --otp`), split as a shell would split it but run without one. `None` when unset.
/// When set it is used instead of the terminal: whoever set it wants no prompt.
pub fn mfa_code_from_process() -> Result<Option<String>> {
    let Ok(line) = std::env::var("ONBOARDING_MFA_PROCESS") else {
        return Ok(None);
    };
    let words = shlex::split(&line)
        .filter(|words| !words.is_empty())
        .ok_or_else(|| Error::Input(format!("ONBOARDING_MFA_PROCESS={line:?} is not a command")))?;
    let output = std::process::Command::new(&words[0])
        .args(&words[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::Input(format!("ONBOARDING_MFA_PROCESS {:?}: {e}", words[0])))?;
    let code = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if output.status.success() && code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(Some(code))
    } else {
        Err(Error::Input(format!(
            "ONBOARDING_MFA_PROCESS {:?} did not print a six-digit code (exit {:?})",
            words[0],
            output.status.code()
        )))
    }
}

/// The otpauth URI as a QR code of Unicode half blocks, for a phone to scan off the terminal.
pub fn qr(uri: &str) -> Result<String> {
    let code =
        qrcode::QrCode::new(uri.as_bytes()).map_err(|e| Error::Input(format!("QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
