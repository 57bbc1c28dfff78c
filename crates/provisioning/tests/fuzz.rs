//! Hostile input to the domain's decoders and validators, as property tests: policy documents as IAM
//! might return them (or an attacker might write them), JWT claims, onboarding requests, EventBridge
//! details and user names. Nothing here may panic; whatever is accepted must satisfy the invariants the
//! rest of the code relies on. `PROPTEST_CASES` sets the number of cases (256 by default).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::*;
use provisioning::access::{Caller, MfaChoice, OnboardRequest, authorize_onboarding};
use provisioning::config::Config;
use provisioning::names::is_valid_username;
use provisioning::policy::{canonical, decode_document, semantically_equal};
use provisioning::requests::{offboarding_order, onboarding_order};
use provisioning::trust::{mfa_enforced, mfa_loopholes};
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------------
// Oracles, written from the IAM documentation rather than from the code under test.

/// IAM user names: 1 to 64 characters of `[A-Za-z0-9+=,.@_-]`.
fn iam_user_name(name: &str) -> bool {
    let count = name.chars().count();
    (1..=64).contains(&count)
        && name.chars().all(|c| {
            c.is_ascii_lowercase()
                || c.is_ascii_uppercase()
                || c.is_ascii_digit()
                || matches!(c, '+' | '=' | ',' | '.' | '@' | '_' | '-')
        })
}

/// `requested_by` becomes a tag value: 1-256 characters, not blank, letters, digits, spaces, `_.:/=+-@`.
fn tag_value(text: &str) -> bool {
    !text.trim().is_empty()
        && text.chars().count() <= 256
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
}

/// Glob matching by dynamic programming: `*` any run, `?` any one byte.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for &p in pattern {
        let mut next = vec![false; text.len() + 1];
        if p == b'*' {
            next[0] = row[0];
        }
        for t in 1..=text.len() {
            next[t] = match p {
                b'*' => row[t] || next[t - 1],
                b'?' => row[t - 1],
                c => row[t - 1] && c == text[t - 1],
            };
        }
        row = next;
    }
    row[text.len()]
}

const CATALOG: &str = r#"[
    {"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
    {"name":"ReadOnly","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"self_service":true},
    {"name":"BreakGlass","managed_policy_arns":["arn:aws:iam::aws:policy/AdministratorAccess"]}]"#;
const ROLE_NAMES: [&str; 3] = ["ResourceCreatorRole", "ReadOnly", "BreakGlass"];
const SELF_SERVICE: [&str; 2] = ["ResourceCreatorRole", "ReadOnly"];
const ADMIN_GROUP: &str = "onboarding-admins";

fn config() -> Config {
    Config::from_lookup(|name| (name == "ROLE_CATALOG").then(|| CATALOG.to_string())).unwrap()
}

// ---------------------------------------------------------------------------------------------------
// Strategies.

/// Text as an attacker writes it: anything, control characters and look-alikes, or IAM's alphabet.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,16}",
        "[a-zA-Z0-9+=,.@_-]{0,70}",
        "[\\x00-\\x1f\u{7f}\u{0430}\u{0435}\u{043e}\u{200b}\u{feff}a/ ]{0,8}",
    ]
    .boxed()
}

fn valid_name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9+=,.@_-]{1,64}"
}

