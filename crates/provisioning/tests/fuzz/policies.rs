//! Policy documents (decoding, canonical form, equality) and the trust analysis: is MFA really required?

use super::*;

proptest! {
    #[test]
    fn decoding_any_text_never_panics(raw in prop_oneof![any::<String>(), "%[0-9A-Fa-f%]{0,12}.{0,8}"]) {
        let _ = decode_document(&raw);
        if let Ok(document) = decode_document(&raw) {
            let _ = mfa_loopholes(&document);
            let _ = canonical(&document);
        }
    }

    #[test]
    fn what_iam_returns_url_encoded_decodes_to_what_was_written(document in prop_oneof![document(), json()]) {
        let text = document.to_string();
        prop_assert_eq!(&decode_document(&urlencoding::encode(&text)).unwrap(), &document);
        if document.is_object() {
            prop_assert_eq!(&decode_document(&text).unwrap(), &document);
            prop_assert_eq!(&decode_document(&format!(" \n{text}")).unwrap(), &document);
        }
    }

    #[test]
    fn canonical_form_is_stable(document in document()) {
        let once = canonical(&document);
        prop_assert_eq!(&canonical(&once), &once);
        prop_assert!(semantically_equal(&document, &document));
        prop_assert!(semantically_equal(&document, &once));
    }

    #[test]
    fn the_same_policy_said_differently_is_equal(document in document()) {
        let rewritten = said_differently(&document);
        prop_assert!(
            semantically_equal(&document, &rewritten),
            "{} vs {}", canonical(&document), canonical(&rewritten)
        );
        prop_assert_eq!(mfa_enforced(&document), mfa_enforced(&rewritten));
    }

    #[test]
    fn a_flipped_effect_is_a_different_policy(statement in statement(), others in vec(statement(), 0..3)) {
        let Value::Object(mut fields) = statement else {
            return Ok(());
        };
        fields.insert("Effect".into(), json!("Allow"));
        let statement = Value::Object(fields);
        let mut flipped = statement.clone();
        flipped["Effect"] = json!("Deny");
        let mut before = others.clone();
        before.push(statement);
        let mut after = others;
        after.push(flipped.clone());
        // Duplicate statements mean nothing: the flip is only visible when the Deny was not there already.
        let deny_already_there = before.iter().any(|s| semantically_equal(&with_statements(vec![s.clone()]), &with_statements(vec![flipped.clone()])));
        prop_assume!(!deny_already_there);
        prop_assert!(!semantically_equal(&with_statements(before), &with_statements(after)));
    }
}

// ---------------------------------------------------------------------------------------------------
// Trust analysis: is MFA really required?

/// The condition operators IAM has for strings, booleans and numbers, each also in its `...IfExists` form.
const STRING_OPERATORS: [&str; 7] = [
    "Bool",
    "StringEquals",
    "StringNotEquals",
    "StringEqualsIgnoreCase",
    "StringNotEqualsIgnoreCase",
    "StringLike",
    "StringNotLike",
];
const NUMERIC_OPERATORS: [&str; 6] = [
    "NumericEquals",
    "NumericNotEquals",
    "NumericLessThan",
    "NumericLessThanEquals",
    "NumericGreaterThan",
    "NumericGreaterThanEquals",
];

/// One condition on an MFA key: an operator (plain or `IfExists`, or `Null`), the key, one value.
fn mfa_condition() -> impl Strategy<Value = (String, &'static str, String)> {
    let with_if_exists = |operator: &'static str| {
        prop_oneof![
            Just(operator.to_string()),
            Just(format!("{operator}IfExists"))
        ]
    };
    prop_oneof![
        (
            proptest::sample::select(&STRING_OPERATORS[..]).prop_flat_map(with_if_exists),
            Just("aws:MultiFactorAuthPresent"),
            prop_oneof![Just("true"), Just("false"), Just("True")].prop_map(String::from),
        ),
        (
            proptest::sample::select(&NUMERIC_OPERATORS[..]).prop_flat_map(with_if_exists),
            Just("aws:MultiFactorAuthAge"),
            prop_oneof![Just("-1"), Just("0"), Just("3600")].prop_map(String::from),
        ),
        (
            Just("Null".to_string()),
            prop_oneof![
                Just("aws:MultiFactorAuthPresent"),
                Just("aws:MultiFactorAuthAge")
            ],
            prop_oneof![Just("true"), Just("false")].prop_map(String::from),
        ),
    ]
}

/// IAM's evaluation of one condition for a request holding `present` (the key's value) or not holding
/// the key at all, written from IAM's documentation, independently of the analysis: a key the request
/// lacks fails every test but `Null true`, an `...IfExists` form, and a negated operator.
fn holds(operator: &str, value: &str, present: Option<&str>) -> bool {
    if operator == "Null" {
        return (value == "true") == present.is_none();
    }
    let base = operator.strip_suffix("IfExists").unwrap_or(operator);
    let negated = base.contains("Not");
    let Some(actual) = present else {
        return operator.ends_with("IfExists") || negated;
    };
    let equal = match base {
        "Bool" | "StringEqualsIgnoreCase" | "StringNotEqualsIgnoreCase" => {
            actual.eq_ignore_ascii_case(value)
        }
        "StringEquals" | "StringNotEquals" | "StringLike" | "StringNotLike" => actual == value,
        _ => {
            let (Ok(actual), Ok(limit)) = (actual.parse::<f64>(), value.parse::<f64>()) else {
                return false;
            };
            return match base.trim_start_matches("Numeric") {
                "Equals" => actual == limit,
                "NotEquals" => actual != limit,
                "LessThan" => actual < limit,
                "LessThanEquals" => actual <= limit,
                "GreaterThan" => actual > limit,
                _ => actual >= limit,
            };
        }
    };
    equal != negated
}

