//! The events onboarding and offboarding publish when `EVENT_BUS_NAME` is set, whatever triggered them,
//! so that a requesting system can close its ticket. They carry names, ARNs and error codes, never a
//! secret, and the request's correlation id (the EventBridge event id, or the HTTP request id).

use serde_json::json;

use crate::config::ConfigError;
use crate::error::Error;
use crate::lifecycle::OffboardingResult;
use crate::onboarding::OnboardingResult;

/// The `source` of every event the stack publishes (sources starting with `aws.` are reserved).
pub use crate::publish::events::{EVENT_SOURCE, OutcomeEvent};
pub const USER_ONBOARDED: &str = "User Onboarded";
pub const USER_OFFBOARDED: &str = "User Offboarded";
pub const ONBOARDING_FAILED: &str = "Onboarding Failed";
pub const OFFBOARDING_FAILED: &str = "Offboarding Failed";

pub fn user_onboarded(
    correlation_id: &str,
    requested_by: &str,
    result: &OnboardingResult,
) -> OutcomeEvent {
    let roles: Vec<&str> = result.roles.iter().map(|role| role.name.as_str()).collect();
    OutcomeEvent {
        detail_type: USER_ONBOARDED,
        detail: json!({
            "correlation_id": correlation_id,
            "username": result.user.name,
            "user_arn": result.user.arn,
            "roles": roles,
            "requested_by": requested_by,
        }),
    }
}

pub fn user_offboarded(
    correlation_id: &str,
    requested_by: &str,
    result: &OffboardingResult,
) -> OutcomeEvent {
    OutcomeEvent {
        detail_type: USER_OFFBOARDED,
        detail: json!({
            "correlation_id": correlation_id,
            "username": result.user.name,
            "user_arn": result.user.arn,
            "outcome": result.outcome,
            "requested_by": requested_by,
            "pending_cleanup": result.pending_cleanup,
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Onboarding,
    Offboarding,
}

/// A refused or failed request. `username` and `requested_by` are echoed only when they were valid.
pub fn request_failed(
    request: Request,
    correlation_id: &str,
    username: Option<&str>,
    requested_by: Option<&str>,
    error: &Error,
) -> OutcomeEvent {
    OutcomeEvent {
        detail_type: match request {
            Request::Onboarding => ONBOARDING_FAILED,
            Request::Offboarding => OFFBOARDING_FAILED,
        },
        detail: json!({
            "correlation_id": correlation_id,
            "username": username,
            "requested_by": requested_by,
            "error": {"code": error.code(), "message": error.public_message()},
            "retryable": error.is_retryable(),
        }),
    }
}

/// `EVENT_BUS_NAME`: a bus name or ARN; unset or empty publishes nothing.
pub fn event_bus_name(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let Some(name) = lookup("EVENT_BUS_NAME").filter(|value| !value.trim().is_empty()) else {
        return Ok(None);
    };
    let well_formed = name.len() <= 1600
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c));
    if well_formed {
        Ok(Some(name))
    } else {
        Err(ConfigError {
            variable: "EVENT_BUS_NAME",
            reason: format!("{name:?} is not an event bus name or ARN"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::OffboardingOutcome;
    use crate::mfa::MfaView;
    use crate::secret::Secret;
    use crate::views::{AccessKeyView, Named};
    use serde_json::Value;

    #[test]
    fn the_bus_is_optional_and_checked() {
        assert_eq!(event_bus_name(|_| None).unwrap(), None);
        assert_eq!(event_bus_name(|_| Some(" ".into())).unwrap(), None);
        for good in [
            "onboarding",
            "arn:aws:events:us-east-1:123456789012:event-bus/hr-events",
        ] {
            assert_eq!(
                event_bus_name(|_| Some(good.into())).unwrap().as_deref(),
                Some(good)
            );
        }
        let error = event_bus_name(|_| Some("no spaces please".into())).unwrap_err();
        assert_eq!(error.variable, "EVENT_BUS_NAME");
    }

    #[test]
    fn an_onboarded_event_never_carries_the_secret() {
        let result = OnboardingResult {
            created_secret: true,
            user: Named {
                name: "dev".into(),
                arn: "arn:aws:iam::123456789012:user/onboarded/dev".into(),
            },
            access_key: AccessKeyView {
                access_key_id: Some("AKIAEXAMPLE".into()),
                secret_access_key: Some(Secret::new("wJalrXUtnFEMI")),
                usable_after_seconds: Some(15),
                ..AccessKeyView::default()
            },
            roles: vec![Named {
                name: "ResourceCreatorRole".into(),
                arn: "arn:aws:iam::123456789012:role/ResourceCreatorRole".into(),
            }],
            mfa: MfaView::none(),
            source_identity: None,
            aws_cli_config: String::new(),
            secrets: None,
        };
        let event = user_onboarded("evt-1", "hr-system", &result);
        assert_eq!(event.detail_type, "User Onboarded");
        assert_eq!(
            event.detail,
            json!({"correlation_id": "evt-1", "username": "dev", "user_arn": "arn:aws:iam::123456789012:user/onboarded/dev", "roles": ["ResourceCreatorRole"], "requested_by": "hr-system"})
        );
        assert!(!event.detail.to_string().contains("wJalr"));
    }

    #[test]
    fn offboarded_and_failed_events() {
        let result = OffboardingResult {
            user: Named {
                name: "dev".into(),
                arn: "arn:aws:iam::123456789012:user/onboarded/dev".into(),
            },
            outcome: OffboardingOutcome::AlreadyAbsent,
            removed: vec![],
            pending_cleanup: vec!["account 111122223333: the trust policy of role R".into()],
        };
        let event = user_offboarded("r-1", "admin@example.com", &result);
        assert_eq!(event.detail_type, "User Offboarded");
        assert_eq!(event.detail["outcome"], "already_absent");
        assert_eq!(
            event.detail["pending_cleanup"],
            json!(["account 111122223333: the trust policy of role R"])
        );

        let failed = request_failed(
            Request::Onboarding,
            "evt-2",
            Some("dev"),
            None,
            &Error::UnknownRole("Admin".into()),
        );
        assert_eq!(failed.detail_type, "Onboarding Failed");
        assert_eq!(failed.detail["error"]["code"], "unknown_role");
        assert_eq!(failed.detail["retryable"], false);
        assert_eq!(failed.detail["requested_by"], Value::Null);
        assert_eq!(
            request_failed(
                Request::Offboarding,
                "e",
                None,
                None,
                &Error::UserExistsUnmanaged("x".into())
            )
            .detail_type,
            "Offboarding Failed"
        );
    }
}