/// Any JSON value, a few levels deep. Numbers are integers: serde_json's default float parsing does
/// not promise to round-trip every `f64`, which is not what these tests are about.
fn json() -> impl Strategy<Value = Value> {
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

fn one_of(words: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(words)
        .prop_map(str::to_string)
        .boxed()
}

fn string_or_list(item: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Value> {
    prop_oneof![
        item.clone().prop_map(Value::String),
        vec(item, 0..4).prop_map(|items| json!(items)),
    ]
}

const ACTIONS: &[&str] = &[
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
const PRINCIPALS: &[&str] = &[
    "*",
    "arn:aws:iam::123456789012:root",
    "arn:aws:iam::123456789012:user/onboarded/dev",
    "arn:aws:iam::999999999999:root",
    "AIDAEXAMPLEUNIQUEID",
];
const OPERATORS: &[&str] = &[
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
const CONDITION_KEYS: &[&str] = &[
    "aws:MultiFactorAuthPresent",
    "aws:MultiFactorAuthAge",
    "aws:PrincipalArn",
    "sts:ExternalId",
];
const CONDITION_VALUES: &[&str] = &["true", "false", "TRUE", "3600", "arn:aws:iam::*:user/*"];

fn condition() -> impl Strategy<Value = Value> {
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

fn principal() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("*")),
        string_or_list(one_of(PRINCIPALS)).prop_map(|aws| json!({"AWS": aws})),
        Just(json!({"Service": "ec2.amazonaws.com"})),
        json(),
    ]
}

/// A statement with the fields a policy has, each one present or not, in a trust policy's vocabulary
/// (plus arbitrary text) so that the analysis's every branch is reached.
fn statement() -> impl Strategy<Value = Value> {
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
fn document() -> impl Strategy<Value = Value> {
    prop_oneof![
        6 => vec(statement(), 0..5).prop_map(|s| json!({"Version": "2012-10-17", "Statement": s})),
        2 => statement().prop_map(|s| json!({"Version": "2012-10-17", "Statement": s})),
        1 => json(),
    ]
}

fn statements_of(document: &Value) -> Vec<Value> {
    match document.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

fn with_statements(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The same policy said differently: statements in reverse order, every object's keys in reverse order,
/// no `Sid`, action names and condition keys upper-cased, single strings as one-element lists and lists
/// repeated. IAM treats it exactly as the original.
fn said_differently(document: &Value) -> Value {
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

const MFA_REQUIRED: &str = "aws:MultiFactorAuthPresent";

/// Every Allow also requires `Bool aws:MultiFactorAuthPresent true`: conditions are ANDed, so no request
/// without MFA gets through any of them.
fn mfa_required_everywhere(document: &Value) -> Value {
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

fn closing_deny() -> Value {
    json!({"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole",
           "Condition": {"BoolIfExists": {MFA_REQUIRED: "false"}}})
}

// ---------------------------------------------------------------------------------------------------
// Policy documents.

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

// ---------------------------------------------------------------------------------------------------
// Who is calling, and what they may ask for.

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    let email = prop_oneof![
        valid_name().prop_map(Value::String),
        text().prop_map(Value::String),
        "[ \t\r\n\u{a0}\u{3000}]{0,4}".prop_map(Value::String),
        json(),
    ];
    let groups = prop_oneof![
        Just(json!(["onboarding-admins"])),
        Just(json!("[onboarding-admins devs]")),
        json(),
        text().prop_map(Value::String),
    ];
    let verified = prop_oneof![
        Just(json!(true)),
        Just(json!("true")),
        Just(json!(false)),
        Just(json!("false")),
        Just(json!("TRUE")),
        json(),
    ];
    let key = prop_oneof![
        one_of(&["email", "email_verified", "cognito:groups", "sub", "Email"]),
        text()
    ];
    (
        prop::option::of(email),
        prop::option::of(verified),
        prop::option::of(groups),
        vec((key, json()), 0..4),
    )
        .prop_map(|(email, verified, groups, others)| {
            let mut claims: Map<String, Value> = others.into_iter().collect();
            if let Some(email) = email {
                claims.insert("email".into(), email);
            }
            if let Some(verified) = verified {
                claims.insert("email_verified".into(), verified);
            }
            if let Some(groups) = groups {
                claims.insert("cognito:groups".into(), groups);
            }
            claims
        })
}

fn verified(claims: &Map<String, Value>) -> bool {
    matches!(claims.get("email_verified"), Some(v) if *v == json!(true) || *v == json!("true"))
}

fn role_names() -> impl Strategy<Value = Option<Vec<String>>> {
    let name = prop_oneof![
        4 => one_of(&ROLE_NAMES),
        1 => Just("arn:aws:iam::123456789012:role/ResourceCreatorRole".to_string()),
        1 => Just("resourcecreatorrole".to_string()),
        1 => text(),
    ];
    prop::option::of(vec(name, 0..4))
}

fn caller() -> impl Strategy<Value = Caller> {
    let groups = vec(
        prop_oneof![
            Just(ADMIN_GROUP.to_string()),
            Just("onboarding-admins-readonly".to_string()),
            text()
        ],
        0..3,
    );
    (prop_oneof![valid_name(), text()], groups)
        .prop_map(|(username, groups)| Caller { username, groups })
}

fn onboard_request(caller: &Caller) -> impl Strategy<Value = OnboardRequest> + use<> {
    let username = prop_oneof![
        Just(None),
        Just(Some(caller.username.clone())),
        Just(Some(caller.username.to_ascii_uppercase())),
        valid_name().prop_map(Some),
        text().prop_map(Some),
    ];
    let mfa = prop_oneof![Just(MfaChoice::Virtual), Just(MfaChoice::None)];
    (username, role_names(), mfa, any::<bool>()).prop_map(
        |(username, roles, mfa, wait_until_usable)| OnboardRequest {
            username,
            roles,
            mfa,
            wait_until_usable,
        },
    )
}

fn onboard_body() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        3 => one_of(&["username", "roles", "mfa", "wait_until_usable"]),
        1 => one_of(&["Username", "role_arn", "groups", "email"]),
        1 => text(),
    ];
    let value = prop_oneof![
        valid_name().prop_map(Value::String),
        role_names().prop_map(|roles| json!(roles)),
        one_of(&["virtual", "none", "VIRTUAL", "sms"]).prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        json(),
    ];
    vec((field, value), 0..4).prop_map(|fields| Value::Object(fields.into_iter().collect()))
}

fn caller_and_request() -> impl Strategy<Value = (Caller, OnboardRequest)> {
    caller().prop_flat_map(|caller| {
        let request = onboard_request(&caller);
        (Just(caller), request)
    })
}

proptest! {
    #[test]
    fn the_caller_is_the_username_claim_or_nobody(claims in claims()) {
        let config = config();
        match Caller::from_claims(&claims, &config) {
            Ok(caller) => {
                prop_assert!(verified(&claims), "{:?}", claims);
                let claimed = claims["email"].as_str().unwrap();
                prop_assert_eq!(caller.username.as_str(), claimed.trim());
                prop_assert!(!caller.username.is_empty());
            }
            Err(error) => {
                let usable = claims.get("email").and_then(Value::as_str).is_some_and(|e| !e.trim().is_empty());
                let expected = if usable { "email_not_verified" } else { "unauthenticated" };
                prop_assert_eq!(error.code(), expected, "{:?}", claims);
                prop_assert!(!usable || !verified(&claims), "{:?}", claims);
            }
        }
    }

    /// serde would also read the struct from an array, which has no field names to check: the HTTP layer
    /// (`functions::http`) hands it JSON objects only.
    #[test]
    fn an_onboarding_body_is_read_only_with_known_well_typed_fields(body in onboard_body()) {
        let fields = body.as_object().unwrap();
        let readable = fields.iter().all(|(field, value)| match field.as_str() {
            "username" => value.is_null() || value.is_string(),
            "roles" => value.is_null() || value.as_array().is_some_and(|r| r.iter().all(Value::is_string)),
            "mfa" => *value == "virtual" || *value == "none",
            "wait_until_usable" => value.is_boolean(),
            _ => false,
        });
        match serde_json::from_value::<OnboardRequest>(body.clone()) {
            Ok(request) => {
                prop_assert!(readable, "{}", body);
                prop_assert_eq!(request.username.as_deref(), fields.get("username").and_then(Value::as_str));
                prop_assert_eq!(request.wait_until_usable, fields.get("wait_until_usable") == Some(&json!(true)));
            }
            Err(error) => prop_assert!(!readable, "{} refused: {}", body, error),
        }
    }

    #[test]
    fn an_authorised_onboarding_grants_only_what_the_caller_may_ask((caller, request) in caller_and_request()) {
        let config = config();
        let admin = caller.groups.iter().any(|g| g == ADMIN_GROUP);
        let asked = request.clone();
        match authorize_onboarding(&caller, request, &config) {
            Ok(order) => {
                prop_assert!(iam_user_name(&order.username), "{:?}", order.username);
                prop_assert!(!order.roles.is_empty());
                let names: Vec<&str> = order.roles.iter().map(|r| r.name.as_str()).collect();
                let distinct: HashSet<&str> = names.iter().copied().collect();
                prop_assert_eq!(distinct.len(), names.len(), "{:?}", names);
                prop_assert!(names.iter().all(|n| ROLE_NAMES.contains(n)), "{:?}", names);
                if let Some(asked) = &asked.roles {
                    prop_assert!(names.iter().all(|n| asked.iter().any(|a| a == n)), "{:?} {:?}", names, asked);
                } else {
                    prop_assert_eq!(&names[..], &SELF_SERVICE[..]);
                }
                if !admin {
                    prop_assert_eq!(&order.username, &caller.username);
                    prop_assert!(names.iter().all(|n| SELF_SERVICE.contains(n)), "{:?}", names);
                }
                prop_assert_eq!(&order.requested_by, &caller.username);
                prop_assert_eq!(order.mfa, asked.mfa);
                prop_assert!(order.issue_secrets);
            }
            Err(error) => {
                let code = error.code();
                prop_assert!(["invalid_username", "invalid_request", "unknown_role", "forbidden", "username_case_mismatch"].contains(&code), "{}", code);
                // An admin asking for a valid user and catalog roles is never refused.
                let target = asked.username.clone().unwrap_or(caller.username.clone());
                // IAM's spelling of one user name in another case is told apart from someone else's name.
                if code == "username_case_mismatch" {
                    prop_assert!(!admin && target != caller.username && target.eq_ignore_ascii_case(&caller.username));
                }
                let roles_ok = asked.roles.as_ref().is_none_or(|r| !r.is_empty() && r.iter().all(|n| ROLE_NAMES.contains(&n.as_str())));
                prop_assert!(!(admin && iam_user_name(&target) && roles_ok), "{} refused: {}", target, error);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// EventBridge details.

fn detail() -> impl Strategy<Value = Value> {
    let username = prop_oneof![
        valid_name().prop_map(Value::String),
        text().prop_map(Value::String),
        json()
    ];
    let requested_by = prop_oneof![
        "[A-Za-z0-9 _.:/=+@-]{1,40}".prop_map(Value::String),
        text().prop_map(Value::String),
        Just(json!("x".repeat(257))),
        json(),
    ];
    let roles = prop_oneof![
        role_names().prop_map(|roles| roles.map_or(Value::Null, |r| json!(r))),
        json(),
    ];
    let extra = (
        prop_oneof![one_of(&["role_arn", "Username", "mfa"]), text()],
        json(),
    );
    let structured = (
        prop::option::of(username),
        prop::option::of(requested_by),
        prop::option::of(roles),
        prop::option::of(extra),
    )
        .prop_map(|(username, requested_by, roles, extra)| {
            let mut detail = Map::new();
            if let Some((key, value)) = extra {
                detail.insert(key, value);
            }
            for (key, value) in [
                ("username", username),
                ("requested_by", requested_by),
                ("roles", roles),
            ] {
                if let Some(value) = value {
                    detail.insert(key.into(), value);
                }
            }
            Value::Object(detail)
        });
    prop_oneof![4 => structured, 1 => json()]
}

fn detail_type() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => one_of(&["Onboarding Requested", "Offboarding Requested"]),
        1 => one_of(&["onboarding requested", "Onboarding Requested ", "User Onboarded"]),
        1 => text(),
    ]
}

const DETAIL_FIELDS: [&str; 3] = ["username", "roles", "requested_by"];

proptest! {
    #[test]
    fn an_onboarding_event_is_accepted_only_when_it_is_valid(detail_type in detail_type(), detail in detail()) {
        match onboarding_order(&detail_type, &detail, &config()) {
            Ok(order) => {
                prop_assert_eq!(detail_type.as_str(), "Onboarding Requested");
                let fields = detail.as_object().unwrap();
                prop_assert!(fields.keys().all(|k| DETAIL_FIELDS.contains(&k.as_str())), "{}", detail);
                prop_assert!(iam_user_name(&order.username));
                prop_assert_eq!(Some(order.username.as_str()), detail["username"].as_str());
                prop_assert!(tag_value(&order.requested_by), "{:?}", order.requested_by);
                prop_assert_eq!(Some(order.requested_by.as_str()), detail["requested_by"].as_str());
                let names: Vec<&str> = order.roles.iter().map(|r| r.name.as_str()).collect();
                prop_assert!(!names.is_empty() && names.iter().all(|n| ROLE_NAMES.contains(n)), "{:?}", names);
                if detail["roles"].is_null() {
                    prop_assert_eq!(&names[..], &SELF_SERVICE[..]);
                }
                prop_assert!(!order.issue_secrets, "no secret on the EventBridge path");
            }
            Err(error) => {
                prop_assert!(["invalid_request", "invalid_username", "unknown_role"].contains(&error.code()), "{}", error.code());
            }
        }
    }

    #[test]
    fn an_offboarding_event_is_accepted_only_when_it_is_valid(detail_type in detail_type(), detail in detail()) {
        match offboarding_order(&detail_type, &detail) {
            Ok(order) => {
                prop_assert_eq!(detail_type.as_str(), "Offboarding Requested");
                let fields = detail.as_object().unwrap();
                prop_assert!(fields.keys().all(|k| DETAIL_FIELDS.contains(&k.as_str())), "{}", detail);
                prop_assert!(detail["roles"].is_null(), "roles are refused on offboarding: {}", detail);
                prop_assert!(iam_user_name(&order.username));
                prop_assert_eq!(Some(order.username.as_str()), detail["username"].as_str());
                prop_assert!(tag_value(&order.requested_by));
            }
            Err(error) => {
                prop_assert!(["invalid_request", "invalid_username"].contains(&error.code()), "{}", error.code());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// User names.

proptest! {
    #[test]
    fn user_names_follow_the_iam_rules(name in prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9+=,.@_-]{0,70}",
        "[a-zA-Z0-9+=,.@_/: \u{0430}\u{00e9}\u{ff41}\\x00-\\x1f-]{0,66}",
    ]) {
        prop_assert_eq!(is_valid_username(&name), iam_user_name(&name), "{:?}", name);
    }
}
