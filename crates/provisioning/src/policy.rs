//! Policy documents: the ones the project writes, and the semantic comparison of what IAM returns.
//!
//! IAM hands documents back URL-encoded and in whatever shape they were written: a single statement or a
//! list, `"Action": "x"` or `["x"]`, condition keys in any case. Two documents are equal here when IAM
//! would treat them the same, not when their text matches.

use serde_json::{Map, Value, json};

use crate::account::Account;
use crate::config::{Config, TrustMode};

pub const VERSION: &str = "2012-10-17";

#[derive(Debug, thiserror::Error)]
#[error("policy document is not valid JSON: {0}")]
pub struct PolicyParseError(String);

/// Parses a document as IAM returns it: URL-encoded (GetRole, Get*Policy, GetAccountAuthorizationDetails),
/// or already plain JSON (moto and some SDK paths decode it).
pub fn decode_document(raw: &str) -> Result<Value, PolicyParseError> {
    let trimmed = raw.trim_start();
    let text = if trimmed.starts_with('{') {
        std::borrow::Cow::Borrowed(trimmed)
    } else {
        urlencoding::decode(trimmed).map_err(|error| PolicyParseError(error.to_string()))?
    };
    serde_json::from_str(&text).map_err(|error| PolicyParseError(error.to_string()))
}

/// The seed's `Assume<Role>` document: `sts:AssumeRole` on that one role, nothing else. Where the role
/// requires a source identity, also `sts:SetSourceIdentity` on it: IAM asks the caller's own policies for
/// that permission too, not only the role's trust policy.
pub fn assume_role_grant(config: &Config, role_arn: &str) -> Value {
    let action = if config.require_source_identity {
        json!(["sts:AssumeRole", "sts:SetSourceIdentity"])
    } else {
        json!("sts:AssumeRole")
    };
    json!({
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Action": action, "Resource": role_arn}]
    })
}

/// What a role session's source identity must be: the IAM user name of whoever assumed the role. IAM
/// resolves the variable from the caller's own identity, so nobody can claim someone else's name.
pub const SOURCE_IDENTITY_KEY: &str = "sts:SourceIdentity";
pub const SOURCE_IDENTITY_VALUE: &str = "${aws:username}";

/// The trust policy a catalog role must carry. In `users` mode `user_arns` are its principals; in `account`
/// mode they are ignored and the account root, limited to the managed path, is trusted instead.
pub fn trust_policy(config: &Config, account: &Account, user_arns: &[String]) -> Value {
    let mut condition = Map::new();
    condition.insert("Bool".into(), json!({"aws:MultiFactorAuthPresent": "true"}));
    let mut actions = vec!["sts:AssumeRole"];
    if config.require_source_identity {
        // The session carries the person's user name, which they cannot choose: CloudTrail names them in
        // every call the session makes, and a Deny on `aws:SourceIdentity` can end their sessions.
        condition.insert(
            "StringEquals".into(),
            json!({SOURCE_IDENTITY_KEY: SOURCE_IDENTITY_VALUE}),
        );
        actions.push("sts:SetSourceIdentity");
    }
    if let Some(max_age) = config.mfa_max_age_seconds {
        condition.insert(
            "NumericLessThan".into(),
            json!({"aws:MultiFactorAuthAge": max_age.to_string()}),
        );
    }
    let principal = match config.trust_mode {
        TrustMode::Account => {
            condition.insert(
                "ArnLike".into(),
                json!({"aws:PrincipalArn": account.users_under_path_arn(&config.user_path)}),
            );
            json!({"AWS": account.root_arn()})
        }
        TrustMode::Users => {
            let mut arns = user_arns.to_vec();
            arns.sort();
            arns.dedup();
            match arns.as_slice() {
                [single] => json!({"AWS": single}),
                _ => json!({"AWS": arns}),
            }
        }
    };
    json!({
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": principal,
            "Action": match actions.as_slice() {
                [single] => json!(single),
                _ => json!(actions),
            },
            "Condition": Value::Object(condition)
        }]
    })
}

