//! STS with the person's own key: is the new key usable yet, the day's MFA session, and role sessions
//! made from it. One code a work session: `GetSessionToken` with the code makes the MFA session (cached,
//! 0600, for `MFA_SESSION_SECONDS` or `ONBOARDING_MFA_SESSION_SECONDS`), and every `AssumeRole` into any
//! granted role is signed with it, so the trust policy sees `aws:MultiFactorAuthPresent` without a new
//! code. Role sessions are cached until shortly before they expire (aws-vault #409, granted #405: SDKs
//! cannot prompt, so a prompt per call breaks them).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_credential_types::Credentials;
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::secrets::AccessKey;
use crate::store;
use crate::vault;

/// GetSessionToken's default for IAM users (12 hours): a working day on one code.
pub const MFA_SESSION_SECONDS: i32 = 43_200;

/// What `credential_process` prints (AWS CLI and SDKs: "Sourcing credentials with an external process").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessCredentials {
    pub version: u8,
    pub access_key_id: String,
    pub secret_access_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// RFC 3339; absent for the long-term key, which does not expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
}

impl ProcessCredentials {
    pub fn long_term(key: &AccessKey) -> ProcessCredentials {
        ProcessCredentials {
            version: 1,
            access_key_id: key.access_key_id.clone(),
            secret_access_key: key.secret_access_key.clone(),
            session_token: None,
            expiration: None,
        }
    }
}

/// A cached role session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub credentials: ProcessCredentials,
    pub assumed_role_arn: String,
}

/// A session is reused while it has this many seconds left: an SDK call started with it must not fail.
const MIN_LEFT_SECS: i64 = 300;

/// Sessions live in the cache directory, encrypted (crate::vault): made again from the day's MFA session
/// (or one code) when lost.
fn session_file(profile: &str, role: &str) -> Result<std::path::PathBuf> {
    store::cache_path(&format!("sessions/{profile}/{role}"))
}

pub fn sessions_dir() -> Result<std::path::PathBuf> {
    store::cache_path("sessions")
}

/// Where CLIs before the vault kept sessions, in plaintext: `logout` removes it.
pub fn legacy_sessions_dir() -> Result<std::path::PathBuf> {
    store::path("sessions")
}

/// Held while a profile's sessions are looked up or made: parallel callers wait for one prompt.
pub fn lock_sessions(profile: &str) -> Result<std::fs::File> {
    store::lock(&store::cache_path(&format!("sessions/{profile}.lock"))?)
}

impl Session {
    pub fn cached(profile: &str, role: &str) -> Result<Option<Session>> {
        let session = vault::this_process()?.read::<Session>(&session_file(profile, role)?)?;
        Ok(session.filter(|session| lasts(&session.credentials)))
    }

    pub fn save(&self, profile: &str, role: &str) -> Result<()> {
        vault::this_process()?.write(&session_file(profile, role)?, self)
    }
}

/// Whether a cached session's credentials have more than [`MIN_LEFT_SECS`] left. Credentials without an
/// expiration are no session STS made, and are not used.
fn lasts(credentials: &ProcessCredentials) -> bool {
    let Some(expiration) = credentials.expiration.as_deref() else {
        return false;
    };
    let expires = DateTime::from_str(expiration, Format::DateTime).map_or(0, |d| d.secs());
    expires > now() + MIN_LEFT_SECS
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The day's MFA session: `GetSessionToken` credentials obtained with a code. Kept as
/// `sessions/<profile>.mfa-session`, beside the profile's directory of role sessions, so that
/// `logout`, which removes `sessions/`, ends it with them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaSession {
    pub credentials: ProcessCredentials,
    /// When the code was typed (Unix seconds): the session's `aws:MultiFactorAuthAge` counts from here.
    /// 0 in a cache from before it was recorded, which is then as old as can be.
    #[serde(default)]
    pub started_at: i64,
}

/// The MFA age a session is no longer used at, before the deployment's maximum: the `AssumeRole` made
/// with it must reach STS while still younger.
const MFA_AGE_MARGIN_SECS: i64 = 60;

fn mfa_session_file(profile: &str) -> Result<std::path::PathBuf> {
    store::cache_path(&format!("sessions/{profile}.mfa-session"))
}

impl MfaSession {
    /// The cached session, while it lasts and, where the deployment sets `MFA_MAX_AGE_SECONDS`
    /// (`max_age`), while its MFA is younger than that: the trust policies refuse an older one.
    pub fn cached(profile: &str, max_age: Option<u64>) -> Result<Option<MfaSession>> {
        let session = vault::this_process()?.read::<MfaSession>(&mfa_session_file(profile)?)?;
        Ok(session.filter(|session| session.usable(max_age, now())))
    }

