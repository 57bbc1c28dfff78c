//! Onboarding and offboarding requests that arrive as EventBridge events from an HR or ticketing system.
//!
//! The EventBridge rule admits only the sources named in the stack's parameters: a request that reaches
//! the function has an admin's authority (any catalog role, any user), and `requested_by` says on whose
//! behalf. The detail is checked as strictly as an HTTP body: unknown fields, an invalid user name, a role
//! outside the catalog or a missing `requested_by` are refused before IAM is touched.

use serde::Deserialize;
use serde_json::Value;

use crate::access::{Caller, MfaChoice, OnboardRequest, OnboardingOrder, authorize_onboarding};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::names::is_valid_username;

pub const ONBOARDING_REQUESTED: &str = "Onboarding Requested";
pub const OFFBOARDING_REQUESTED: &str = "Offboarding Requested";

/// `requested_by` becomes a tag value: at most 256 characters, letters, digits, spaces and `_.:/=+-@`.
const REQUESTED_BY_MAX: usize = 256;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestDetail {
    username: String,
    #[serde(default)]
    roles: Option<Vec<String>>,
    requested_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffboardingOrder {
    pub username: String,
    pub requested_by: String,
}

fn detail(detail_type: &str, expected: &str, detail: &Value) -> Result<RequestDetail> {
    if detail_type != expected {
        return Err(Error::InvalidRequest(format!(
            "detail-type {detail_type:?} is not {expected:?}"
        )));
    }
    // serde reads a struct from an array too (`["dev", null, "hr"]`): no field names, nothing to check.
    if !detail.is_object() {
        return Err(Error::InvalidRequest(
            "invalid event detail: not a JSON object".into(),
        ));
    }
    let detail = RequestDetail::deserialize(detail)
        .map_err(|error| Error::InvalidRequest(format!("invalid event detail: {error}")))?;
    validate_requested_by(&detail.requested_by)?;
    Ok(detail)
}

fn validate_requested_by(requested_by: &str) -> Result<()> {
    let valid = !requested_by.trim().is_empty()
        && requested_by.chars().count() <= REQUESTED_BY_MAX
        && requested_by
            .chars()
            .all(|c| c.is_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c));
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidRequest(format!(
            "requested_by must be 1-{REQUESTED_BY_MAX} letters, digits, spaces or _.:/=+-@"
        )))
    }
}

/// An onboarding order from an `Onboarding Requested` event. No secret is issued on this path: nobody
/// is there to receive it.
pub fn onboarding_order(
    detail_type: &str,
    event_detail: &Value,
    config: &Config,
) -> Result<OnboardingOrder> {
    let request = detail(detail_type, ONBOARDING_REQUESTED, event_detail)?;
    let authority = Caller {
        username: request.requested_by,
        groups: vec![config.admin_group.clone()],
    };
    let order = authorize_onboarding(
        &authority,
        OnboardRequest {
            username: Some(request.username),
            roles: request.roles,
            mfa: MfaChoice::Virtual,
            wait_until_usable: false,
            // No secret is made for an EventBridge request: nothing to encrypt.
            encrypt_to: None,
        },
        config,
    )?;
    Ok(OnboardingOrder {
        issue_secrets: false,
        ..order
    })
}