/// The AWS principals (ARNs, account ids or bare unique ids) that the Allow statements of a trust policy
/// name, in the document's order.
pub fn trusted_aws_principals(document: &Value) -> Vec<String> {
    allowed_principal_entries(document)
        .into_iter()
        .filter(|(kind, _)| *kind == Some("AWS"))
        .map(|(_, id)| id)
        .collect()
}

/// Every principal an Allow statement names, as text, sorted and once each: ARNs, account ids, unique
/// ids, `*`, and `Service:`/`Federated:` entries.
pub fn allowed_principals(document: &Value) -> Vec<String> {
    let mut principals: Vec<String> = allowed_principal_entries(document)
        .into_iter()
        .map(|(kind, id)| match kind {
            None | Some("AWS") => id,
            Some(kind) => format!("{kind}:{id}"),
        })
        .collect();
    principals.sort();
    principals.dedup();
    principals
}

/// Who the Allow statements name, statement by statement: each principal with its kind (`AWS`,
/// `Service`, `Federated`…), or no kind for a bare `"Principal": "*"`.
fn allowed_principal_entries(document: &Value) -> Vec<(Option<&str>, String)> {
    let mut entries = Vec::new();
    for statement in statements(document) {
        if statement.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        match statement.get("Principal") {
            Some(Value::String(bare)) => entries.push((None, bare.clone())),
            Some(Value::Object(kinds)) => {
                for (kind, ids) in kinds {
                    let kind = Some(kind.as_str());
                    entries.extend(string_list(ids).into_iter().map(|id| (kind, id)));
                }
            }
            _ => {}
        }
    }
    entries
}

/// Size as IAM counts it against `AssumeRolePolicySizeQuota`: the document without whitespace.
pub fn policy_size(document: &Value) -> usize {
    document.to_string().len()
}

pub fn statements(document: &Value) -> Vec<&Value> {
    match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(single @ Value::Object(_)) => vec![single],
        _ => Vec::new(),
    }
}

/// A value that IAM accepts as a string or a list of strings; booleans and numbers as their text.
pub fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(items) => items.iter().flat_map(string_list).collect(),
        Value::String(text) => vec![text.clone()],
        Value::Bool(flag) => vec![flag.to_string()],
        Value::Number(number) => vec![number.to_string()],
        _ => Vec::new(),
    }
}

pub fn semantically_equal(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// One spelling per meaning: statements as a sorted list without `Sid`, every string-or-list field a sorted
/// list, action names and condition keys lower-cased (IAM matches both case-insensitively).
pub fn canonical(document: &Value) -> Value {
    let mut canonical_statements: Vec<Value> = statements(document)
        .into_iter()
        .map(|statement| keys_sorted(canonical_statement(statement)))
        .collect();
    canonical_statements.sort_by_key(Value::to_string);
    canonical_statements.dedup();
    json!({
        "Version": document.get("Version").cloned().unwrap_or(Value::Null),
        "Statement": canonical_statements
    })
}

/// Objects keep the order their keys were written in, and statements are sorted and deduplicated by
/// their text: without one key order, `{"Effect", "Action"}` and `{"Action", "Effect"}` would differ.
fn keys_sorted(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            let mut fields: Vec<(String, Value)> = fields
                .into_iter()
                .map(|(key, value)| (key, keys_sorted(value)))
                .collect();
            fields.sort_by(|(a, _), (b, _)| a.cmp(b));
            Value::Object(fields.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(keys_sorted).collect()),
        other => other,
    }
}

fn canonical_statement(statement: &Value) -> Value {
    let mut out = Map::new();
    let Some(fields) = statement.as_object() else {
        return statement.clone();
    };
    for (field, value) in fields {
        let normalized = match field.as_str() {
            "Sid" => continue,
            "Action" | "NotAction" => sorted(
                string_list(value)
                    .into_iter()
                    .map(|a| a.to_ascii_lowercase()),
            ),
            "Resource" | "NotResource" => sorted(string_list(value)),
            "Principal" | "NotPrincipal" => canonical_principal(value),
            "Condition" => canonical_condition(value),
            _ => value.clone(),
        };
        out.insert(field.clone(), normalized);
    }
    Value::Object(out)
}