    fn usable(&self, max_age: Option<u64>, now: i64) -> bool {
        lasts(&self.credentials)
            && max_age.is_none_or(|max_age| {
                now - self.started_at + MFA_AGE_MARGIN_SECS
                    < i64::try_from(max_age).unwrap_or(i64::MAX)
            })
    }

    pub fn save(&self, profile: &str) -> Result<()> {
        vault::this_process()?.write(&mfa_session_file(profile)?, self)
    }
}

/// How long the day's MFA session lasts: `ONBOARDING_MFA_SESSION_SECONDS`, within what STS allows an IAM
/// user (15 minutes to 36 hours), else [`MFA_SESSION_SECONDS`]; never longer than the deployment's
/// `MFA_MAX_AGE_SECONDS` (`max_age`) where that is at least STS's 15 minutes, since it is no use after.
pub fn mfa_session_seconds(max_age: Option<u64>) -> Result<i32> {
    let chosen = chosen_mfa_session_seconds()?;
    Ok(max_age
        .and_then(|max_age| i32::try_from(max_age).ok())
        .map_or(chosen, |max_age| chosen.min(max_age.max(900))))
}

fn chosen_mfa_session_seconds() -> Result<i32> {
    match std::env::var("ONBOARDING_MFA_SESSION_SECONDS") {
        Err(_) => Ok(MFA_SESSION_SECONDS),
        Ok(text) => text
            .trim()
            .parse::<i32>()
            .ok()
            .filter(|seconds| (900..=129_600).contains(seconds))
            .ok_or_else(|| {
                Error::Input(format!(
                    "ONBOARDING_MFA_SESSION_SECONDS={text:?}: give seconds from 900 to 129600"
                ))
            }),
    }
}

fn key_credentials(key: &AccessKey) -> Credentials {
    Credentials::new(
        key.access_key_id.clone(),
        key.secret_access_key.clone(),
        None,
        None,
        "onboarding",
    )
}

fn session_credentials(session: &ProcessCredentials) -> Credentials {
    Credentials::new(
        session.access_key_id.clone(),
        session.secret_access_key.clone(),
        session.session_token.clone(),
        None,
        "onboarding-mfa-session",
    )
}

async fn sdk_config(credentials: Credentials) -> Result<aws_config::SdkConfig> {
    // STS answers in every region; a person without one configured still gets a working call.
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials);
    if let Some((path, pem)) = crate::commands::ca_bundle_pem(|name| std::env::var_os(name))? {
        loader = loader.http_client(trusting(&path, pem)?);
    }
    Ok(loader.load().await)
}

/// The SDK's own HTTPS client (rustls, as every other call the CLI makes), trusting the system's roots and
/// the bundle `AWS_CA_BUNDLE` or `SSL_CERT_FILE` names: STS behind a TLS-inspecting proxy, as the AWS CLI
/// reaches it.
fn trusting(
    path: &std::path::Path,
    pem: Vec<u8>,
) -> Result<aws_smithy_runtime_api::client::http::SharedHttpClient> {
    use aws_smithy_http_client::tls;
    let trust = tls::TrustStore::empty()
        .with_native_roots(true)
        .with_pem_certificate(pem);
    let context = tls::TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| Error::Corrupt {
            path: path.to_path_buf(),
            message: format!("not a PEM certificate bundle: {e}"),
        })?;
    Ok(aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(context)
        .build_https())
}

fn aws_err<E: std::error::Error + 'static>(e: aws_sdk_sts::error::SdkError<E>) -> Error {
    use aws_sdk_sts::error::DisplayErrorContext;
    Error::Aws(DisplayErrorContext(e).to_string())
}

/// GetCallerIdentity with the key: `Ok` once STS accepts it.
pub async fn caller_arn(key: &AccessKey) -> Result<String> {
    let client = aws_sdk_sts::Client::new(&sdk_config(key_credentials(key)).await?);
    let identity = client.get_caller_identity().send().await.map_err(aws_err)?;
    Ok(identity.arn().unwrap_or_default().to_string())
}

/// Who a role session is: its name and source identity, both the person's user name, so that CloudTrail
/// names them in every call the session makes. The source identity is set only where the trust policies
/// require it (they must then also allow `sts:SetSourceIdentity`, which they do not otherwise).
pub struct SessionIdentity<'a> {
    pub username: &'a str,
    pub source_identity: Option<&'a str>,
}

