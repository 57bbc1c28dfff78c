//! The `~/.aws/config` snippet an onboarding answers with.

use crate::desired::DesiredRole;

/// The `~/.aws/config` text: the user's own profile holds the long-term key; one profile per role assumes
/// it with MFA, so `aws --profile <user>-<Role> ...` prompts for a code.
pub fn aws_cli_config(username: &str, roles: &[DesiredRole], mfa_serial: Option<&str>) -> String {
    let mut text = format!(
        "# Store the access key with: aws configure --profile {username}\n[profile {username}]\n"
    );
    for role in roles {
        text.push_str(&format!(
            "\n[profile {username}-{}]\nrole_arn = {}\nsource_profile = {username}\n",
            role.name, role.arn
        ));
        if let Some(serial) = mfa_serial {
            text.push_str(&format!("mfa_serial = {serial}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::config::Config;
    use crate::desired::desired_role;

    #[test]
    fn cli_config_has_a_profile_per_role_with_mfa() {
        let config = Config::from_lookup(|_| None).unwrap();
        let account = Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        };
        let role = desired_role(&config.catalog[0], &config, &account, &[]);
        let text = aws_cli_config(
            "developer",
            &[role],
            Some("arn:aws:iam::123456789012:mfa/onboarded/developer"),
        );
        assert_eq!(
            text,
            "# Store the access key with: aws configure --profile developer\n[profile developer]\n\n\
             [profile developer-ResourceCreatorRole]\nrole_arn = arn:aws:iam::123456789012:role/ResourceCreatorRole\n\
             source_profile = developer\nmfa_serial = arn:aws:iam::123456789012:mfa/onboarded/developer\n"
        );
    }
}
