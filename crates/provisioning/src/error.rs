//! The one error type every domain operation returns. `code()` is the stable identifier callers see;
//! messages never carry a secret, and AWS details stay in the logs.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    InvalidRecipient(String),
    #[error("the request body is {size} bytes, above the limit of {limit}")]
    RequestTooLarge { size: usize, limit: usize },
    #[error("{0}")]
    InvalidUsername(String),
    #[error("role {0:?} is not in the role catalog")]
    UnknownRole(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is named by `email`, and the identity provider does not vouch that the address is theirs.
    #[error(
        "the token's email address is not verified (claim email_verified is not true); verify it with the identity provider"
    )]
    EmailNotVerified,
    #[error("{0}")]
    Forbidden(String),
    /// Signed in, but not among the people this deployment onboards (`ELIGIBLE_*`).
    #[error(
        "{0:?} is not eligible for onboarding here: ask your platform team to add you to an eligible group"
    )]
    NotEligible(String),
    #[error("IAM user {0:?} exists but is not managed by onboarding; it was not modified")]
    UserExistsUnmanaged(String),
    /// A catalog role of that name exists without the stack's ownership tag, and its catalog entry does
    /// not say `adopt`: it is someone else's role.
    #[error(
        "IAM role {0:?} exists but was not created by onboarding and its catalog entry does not say \"adopt\": true; nothing was changed"
    )]
    RoleExistsUnmanaged(String),
    /// The entity carries the managed tag, but `onboarding:stack` names another deployment in the account
    /// (two stacks whose user paths or catalogs overlap): that stack's, never changed by this one.
    #[error(
        "{entity} is managed by another onboarding stack, {stack:?}; this stack does not change it, so nothing was changed"
    )]
    ManagedByAnotherStack { entity: String, stack: String },
    #[error("no managed user {0:?}")]
    UserNotFound(String),
    /// IAM ignores case in user names: `asked` would act on `matches`, a different spelling of the name.
    #[error(
        "user name {asked:?} differs from {matches:?} only in case; IAM treats them as one user, so nothing was done"
    )]
    UsernameCaseMismatch { asked: String, matches: String },
    #[error("an MFA device is already enabled for {0:?}")]
    MfaAlreadyEnabled(String),
    #[error(
        "the two MFA codes were not accepted: give two consecutive 6-digit codes from the device"
    )]
    InvalidMfaCodes,
    #[error(
        "the trust policy of role {role:?} would be {size} characters, above the account's quota of {quota}; \
         switch TRUST_MODE to account or raise AssumeRolePolicySizeQuota"
    )]
    TrustPolicyFull {
        role: String,
        size: usize,
        quota: usize,
    },
    #[error(
        "user {0:?} already has two active access keys; an administrator must deactivate one before another can be issued"
    )]
    TooManyKeys(String),
    /// `DELETE /users/{u}/access-keys/{id}` names the key the user signs in with: deleting it would lock
    /// them out, so only an inactive key (one a rotation retired) is deleted.
    #[error(
        "access key {key} of {user:?} is active; only an inactive key is deleted (rotate first: POST /users/{user}/access-keys)"
    )]
    AccessKeyActive { user: String, key: String },
    /// The user holds no key of that id: never theirs, or already deleted.
    #[error("user {user:?} has no access key {key}")]
    AccessKeyNotFound { user: String, key: String },
    /// `CreateAccessKey` took effect but its answer, the only copy of the secret, was lost on the way.
    #[error(
        "an access key was created for {0:?} but IAM's answer holding its secret was lost; \
         POST /users/{0}/access-keys replaces it"
    )]
    KeySecretLost(String),
    /// A catalog role lives in another account, and its spoke role there could not be assumed (not
    /// deployed, trusting another hub, or STS refusing): nothing was changed anywhere.
    #[error(
        "account {account} could not be reached through its spoke role {role}; nothing was changed: {detail}"
    )]
    AccountUnreachable {
        account: String,
        role: String,
        detail: String,
    },
    /// The invocation's deadline came before IAM answered (throttling, slow or failing calls).
    #[error(
        "IAM did not answer in time; what was done so far is finished by sending the same request again"
    )]
    DeadlineExceeded,
    #[error("AWS call {operation} failed: {detail}")]
    Aws {
        operation: &'static str,
        detail: String,
        retryable: bool,
    },
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidRequest(_) => "invalid_request",
            Error::InvalidRecipient(_) => "invalid_recipient",
            Error::RequestTooLarge { .. } => "request_too_large",
            Error::InvalidUsername(_) => "invalid_username",
            Error::UnknownRole(_) => "unknown_role",
            Error::Unauthenticated(_) => "unauthenticated",
            Error::EmailNotVerified => "email_not_verified",
            Error::Forbidden(_) => "forbidden",
            Error::NotEligible(_) => "not_eligible",
            Error::UserExistsUnmanaged(_) => "user_exists_unmanaged",
            Error::RoleExistsUnmanaged(_) => "role_exists_unmanaged",
            Error::ManagedByAnotherStack { .. } => "managed_by_another_stack",
            Error::UserNotFound(_) => "user_not_found",
            Error::UsernameCaseMismatch { .. } => "username_case_mismatch",
            Error::MfaAlreadyEnabled(_) => "mfa_already_enabled",
            Error::InvalidMfaCodes => "invalid_mfa_codes",
            Error::TrustPolicyFull { .. } => "trust_policy_full",
            Error::TooManyKeys(_) => "too_many_keys",
            Error::AccessKeyActive { .. } => "access_key_active",
            Error::AccessKeyNotFound { .. } => "access_key_not_found",
            Error::AccountUnreachable { .. } => "account_unreachable",
            Error::DeadlineExceeded
            | Error::KeySecretLost(_)
            | Error::Aws {
                retryable: true, ..
            } => "upstream_unavailable",
            Error::Aws { .. } => "internal",
        }
    }

    /// What the caller may be shown. AWS failures are summarised: their details (ARNs, request ids) go
    /// to the log line, not to the person on the other end.
    pub fn public_message(&self) -> String {
        match self {
            Error::Aws {
                retryable: true, ..
            } => "IAM is throttling or failing; what was done so far is finished by sending the same \
                  request again in a few seconds"
                .to_string(),
            Error::Aws { .. } => {
                "an internal error occurred; nothing secret was created, and the request can be retried"
                    .to_string()
            }
            Error::AccountUnreachable { account, role, .. } => format!(
                "account {account} could not be reached through its spoke role {role} (is spoke.yaml \
                 deployed there?); nothing was changed, and the request can be retried"
            ),
            other => other.to_string(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::DeadlineExceeded
                | Error::KeySecretLost(_)
                | Error::AccountUnreachable { .. }
                | Error::Aws {
                    retryable: true,
                    ..
                }
        )
    }

    pub(crate) fn aws(operation: &'static str, error: impl fmt::Display, retryable: bool) -> Self {
        Error::Aws {
            operation,
            detail: error.to_string(),
            retryable,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
