//! `GET /users/{username}`: what a managed user has (roles, MFA, access keys) and whether it differs from
//! its desired state. Self or admin; read-only. Deployed, the same function answers `GET /me` (who the
//! caller is and the roles they may ask for) and the two unauthenticated routes, `GET /.well-known/onboarding`
//! (discovery.rs) and `GET /` (the page, page.rs): read-only too, none with an IAM call, and one function
//! fewer to deploy.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::Result;
use provisioning::access::WhoAmI;
use provisioning::status::{UserStatus, status};
use serde_json::Value;

use crate::app::App;
use crate::discovery::Discovery;
use crate::http::{HttpApiRequest, error_response, json_response};
use crate::page::Page;
use crate::runtime::within_deadline;

pub const WHO_AM_I_ROUTE_KEY: &str = "GET /me";

/// What the unauthenticated routes serve: both or neither (without an issuer there is nothing to sign in to).
#[derive(Debug, Clone)]
pub struct Public {
    pub discovery: Discovery,
    pub page: Page,
}

/// The status function's entry point, by the route API Gateway names. Without a discovery configuration
/// the unauthenticated routes are answered as API Gateway answers a route it lacks.
pub async fn invoke(app: &App, public: Option<&Public>, event: Value) -> ApiGatewayV2httpResponse {
    let route = event.get("routeKey").and_then(Value::as_str);
    match (route, public) {
        (Some(crate::discovery::ROUTE_KEY), Some(public)) => public.discovery.respond(&event),
        (Some(crate::page::ROUTE_KEY), Some(public)) => public.page.respond(),
        (Some(crate::discovery::ROUTE_KEY | crate::page::ROUTE_KEY), None) => not_found(),
        (Some(WHO_AM_I_ROUTE_KEY), _) => who_am_i(app, event),
        _ => handle(app, event).await,
    }
}

fn not_found() -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = 404;
    response.body = Some(aws_lambda_events::encodings::Body::Text(
        r#"{"message":"Not Found"}"#.into(),
    ));
    response
}

/// `GET /me`, for any eligible caller: from the claims and the catalog, no AWS call.
pub fn who_am_i(app: &App, event: Value) -> ApiGatewayV2httpResponse {
    let request = match HttpApiRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return error_response(&error, "-"),
    };
    match request.caller(&app.config) {
        Ok(caller) => json_response(200, &WhoAmI::of(&caller, &app.config)),
        Err(error) => error_response(&error, request.request_id()),
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