proptest! {
    /// The analysis against IAM's rules: a role trusting an account with one condition on an MFA key lets
    /// someone in without MFA exactly when that condition holds for a long-term key (neither MFA key) or
    /// for a session made without MFA (`aws:MultiFactorAuthPresent` false, no age).
    #[test]
    fn the_analysis_judges_every_operator_as_iam_evaluates_it(
        (operator, key, value) in mfa_condition(),
    ) {
        let long_term_key = holds(&operator, &value, None);
        let session_without_mfa = holds(
            &operator,
            &value,
            (key == "aws:MultiFactorAuthPresent").then_some("false"),
        );
        let document = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "sts:AssumeRole",
            "Condition": {operator.clone(): {key: value.clone()}},
        }]});
        prop_assert_eq!(
            mfa_enforced(&document),
            !(long_term_key || session_without_mfa),
            "{} {} {}", operator, key, value
        );
    }
}

proptest! {
    #[test]
    fn the_trust_analysis_takes_anything(document in prop_oneof![document(), json()]) {
        let loopholes = mfa_loopholes(&document);
        prop_assert!(loopholes.len() <= statements_of(&document).len());
        prop_assert_eq!(mfa_enforced(&document), loopholes.is_empty());
    }

    #[test]
    fn requiring_mfa_on_every_allow_closes_every_loophole(document in document()) {
        let fixed = mfa_required_everywhere(&document);
        prop_assert!(mfa_enforced(&fixed), "{}", fixed);
    }

    #[test]
    fn a_deny_for_everyone_without_mfa_closes_every_loophole(document in document()) {
        let mut statements = statements_of(&document);
        statements.push(closing_deny());
        prop_assert!(mfa_enforced(&with_statements(statements)));
    }

    #[test]
    fn a_deny_or_an_mfa_bound_allow_never_opens_a_loophole(
        document in document(),
        extra in statement(),
    ) {
        prop_assume!(mfa_enforced(&document));
        let mut deny = extra.clone();
        if let Some(fields) = deny.as_object_mut() {
            fields.insert("Effect".into(), json!("Deny"));
        }
        let mut statements = statements_of(&document);
        statements.push(deny.clone());
        prop_assert!(mfa_enforced(&with_statements(statements)), "{}", deny);

        let mut allow = extra;
        if let Some(fields) = allow.as_object_mut() {
            fields.insert("Effect".into(), json!("Allow"));
            fields.insert("Condition".into(), json!({"Bool": {MFA_REQUIRED: "true"}}));
            let mut statements = statements_of(&document);
            statements.push(allow.clone());
            prop_assert!(mfa_enforced(&with_statements(statements)), "{}", allow);
        }
    }

    #[test]
    fn an_open_allow_is_reported_unless_a_deny_closes_it(document in document()) {
        let has_deny = statements_of(&document).iter().any(|s| {
            s.get("Effect").and_then(Value::as_str).is_some_and(|e| e.eq_ignore_ascii_case("deny"))
        });
        let mut statements = statements_of(&document);
        statements.push(json!({"Sid": "FuzzOpenAllow", "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}));
        let loopholes = mfa_loopholes(&with_statements(statements));
        if !has_deny {
            prop_assert!(loopholes.contains(&"statement \"FuzzOpenAllow\"".to_string()), "{:?}", loopholes);
        }
    }

    #[test]
    fn statement_order_does_not_change_the_verdict(statements in vec(statement(), 0..5)) {
        let forward = with_statements(statements.clone());
        let backward = with_statements(statements.iter().rev().cloned().collect());
        prop_assert_eq!(mfa_enforced(&forward), mfa_enforced(&backward));
        if let [single] = statements.as_slice() {
            let unwrapped = json!({"Version": "2012-10-17", "Statement": single});
            prop_assert_eq!(mfa_loopholes(&forward), mfa_loopholes(&unwrapped));
        }
    }

    /// Action wildcards are matched as IAM globs: an unconditioned Allow is a loophole exactly when its
    /// pattern covers `sts:AssumeRole`, and `NotAction` exactly when it does not.
    #[test]
    fn action_wildcards_are_globs(pattern in "[sts:aumerol*?xST]{0,24}") {
        let covers = glob(pattern.to_ascii_lowercase().as_bytes(), b"sts:assumerole");
        let allow = |field: &str| with_statements(vec![json!({"Effect": "Allow", "Principal": {"AWS": "*"}, field: pattern})]);
        prop_assert_eq!(!mfa_enforced(&allow("Action")), covers);
        prop_assert_eq!(!mfa_enforced(&allow("NotAction")), !covers);
    }
}

/// A trust policy is read from IAM, where anyone with `iam:UpdateAssumeRolePolicy` may have written it.
/// A pattern of many `*` once took exponential time to match (about a minute at 24), long enough for the
/// drift check to time out instead of reporting the policy.
#[test]
fn hostile_wildcards_are_decided_at_once() {
    let stars = "*".repeat(2_000);
    let patterns = [
        format!("sts:{stars}x"),
        format!("{stars}x"),
        "*s".repeat(1_000) + "x",
        format!("sts:{stars}"),
    ];
    let started = Instant::now();
    for (pattern, loophole) in patterns.iter().zip([false, false, false, true]) {
        let document = with_statements(vec![
            json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": pattern}),
        ]);
        assert_eq!(!mfa_enforced(&document), loophole, "{}", &pattern[..40]);
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}
