//! One error type for the whole CLI. Each variant knows its exit code and what the person should do next,
//! so `main` prints the same shape whatever failed (README, "For the people being onboarded").

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not set up yet")]
    NotConfigured,
    #[error("not signed in, or the sign-in expired and could not be refreshed")]
    NotLoggedIn,
    #[error("no access key is stored for profile {0}")]
    NoKey(String),
    #[error("profile {profile} has no role {role}")]
    UnknownRole { profile: String, role: String },
    #[error("the API answered {status} {code}: {message}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("cannot reach {url}: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// Reached, but no answer in time: the service may be starting (a cold start, a first build) or busy.
    #[error("timed out after {seconds} s waiting for {method} {path}")]
    TimedOut {
        method: String,
        path: String,
        url: String,
        seconds: u64,
    },
    #[error("{0} answered something that is not what this CLI expects: {1}")]
    Protocol(String, String),
    #[error(
        "the API speaks version {api_version}, and this CLI speaks {}.x",
        crate::config::API_MAJOR
    )]
    IncompatibleApi { api_version: String },
    #[error("sign-in failed: {0}")]
    Login(String),
    #[error("a code is needed for role {role} and there is no terminal to ask for it")]
    NoTerminal { role: String },
    #[error(
        "the passphrase for this machine's encrypted files is needed and there is no terminal to ask for it"
    )]
    NoPassphrase,
    #[error("{0} cannot be opened with that passphrase")]
    WrongPassphrase(PathBuf),
    #[error("AWS refused: {0}")]
    Aws(String),
    /// A rotation whose new key STS did not accept in time: stored, but the old one was not deleted.
    #[error(
        "AWS did not accept the new access key {new_key} in time; it is stored, and the old key was not deleted"
    )]
    KeyNotVerified { new_key: String },
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid: {message}")]
    Corrupt { path: PathBuf, message: String },
    #[error("{0}")]
    Input(String),
}

/// Exit codes, documented in README "For the people being onboarded". Stable: scripts branch on them.
pub mod exit {
    pub const OTHER: u8 = 1;
    // 2 is clap's usage error.
    pub const NOT_SET_UP: u8 = 3;
    pub const API_REFUSED: u8 = 4;
    pub const UNREACHABLE: u8 = 5;
    pub const NEEDS_TERMINAL: u8 = 6;
    pub const AWS_REFUSED: u8 = 7;
    pub const TIMED_OUT: u8 = 8;
}

impl Error {
    /// A request that got no answer: `TimedOut` when it ran out of time, `Http` when it never reached the
    /// server (refused, no route, DNS, TLS). The two call for different next steps.
    pub fn request(
        method: &str,
        path: &str,
        url: &str,
        timeout: Duration,
        source: reqwest::Error,
    ) -> Error {
        if source.is_timeout() {
            Error::TimedOut {
                method: method.to_string(),
                path: path.to_string(),
                url: url.to_string(),
                seconds: timeout.as_secs(),
            }
        } else {
            Error::Http {
                url: url.to_string(),
                source,
            }
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotConfigured | Error::NotLoggedIn | Error::NoKey(_) => exit::NOT_SET_UP,
            Error::Api { status, .. } if *status >= 500 => exit::UNREACHABLE,
            Error::Api { .. } | Error::UnknownRole { .. } => exit::API_REFUSED,
            Error::Http { .. } | Error::Protocol(..) | Error::IncompatibleApi { .. } => {
                exit::UNREACHABLE
            }
            Error::TimedOut { .. } => exit::TIMED_OUT,
            Error::NoTerminal { .. } | Error::NoPassphrase => exit::NEEDS_TERMINAL,
            Error::Aws(_) | Error::KeyNotVerified { .. } => exit::AWS_REFUSED,
            Error::Login(_)
            | Error::WrongPassphrase(_)
            | Error::File { .. }
            | Error::Corrupt { .. }
            | Error::Input(_) => exit::OTHER,
        }
    }

