//! `POST /users`: onboard a person (themselves, or anyone for an admin). Also EventBridge's
//! `Onboarding Requested`: the same onboarding, with no secret created (nobody is there to receive it).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::Result;
use provisioning::access::{OnboardRequest, authorize_onboarding};
use provisioning::onboarding::{OnboardingResult, onboard};
use provisioning::outcomes::{Request, request_failed, user_onboarded};
use provisioning::requests::onboarding_order;
use serde_json::Value;

use crate::app::App;
use crate::events::{EventBridgeRequest, EventReply, Reply, failed, publish};
use crate::http::{HttpApiRequest, error_response, json_response};
use crate::metrics::{Done, count};
use crate::runtime::within_deadline;

/// The binary's entry point: API Gateway and EventBridge events each get their own answer.
pub async fn invoke(app: &App, event: Value) -> Reply {
    if EventBridgeRequest::is_eventbridge(&event) {
        Reply::Event(handle_event(app, event).await)
    } else {
        Reply::Http(handle(app, event).await)
    }
}

pub async fn handle(app: &App, event: Value) -> ApiGatewayV2httpResponse {
    let request = match HttpApiRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return error_response(&error, "-"),
    };
    let request_id = request.request_id();
    match within_deadline(run(app, &request)).await {
        Ok((result, requested_by)) => {
            let status = if result.created_secret { 201 } else { 200 };
            tracing::info!(request_id, user = %result.user.name, status, "onboarded");
            count(Done::Onboarding);
            publish(app, &user_onboarded(request_id, &requested_by, &result)).await;
            json_response(status, &result)
        }
        Err(error) => {
            let event = request_failed(Request::Onboarding, request_id, None, None, &error);
            publish(app, &event).await;
            error_response(&error, request_id)
        }
    }
}

async fn run(app: &App, request: &HttpApiRequest) -> Result<(OnboardingResult, String)> {
    let caller = request.caller(&app.config)?;
    let body: OnboardRequest = request.json_body()?;
    let order = authorize_onboarding(&caller, body, &app.config)?;
    let iam = app.iam_for(&order.roles, request.request_id()).await?;
    let result = onboard(&iam, &app.config, &app.account, &order, (app.clock)()).await?;
    Ok((result, order.requested_by))
}

pub async fn handle_event(app: &App, event: Value) -> EventReply {
    let request = match EventBridgeRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return failed(app, Request::Onboarding, None, &error).await,
    };
    let outcome = within_deadline(async {
        let order = onboarding_order(&request.detail_type, &request.detail, &app.config)?;
        let iam = app.iam_for(&order.roles, &request.id).await?;
        let result = onboard(&iam, &app.config, &app.account, &order, (app.clock)()).await?;
        Ok::<_, provisioning::Error>((result, order.requested_by))
    })
    .await;
    match outcome {
        Ok((result, requested_by)) => {
            tracing::info!(correlation_id = %request.id, source = %request.source, user = %result.user.name, "onboarded from an event");
            count(Done::Onboarding);
            let event = user_onboarded(&request.id, &requested_by, &result);
            publish(app, &event).await;
            EventReply {
                correlation_id: request.id,
                outcome: event.detail_type,
                error: None,
            }
        }
        Err(error) => failed(app, Request::Onboarding, Some(&request), &error).await,
    }
}
