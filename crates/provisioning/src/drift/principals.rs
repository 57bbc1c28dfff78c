//! What the trust rules ask of the principals a trust policy names (listed by `policy::allowed_principals`).

use super::*;

/// IAM replaces the ARN of a deleted user or role in a trust policy with its unique id (AIDA…, AROA…).
pub(super) fn is_unique_id(principal: &str) -> bool {
    let prefix_ok = ["AIDA", "AROA"]
        .iter()
        .any(|prefix| principal.starts_with(prefix));
    prefix_ok
        && principal.len() >= 16
        && principal
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// In account mode the root principal is safe only with a condition that limits it to the managed path.
pub(super) fn limited_to_managed_path(
    document: &Value,
    config: &Config,
    account: &Account,
) -> bool {
    let managed_prefix = account.user_arn(&config.user_path, "");
    statements(document)
        .into_iter()
        .filter(|statement| statement.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .all(|statement| {
            let Some(Value::Object(operators)) = statement.get("Condition") else {
                return false;
            };
            operators.iter().any(|(operator, keys)| {
                let operator = operator.to_ascii_lowercase();
                let limiting = ["arnlike", "arnequals", "stringlike", "stringequals"]
                    .contains(&operator.as_str());
                limiting
                    && keys.as_object().is_some_and(|keys| {
                        keys.iter().any(|(key, values)| {
                            let values = string_list(values);
                            key.eq_ignore_ascii_case("aws:PrincipalArn")
                                && !values.is_empty()
                                && values.iter().all(|v| v.starts_with(&managed_prefix))
                        })
                    })
            })
        })
}

pub(super) fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