    /// A short machine-readable name: the API's own error code where there is one.
    pub fn code(&self) -> &str {
        match self {
            Error::NotConfigured => "not_configured",
            Error::NotLoggedIn => "not_logged_in",
            Error::NoKey(_) => "no_key",
            Error::UnknownRole { .. } => "unknown_role",
            Error::Api { code, .. } => code,
            Error::Http { .. } => "unreachable",
            Error::TimedOut { .. } => "timed_out",
            Error::Protocol(..) => "unexpected_answer",
            Error::IncompatibleApi { .. } => "incompatible_api",
            Error::Login(_) => "login_failed",
            Error::NoTerminal { .. } => "needs_terminal",
            Error::NoPassphrase => "needs_passphrase",
            Error::WrongPassphrase(_) => "wrong_passphrase",
            Error::Aws(_) => "aws_refused",
            Error::KeyNotVerified { .. } => "key_not_verified",
            Error::File { .. } => "file_error",
            Error::Corrupt { .. } => "corrupt_file",
            Error::Input(_) => "invalid_input",
        }
    }

    /// What to do next, in words a person acts on.
    pub fn hint(&self) -> String {
        match self {
            Error::NotConfigured => {
                "run `onboarding setup <api-url>` with the URL your platform team gave you".into()
            }
            Error::NotLoggedIn => "run `onboarding login` (or `onboarding login --device`)".into(),
            Error::NoKey(p) => format!("run `onboarding setup` to get a key for profile {p}"),
            Error::UnknownRole { profile, .. } => {
                format!("`onboarding status --profile {profile}` lists your roles")
            }
            Error::Api { code, .. } => match code.as_str() {
                "unauthenticated" | "email_not_verified" => {
                    "sign in again with `onboarding login`; if it persists, your identity provider \
                     does not send a verified email: ask your platform team"
                        .into()
                }
                "forbidden" | "unknown_role" => {
                    "ask your platform team for the role, or leave --role out".into()
                }
                "invalid_mfa_codes" => {
                    "run `onboarding setup` again and type two consecutive codes from your app"
                        .into()
                }
                "user_not_found" => "run `onboarding setup` first".into(),
                "too_many_keys" => {
                    "the user already has two active keys: ask your platform team to remove one"
                        .into()
                }
                "access_key_active" => {
                    "the key to delete is the active one: `onboarding status` shows your keys".into()
                }
                _ => "run the command again; if it persists, give this code to your platform team"
                    .into(),
            },
            Error::Http { .. } | Error::Protocol(..) => {
                "check the network and the API URL (`onboarding setup <api-url>`)".into()
            }
            Error::TimedOut { url, .. } => format!(
                "run the command again in a minute: {url} was reached but did not answer in time, and \
                 the service may be starting or busy; if it persists, tell your platform team"
            ),
            Error::IncompatibleApi { api_version } => format!(
                "get the onboarding CLI for API {}.x from your platform team (the release that \
                 matches their stack), or `cargo install --locked --path crates/cli` from it",
                api_version.split('.').next().unwrap_or(api_version)
            ),
            Error::Login(_) => "run `onboarding login` again".into(),
            Error::NoTerminal { role } => format!(
                "run `onboarding assume --role {role}` in a terminal: it asks for the code once and \
                 starts the day's MFA session, from which every role's session is then made; or set \
                 ONBOARDING_MFA_PROCESS to a command that prints the code"
            ),
            Error::NoPassphrase => "set ONBOARDING_FILE_PASSPHRASE (from your password manager, say) for \
                 tools that run this without a terminal, or run the command in a terminal once"
                .into(),
            Error::WrongPassphrase(path) => format!(
                "type the passphrase you chose (or fix ONBOARDING_FILE_PASSPHRASE); if it is forgotten, \
                 remove {} and run `onboarding setup`: what it locked is lost, and setup makes a new key",
                path.display()
            ),
            Error::Aws(_) => "check the MFA code; a new key can need up to a minute before AWS accepts it; \
                 a role whose trust policy limits the MFA's age wants a new code: `onboarding assume --role <Role>`"
                .into(),
            Error::KeyNotVerified { .. } => {
                "wait a minute and run `onboarding rotate` again: it makes one more key and deletes \
                 the old ones, leaving one"
                    .into()
            }
            Error::File { .. } | Error::Corrupt { .. } => {
                "fix or remove the file and run the command again".into()
            }
            Error::Input(_) => "see `onboarding --help`".into(),
        }
    }
}

pub fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::File { path, source }
}

pub type Result<T> = std::result::Result<T, Error>;
