//! Strategies: hostile text and JSON, and policy documents in a trust policy's vocabulary, with the
//! rewritings IAM treats as the same policy.

use super::*;

/// Text as an attacker writes it: anything, control characters and look-alikes, or IAM's alphabet.
pub(super) fn text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,16}",
        "[a-zA-Z0-9+=,.@_-]{0,70}",
        "[\\x00-\\x1f\u{7f}\u{0430}\u{0435}\u{043e}\u{200b}\u{feff}a/ ]{0,8}",
    ]
    .boxed()
}

pub(super) fn valid_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9+=,.@_-]{1,64}"
}

/// Any JSON value, a few levels deep. Numbers are integers: serde_json's default float parsing does
/// not promise to round-trip every `f64`, which is not what these tests are about.
pub(super) fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((text(), inner), 0..6)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

pub(super) fn one_of(words: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(words)
        .prop_map(str::to_string)
        .boxed()
}

pub(super) fn string_or_list(
    item: impl Strategy<Value = String> + Clone,
) -> impl Strategy<Value = Value> {
    prop_oneof![
        item.clone().prop_map(Value::String),
        vec(item, 0..4).prop_map(|items| json!(items)),
    ]
}

pub(super) const ACTIONS: &[&str] = &[
    "sts:AssumeRole",
    "sts:*",
    "*",
    "sts:Assume*",
    "STS:assumerole",
    "sts:Assume?ole",
    "sts:TagSession",
    "iam:*",
    "s3:GetObject",
];
pub(super) const PRINCIPALS: &[&str] = &[
    "*",
    "arn:aws:iam::123456789012:root",
    "arn:aws:iam::123456789012:user/onboarded/dev",
    "arn:aws:iam::999999999999:root",
    "AIDAEXAMPLEUNIQUEID",
];
pub(super) const OPERATORS: &[&str] = &[
    "Bool",
    "BoolIfExists",
    "bool",
    "StringEquals",
    "NumericLessThan",
    "NumericLessThanIfExists",
    "Null",
    "ArnLike",
];
/// Condition keys with distinct lower-case forms: keys are case-insensitive, so two spellings of one
/// key in one operator are one key said twice, which no rewriting below produces.
pub(super) const CONDITION_KEYS: &[&str] = &[
    "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge",
    "aws:PrincipalArn",
    "sts:ExternalId",
];
pub(super) const CONDITION_VALUES: &[&str] =
    &["true", "false", "TRUE", "3600", "arn:aws:iam::*:user/*"];

pub(super) fn condition() -> impl Strategy<Value = Value> {
    let values = prop_oneof![
        string_or_list(one_of(CONDITION_VALUES)),
        any::<bool>().prop_map(Value::Bool),
        (0u32..100_000).prop_map(Value::from),
    ];
    let keys = proptest::collection::btree_map(one_of(CONDITION_KEYS), values, 0..3)
        .prop_map(|keys| Value::Object(keys.into_iter().collect()));
    proptest::collection::btree_map(one_of(OPERATORS), keys, 0..3)
        .prop_map(|operators| Value::Object(operators.into_iter().collect()))
}

pub(super) fn principal() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("*")),
        string_or_list(one_of(PRINCIPALS)).prop_map(|aws| json!({"AWS": aws})),
        Just(json!({"Service": "ec2.amazonaws.com"})),
        json(),
    ]
}

/// A statement with the fields a policy has, each one present or not, in a trust policy's vocabulary
/// (plus arbitrary text) so that the analysis's every branch is reached.
pub(super) fn statement() -> impl Strategy<Value = Value> {
    let action = string_or_list(prop_oneof![4 => one_of(ACTIONS), 1 => text()]);
    let fields = (
        prop::option::of(prop_oneof![4 => one_of(&["Allow", "Deny"]), 1 => text()]),
        prop::option::of((any::<bool>(), action)),
        prop::option::of((any::<bool>(), principal())),
        prop::option::of(condition()),
        prop::option::of(text()),
        prop::option::of(string_or_list(prop_oneof![Just("*".to_string()), text()])),
    );
    let structured = fields.prop_map(|(effect, action, principal, condition, sid, resource)| {
        let mut statement = Map::new();
        if let Some(sid) = sid {
            statement.insert("Sid".into(), json!(sid));
        }
        if let Some(effect) = effect {
            statement.insert("Effect".into(), json!(effect));
        }
        if let Some((not, action)) = action {
            let field = if not { "NotAction" } else { "Action" };
            statement.insert(field.into(), action);
        }
        if let Some((not, principal)) = principal {
            let field = if not { "NotPrincipal" } else { "Principal" };
            statement.insert(field.into(), principal);
        }
        if let Some(resource) = resource {
            statement.insert("Resource".into(), resource);
        }
        if let Some(condition) = condition {
            statement.insert("Condition".into(), condition);
        }
        Value::Object(statement)
    });
    prop_oneof![9 => structured, 1 => json()]
}

