//! The Cognito example of docs/deploy.md, run as written: every `aws cognito-idp` command of its "Identity
//! provider" block, through the pinned AWS CLI (its own parameter model checks each command) against moto's
//! Cognito. The app client it makes must be one the CLI can sign in with: its callback URLs, flows and
//! scopes are checked against what `onboarding login` uses.

mod common;

use std::process::Command;

use common::{moto, workspace};
use onboarding_cli::auth::CALLBACK_PORTS;
use serde_json::Value;

/// docs/deploy.md's `aws cognito-idp` commands, continuation lines joined.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(workspace().join("docs/deploy.md")).unwrap();
    let block = readme
        .split("**Identity provider**")
        .nth(1)
        .and_then(|rest| rest.split("```").nth(1))
        .expect("docs/deploy.md's identity provider block");
    block
        .replace("\\\n", " ")
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("aws cognito-idp "))
        .map(str::to_string)
        .collect()
}

fn aws(moto: &common::Moto, words: &[String]) -> Value {
    let aws = workspace().join(".venv/bin/aws");
    assert!(
        aws.exists(),
        "the AWS CLI is pinned in requirements-dev.txt: run scripts/setup"
    );
    let out = Command::new(aws)
        .args(words)
        .args(["--output", "json"])
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aws {}: {}",
        words.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[test]
fn the_readmes_cognito_commands_make_an_app_client_the_cli_signs_in_with() {
    let moto = moto();
    let commands = readme_commands();
    assert!(commands.len() >= 6, "{commands:#?}");
    let mut pool_id = String::new();
    let mut client = Value::Null;
    for command in &commands {
        let text = command
            .replace("<pool id>", &pool_id)
            .replace("<a domain prefix>", "iam-onboarding-readme")
            .replace("<admin's e-mail>", "admin@example.com");
        assert!(
            !text.contains('<'),
            "a placeholder the test does not know: {text}"
        );
        let words: Vec<String> = text
            .split_whitespace()
            .skip(1)
            .map(str::to_string)
            .collect();
        let answer = aws(&moto, &words);
        if let Some(id) = answer["UserPool"]["Id"].as_str() {
            pool_id = id.to_string();
        }
        if answer["UserPoolClient"].is_object() {
            client = answer["UserPoolClient"].clone();
        }
    }

    let pool = aws(
        &moto,
        &[
            "cognito-idp",
            "describe-user-pool",
            "--user-pool-id",
            &pool_id,
        ]
        .map(String::from),
    );
    assert_eq!(
        pool["UserPool"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"], true,
        "sign-up is closed"
    );
    let callbacks: Vec<String> = CALLBACK_PORTS
        .iter()
        .map(|port| format!("http://localhost:{port}/callback"))
        .collect();
    assert_eq!(client["CallbackURLs"], serde_json::json!(callbacks));
    assert_eq!(client["AllowedOAuthFlows"], serde_json::json!(["code"]));
    assert_eq!(client["AllowedOAuthFlowsUserPoolClient"], true);
    assert_eq!(
        client["AllowedOAuthScopes"],
        serde_json::json!(["openid", "email"])
    );
    assert!(
        client.get("ClientSecret").is_none(),
        "a public client: {client}"
    );
    let members = aws(
        &moto,
        &[
            "cognito-idp",
            "list-users-in-group",
            "--user-pool-id",
            &pool_id,
            "--group-name",
            "onboarding-admins",
        ]
        .map(String::from),
    );
    let emails: Vec<String> = members["Users"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|user| user["Attributes"].as_array().cloned().unwrap_or_default())
        .filter(|attribute| attribute["Name"] == "email")
        .filter_map(|attribute| attribute["Value"].as_str().map(str::to_string))
        .collect();
    assert_eq!(emails, ["admin@example.com"], "{members}");
}
