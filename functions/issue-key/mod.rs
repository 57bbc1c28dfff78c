//! `POST /users/{username}/access-keys`: a new access key, shown once; the previous active key is
//! deactivated (not deleted) so the person can switch over. Self or admin. Also how a person onboarded
//! over EventBridge collects their first key.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::Result;
use provisioning::rotation::{KeyRotation, rotate_key};
use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::http::{HttpApiRequest, error_response, json_response};
use crate::runtime::within_deadline;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueKeyRequest {
    #[serde(default)]
    wait_until_usable: bool,
}

pub async fn handle(app: &App, event: Value) -> ApiGatewayV2httpResponse {
    let request = match HttpApiRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return error_response(&error, "-"),
    };
    match within_deadline(run(app, &request)).await {
        Ok(rotation) => {
            tracing::info!(
                request_id = request.request_id(),
                user = %rotation.user.name,
                access_key_id = ?rotation.access_key.access_key_id,
                deactivated = ?rotation.previous_access_key.as_ref().map(|key| &key.access_key_id),
                deleted = ?rotation.deleted_access_key_id,
                "access key issued"
            );
            json_response(201, &rotation)
        }
        Err(error) => error_response(&error, request.request_id()),
    }
}

async fn run(app: &App, request: &HttpApiRequest) -> Result<KeyRotation> {
    let caller = request.caller(&app.config)?;
    let username = request.username_parameter()?;
    let body: IssueKeyRequest = request.json_body()?;
    caller.may_act_on(&username, &app.config)?;
    rotate_key(&app.iam, &app.config, &username, body.wait_until_usable).await
}
