//! `DELETE /users/{username}` (admins only), and EventBridge's `Offboarding Requested`: remove a managed
//! user and everything it holds. Idempotent: an absent user is `already_absent`, not an error.
//! `DELETE /users/{username}/roles/{role}` (admins only): revoke one catalog role, with the same
//! permissions (taking grants and trust principals away) and nothing more; `not_granted` when there was
//! nothing to revoke.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::offboarding::{OffboardingResult, offboard};
use provisioning::outcomes::{Request, request_failed, user_offboarded};
use provisioning::requests::offboarding_order;
use provisioning::revocation::{RevocationResult, revoke};
use provisioning::{Error, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::events::{EventBridgeRequest, EventReply, Reply, failed, publish};
use crate::http::{HttpApiRequest, error_response, json_response};
use crate::metrics::{Done, count};
use crate::runtime::within_deadline;

/// A DELETE (either route) carries no body; anything in one is refused rather than ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OffboardRequest {}

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
    // Only the revocation route has a {role} parameter. Its presence, not the route key, picks the
    // revocation, so that no event naming a role can delete the whole user instead.
    if let Some(role) = request.path_parameters.get("role") {
        return match within_deadline(run_revocation(app, &request, role)).await {
            Ok((result, requested_by)) => {
                tracing::info!(request_id, requested_by, user = %result.user.name, role = %result.role.name, outcome = ?result.outcome, "revocation done");
                count(Done::Revocation);
                json_response(200, &result)
            }
            Err(error) => error_response(&error, request_id),
        };
    }
    match within_deadline(run(app, &request)).await {
        Ok((result, requested_by)) => {
            tracing::info!(request_id, user = %result.user.name, outcome = ?result.outcome, "offboarding done");
            count(Done::Offboarding);
            publish(app, &user_offboarded(request_id, &requested_by, &result)).await;
            json_response(200, &result)
        }
        Err(error) => {
            let event = request_failed(Request::Offboarding, request_id, None, None, &error);
            publish(app, &event).await;
            error_response(&error, request_id)
        }
    }
}

async fn run(app: &App, request: &HttpApiRequest) -> Result<(OffboardingResult, String)> {
    let caller = request.caller(&app.config)?;
    let username = request.username_parameter()?;
    let _: OffboardRequest = request.json_body()?;
    if !caller.is_admin(&app.config) {
        return Err(Error::Forbidden(format!(
            "only members of {:?} may offboard a user",
            app.config.admin_group
        )));
    }
    // No member account may block a departure: one whose spoke role fails is left out, and named.
    let iam = app
        .iam
        .reach_spokes_leaving_out(&app.account, &app.config.catalog, request.request_id())
        .await;
    let result = offboard(&iam, &app.config, &app.account, &username).await?;
    Ok((result, caller.username))
}

async fn run_revocation(
    app: &App,
    request: &HttpApiRequest,
    role: &str,
) -> Result<(RevocationResult, String)> {
    let caller = request.caller(&app.config)?;
    let username = request.username_parameter()?;
    let _: OffboardRequest = request.json_body()?;
    // Before the role is looked up: a caller who may not revoke learns nothing about the catalog.
    if !caller.is_admin(&app.config) {
        return Err(Error::Forbidden(format!(
            "only members of {:?} may revoke a role",
            app.config.admin_group
        )));
    }
    let iam = app
        .iam_for(app.config.catalog_role(role), request.request_id())
        .await?;
    let result = revoke(&iam, &app.config, &app.account, &username, role).await?;
    Ok((result, caller.username))
}

pub async fn handle_event(app: &App, event: Value) -> EventReply {
    let request = match EventBridgeRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return failed(app, Request::Offboarding, None, &error).await,
    };
    let outcome = within_deadline(async {
        let order = offboarding_order(&request.detail_type, &request.detail)?;
        let iam = app
            .iam
            .reach_spokes_leaving_out(&app.account, &app.config.catalog, &request.id)
            .await;
        let result = offboard(&iam, &app.config, &app.account, &order.username).await?;
        Ok::<_, Error>((result, order.requested_by))
    })
    .await;
    match outcome {
        Ok((result, requested_by)) => {
            tracing::info!(correlation_id = %request.id, source = %request.source, user = %result.user.name, outcome = ?result.outcome, "offboarded from an event");
            count(Done::Offboarding);
            let event = user_offboarded(&request.id, &requested_by, &result);
            publish(app, &event).await;
            EventReply {
                correlation_id: request.id,
                outcome: event.detail_type,
                error: None,
            }
        }
        Err(error) => failed(app, Request::Offboarding, Some(&request), &error).await,
    }
}
