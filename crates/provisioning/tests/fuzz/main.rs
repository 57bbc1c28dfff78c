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

mod policies;
mod requests;
mod strategies;

use strategies::*;

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
