//! What setup learned about the person's AWS identity, per profile: enough for `credential-process`,
//! `assume` and `status` to work without calling the API.

/// The profile every command uses when neither `--profile` nor `AWS_PROFILE` names another.
pub const DEFAULT_PROFILE: &str = "onboarding";

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::store;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Role {
    pub name: String,
    pub arn: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub username: String,
    pub user_arn: String,
    pub roles: Vec<Role>,
    pub mfa_serial: Option<String>,
    /// The source identity the catalog roles require of every session (the user name), when they do.
    #[serde(default)]
    pub source_identity: Option<String>,
}

fn file(profile: &str) -> Result<std::path::PathBuf> {
    store::path(&format!("profiles/{profile}.json"))
}

impl Profile {
    /// What `POST /users` answered, each value checked against IAM's own pattern for it before anything
    /// is stored or written to `~/.aws/config`: a name or ARN holding a newline (or anything IAM would
    /// never return) from a compromised or impersonated API would otherwise plant settings there, such as a
    /// `credential_process` that runs a command of its choosing.
    pub fn from_answer(answer: &Value) -> Result<Profile> {
        let text = |pointer: &str| {
            answer
                .pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| refused(format!("no {pointer} in its answer")))
        };
        let username = checked(text("/user/name")?, "user name", is_iam_name)?;
        let user_arn = checked(text("/user/arn")?, "user ARN", |arn| {
            is_iam_arn(arn, "user", Some(&username))
        })?;
        let mut roles = Vec::new();
        for role in answer
            .get("roles")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let field = |name: &str| {
                role.get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .ok_or_else(|| refused(format!("a role without {name}: {role}")))
            };
            let name = checked(field("name")?, "role name", is_iam_name)?;
            let arn = checked(field("arn")?, "role ARN", |arn| {
                is_iam_arn(arn, "role", Some(&name))
            })?;
            roles.push(Role { name, arn });
        }
        let mfa_serial = answer
            .pointer("/mfa/serial_number")
            .and_then(Value::as_str)
            .map(|serial| {
                checked(serial.to_string(), "MFA serial", |s| {
                    is_iam_arn(s, "mfa", None)
                })
            })
            .transpose()?;
        // The trust policies compare it with the caller's own user name: any other value would only make
        // every AssumeRole fail.
        let source_identity = answer
            .get("source_identity")
            .and_then(Value::as_str)
            .map(|identity| checked(identity.to_string(), "source identity", |i| i == username))
            .transpose()?;
        Ok(Profile {
            username,
            user_arn,
            roles,
            mfa_serial,
            source_identity,
        })
    }

    pub fn session_identity(&self) -> crate::sts::SessionIdentity<'_> {
        crate::sts::SessionIdentity {
            username: &self.username,
            source_identity: self.source_identity.as_deref(),
        }
    }

    pub fn load(profile: &str) -> Result<Option<Profile>> {
        store::read_json(&file(profile)?)
    }

    pub fn save(&self, profile: &str) -> Result<()> {
        store::write_json(&file(profile)?, self)
    }

    pub fn remove(profile: &str) -> Result<bool> {
        store::remove(&file(profile)?)
    }
}

fn refused(message: String) -> Error {
    Error::Protocol("the API".into(), message)
}

fn checked(value: String, what: &str, valid: impl Fn(&str) -> bool) -> Result<String> {
    if valid(&value) {
        Ok(value)
    } else {
        Err(refused(format!(
            "{what} {value:?} is not one IAM would give; nothing was written"
        )))
    }
}

/// IAM user and role names: 1-64 letters, digits and `+=,.@_-`.
fn is_iam_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

/// `arn:<partition>:iam::<12 digits>:<kind>/<path/><name>`, the path in IAM's path alphabet, and the name
/// the one given (when one is).
fn is_iam_arn(arn: &str, kind: &str, name: Option<&str>) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [arn_prefix, partition, service, region, account, resource] = parts[..] else {
        return false;
    };
    let Some(path_and_name) = resource
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return false;
    };
    let (path, last) = path_and_name
        .rsplit_once('/')
        .unwrap_or(("", path_and_name));
    arn_prefix == "arn"
        && partition.starts_with("aws")
        && partition
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-')
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-/".contains(c))
        && is_iam_name(last)
        && name.is_none_or(|name| name == last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(role_name: &str, role_arn: &str, serial: &str) -> Value {
        json!({
            "user": {"name": "dev@example.com", "arn": "arn:aws:iam::123456789012:user/onboarded/dev@example.com"},
            "roles": [{"name": role_name, "arn": role_arn}],
            "mfa": {"serial_number": serial}
        })
    }

    #[test]
    fn values_from_the_api_are_written_only_when_iam_could_have_given_them() {
        let serial = "arn:aws:iam::123456789012:mfa/onboarded/dev@example.com";
        let role = "arn:aws:iam::123456789012:role/ResourceCreatorRole";
        let fine = Profile::from_answer(&answer("ResourceCreatorRole", role, serial)).unwrap();
        assert_eq!(fine.roles[0].arn, role);
        let planted = "arn:aws:iam::123456789012:role/R\ncredential_process = sh -c evil";
        let cases = [
            answer(
                "ResourceCreatorRole\ncredential_process = sh -c evil",
                role,
                serial,
            ),
            answer("ResourceCreatorRole", planted, serial),
            answer(
                "ResourceCreatorRole",
                "arn:aws:iam::123456789012:role/Other",
                serial,
            ),
            answer(
                "ResourceCreatorRole",
                "arn:aws:s3:::bucket/role/ResourceCreatorRole",
                serial,
            ),
            answer(
                "ResourceCreatorRole",
                "arn:aws:iam::12345:role/ResourceCreatorRole",
                serial,
            ),
            answer(
                "ResourceCreatorRole",
                role,
                "arn:aws:iam::123456789012:mfa/x\n[profile default]",
            ),
            answer("ResourceCreatorRole", role, "GAHT12345678"),
        ];
        for case in cases {
            let error = Profile::from_answer(&case).unwrap_err();
            assert_eq!(error.code(), "unexpected_answer", "{case}");
        }
        let mut other_user = answer("ResourceCreatorRole", role, serial);
        other_user["user"]["arn"] = json!("arn:aws:iam::123456789012:user/someone-else");
        assert!(Profile::from_answer(&other_user).is_err());
    }

    #[test]
    fn the_source_identity_is_the_persons_own_user_name_or_nothing() {
        let serial = "arn:aws:iam::123456789012:mfa/onboarded/dev@example.com";
        let role = "arn:aws:iam::123456789012:role/ResourceCreatorRole";
        let mut required = answer("ResourceCreatorRole", role, serial);
        required["source_identity"] = json!("dev@example.com");
        let profile = Profile::from_answer(&required).unwrap();
        assert_eq!(
            profile.session_identity().source_identity,
            Some("dev@example.com")
        );
        let optional = Profile::from_answer(&answer("ResourceCreatorRole", role, serial)).unwrap();
        assert_eq!(optional.session_identity().source_identity, None);
        required["source_identity"] = json!("admin");
        assert_eq!(
            Profile::from_answer(&required).unwrap_err().code(),
            "unexpected_answer"
        );
    }
}