fn canonical_principal(value: &Value) -> Value {
    match value {
        Value::Object(kinds) => Value::Object(
            kinds
                .iter()
                .map(|(kind, ids)| (kind.clone(), sorted(string_list(ids))))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn canonical_condition(value: &Value) -> Value {
    let Some(operators) = value.as_object() else {
        return value.clone();
    };
    let mut out = Map::new();
    for (operator, keys) in operators {
        let mut canonical_keys = Map::new();
        if let Some(keys) = keys.as_object() {
            for (key, values) in keys {
                canonical_keys.insert(key.to_ascii_lowercase(), sorted(string_list(values)));
            }
        }
        out.insert(operator.clone(), Value::Object(canonical_keys));
    }
    Value::Object(out)
}

fn sorted(items: impl IntoIterator<Item = String>) -> Value {
    let mut items: Vec<String> = items.into_iter().collect();
    items.sort();
    items.dedup();
    Value::Array(items.into_iter().map(Value::String).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn account() -> Account {
        Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        }
    }

    fn config(trust: &str, max_age: Option<&str>) -> Config {
        let trust = trust.to_string();
        let max_age = max_age.map(str::to_string);
        Config::from_lookup(move |name| match name {
            "TRUST_MODE" => Some(trust.clone()),
            "MFA_MAX_AGE_SECONDS" => max_age.clone(),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn grant_is_the_seed_document() {
        let seed = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Action": "sts:AssumeRole",
                "Resource": "arn:aws:iam::123456789012:role/ResourceCreatorRole"
            }]
        });
        let without_source_identity = Config {
            require_source_identity: false,
            ..config("account", None)
        };
        let role = account().role_arn("ResourceCreatorRole");
        assert_eq!(assume_role_grant(&without_source_identity, &role), seed);
        assert_eq!(
            assume_role_grant(&config("account", None), &role)["Statement"][0]["Action"],
            json!(["sts:AssumeRole", "sts:SetSourceIdentity"])
        );
    }

    #[test]
    fn users_mode_trust_is_the_seed_document() {
        let seed = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:user/developer"},
                "Action": "sts:AssumeRole",
                "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
            }]
        });
        let without_source_identity = Config {
            require_source_identity: false,
            ..config("users", None)
        };
        let developer = ["arn:aws:iam::123456789012:user/developer".to_string()];
        assert_eq!(
            trust_policy(&without_source_identity, &account(), &developer),
            seed
        );
    }

    #[test]
    fn by_default_the_session_must_carry_the_callers_user_name() {
        let trust = trust_policy(
            &config("users", None),
            &account(),
            &["arn:aws:iam::123456789012:user/developer".into()],
        );
        assert_eq!(
            trust["Statement"][0]["Action"],
            json!(["sts:AssumeRole", "sts:SetSourceIdentity"])
        );
        assert_eq!(
            trust["Statement"][0]["Condition"],
            json!({
                "Bool": {"aws:MultiFactorAuthPresent": "true"},
                "StringEquals": {"sts:SourceIdentity": "${aws:username}"}
            })
        );
    }

    #[test]
    fn account_mode_trust_requires_mfa_and_the_managed_path() {
        let trust = trust_policy(&config("account", Some("3600")), &account(), &[]);
        let statement = &trust["Statement"][0];
        assert_eq!(
            statement["Principal"]["AWS"],
            "arn:aws:iam::123456789012:root"
        );
        assert_eq!(
            statement["Condition"]["Bool"]["aws:MultiFactorAuthPresent"],
            "true"
        );
        assert_eq!(
            statement["Condition"]["ArnLike"]["aws:PrincipalArn"],
            "arn:aws:iam::123456789012:user/onboarded/*"
        );
        assert_eq!(
            statement["Condition"]["NumericLessThan"]["aws:MultiFactorAuthAge"],
            "3600"
        );
        assert!(statement["Condition"].get("BoolIfExists").is_none());
    }

    #[test]
    fn users_mode_lists_each_principal_once_in_a_stable_order() {
        let arns = [
            "arn:aws:iam::123456789012:user/b".to_string(),
            "arn:aws:iam::123456789012:user/a".into(),
            "arn:aws:iam::123456789012:user/b".into(),
        ];
        let trust = trust_policy(&config("users", None), &account(), &arns);
        assert_eq!(
            trust["Statement"][0]["Principal"]["AWS"],
            json!([
                "arn:aws:iam::123456789012:user/a",
                "arn:aws:iam::123456789012:user/b"
            ])
        );
        assert_eq!(trusted_aws_principals(&trust).len(), 2);
    }

    #[test]
    fn decodes_url_encoded_documents_as_iam_returns_them() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sts%3AAssumeRole%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        let decoded = decode_document(encoded).unwrap();
        assert_eq!(decoded["Statement"][0]["Action"], "sts:AssumeRole");
        assert_eq!(
            decode_document(r#"{"Version":"2012-10-17"}"#).unwrap()["Version"],
            "2012-10-17"
        );
        assert!(decode_document("%7Bnot json").is_err());
    }

    #[test]
    fn equal_documents_in_different_spellings_compare_equal() {
        let written = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "A", "Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": "arn:r",
                 "Condition": {"Bool": {"aws:MultiFactorAuthPresent": true}}},
                {"Effect": "Deny", "Action": ["iam:*", "ec2:*"], "Resource": ["b", "a"]}
            ]
        });
        let returned = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Deny", "Action": ["EC2:*", "iam:*"], "Resource": ["a", "b"]},
                {"Effect": "Allow", "Action": "STS:AssumeRole", "Resource": ["arn:r"],
                 "Condition": {"Bool": {"AWS:MultiFactorAuthPresent": "true"}}}
            ]
        });
        assert!(semantically_equal(&written, &returned));
        let single_statement = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}});
        let as_list = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]});
        assert!(semantically_equal(&single_statement, &as_list));
    }

    #[test]
    fn the_order_of_keys_does_not_count() {
        let written = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}
        ]});
        let reordered = json!({"Statement": [
            {"Resource": "*", "Action": "s3:*", "Effect": "Allow"},
            {"Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}, "Bool": {"aws:SecureTransport": "false"}},
             "Resource": "*", "Action": "iam:*", "Effect": "Deny"}
        ], "Version": "2012-10-17"});
        assert!(semantically_equal(&written, &reordered));
    }

    #[test]
    fn different_meanings_compare_unequal() {
        let base = assume_role_grant(&config("users", None), "arn:aws:iam::123456789012:role/A");
        let other_role =
            assume_role_grant(&config("users", None), "arn:aws:iam::123456789012:role/B");
        let mut widened = base.clone();
        widened["Statement"][0]["Action"] = json!(["sts:AssumeRole", "sts:TagSession"]);
        let mut denied = base.clone();
        denied["Statement"][0]["Effect"] = json!("Deny");
        let mut if_exists = trust_policy(&config("users", None), &account(), &["u".into()]);
        let strict = if_exists.clone();
        if_exists["Statement"][0]["Condition"] =
            json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}});
        assert!(!semantically_equal(&base, &other_role));
        assert!(!semantically_equal(&base, &widened));
        assert!(!semantically_equal(&base, &denied));
        assert!(!semantically_equal(&strict, &if_exists));
    }

    #[test]
    fn size_is_counted_without_whitespace() {
        let document = json!({"Version": "2012-10-17"});
        assert_eq!(policy_size(&document), r#"{"Version":"2012-10-17"}"#.len());
    }
}
