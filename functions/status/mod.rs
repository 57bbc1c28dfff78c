//! `GET /users/{username}`: what a managed user has (roles, MFA, access keys) and whether it differs from
//! its desired state. Self or admin; read-only. Deployed, the same function answers the unauthenticated
//! `GET /.well-known/onboarding` (discovery.rs): read-only too, and one function fewer to deploy.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::Result;
use provisioning::status::{UserStatus, status};
use serde_json::Value;

use crate::app::App;
use crate::discovery::Discovery;
use crate::http::{HttpApiRequest, error_response, json_response};
use crate::runtime::within_deadline;

/// The status function's entry point: the discovery route when API Gateway names it, else status.
/// Without a discovery configuration the route is answered as API Gateway answers a route it lacks.
pub async fn invoke(
    app: &App,
    discovery: Option<&Discovery>,
    event: Value,
) -> ApiGatewayV2httpResponse {
    if !Discovery::is_requested_by(&event) {
        return handle(app, event).await;
    }
    match discovery {
        Some(discovery) => discovery.respond(&event),
        None => {
            let mut response = ApiGatewayV2httpResponse::default();
            response.status_code = 404;
            response.body = Some(aws_lambda_events::encodings::Body::Text(
                r#"{"message":"Not Found"}"#.into(),
            ));
            response
        }
    }
}

pub async fn handle(app: &App, event: Value) -> ApiGatewayV2httpResponse {
    let request = match HttpApiRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return error_response(&error, "-"),
    };
    match within_deadline(run(app, &request)).await {
        Ok(status) => json_response(200, &status),
        Err(error) => error_response(&error, request.request_id()),
    }
}

async fn run(app: &App, request: &HttpApiRequest) -> Result<UserStatus> {
    let caller = request.caller(&app.config)?;
    let username = request.username_parameter()?;
    // Authorised before IAM is read: a refusal says nothing about whether the user exists.
    caller.may_act_on(&username, &app.config)?;
    // A member account that cannot be reached is named in the answer, not a reason to answer nothing.
    let iam = app
        .iam
        .reach_spokes_leaving_out(&app.account, &app.config.catalog, request.request_id())
        .await;
    let status = status(
        &iam,
        &app.config,
        &app.drift,
        &app.account,
        &username,
        (app.clock)(),
    )
    .await?;
    Ok(if caller.is_admin(&app.config) {
        status
    } else {
        status.for_the_person()
    })
}
