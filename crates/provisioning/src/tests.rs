//! The use cases against mocked IAM answers: what moto cannot be made to do.

use crate::account::Account;
use crate::config::Config;
use crate::iam::Iam;
use aws_sdk_iam::operation::delete_service_specific_credential::DeleteServiceSpecificCredentialOutput;
use aws_sdk_iam::operation::delete_user::{DeleteUserError, DeleteUserOutput};
use aws_sdk_iam::operation::get_login_profile::GetLoginProfileError;
use aws_sdk_iam::operation::get_role::GetRoleError;
use aws_sdk_iam::operation::get_user::GetUserOutput;
use aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput;
use aws_sdk_iam::operation::list_attached_user_policies::ListAttachedUserPoliciesOutput;
use aws_sdk_iam::operation::list_groups_for_user::ListGroupsForUserOutput;
use aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput;
use aws_sdk_iam::operation::list_service_specific_credentials::ListServiceSpecificCredentialsOutput;
use aws_sdk_iam::operation::list_signing_certificates::ListSigningCertificatesOutput;
use aws_sdk_iam::operation::list_ssh_public_keys::ListSshPublicKeysOutput;
use aws_sdk_iam::operation::list_user_policies::ListUserPoliciesOutput;
use aws_sdk_iam::operation::list_virtual_mfa_devices::ListVirtualMfaDevicesOutput;
use aws_sdk_iam::types::StatusType;
use aws_sdk_iam::types::error::{DeleteConflictException, NoSuchEntityException};
use aws_sdk_iam::types::{ServiceSpecificCredentialMetadata, Tag, User};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use aws_smithy_types::error::ErrorMetadata;

fn iam_with(client: aws_sdk_iam::Client) -> Iam {
    Iam::with_client(client)
}

fn conflict() -> DeleteUserError {
    let message = "Cannot delete entity, must remove referenced objects first.";
    DeleteUserError::DeleteConflictException(
        DeleteConflictException::builder()
            .message(message)
            .meta(
                ErrorMetadata::builder()
                    .code("DeleteConflict")
                    .message(message)
                    .build(),
            )
            .build(),
    )
}

