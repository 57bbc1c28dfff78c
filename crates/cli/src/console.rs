//! `onboarding console`: the AWS console, signed in as a role session, through the federation endpoint
//! (IAM User Guide, "Enable custom identity broker access to the AWS console"). Only a role session is
//! ever sent there: the long-term key never leaves the machine.

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::sts::ProcessCredentials;

/// The federation endpoint of the `aws` partition. A request reaches it through `HTTPS_PROXY` and the CA
/// settings of every other HTTPS call (`commands::http`).
pub const FEDERATION_ENDPOINT: &str = "https://signin.aws.amazon.com/federation";

/// Where the sign-in link lands.
pub const CONSOLE: &str = "https://console.aws.amazon.com/";

#[derive(Deserialize)]
struct SigninToken {
    #[serde(rename = "SigninToken")]
    signin_token: String,
}

/// The sign-in link for `session`: a `getSigninToken` request with the session, then the `login` URL
/// carrying the token (valid for 15 minutes, once).
pub async fn sign_in_url(http: &reqwest::Client, session: &ProcessCredentials) -> Result<String> {
    let Some(token) = &session.session_token else {
        return Err(Error::Input(
            "the console is opened only with a role session, never with the long-term key".into(),
        ));
    };
    let session_json = json!({
        "sessionId": session.access_key_id,
        "sessionKey": session.secret_access_key,
        "sessionToken": token,
    })
    .to_string();
    let request = reqwest::Url::parse_with_params(
        FEDERATION_ENDPOINT,
        [
            ("Action", "getSigninToken"),
            ("Session", session_json.as_str()),
        ],
    )
    .map_err(|e| Error::Input(e.to_string()))?;
    let http_error = |source| Error::Http {
        url: FEDERATION_ENDPOINT.to_string(),
        source,
    };
    let answer = http
        .get(request)
        .send()
        .await
        .map_err(http_error)?
        .error_for_status()
        .map_err(http_error)?;
    let SigninToken { signin_token } = answer.json().await.map_err(|e| {
        Error::Protocol(
            FEDERATION_ENDPOINT.to_string(),
            format!("no SigninToken in its answer: {e}"),
        )
    })?;
    let login = reqwest::Url::parse_with_params(
        FEDERATION_ENDPOINT,
        [
            ("Action", "login"),
            ("Issuer", "onboarding"),
            ("Destination", CONSOLE),
            ("SigninToken", signin_token.as_str()),
        ],
    )
    .map_err(|e| Error::Input(e.to_string()))?;
    Ok(login.into())
}
