//! Does a trust policy really require MFA for `sts:AssumeRole`? Decided by what the policy means, not by
//! looking for a string: the question no existing tool (Prowler, Cloud Custodian, AWS Config) answers.
//!
//! A role's trust policy lets a principal in without MFA when some `Allow` statement that covers
//! `sts:AssumeRole` for an AWS principal carries no condition that can only hold with MFA, and no
//! unconditional-enough `Deny` closes the gap for every principal. Long-term access keys send no MFA key
//! at all, which is why every `...IfExists` test of MFA on an `Allow` is a loophole.

use serde_json::Value;

use crate::policy::{statements, string_list};

const ASSUME_ROLE: &str = "sts:assumerole";
const MFA_PRESENT: &str = "aws:multifactorauthpresent";
const MFA_AGE: &str = "aws:multifactorauthage";
const SOURCE_IDENTITY: &str = "sts:sourceidentity";
/// `${aws:username}` as `conditions` gives it (values lower-cased).
const OWN_USER_NAME: &str = "${aws:username}";

/// The statements (by `Sid`, or by position) through which some AWS principal can assume the role
/// without MFA. Empty means MFA is enforced.
pub fn mfa_loopholes(document: &Value) -> Vec<String> {
    let all = statements(document);
    let closed_by_deny = all
        .iter()
        .any(|statement| denies_everyone_without_mfa(statement));
    if closed_by_deny {
        return Vec::new();
    }
    loopholes(document, condition_requires_mfa)
}

pub fn mfa_enforced(document: &Value) -> bool {
    mfa_loopholes(document).is_empty()
}

/// The statements through which some AWS principal can assume the role with a source identity other than
/// their own user name, or none. Only `StringEquals sts:SourceIdentity ${aws:username}` holds the name to
/// the caller: `StringLike` lets `*` in, `...IfExists` and negated operators admit a request without one,
/// and a second Allow without the test is a way around it.
pub fn source_identity_loopholes(document: &Value) -> Vec<String> {
    loopholes(document, |statement| {
        conditions(statement).iter().any(|(operator, key, values)| {
            operator == "stringequals"
                && key == SOURCE_IDENTITY
                && values.as_slice() == [OWN_USER_NAME]
        })
    })
}

/// The Allow statements covering `sts:AssumeRole` for AWS principals that `closes` does not close, by
/// `Sid` or by position.
fn loopholes(document: &Value, closes: impl Fn(&Value) -> bool) -> Vec<String> {
    statements(document)
        .iter()
        .enumerate()
        .filter(|(_, statement)| {
            effect(statement).as_deref() == Some("allow")
                && covers_assume_role(statement)
                && trusts_aws_principals(statement)
                && !closes(statement)
        })
        .map(
            |(index, statement)| match statement.get("Sid").and_then(Value::as_str) {
                Some(sid) if !sid.is_empty() => format!("statement {sid:?}"),
                _ => format!("statement #{}", index + 1),
            },
        )
        .collect()
}