/// An offboarding order from an `Offboarding Requested` event. `roles` is refused: offboarding removes
/// the whole user, and a request that names roles may have meant something else.
pub fn offboarding_order(detail_type: &str, event_detail: &Value) -> Result<OffboardingOrder> {
    let request = detail(detail_type, OFFBOARDING_REQUESTED, event_detail)?;
    if request.roles.is_some() {
        return Err(Error::InvalidRequest(
            "an offboarding request names no roles: it removes the whole user".into(),
        ));
    }
    if !is_valid_username(&request.username) {
        return Err(Error::InvalidUsername(format!(
            "{:?} is not a valid IAM user name",
            request.username
        )));
    }
    Ok(OffboardingOrder {
        username: request.username,
        requested_by: request.requested_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> Config {
        Config::from_lookup(|name| match name {
            "ROLE_CATALOG" => Some(
                r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
                    {"name":"BreakGlass","managed_policy_arns":["arn:aws:iam::aws:policy/AdministratorAccess"]}]"#
                    .into(),
            ),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn a_valid_onboarding_request_issues_no_secret() {
        let order = onboarding_order(
            "Onboarding Requested",
            &json!({"username": "new.hire@example.com", "roles": ["BreakGlass"], "requested_by": "HR-1234 jane@example.com"}),
            &config(),
        )
        .unwrap();
        assert_eq!(order.username, "new.hire@example.com");
        assert_eq!(
            order.roles[0].name, "BreakGlass",
            "the rule's source has admin authority"
        );
        assert_eq!(order.requested_by, "HR-1234 jane@example.com");
        assert!(!order.issue_secrets);
        let defaults = onboarding_order(
            "Onboarding Requested",
            &json!({"username": "dev", "requested_by": "hr"}),
            &config(),
        )
        .unwrap();
        let names: Vec<&str> = defaults.roles.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["ResourceCreatorRole"],
            "self-service roles by default"
        );
    }

    #[test]
    fn invalid_requests_are_refused_with_a_code() {
        let cases = [
            (
                "Onboarding Requested",
                json!({"username": "dev"}),
                "invalid_request",
            ),
            (
                "Onboarding Requested",
                json!({"username": "dev", "requested_by": ""}),
                "invalid_request",
            ),
            (
                "Onboarding Requested",
                json!({"username": "dev", "requested_by": "a;b"}),
                "invalid_request",
            ),
            (
                "Onboarding Requested",
                json!({"username": "dev", "requested_by": "x".repeat(257)}),
                "invalid_request",
            ),
            (
                "Onboarding Requested",
                json!({"username": "dev", "requested_by": "hr", "role_arn": "arn:aws:iam::1:role/x"}),
                "invalid_request",
            ),
            (
                "Onboarding Requested",
                json!({"username": "dev", "requested_by": "hr", "roles": []}),
                "invalid_request",
            ),
            (
                "Onboarding Requested",
                json!({"username": "has space", "requested_by": "hr"}),
                "invalid_username",
            ),
            (
                "Onboarding Requested",
                json!({"username": "dev", "requested_by": "hr", "roles": ["Admin"]}),
                "unknown_role",
            ),
            ("Onboarding Requested", json!("dev"), "invalid_request"),
            (
                "Onboarding Requested",
                json!(["dev", ["BreakGlass"], "hr"]),
                "invalid_request",
            ),
            (
                "Offboarding Requested",
                json!({"username": "dev", "requested_by": "hr"}),
                "invalid_request",
            ),
        ];
        for (detail_type, detail, code) in cases {
            let error = onboarding_order(detail_type, &detail, &config()).unwrap_err();
            assert_eq!(error.code(), code, "{detail_type} {detail}");
        }
    }

    #[test]
    fn offboarding_requests() {
        assert_eq!(
            offboarding_order(
                "Offboarding Requested",
                &json!({"username": "dev", "requested_by": "HR-77"})
            )
            .unwrap(),
            OffboardingOrder {
                username: "dev".into(),
                requested_by: "HR-77".into()
            }
        );
        let cases = [
            (
                "Offboarding Requested",
                json!({"username": "dev", "requested_by": "hr", "roles": ["ResourceCreatorRole"]}),
                "invalid_request",
            ),
            (
                "Offboarding Requested",
                json!({"username": "a/b", "requested_by": "hr"}),
                "invalid_username",
            ),
            (
                "Offboarding Requested",
                json!({"username": "dev", "requested_by": "hr", "extra": 1}),
                "invalid_request",
            ),
            (
                "Onboarding Requested",
                json!({"username": "dev", "requested_by": "hr"}),
                "invalid_request",
            ),
        ];
        for (detail_type, detail, code) in cases {
            let error = offboarding_order(detail_type, &detail).unwrap_err();
            assert_eq!(error.code(), code, "{detail_type} {detail}");
        }
    }
}