/// moto does not implement service-specific credentials: this is the one place they are exercised.
// Long: every SDK answer of the scenario is mocked here, in the order the calls are made.
#[tokio::test]
async fn service_specific_credentials_are_removed_when_iam_refuses_to_delete_the_user() {
    let date = aws_smithy_types::DateTime::from_secs(1_764_000_000);
    let user = User::builder()
        .user_name("dev")
        .user_id("AIDAEXAMPLE")
        .arn("arn:aws:iam::123456789012:user/onboarded/dev")
        .path("/onboarded/")
        .create_date(date)
        .tags(
            Tag::builder()
                .key("onboarding:managed")
                .value("true")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let credential = ServiceSpecificCredentialMetadata::builder()
        .user_name("dev")
        .status(StatusType::Active)
        .service_user_name("dev-at-123456789012")
        .create_date(date)
        .service_specific_credential_id("ACCAEXAMPLE")
        .service_name("codecommit.amazonaws.com")
        .build()
        .unwrap();
    let rules = [
        mock!(aws_sdk_iam::Client::get_user)
            .then_output(move || GetUserOutput::builder().user(user.clone()).build()),
        mock!(aws_sdk_iam::Client::list_groups_for_user).then_output(|| {
            ListGroupsForUserOutput::builder()
                .set_groups(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::list_user_policies).then_output(|| {
            ListUserPoliciesOutput::builder()
                .set_policy_names(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::list_attached_user_policies)
            .then_output(|| ListAttachedUserPoliciesOutput::builder().build()),
        mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
            ListAccessKeysOutput::builder()
                .set_access_key_metadata(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::list_mfa_devices).then_output(|| {
            ListMfaDevicesOutput::builder()
                .set_mfa_devices(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::get_login_profile).then_error(|| {
            GetLoginProfileError::NoSuchEntityException(
                NoSuchEntityException::builder()
                    .meta(ErrorMetadata::builder().code("NoSuchEntity").build())
                    .build(),
            )
        }),
        mock!(aws_sdk_iam::Client::list_signing_certificates).then_output(|| {
            ListSigningCertificatesOutput::builder()
                .set_certificates(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::list_ssh_public_keys)
            .then_output(|| ListSshPublicKeysOutput::builder().build()),
        mock!(aws_sdk_iam::Client::list_virtual_mfa_devices).then_output(|| {
            ListVirtualMfaDevicesOutput::builder()
                .set_virtual_mfa_devices(Some(vec![]))
                .build()
                .unwrap()
        }),
        mock!(aws_sdk_iam::Client::delete_user)
            .sequence()
            .error(conflict)
            .output(|| DeleteUserOutput::builder().build())
            .build(),
        mock!(aws_sdk_iam::Client::list_service_specific_credentials).then_output(move || {
            ListServiceSpecificCredentialsOutput::builder()
                .service_specific_credentials(credential.clone())
                .build()
        }),
        mock!(aws_sdk_iam::Client::delete_service_specific_credential)
            .match_requests(|request| {
                request.service_specific_credential_id() == Some("ACCAEXAMPLE")
            })
            .then_output(|| DeleteServiceSpecificCredentialOutput::builder().build()),
    ];
    let mut rules = rules.to_vec();
    rules.push(mock!(aws_sdk_iam::Client::get_role).then_error(|| {
        GetRoleError::NoSuchEntityException(
            NoSuchEntityException::builder()
                .meta(ErrorMetadata::builder().code("NoSuchEntity").build())
                .build(),
        )
    }));
    let rule_refs: Vec<&aws_smithy_mocks::Rule> = rules.iter().collect();
    let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::MatchAny, &rule_refs));
    let config = Config::from_lookup(|_| None).unwrap();
    let account = Account {
        id: "123456789012".into(),
        partition: "aws".into(),
    };
    let result = crate::offboarding::offboard(&iam, &config, &account, "dev")
        .await
        .unwrap();
    assert_eq!(
        rules[10].num_calls(),
        2,
        "DeleteUser, then again once the credential is gone"
    );
    assert_eq!(rules[12].num_calls(), 1);
    assert_eq!(
        result.removed,
        ["service-specific credential ACCAEXAMPLE", "user dev"]
    );
}

/// Real IAM answers `GetUser` of `Alice` with the user `alice`; moto does not, so this is where it is
/// shown. Every operation on a user reads it first, and each stops there.
// Long: the mocked answers, then each operation on the user in turn, each refused the same way.
#[tokio::test]
async fn a_user_iam_holds_under_another_case_is_never_acted_on() {
    use crate::access::{MfaChoice, OnboardingOrder};
    use crate::config::{Config, DriftSettings};

    let user = aws_sdk_iam::types::User::builder()
        .user_name("alice")
        .user_id("AIDAEXAMPLE")
        .arn("arn:aws:iam::123456789012:user/onboarded/alice")
        .path("/onboarded/")
        .create_date(aws_smithy_types::DateTime::from_secs(1_764_000_000))
        .tags(
            Tag::builder()
                .key(crate::names::MANAGED_TAG)
                .value("true")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let get_user = mock!(aws_sdk_iam::Client::get_user).then_output(move || {
        aws_sdk_iam::operation::get_user::GetUserOutput::builder()
            .user(user.clone())
            .build()
    });
    let iam = iam_with(mock_client!(aws_sdk_iam, RuleMode::MatchAny, [&get_user]));
    let config = Config::from_lookup(|_| None).unwrap();
    let account = Account::from_arn("arn:aws:iam::123456789012:root").unwrap();
    let order = OnboardingOrder {
        username: "Alice".into(),
        roles: config.catalog.clone(),
        mfa: MfaChoice::Virtual,
        wait_until_usable: false,
        encrypt_to: None,
        requested_by: "admin@example.com".into(),
        issue_secrets: true,
        by_admin: true,
    };
    let now = std::time::SystemTime::now();
    let settings = DriftSettings::default();
    let outcomes = [
        ("observe", iam.observe_user("Alice").await.map(|_| ())),
        (
            "onboard",
            crate::onboarding::onboard(&iam, &config, &account, &order, now)
                .await
                .map(|_| ()),
        ),
        (
            "status",
            crate::status::status(&iam, &config, &settings, &account, "Alice", now)
                .await
                .map(|_| ()),
        ),
        (
            "issue-key",
            crate::rotation::rotate_key(&iam, &config, "Alice", false, None)
                .await
                .map(|_| ()),
        ),
        (
            "reissue MFA",
            crate::mfa::reissue(&iam, &config, &account, "Alice")
                .await
                .map(|_| ()),
        ),
        (
            "enable MFA",
            crate::mfa::enable(&iam, &config, &account, "Alice", "123456", "654321")
                .await
                .map(|_| ()),
        ),
        (
            "offboard",
            crate::offboarding::offboard(&iam, &config, &account, "Alice")
                .await
                .map(|_| ()),
        ),
    ];
    for (operation, outcome) in outcomes {
        let error = outcome.expect_err(operation);
        assert_eq!(
            error.code(),
            "username_case_mismatch",
            "{operation}: {error}"
        );
    }
    // One GetUser per operation and nothing else: a second call would have needed another rule.
    assert_eq!(get_user.num_calls(), 7);
}