fn effect(statement: &Value) -> Option<String> {
    statement
        .get("Effect")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

/// `Action` matching `sts:AssumeRole` (wildcards included), or a `NotAction` that does not exclude it.
fn covers_assume_role(statement: &Value) -> bool {
    if let Some(actions) = statement.get("Action") {
        return string_list(actions)
            .iter()
            .any(|pattern| wildcard_match(&pattern.to_ascii_lowercase(), ASSUME_ROLE));
    }
    if let Some(excluded) = statement.get("NotAction") {
        return !string_list(excluded)
            .iter()
            .any(|pattern| wildcard_match(&pattern.to_ascii_lowercase(), ASSUME_ROLE));
    }
    false
}

/// IAM action patterns: `*` any run of characters, `?` any one character. Backtracks to the last `*`
/// only (at most pattern × text steps): a pattern such as `sts:****…x` in a hostile trust policy must not
/// make the analysis, and with it the drift check, run for an exponential time.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.as_bytes(), text.as_bytes());
    let (mut p, mut t) = (0, 0);
    // The last `*` seen, and where in the text it stops absorbing characters for now.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    star = Some((star_p, star_t + 1));
                    p = star_p + 1;
                    t = star_t + 1;
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `"Principal": "*"`, or an `AWS` entry. Services and federated principals do not sign in with MFA and
/// are judged by the principal rules, not this one; `NotPrincipal` on an Allow trusts nearly everyone.
fn trusts_aws_principals(statement: &Value) -> bool {
    if statement.get("NotPrincipal").is_some() {
        return true;
    }
    match statement.get("Principal") {
        Some(Value::String(star)) => star == "*",
        Some(Value::Object(kinds)) => kinds.keys().any(|kind| kind.eq_ignore_ascii_case("aws")),
        _ => false,
    }
}

/// The condition operators of a statement with their keys lower-cased: `(operator, key, values)`.
fn conditions(statement: &Value) -> Vec<(String, String, Vec<String>)> {
    let mut out = Vec::new();
    if let Some(Value::Object(operators)) = statement.get("Condition") {
        for (operator, keys) in operators {
            if let Value::Object(keys) = keys {
                for (key, values) in keys {
                    let values = string_list(values)
                        .into_iter()
                        .map(|v| v.to_ascii_lowercase())
                        .collect();
                    out.push((
                        operator.to_ascii_lowercase(),
                        key.to_ascii_lowercase(),
                        values,
                    ));
                }
            }
        }
    }
    out
}

/// A condition block that can only be satisfied by a request made with MFA. All conditions of a
/// statement must hold, so one such test is enough.
///
/// IAM's rule for a key the request does not carry decides most of it: a long-term key carries neither MFA
/// key, a session made without MFA carries `aws:MultiFactorAuthPresent` = false and no age. A test of an
/// absent key is false, except that every `...IfExists` form and every negated operator (`...Not...`, as
/// `NumericNotEquals aws:MultiFactorAuthAge -1`) is true, so none of those can require MFA.
fn condition_requires_mfa(statement: &Value) -> bool {
    conditions(statement).iter().any(|(operator, key, values)| {
        if operator.ends_with("ifexists") || operator.contains("not") {
            return false;
        }
        let all_true = !values.is_empty() && values.iter().all(|v| v == "true");
        match (operator.as_str(), key.as_str()) {
            ("bool" | "stringequals" | "stringequalsignorecase" | "stringlike", MFA_PRESENT) => {
                all_true
            }
            // The age key exists only when MFA was used, so any positive numeric test of it fails without
            // MFA...
            (numeric, MFA_AGE) if numeric.starts_with("numeric") => true,
            // ...as does requiring that it is present.
            ("null", MFA_AGE) => !values.is_empty() && values.iter().all(|v| v == "false"),
            _ => false,
        }
    })
}

/// A Deny for every principal on `sts:AssumeRole` whose only condition matches every request without MFA:
/// `BoolIfExists aws:MultiFactorAuthPresent false` (absent or false) or `Null aws:MultiFactorAuthAge true`.
fn denies_everyone_without_mfa(statement: &Value) -> bool {
    let everyone = match statement.get("Principal") {
        Some(Value::String(star)) => star == "*",
        Some(Value::Object(kinds)) => kinds.iter().any(|(kind, ids)| {
            kind.eq_ignore_ascii_case("aws") && string_list(ids).iter().any(|id| id == "*")
        }),
        _ => false,
    };
    let conditions = conditions(statement);
    let only_no_mfa = matches!(conditions.as_slice(), [(operator, key, values)]
        if values.len() == 1
            && ((operator == "boolifexists" && key == MFA_PRESENT && values[0] == "false")
                || (operator == "null" && key == MFA_AGE && values[0] == "true")));
    effect(statement).as_deref() == Some("deny")
        && everyone
        && covers_assume_role(statement)
        && only_no_mfa
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOT: &str = "arn:aws:iam::123456789012:root";

    fn allow(condition: Value) -> Value {
        json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole", "Condition": condition})
    }

    fn policy(statements: Vec<Value>) -> Value {
        json!({"Version": "2012-10-17", "Statement": statements})
    }

    // Long: a table of cases, one per way a trust policy can get MFA right or wrong.
    #[test]
    fn the_cases_that_decide_enforcement() {
        let cases: Vec<(&str, Value, bool)> = vec![
            (
                "Bool true",
                policy(vec![allow(
                    json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
                )]),
                true,
            ),
            (
                "Bool true as a JSON boolean",
                policy(vec![allow(
                    json!({"Bool": {"aws:MultiFactorAuthPresent": true}}),
                )]),
                true,
            ),
            (
                "Bool true in a list",
                policy(vec![allow(
                    json!({"Bool": {"aws:MultiFactorAuthPresent": ["true"]}}),
                )]),
                true,
            ),
            (
                "keys and operators in any case",
                policy(vec![allow(
                    json!({"bool": {"AWS:multifactorAUTHpresent": "TRUE"}}),
                )]),
                true,
            ),
            (
                "BoolIfExists lets long-term keys in",
                policy(vec![allow(
                    json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}),
                )]),
                false,
            ),
            (
                "Bool with true or false is no requirement",
                policy(vec![allow(
                    json!({"Bool": {"aws:MultiFactorAuthPresent": ["true", "false"]}}),
                )]),
                false,
            ),
            (
                "Bool false",
                policy(vec![allow(
                    json!({"Bool": {"aws:MultiFactorAuthPresent": "false"}}),
                )]),
                false,
            ),
            (
                "no condition",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}),
                ]),
                false,
            ),
            (
                "an unrelated condition",
                policy(vec![allow(
                    json!({"StringEquals": {"sts:ExternalId": "x"}}),
                )]),
                false,
            ),
            (
                "a second Allow without the condition",
                policy(vec![
                    allow(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
                    json!({"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/ci"}, "Action": "sts:AssumeRole"}),
                ]),
                false,
            ),
            (
                "MultiFactorAuthAge alone",
                policy(vec![allow(
                    json!({"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
                )]),
                true,
            ),
            (
                "NumericNotEquals MultiFactorAuthAge -1 is true without the key",
                policy(vec![allow(
                    json!({"NumericNotEquals": {"aws:MultiFactorAuthAge": "-1"}}),
                )]),
                false,
            ),
            (
                "NumericNotEqualsIfExists MultiFactorAuthAge",
                policy(vec![allow(
                    json!({"NumericNotEqualsIfExists": {"aws:MultiFactorAuthAge": "-1"}}),
                )]),
                false,
            ),
            (
                "StringNotEquals MultiFactorAuthPresent false admits a long-term key",
                policy(vec![allow(
                    json!({"StringNotEquals": {"aws:MultiFactorAuthPresent": "false"}}),
                )]),
                false,
            ),
            (
                "StringLike MultiFactorAuthPresent true",
                policy(vec![allow(
                    json!({"StringLike": {"aws:MultiFactorAuthPresent": "true"}}),
                )]),
                true,
            ),
            (
                "MultiFactorAuthAge IfExists",
                policy(vec![allow(
                    json!({"NumericLessThanIfExists": {"aws:MultiFactorAuthAge": "3600"}}),
                )]),
                false,
            ),
            (
                "Null MultiFactorAuthAge false",
                policy(vec![allow(
                    json!({"Null": {"aws:MultiFactorAuthAge": "false"}}),
                )]),
                true,
            ),
            (
                "Allow without condition, Deny everyone BoolIfExists false",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}),
                    json!({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}),
                ]),
                true,
            ),
            (
                "Deny with Bool false misses keys without an MFA key",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}),
                    json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "false"}}}),
                ]),
                false,
            ),
            (
                "Deny for one principal only leaves the others",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}),
                    json!({"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::123456789012:user/a"}, "Action": "sts:AssumeRole", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}),
                ]),
                false,
            ),
            (
                "Deny everyone without MFA age",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": "*", "Action": "sts:*"}),
                    json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole", "Condition": {"Null": {"aws:MultiFactorAuthAge": "true"}}}),
                ]),
                true,
            ),
            (
                "Deny that covers another action",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}),
                    json!({"Effect": "Deny", "Principal": "*", "Action": "sts:TagSession", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}}),
                ]),
                false,
            ),
            (
                "wildcard action",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:*"}),
                ]),
                false,
            ),
            (
                "star action",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "*"}),
                ]),
                false,
            ),
            (
                "pattern action",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:Assume?ole"}),
                ]),
                false,
            ),
            (
                "NotAction that keeps AssumeRole in",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "NotAction": "sts:TagSession"}),
                ]),
                false,
            ),
            (
                "NotAction that takes AssumeRole out",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "NotAction": ["sts:AssumeRole", "sts:AssumeRoleWithSAML"]}),
                ]),
                true,
            ),
            (
                "other action only",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:TagSession"}),
                ]),
                true,
            ),
            (
                "star principal",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
                ]),
                false,
            ),
            (
                "service principal is not an MFA question",
                policy(vec![
                    json!({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}),
                ]),
                true,
            ),
            (
                "single statement object",
                json!({"Version": "2012-10-17", "Statement": allow(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}))}),
                true,
            ),
        ];
        for (name, document, enforced) in cases {
            assert_eq!(mfa_enforced(&document), enforced, "{name}: {document}");
        }
    }

    #[test]
    fn loopholes_name_the_statement() {
        let document = policy(vec![
            allow(json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}})),
            json!({"Sid": "LegacyCi", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:AssumeRole"}),
            json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:*", "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}}}),
        ]);
        assert_eq!(
            mfa_loopholes(&document),
            ["statement \"LegacyCi\"", "statement #3"]
        );
    }

    #[test]
    fn only_the_callers_own_user_name_closes_the_source_identity() {
        let own = json!({"StringEquals": {"sts:SourceIdentity": "${aws:username}"}, "Bool": {"aws:MultiFactorAuthPresent": "true"}});
        let cases: Vec<(&str, Value, bool)> = vec![
            (
                "StringEquals ${aws:username}",
                policy(vec![allow(own.clone())]),
                true,
            ),
            (
                "key and operator in any case",
                policy(vec![allow(
                    json!({"stringequals": {"STS:sourceIdentity": "${aws:username}"}}),
                )]),
                true,
            ),
            (
                "no condition on it",
                policy(vec![allow(
                    json!({"Bool": {"aws:MultiFactorAuthPresent": "true"}}),
                )]),
                false,
            ),
            (
                "StringLike admits any name through a wildcard",
                policy(vec![allow(
                    json!({"StringLike": {"sts:SourceIdentity": "${aws:username}"}}),
                )]),
                false,
            ),
            (
                "IfExists admits a session without one",
                policy(vec![allow(
                    json!({"StringEqualsIfExists": {"sts:SourceIdentity": "${aws:username}"}}),
                )]),
                false,
            ),
            (
                "a fixed name is someone else's for everyone else",
                policy(vec![allow(
                    json!({"StringEquals": {"sts:SourceIdentity": "alice"}}),
                )]),
                false,
            ),
            (
                "a second value admits it too",
                policy(vec![allow(
                    json!({"StringEquals": {"sts:SourceIdentity": ["${aws:username}", "admin"]}}),
                )]),
                false,
            ),
            (
                "a negated operator",
                policy(vec![allow(
                    json!({"StringNotEquals": {"sts:SourceIdentity": "${aws:username}"}}),
                )]),
                false,
            ),
            (
                "a second Allow without it",
                policy(vec![
                    allow(own.clone()),
                    json!({"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "sts:*", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}),
                ]),
                false,
            ),
        ];
        for (name, document, enforced) in cases {
            assert_eq!(
                source_identity_loopholes(&document).is_empty(),
                enforced,
                "{name}: {document}"
            );
        }
    }

    #[test]
    fn the_trust_policies_we_write_enforce_mfa() {
        let account = crate::account::Account {
            id: "123456789012".into(),
            partition: "aws".into(),
        };
        for mode in ["account", "users"] {
            let config = crate::config::Config::from_lookup(|n| {
                (n == "TRUST_MODE").then(|| mode.to_string())
            })
            .unwrap();
            let document = crate::policy::trust_policy(
                &config,
                &account,
                &["arn:aws:iam::123456789012:user/onboarded/a".into()],
            );
            assert!(mfa_enforced(&document), "{mode}: {document}");
            assert_eq!(
                source_identity_loopholes(&document),
                Vec::<String>::new(),
                "{mode}: {document}"
            );
        }
    }
}
