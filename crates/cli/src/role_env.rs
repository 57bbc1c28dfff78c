//! A role session as environment variables: what `onboarding env` prints for a shell to evaluate, and
//! what `onboarding exec` gives the one command it runs.

use clap::ValueEnum;

use crate::error::{Error, Result};
use crate::sts::ProcessCredentials;

/// Variables that would make an SDK in the child look past the session's keys (a named profile, or a
/// credentials file whose `[default]` wins over nothing): unset wherever the session's keys are set.
pub const SHADOWING_VARIABLES: [&str; 2] = ["AWS_PROFILE", "AWS_DEFAULT_PROFILE"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// POSIX shells: `eval "$(onboarding env --role R)"`.
    Sh,
    /// fish: `onboarding env --role R --format fish | source`.
    Fish,
    /// PowerShell: `onboarding env --role R --format powershell | Invoke-Expression`.
    Powershell,
    /// The `credential_process` shape (`Version` 1, `AccessKeyId`, `SecretAccessKey`, `SessionToken`,
    /// `Expiration`).
    Json,
}

/// The variables the SDKs read for a session, in the order they are printed.
pub fn variables(credentials: &ProcessCredentials) -> Vec<(&'static str, String)> {
    let mut variables = vec![
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key.clone(),
        ),
    ];
    if let Some(token) = &credentials.session_token {
        variables.push(("AWS_SESSION_TOKEN", token.clone()));
    }
    if let Some(expiration) = &credentials.expiration {
        variables.push(("AWS_CREDENTIAL_EXPIRATION", expiration.clone()));
    }
    variables
}

/// The text `onboarding env` prints: it sets the session's variables and unsets the shadowing ones.
pub fn render(credentials: &ProcessCredentials, format: Format) -> Result<String> {
    if format == Format::Json {
        return serde_json::to_string(credentials).map_err(|e| Error::Input(e.to_string()));
    }
    let mut lines: Vec<String> = SHADOWING_VARIABLES
        .iter()
        .map(|name| match format {
            Format::Fish => format!("set -e {name}"),
            Format::Powershell => {
                format!("Remove-Item Env:{name} -ErrorAction SilentlyContinue")
            }
            _ => format!("unset {name}"),
        })
        .collect();
    for (name, value) in variables(credentials) {
        lines.push(match format {
            Format::Fish => format!("set -gx {name} {}", fish_quoted(&value)),
            Format::Powershell => format!("$Env:{name} = {}", powershell_quoted(&value)),
            _ => format!("export {name}={}", sh_quoted(&value)?),
        });
    }
    Ok(lines.join("\n"))
}

fn sh_quoted(value: &str) -> Result<String> {
    shlex::try_quote(value)
        .map(|quoted| quoted.into_owned())
        .map_err(|e| Error::Input(format!("a credential cannot be quoted for sh: {e}")))
}

/// fish's single quotes end only at an unescaped `'`; inside them `\'` and `\\` are the only escapes.
fn fish_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// PowerShell's single-quoted strings are verbatim but for `''`, which is one quote.
fn powershell_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> ProcessCredentials {
        ProcessCredentials {
            version: 1,
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "a/b+c'd\\e".into(),
            session_token: Some("tok=en".into()),
            expiration: Some("2026-12-07T20:00:00Z".into()),
        }
    }

    #[test]
    fn each_shell_gets_the_session_and_loses_the_profile_variables() {
        let sh = render(&session(), Format::Sh).unwrap();
        let evaluated = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{sh}\nprintf '%s|%s|%s|%s' \"$AWS_SECRET_ACCESS_KEY\" \"$AWS_SESSION_TOKEN\" \"${{AWS_PROFILE-unset}}\" \"$AWS_CREDENTIAL_EXPIRATION\""
            ))
            .env("AWS_PROFILE", "work")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&evaluated.stdout),
            "a/b+c'd\\e|tok=en|unset|2026-12-07T20:00:00Z"
        );
        let fish = render(&session(), Format::Fish).unwrap();
        assert!(fish.starts_with("set -e AWS_PROFILE\n"), "{fish}");
        assert!(
            fish.contains("set -gx AWS_SECRET_ACCESS_KEY 'a/b+c\\'d\\\\e'"),
            "{fish}"
        );
        let powershell = render(&session(), Format::Powershell).unwrap();
        assert!(
            powershell.contains("$Env:AWS_SECRET_ACCESS_KEY = 'a/b+c''d\\e'"),
            "{powershell}"
        );
        assert!(powershell.contains("Remove-Item Env:AWS_PROFILE"));
    }

    #[test]
    fn json_is_the_credential_process_shape() {
        let json: serde_json::Value =
            serde_json::from_str(&render(&session(), Format::Json).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"Version": 1, "AccessKeyId": "ASIAEXAMPLE",
                "SecretAccessKey": "a/b+c'd\\e", "SessionToken": "tok=en",
                "Expiration": "2026-12-07T20:00:00Z"})
        );
    }
}
