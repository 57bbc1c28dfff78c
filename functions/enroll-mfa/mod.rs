//! `POST /users/{username}/mfa`: issue the virtual MFA device again (`{}`), or enable it with two
//! consecutive codes (`{"code1", "code2"}`).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use provisioning::mfa::{MfaStatus, MfaView, enable, reissue};
use provisioning::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::App;
use crate::http::{HttpApiRequest, error_response, json_response};
use crate::metrics::{Done, count};
use crate::runtime::within_deadline;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollRequest {
    #[serde(default)]
    code1: Option<String>,
    #[serde(default)]
    code2: Option<String>,
}

/// The `mfa` object itself, and the same under `mfa`, as in the `POST /users` response.
#[derive(Serialize)]
struct EnrollResponse<'a> {
    #[serde(flatten)]
    view: &'a MfaView,
    mfa: &'a MfaView,
}

pub async fn handle(app: &App, event: Value) -> ApiGatewayV2httpResponse {
    let request = match HttpApiRequest::parse(event) {
        Ok(request) => request,
        Err(error) => return error_response(&error, "-"),
    };
    match within_deadline(run(app, &request)).await {
        Ok(view) => {
            tracing::info!(request_id = request.request_id(), status = ?view.status, "mfa enrolment step done");
            // Issuing the device again leaves it pending: only the step with the two codes enables it.
            if view.status == MfaStatus::Enabled {
                count(Done::MfaEnrolment);
            }
            json_response(
                200,
                &EnrollResponse {
                    view: &view,
                    mfa: &view,
                },
            )
        }
        Err(error) => error_response(&error, request.request_id()),
    }
}

async fn run(app: &App, request: &HttpApiRequest) -> Result<MfaView> {
    let caller = request.caller(&app.config)?;
    let username = request.username_parameter()?;
    let body: EnrollRequest = request.json_body()?;
    caller.may_act_on(&username, &app.config)?;
    match (body.code1, body.code2) {
        (None, None) => reissue(&app.iam, &app.config, &app.account, &username).await,
        (Some(code1), Some(code2)) => {
            enable(
                &app.iam,
                &app.config,
                &app.account,
                &username,
                &code1,
                &code2,
            )
            .await
        }
        _ => Err(Error::InvalidRequest(
            "give both code1 and code2 to enable the device, or neither to issue it again".into(),
        )),
    }
}
