//! IAM naming: which names are valid, and the names the project derives from a catalog role.

use crate::error::{Error, Result};

/// IAM user, role, group and MFA device names: letters, digits and `+=,.@_-`.
pub fn is_valid_iam_name(name: &str, max_len: usize) -> bool {
    !name.is_empty()
        && name.len() <= max_len
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

pub fn is_valid_username(name: &str) -> bool {
    is_valid_iam_name(name, 64)
}

/// IAM's tag value limit, in characters.
const TAG_VALUE_MAX: usize = 256;

/// A value from outside (a JWT claim, an event) as IAM will store it in a tag: each character IAM refuses
/// in a tag (`[\p{L}\p{Z}\p{N}_.:/=+\-@]` only, so not the `'` or `!#$%&*?^{|}~` an email address may
/// hold) becomes `_`, and it is cut to 256 characters. An audit hint, not an identity: the access log
/// holds the token's `sub`.
pub fn tag_value(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_alphabetic()
                || c.is_numeric()
                || (c.is_whitespace() && !c.is_control())
                || "_.:/=+-@".contains(c)
            {
                c
            } else {
                '_'
            }
        })
        .take(TAG_VALUE_MAX)
        .collect()
}

/// IAM finds a user by its name ignoring case: `GetUser` of `Alice` answers with the user `alice`, and every
/// later call naming `Alice` acts on `alice`. A request must act on exactly the user it names, so the name
/// IAM answers with is compared with the one asked for, whatever the emulator in use does.
pub fn check_returned_user_name(asked: &str, returned: &str) -> Result<()> {
    if asked == returned {
        Ok(())
    } else if asked.eq_ignore_ascii_case(returned) {
        Err(Error::UsernameCaseMismatch {
            asked: asked.to_string(),
            matches: returned.to_string(),
        })
    } else {
        Err(Error::aws(
            "GetUser",
            format!("asked for user {asked:?}, IAM answered with {returned:?}"),
            false,
        ))
    }
}

/// The seed's policy name: `ResourceCreatorRole` is granted by `AssumeResourceCreatorRole`.
pub fn grant_policy_name(role: &str) -> String {
    format!("Assume{role}")
}

pub fn grant_group_name(role: &str) -> String {
    format!("onboarding-{role}")
}

/// Name of the inline permission policy a catalog role carries when its entry has `inline_policy`.
pub const ROLE_INLINE_POLICY_NAME: &str = "CatalogPermissions";

pub const MANAGED_TAG: &str = "onboarding:managed";
/// Which deployment (CloudFormation stack name) manages the entity. Two stacks in one account may share a
/// user path or catalog role names; each changes only what carries its own name here, and adopts what
/// carries none (an entity made before the tag existed).
pub const STACK_TAG: &str = "onboarding:stack";
pub const REQUESTED_BY_TAG: &str = "onboarding:requested-by";
pub const REQUESTED_AT_TAG: &str = "onboarding:requested-at";
/// The catalog roles granted to a user. The grant itself (a group membership, an inline policy) can be
/// removed by anyone; this record is what lets the drift check notice that it went missing.
pub const ROLES_TAG: &str = "onboarding:roles";
/// Where the trust-policy locks live (`iam::locks`): customer managed policies that are never attached.
pub const TRUST_LOCK_PATH: &str = "/onboarding/locks/";

pub fn trust_lock_name(role: &str) -> String {
    format!("onboarding-trust-lock-{role}")
}

/// The lock on issuing a user's secrets; user names fit IAM's policy-name alphabet and length.
pub fn secrets_lock_name(user: &str) -> String {
    format!("onboarding-secrets-lock-{user}")
}

/// The id of the last access key whose secret a response carried (`onboard` or `issue-key`).
pub const KEY_SHOWN_TAG: &str = "onboarding:key-shown";

/// Tag values cannot hold commas; role names cannot hold spaces.
pub fn roles_tag_value<'a>(roles: impl IntoIterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = roles.into_iter().collect();
    names.sort_unstable();
    names.dedup();
    names.join(" ")
}

pub fn roles_in_tag(value: &str) -> impl Iterator<Item = &str> {
    value.split_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_iam_answers_with_is_the_one_asked_for() {
        let cases = [
            ("alice", "alice", Ok(())),
            ("dev@example.com", "dev@example.com", Ok(())),
            ("Alice", "alice", Err("username_case_mismatch")),
            ("alice", "Alice", Err("username_case_mismatch")),
            (
                "Dev@Example.COM",
                "dev@example.com",
                Err("username_case_mismatch"),
            ),
            ("alice", "bob", Err("internal")),
            ("alice", "", Err("internal")),
        ];
        for (asked, returned, expected) in cases {
            assert_eq!(
                check_returned_user_name(asked, returned).map_err(|e| e.code()),
                expected,
                "{asked} -> {returned}"
            );
        }
    }

    #[test]
    fn usernames_follow_iam_rules() {
        for valid in [
            "developer",
            "alice@example.com",
            "a+b=c,d.e@f_g-h",
            "x",
            &"a".repeat(64),
        ] {
            assert!(is_valid_username(valid), "{valid}");
        }
        for invalid in [
            "",
            "has space",
            "slash/name",
            "colon:name",
            "ünïcode",
            "semi;colon",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_username(invalid), "{invalid}");
        }
    }

    #[test]
    fn the_roles_tag_round_trips() {
        let value = roles_tag_value(["ReadOnly", "ResourceCreatorRole", "ReadOnly"]);
        assert_eq!(value, "ReadOnly ResourceCreatorRole");
        assert_eq!(
            roles_in_tag(&value).collect::<Vec<_>>(),
            ["ReadOnly", "ResourceCreatorRole"]
        );
    }

    #[test]
    fn derived_names_match_the_seed() {
        assert_eq!(
            grant_policy_name("ResourceCreatorRole"),
            "AssumeResourceCreatorRole"
        );
        assert_eq!(
            grant_group_name("ResourceCreatorRole"),
            "onboarding-ResourceCreatorRole"
        );
    }

    #[test]
    fn values_from_outside_become_tag_values_iam_accepts() {
        let cases = [
            ("dev@example.com", "dev@example.com"),
            ("o'brien@example.com", "o_brien@example.com"),
            (
                "a!b#c$d%e&f*g?h^i{j|k}l~m@example.com",
                "a_b_c_d_e_f_g_h_i_j_k_l_m@example.com",
            ),
            (
                "Zoë Ünal:hr/ticket=42+1 x-y_z",
                "Zoë Ünal:hr/ticket=42+1 x-y_z",
            ),
            ("line\nbreak\ttab", "line_break_tab"),
        ];
        for (text, expected) in cases {
            assert_eq!(tag_value(text), expected, "{text:?}");
        }
        assert_eq!(tag_value(&"a".repeat(300)).chars().count(), 256);
    }
}