impl SessionIdentity<'_> {
    /// IAM's session names are 2-64 characters of the user-name alphabet: a user name fits, except a
    /// one-letter one.
    fn session_name(&self) -> String {
        if self.username.len() < 2 {
            format!("{}-session", self.username)
        } else {
            self.username.to_string()
        }
    }
}

/// `GetSessionToken` with the person's key and a code from their device: the day's MFA session.
pub async fn mfa_session(
    key: &AccessKey,
    mfa_serial: &str,
    code: &str,
    seconds: i32,
) -> Result<MfaSession> {
    let client = aws_sdk_sts::Client::new(&sdk_config(key_credentials(key)).await?);
    let answer = client
        .get_session_token()
        .serial_number(mfa_serial)
        .token_code(code)
        .duration_seconds(seconds)
        .send()
        .await
        .map_err(aws_err)?;
    let credentials = answer
        .credentials()
        .ok_or_else(|| Error::Aws("GetSessionToken answered without credentials".into()))?;
    Ok(MfaSession {
        credentials: process_credentials(credentials)?,
        started_at: now(),
    })
}

/// `AssumeRole` signed with the day's MFA session, which carries the MFA into the request: no code.
/// STS treats a role assumed with `GetSessionToken` credentials as role chaining and caps the role session
/// at one hour (`ValidationError: … 1 hour session limit for roles assumed by role chaining`), so no
/// `DurationSeconds` is asked for; the next one is made from the same MFA session when it runs out.
pub async fn assume_role(
    mfa: &MfaSession,
    role_arn: &str,
    identity: &SessionIdentity<'_>,
) -> Result<Session> {
    let client =
        aws_sdk_sts::Client::new(&sdk_config(session_credentials(&mfa.credentials)).await?);
    let answer = client
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(identity.session_name())
        .set_source_identity(identity.source_identity.map(str::to_string))
        .send()
        .await
        .map_err(aws_err)?;
    let credentials = answer
        .credentials()
        .ok_or_else(|| Error::Aws("AssumeRole answered without credentials".into()))?;
    Ok(Session {
        credentials: process_credentials(credentials)?,
        assumed_role_arn: answer
            .assumed_role_user()
            .map(|u| u.arn().to_string())
            .unwrap_or_default(),
    })
}

fn process_credentials(
    credentials: &aws_sdk_sts::types::Credentials,
) -> Result<ProcessCredentials> {
    let expiration = credentials
        .expiration()
        .fmt(Format::DateTime)
        .map_err(|e| Error::Aws(e.to_string()))?;
    Ok(ProcessCredentials {
        version: 1,
        access_key_id: credentials.access_key_id().to_string(),
        secret_access_key: credentials.secret_access_key().to_string(),
        session_token: Some(credentials.session_token().to_string()),
        expiration: Some(expiration),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_expiration(expiration: Option<&str>) -> ProcessCredentials {
        ProcessCredentials {
            version: 1,
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: Some("token".into()),
            expiration: expiration.map(str::to_string),
        }
    }

    #[test]
    fn a_cached_session_is_used_only_while_it_has_minutes_left() {
        assert!(lasts(&with_expiration(Some("2099-01-01T00:00:00Z"))));
        assert!(!lasts(&with_expiration(Some("2020-01-01T00:00:00Z"))));
        let soon = DateTime::from_secs(now() + MIN_LEFT_SECS - 10)
            .fmt(Format::DateTime)
            .unwrap();
        assert!(!lasts(&with_expiration(Some(&soon))), "too close to expiry");
        assert!(!lasts(&with_expiration(None)), "no expiration, no session");
        assert!(!lasts(&with_expiration(Some("tomorrow"))));
    }

    #[test]
    fn the_days_session_is_not_used_once_its_mfa_is_as_old_as_the_deployment_allows() {
        let session = MfaSession {
            credentials: with_expiration(Some("2099-01-01T00:00:00Z")),
            started_at: 1_000_000,
        };
        assert!(session.usable(None, 1_000_000 + 40_000), "no maximum age");
        assert!(session.usable(Some(3600), 1_000_000 + 3000));
        assert!(
            !session.usable(Some(3600), 1_000_000 + 3600 - 30),
            "inside the margin"
        );
        assert!(!session.usable(Some(3600), 1_000_000 + 7200));
        let unrecorded = MfaSession {
            started_at: 0,
            ..session
        };
        assert!(
            !unrecorded.usable(Some(3600), 1_000_000),
            "an unrecorded age is old"
        );
    }
}
