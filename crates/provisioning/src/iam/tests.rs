//! The adapter against mocked IAM answers: what moto cannot be made to do.

use super::errors::PRINCIPAL_PROPAGATION_DELAYS;
use super::*;
use crate::plan::Change;
use aws_sdk_iam::operation::update_assume_role_policy::{
    UpdateAssumeRolePolicyError, UpdateAssumeRolePolicyOutput,
};
use aws_sdk_iam::types::Tag;
use aws_sdk_iam::types::error::MalformedPolicyDocumentException;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;
use std::time::Duration;

fn iam_with(client: aws_sdk_iam::Client) -> Iam {
    Iam::with_client(client)
}

fn malformed(
    message: &'static str,
) -> impl Fn() -> UpdateAssumeRolePolicyError + Send + Sync + 'static {
    move || {
        let meta = ErrorMetadata::builder()
            .code("MalformedPolicyDocument")
            .message(message)
            .build();
        UpdateAssumeRolePolicyError::MalformedPolicyDocumentException(
            MalformedPolicyDocumentException::builder()
                .message(message)
                .meta(meta)
                .build(),
        )
    }
}

const INVALID_PRINCIPAL: &str =
    "Invalid principal in policy: \"AWS\":\"arn:aws:iam::123456789012:user/onboarded/new\"";

#[tokio::test(start_paused = true)]
async fn a_new_principal_is_retried_until_iam_sees_it() {
    let rule = mock!(aws_sdk_iam::Client::update_assume_role_policy)
        .sequence()
        .error(malformed(INVALID_PRINCIPAL))
        .times(3)
        .output(|| UpdateAssumeRolePolicyOutput::builder().build())
        .build();
    let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]));
    let started = tokio::time::Instant::now();
    iam.update_trust_policy("ResourceCreatorRole", "{}")
        .await
        .expect("succeeds once the user propagated");
    assert_eq!(rule.num_calls(), 4);
    assert_eq!(iam.iam_retries(), 3, "each retry is counted");
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(1 + 2 + 4),
        "backs off 1, 2, 4 s"
    );
}

#[tokio::test(start_paused = true)]
async fn a_principal_that_never_appears_is_an_error_after_the_backoff() {
    let rule = mock!(aws_sdk_iam::Client::update_assume_role_policy)
        .sequence()
        .error(malformed(INVALID_PRINCIPAL))
        .repeatedly()
        .build();
    let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]));
    let error = iam
        .update_trust_policy("ResourceCreatorRole", "{}")
        .await
        .unwrap_err();
    assert_eq!(rule.num_calls(), 1 + PRINCIPAL_PROPAGATION_DELAYS.len());
    assert_eq!(error.code(), "internal");
    assert!(error.to_string().contains("Invalid principal"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn other_malformed_documents_are_not_retried() {
    let rule = mock!(aws_sdk_iam::Client::update_assume_role_policy)
        .sequence()
        .error(malformed("Syntax errors in policy."))
        .repeatedly()
        .build();
    let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::Sequential, [&rule]));
    assert!(
        iam.update_trust_policy("ResourceCreatorRole", "{")
            .await
            .is_err()
    );
    assert_eq!(rule.num_calls(), 1);
}

/// `CreateRole` answered `EntityAlreadyExists`: the role was made since onboarding read it. Made by a
/// concurrent onboarding, it carries the ownership tag and is used; made by hand, the plan's next
/// changes must not reach it. moto cannot be made to create a role between two calls, so it is here.
#[tokio::test]
async fn a_role_created_since_it_was_read_is_used_only_if_it_is_ours() {
    use aws_sdk_iam::operation::create_role::CreateRoleError;
    use aws_sdk_iam::types::error::EntityAlreadyExistsException;

    for (tags, owned) in [
        (vec![("onboarding:managed", "true")], true),
        (vec![("owner", "team-a")], false),
        (vec![], false),
    ] {
        let exists = mock!(aws_sdk_iam::Client::create_role).then_error(|| {
            CreateRoleError::EntityAlreadyExistsException(
                EntityAlreadyExistsException::builder()
                    .message("Role with name ResourceCreatorRole already exists.")
                    .meta(ErrorMetadata::builder().code("EntityAlreadyExists").build())
                    .build(),
            )
        });
        let role = aws_sdk_iam::types::Role::builder()
            .path("/")
            .role_name("ResourceCreatorRole")
            .role_id("AROAEXAMPLE")
            .arn("arn:aws:iam::123456789012:role/ResourceCreatorRole")
            .create_date(aws_smithy_types::DateTime::from_secs(1_764_000_000))
            .set_tags(Some(
                tags.iter()
                    .map(|(key, value)| Tag::builder().key(*key).value(*value).build().unwrap())
                    .collect(),
            ))
            .build()
            .unwrap();
        let get_role = mock!(aws_sdk_iam::Client::get_role).then_output(move || {
            aws_sdk_iam::operation::get_role::GetRoleOutput::builder()
                .role(role.clone())
                .build()
        });
        let attached = mock!(aws_sdk_iam::Client::list_attached_role_policies).then_output(|| {
            aws_sdk_iam::operation::list_attached_role_policies::ListAttachedRolePoliciesOutput::builder().build()
        });
        let iam = iam_with(mock_client!(
            aws_sdk_iam,
            RuleMode::MatchAny,
            [&exists, &get_role, &attached]
        ));
        let outcome = iam
            .apply(&Change::CreateRole {
                name: "ResourceCreatorRole".into(),
                trust_policy: serde_json::json!({"Version": "2012-10-17", "Statement": []}),
                max_session_duration: 3600,
                description: None,
                permissions_boundary: None,
                tags: vec![(crate::names::MANAGED_TAG.into(), "true".into())],
            })
            .await;
        match outcome {
            Ok(Applied::Done) => assert!(owned, "{tags:?}"),
            Err(error) => {
                assert!(!owned, "{tags:?}: {error}");
                assert_eq!(error.code(), "role_exists_unmanaged");
            }
            Ok(_) => panic!("{tags:?}: CreateRole answers Done"),
        }
        assert_eq!(get_role.num_calls(), 1);
    }
}

#[test]
fn secrets_do_not_print() {
    let key = NewAccessKey {
        id: "AKIAEXAMPLE".into(),
        secret: Secret::new("wJalrXUtnFEMI/K7MDENG"),
    };
    let printed = format!("{key:?}");
    assert!(
        printed.contains("AKIAEXAMPLE") && !printed.contains("wJalr"),
        "{printed}"
    );
}
