//! STS with the person's own key: is the new key usable yet, and AssumeRole with MFA. Role sessions are
//! cached (0600) until shortly before they expire, so a person types one code per session, not per call
//! (aws-vault #409, granted #405: SDKs cannot prompt, so a prompt per call breaks them).

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

fn session_file(profile: &str, role: &str) -> Result<std::path::PathBuf> {
    store::path(&format!("sessions/{profile}/{role}.json"))
}

pub fn sessions_dir() -> Result<std::path::PathBuf> {
    store::path("sessions")
}

impl Session {
    pub fn cached(profile: &str, role: &str) -> Result<Option<Session>> {
        let Some(session) = store::read_json::<Session>(&session_file(profile, role)?)? else {
            return Ok(None);
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let expires = session
            .credentials
            .expiration
            .as_deref()
            .and_then(|e| DateTime::from_str(e, Format::DateTime).ok())
            .map_or(0, |d| d.secs());
        Ok((expires > now + MIN_LEFT_SECS).then_some(session))
    }

    pub fn save(&self, profile: &str, role: &str) -> Result<()> {
        store::write_json(&session_file(profile, role)?, self)
    }
}

async fn sdk_config(key: &AccessKey) -> aws_config::SdkConfig {
    let credentials = Credentials::new(
        key.access_key_id.clone(),
        key.secret_access_key.clone(),
        None,
        None,
        "onboarding",
    );
    // STS answers in every region; a person without one configured still gets a working call.
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .credentials_provider(credentials)
        .load()
        .await
}

fn aws_err<E: std::error::Error + 'static>(e: aws_sdk_sts::error::SdkError<E>) -> Error {
    use aws_sdk_sts::error::DisplayErrorContext;
    Error::Aws(DisplayErrorContext(e).to_string())
}

/// GetCallerIdentity with the key: `Ok` once STS accepts it.
pub async fn caller_arn(key: &AccessKey) -> Result<String> {
    let client = aws_sdk_sts::Client::new(&sdk_config(key).await);
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

pub async fn assume_role(
    key: &AccessKey,
    role_arn: &str,
    mfa_serial: &str,
    code: &str,
    identity: &SessionIdentity<'_>,
) -> Result<Session> {
    let client = aws_sdk_sts::Client::new(&sdk_config(key).await);
    let answer = client
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(identity.session_name())
        .set_source_identity(identity.source_identity.map(str::to_string))
        .serial_number(mfa_serial)
        .token_code(code)
        .send()
        .await
        .map_err(aws_err)?;
    let credentials = answer
        .credentials()
        .ok_or_else(|| Error::Aws("AssumeRole answered without credentials".into()))?;
    let expiration = credentials
        .expiration()
        .fmt(Format::DateTime)
        .map_err(|e| Error::Aws(e.to_string()))?;
    Ok(Session {
        credentials: ProcessCredentials {
            version: 1,
            access_key_id: credentials.access_key_id().to_string(),
            secret_access_key: credentials.secret_access_key().to_string(),
            session_token: Some(credentials.session_token().to_string()),
            expiration: Some(expiration),
        },
        assumed_role_arn: answer
            .assumed_role_user()
            .map(|u| u.arn().to_string())
            .unwrap_or_default(),
    })
}
