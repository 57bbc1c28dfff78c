//! The `~/.aws/config` snippet an onboarding answers with.

use crate::desired::DesiredRole;

/// The `~/.aws/config` text: the user's own profile holds the long-term key; one profile per role.
///
/// Where the roles require a source identity (the caller's user name), a `role_arn` profile cannot assume
/// them: no AWS config file can set one (botocore #2486). Each role profile then asks the onboarding CLI,
/// and the plain `aws sts assume-role` line is given for people without it. Otherwise each is a plain
/// `role_arn` profile, so `aws --profile <user>-<Role> ...` prompts for a code.
pub fn aws_cli_config(
    username: &str,
    roles: &[DesiredRole],
    mfa_serial: Option<&str>,
    source_identity: Option<&str>,
) -> String {
    let mut text = format!(
        "# Store the access key with: aws configure --profile {username}\n[profile {username}]\n"
    );
    for role in roles {
        let profile = format!("{username}-{}", role.name);
        match source_identity {
            Some(identity) => {
                text.push_str(&format!(
                    "\n# {} requires the source identity {identity}. `onboarding setup --profile {username}` writes this profile;\n\
                     # without the onboarding CLI: aws sts assume-role --profile {username} --role-arn {} --role-session-name {identity} --source-identity {identity}",
                    role.name, role.arn
                ));
                if let Some(serial) = mfa_serial {
                    text.push_str(&format!(" --serial-number {serial} --token-code <code>"));
                }
                text.push_str(&format!(
                    "\n[profile {profile}]\ncredential_process = onboarding credential-process --profile {username} --role {}\n",
                    role.name
                ));
            }
            None => {
                text.push_str(&format!(
                    "\n[profile {profile}]\nrole_arn = {}\nsource_profile = {username}\n",
                    role.arn
                ));
                if let Some(serial) = mfa_serial {
                    text.push_str(&format!("mfa_serial = {serial}\n"));
                }
            }
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

    fn role() -> DesiredRole {
        let config = Config::from_lookup(|_| None).unwrap();
        let account = Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        };
        desired_role(&config.catalog[0], &config, &account, &[])
    }

    const SERIAL: &str = "arn:aws:iam::123456789012:mfa/onboarded/developer";

    #[test]
    fn without_a_source_identity_each_role_is_a_plain_mfa_profile() {
        let text = aws_cli_config("developer", &[role()], Some(SERIAL), None);
        assert_eq!(
            text,
            "# Store the access key with: aws configure --profile developer\n[profile developer]\n\n\
             [profile developer-ResourceCreatorRole]\nrole_arn = arn:aws:iam::123456789012:role/ResourceCreatorRole\n\
             source_profile = developer\nmfa_serial = arn:aws:iam::123456789012:mfa/onboarded/developer\n"
        );
    }

    #[test]
    fn with_a_source_identity_each_role_goes_through_the_cli_and_the_manual_line_sets_it() {
        let text = aws_cli_config("developer", &[role()], Some(SERIAL), Some("developer"));
        assert!(
            text.contains(
                "[profile developer-ResourceCreatorRole]\ncredential_process = onboarding credential-process --profile developer --role ResourceCreatorRole\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "# without the onboarding CLI: aws sts assume-role --profile developer --role-arn arn:aws:iam::123456789012:role/ResourceCreatorRole \
                 --role-session-name developer --source-identity developer --serial-number arn:aws:iam::123456789012:mfa/onboarded/developer --token-code <code>\n"
            ),
            "{text}"
        );
        assert!(!text.contains("role_arn ="), "{text}");
    }
}
