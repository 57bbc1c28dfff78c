//! EventBridge in: onboarding and offboarding requests from an HR or ticketing system. EventBridge out:
//! the outcome of every onboarding and offboarding, when `EVENT_BUS_NAME` is set.
//!
//! An EventBridge invocation is asynchronous: nobody reads its return value, so every failure is logged
//! as one structured line and published as an `… Failed` event, and the invocation itself succeeds.
//! Lambda's own retries would only repeat a refusal, or an IAM failure the SDK already retried.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::names::is_valid_username;
use provisioning::outcomes::{OutcomeEvent, Request, request_failed};
use provisioning::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::app::App;
use crate::runtime::before_deadline;

/// The envelope EventBridge delivers. Only what the functions use is read; the detail is checked by the
/// domain (`provisioning::requests`).
#[derive(Debug, Deserialize)]
pub struct EventBridgeRequest {
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub detail: Value,
}

impl EventBridgeRequest {
    /// EventBridge events carry `detail-type`; API Gateway events never do.
    pub fn is_eventbridge(event: &Value) -> bool {
        event.get("detail-type").is_some()
    }

    pub fn parse(event: Value) -> Result<Self> {
        serde_json::from_value(event)
            .map_err(|error| Error::InvalidRequest(format!("not an EventBridge event: {error}")))
    }

    /// The detail's user name, when it is one: echoed in a failure event so the requester can match it.
    pub fn username_hint(&self) -> Option<&str> {
        self.detail
            .get("username")
            .and_then(Value::as_str)
            .filter(|name| is_valid_username(name))
    }
}

/// What an EventBridge invocation returns (seen in logs and by `cargo lambda invoke`).
#[derive(Debug, Serialize)]
pub struct EventReply {
    pub correlation_id: String,
    /// The detail-type of the outcome event.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

/// A function triggered by both API Gateway and EventBridge answers each in its own shape.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Reply {
    Http(ApiGatewayV2httpResponse),
    Event(EventReply),
}

/// Publishing is best effort: the IAM change is done (and an HTTP response may hold a secret that must
/// reach the person), so a failure to publish is logged, never returned, and a slow EventBridge is given
/// up on at the invocation's deadline rather than let Lambda end the invocation with the answer unsent.
pub async fn publish(app: &App, event: &OutcomeEvent) {
    let Some(bus) = &app.events else {
        return;
    };
    let error = match before_deadline(bus.publish(event)).await {
        Some(Ok(())) => {
            tracing::info!(detail_type = event.detail_type, correlation_id = %event.detail["correlation_id"], "outcome published");
            return;
        }
        Some(Err(error)) => error.to_string(),
        None => "EventBridge had not answered by the invocation's deadline".to_string(),
    };
    tracing::error!(detail_type = event.detail_type, correlation_id = %event.detail["correlation_id"], error = %error, "outcome event not published");
}

/// Logs and counts a refused or failed EventBridge request, publishes the failure, and says so in the
/// reply.
pub async fn failed(
    app: &App,
    request: Request,
    envelope: Option<&EventBridgeRequest>,
    error: &Error,
) -> EventReply {
    let correlation_id = envelope.map_or("-", |e| e.id.as_str());
    crate::metrics::count_failure(error);
    tracing::error!(
        correlation_id,
        source = envelope.map(|e| e.source.as_str()),
        detail_type = envelope.map(|e| e.detail_type.as_str()),
        code = error.code(),
        retryable = error.is_retryable(),
        error = %error,
        "event request refused or failed"
    );
    let requested_by = envelope
        .and_then(|e| e.detail.get("requested_by"))
        .and_then(Value::as_str);
    let event = request_failed(
        request,
        correlation_id,
        envelope.and_then(EventBridgeRequest::username_hint),
        requested_by,
        error,
    );
    publish(app, &event).await;
    EventReply {
        correlation_id: correlation_id.to_string(),
        outcome: event.detail_type,
        error: Some(json!({"code": error.code(), "message": error.public_message()})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_eventbridge_from_api_gateway_events() {
        let event = json!({"version": "0", "id": "e-1", "detail-type": "Onboarding Requested", "source": "com.example.hr", "account": "123456789012", "time": "2026-11-25T10:00:00Z", "region": "us-east-1", "resources": [], "detail": {"username": "dev"}});
        assert!(EventBridgeRequest::is_eventbridge(&event));
        let request = EventBridgeRequest::parse(event).unwrap();
        assert_eq!(request.id, "e-1");
        assert_eq!(request.username_hint(), Some("dev"));
        assert!(!EventBridgeRequest::is_eventbridge(
            &json!({"version": "2.0", "routeKey": "POST /users"})
        ));
        assert_eq!(
            EventBridgeRequest::parse(json!({"detail-type": "x"}))
                .unwrap_err()
                .code(),
            "invalid_request"
        );
    }
}