/// A policy document: a list of statements, a single statement, or any JSON at all.
pub(super) fn document() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => vec(statement(), 0..5).prop_map(|s| json!({"Version": "2012-10-17", "Statement": s})),
        2 => statement().prop_map(|s| json!({"Version": "2012-10-17", "Statement": s})),
        1 => json(),
    ]
}

pub(super) fn statements_of(document: &Value) -> Vec<Value> {
    match document.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

pub(super) fn with_statements(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The same policy said differently: statements in reverse order, every object's keys in reverse order,
/// no `Sid`, action names and condition keys upper-cased, single strings as one-element lists and lists
/// repeated. IAM treats it exactly as the original.
pub(super) fn said_differently(document: &Value) -> Value {
    fn reversed_keys(map: &Map<String, Value>, value: impl Fn(&str, &Value) -> Value) -> Value {
        let mut out = Map::new();
        for (key, item) in map.iter().rev() {
            out.insert(key.clone(), value(key, item));
        }
        Value::Object(out)
    }
    fn listed(value: &Value, case: fn(&str) -> String) -> Value {
        match value {
            Value::String(text) => json!([case(text)]),
            Value::Array(items) => {
                let mut twice: Vec<Value> = items.iter().map(|v| listed_item(v, case)).collect();
                twice.extend(twice.clone());
                Value::Array(twice)
            }
            other => other.clone(),
        }
    }
    fn listed_item(value: &Value, case: fn(&str) -> String) -> Value {
        match value {
            Value::String(text) => json!(case(text)),
            other => other.clone(),
        }
    }
    let same = |text: &str| text.to_string();
    let upper = |text: &str| text.to_ascii_uppercase();
    let statements: Vec<Value> = statements_of(document)
        .iter()
        .rev()
        .map(|statement| {
            let Some(fields) = statement.as_object() else {
                return statement.clone();
            };
            let mut fields = fields.clone();
            fields.shift_remove("Sid");
            reversed_keys(&fields, |field, value| match (field, value) {
                ("Action" | "NotAction", _) => listed(value, upper),
                ("Resource" | "NotResource", _) => listed(value, same),
                ("Principal" | "NotPrincipal", Value::Object(kinds)) => {
                    reversed_keys(kinds, |_, ids| listed(ids, same))
                }
                ("Condition", Value::Object(operators)) => {
                    reversed_keys(operators, |_, keys| match keys {
                        Value::Object(keys) => {
                            let mut out = Map::new();
                            for (key, values) in keys.iter().rev() {
                                out.insert(key.to_ascii_uppercase(), listed(values, same));
                            }
                            Value::Object(out)
                        }
                        other => other.clone(),
                    })
                }
                _ => value.clone(),
            })
        })
        .collect();
    json!({"Version": document.get("Version").cloned().unwrap_or(Value::Null), "Statement": statements})
}

pub(super) const MFA_REQUIRED: &str = "aws:MultiFactorAuthPresent";

/// Every Allow also requires `Bool aws:MultiFactorAuthPresent true`: conditions are ANDed, so no request
/// without MFA gets through any of them.
pub(super) fn mfa_required_everywhere(document: &Value) -> Value {
    let statements = statements_of(document)
        .into_iter()
        .map(|mut statement| {
            let is_allow = statement
                .get("Effect")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case("allow"));
            if let (true, Some(fields)) = (is_allow, statement.as_object_mut()) {
                let condition = fields.entry("Condition").or_insert_with(|| json!({}));
                if !condition.is_object() {
                    *condition = json!({});
                }
                let bool_operator = condition
                    .as_object_mut()
                    .unwrap()
                    .entry("Bool")
                    .or_insert_with(|| json!({}));
                if !bool_operator.is_object() {
                    *bool_operator = json!({});
                }
                bool_operator
                    .as_object_mut()
                    .unwrap()
                    .insert(MFA_REQUIRED.into(), json!("true"));
            }
            statement
        })
        .collect();
    with_statements(statements)
}

pub(super) fn closing_deny() -> Value {
    json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
           "Condition": {"BoolIfExists": {MFA_REQUIRED: "false"}}})
}
