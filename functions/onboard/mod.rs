//! `POST /users`: onboard a person (themselves, or anyone for an admin).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::Result;
use provisioning::access::{OnboardRequest, authorize_onboarding};
use provisioning::onboarding::{OnboardingResult, onboard};
use serde_json::Value;

use crate::app::App;
use crate::http::{HttpApiRequest, error_response, json_response};

pub async fn handle(app: &App, event: Value) -> ApiGatewayV2httpResponse {
    let request = match HttpApiRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return error_response(&error, "-"),
    };
    match run(app, &request).await {
        Ok(result) => {
            let status = if result.created_secret { 201 } else { 200 };
            tracing::info!(request_id = request.request_id(), user = %result.user.name, status, "onboarded");
            json_response(status, &result)
        }
        Err(error) => error_response(&error, request.request_id()),
    }
}

async fn run(app: &App, request: &HttpApiRequest) -> Result<OnboardingResult> {
    let caller = request.caller(&app.config)?;
    let body: OnboardRequest = request.json_body()?;
    let order = authorize_onboarding(&caller, body, &app.config)?;
    onboard(&app.iam, &app.config, &app.account, &order, (app.clock)()).await
}
