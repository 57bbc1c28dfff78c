//! `POST /users/{username}/access-keys`: a new access key, shown once; the previous active key is
//! deactivated (not deleted) so the person can switch over. Self or admin. Also how a person onboarded
//! over EventBridge collects their first key.
//! `DELETE /users/{username}/access-keys/{access_key_id}`: the end of a rotation, an inactive key deleted
//! (`409 access_key_active` for the active one, `404 access_key_not_found` for a key the user does not
//! hold). Self or admin, as the POST.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::Result;
use provisioning::rotation::{KeyDeletion, KeyRotation, delete_inactive_key, rotate_key};
use provisioning::sealed::SecretRecipient;
use serde::Deserialize;
use serde_json::Value;

use crate::app::App;
use crate::http::{HttpApiRequest, error_response, json_response};
use crate::metrics::{Done, count};
use crate::runtime::within_deadline;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueKeyRequest {
    #[serde(default)]
    wait_until_usable: bool,
    /// An age X25519 recipient: the new secret is answered encrypted to it.
    #[serde(default)]
    encrypt_to: Option<String>,
}

/// A DELETE carries no body; anything in one is refused rather than ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteKeyRequest {}

pub async fn handle(app: &App, event: Value) -> ApiGatewayV2httpResponse {
    let request = match HttpApiRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return error_response(&error, "-"),
    };
    // Only the DELETE route has an {access_key_id} parameter. Its presence, not the route key, picks
    // the deletion, as the offboard function's {role} does: no POST event can delete a key.
    if let Some(key_id) = request.path_parameters.get("access_key_id") {
        return match within_deadline(run_deletion(app, &request, key_id)).await {
            Ok(deletion) => {
                tracing::info!(
                    request_id = request.request_id(),
                    user = %deletion.user.name,
                    access_key_id = %deletion.access_key_id,
                    "inactive access key deleted"
                );
                count(Done::KeyDeleted);
                json_response(200, &deletion)
            }
            Err(error) => error_response(&error, request.request_id()),
        };
    }
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
            count(Done::KeyIssued);
            json_response(201, &rotation)
        }
        Err(error) => error_response(&error, request.request_id()),
    }
}

async fn run(app: &App, request: &HttpApiRequest) -> Result<KeyRotation> {
    let caller = request.caller(&app.config)?;
    let username = request.username_parameter()?;
    let body: IssueKeyRequest = request.json_body()?;
    let encrypt_to = body
        .encrypt_to
        .as_deref()
        .map(SecretRecipient::parse)
        .transpose()?;
    caller.may_act_on(&username, &app.config)?;
    rotate_key(
        &app.iam,
        &app.config,
        &username,
        body.wait_until_usable,
        encrypt_to.as_ref(),
    )
    .await
}

async fn run_deletion(app: &App, request: &HttpApiRequest, key_id: &str) -> Result<KeyDeletion> {
    let caller = request.caller(&app.config)?;
    let username = request.username_parameter()?;
    let _: DeleteKeyRequest = request.json_body()?;
    caller.may_act_on(&username, &app.config)?;
    delete_inactive_key(&app.iam, &app.config, &username, key_id).await
}
