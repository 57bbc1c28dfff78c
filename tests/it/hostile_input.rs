//! What the hostile-input tests (`fuzz_events`, `hostile`) share: the functions and their answers, the
//! IAM user name rule, and what IAM holds, read with a client independent of the code under test and
//! compared before and after each refused request.

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use aws_sdk_iam::Client;
use functions::app::App;
use functions::events::Reply;
use functions::{enroll_mfa, issue_key, offboard, onboard, status};
use serde_json::Value;

use test_support::reply;

/// The refusals a hostile request may get; anything else (a 2xx, a 5xx, another code) is a failure.
pub const REFUSALS: &[&str] = &[
    "invalid_request",
    "invalid_username",
    "unknown_role",
    "invalid_mfa_codes",
    "unauthenticated",
    "email_not_verified",
    "forbidden",
    "username_case_mismatch",
    "user_not_found",
    "request_too_large",
];

/// IAM user names, as IAM documents them: 1 to 64 characters of `[A-Za-z0-9+=,.@_-]`.
pub fn iam_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Onboard,
    EnrollMfa,
    Status,
    IssueKey,
    Offboard,
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::Onboard,
        Function::EnrollMfa,
        Function::Status,
        Function::IssueKey,
        Function::Offboard,
    ];

    pub fn reads_body(self) -> bool {
        self != Function::Status
    }

    pub fn reads_path(self) -> bool {
        self != Function::Onboard
    }

    pub fn body_fields(self) -> &'static [&'static str] {
        match self {
            Function::Onboard => &["username", "roles", "mfa", "wait_until_usable"],
            Function::EnrollMfa => &["code1", "code2"],
            Function::IssueKey => &["wait_until_usable"],
            Function::Status | Function::Offboard => &[],
        }
    }

    /// The binary's entry point: `invoke` where the function also takes EventBridge events.
    pub async fn call(self, app: &App, event: Value) -> Answer {
        match self {
            Function::Onboard => Answer::of(onboard::invoke(app, event).await),
            Function::EnrollMfa => Answer::http(enroll_mfa::handle(app, event).await),
            Function::Status => Answer::http(status::handle(app, event).await),
            Function::IssueKey => Answer::http(issue_key::handle(app, event).await),
            Function::Offboard => Answer::of(offboard::invoke(app, event).await),
        }
    }
}

/// An HTTP response (`status`) or an EventBridge reply (`outcome`), with the error code of either.
#[derive(Debug)]
pub struct Answer {
    pub status: Option<i64>,
    pub outcome: Option<&'static str>,
    pub code: Option<String>,
    pub no_store: bool,
}

impl Answer {
    pub fn http(response: ApiGatewayV2httpResponse) -> Answer {
        let reply = reply(response);
        Answer {
            status: Some(reply.status),
            outcome: None,
            code: reply.body["error"]["code"].as_str().map(str::to_string),
            no_store: reply.header("cache-control") == "no-store",
        }
    }

    pub fn of(reply: Reply) -> Answer {
        match reply {
            Reply::Http(response) => Answer::http(response),
            Reply::Event(event) => Answer {
                status: None,
                outcome: Some(event.outcome),
                code: event
                    .error
                    .as_ref()
                    .and_then(|error| error["code"].as_str())
                    .map(str::to_string),
                no_store: true,
            },
        }
    }

    /// A 4xx (or an `… Failed` EventBridge reply), not cached, with a documented code.
    pub fn is_refusal(&self) -> bool {
        let refused = match (self.status, self.outcome) {
            (Some(status), _) => (400..500).contains(&status),
            (None, Some(outcome)) => outcome.ends_with(" Failed"),
            (None, None) => false,
        };
        refused && self.no_store && self.code.as_deref().is_some_and(|c| REFUSALS.contains(&c))
    }
}

/// Users (path, tags, groups, inline policies, access keys), roles (trust policy, attached policies),
/// groups (inline policies) and virtual MFA devices (owner, enabled or not), each as one line of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub mfa_devices: Vec<String>,
}

pub async fn take(iam: &Client) -> Snapshot {
    let mut users = Vec::new();
    for user in iam.list_users().send().await.expect("ListUsers").users() {
        let name = user.user_name();
        let mut tags: Vec<String> = iam
            .list_user_tags()
            .user_name(name)
            .send()
            .await
            .expect("ListUserTags")
            .tags()
            .iter()
            .map(|tag| format!("{}={}", tag.key(), tag.value()))
            .collect();
        tags.sort();
        let groups: Vec<String> = iam
            .list_groups_for_user()
            .user_name(name)
            .send()
            .await
            .expect("ListGroupsForUser")
            .groups()
            .iter()
            .map(|group| group.group_name().to_string())
            .collect();
        let policies = iam
            .list_user_policies()
            .user_name(name)
            .send()
            .await
            .expect("ListUserPolicies")
            .policy_names()
            .to_vec();
        let keys: Vec<String> = iam
            .list_access_keys()
            .user_name(name)
            .send()
            .await
            .expect("ListAccessKeys")
            .access_key_metadata()
            .iter()
            .map(|key| format!("{:?} {:?}", key.access_key_id(), key.status()))
            .collect();
        users.push(format!(
            "{}{name} tags={tags:?} groups={groups:?} policies={policies:?} keys={keys:?}",
            user.path()
        ));
    }
    let mut roles = Vec::new();
    for role in iam.list_roles().send().await.expect("ListRoles").roles() {
        let attached: Vec<String> = iam
            .list_attached_role_policies()
            .role_name(role.role_name())
            .send()
            .await
            .expect("ListAttachedRolePolicies")
            .attached_policies()
            .iter()
            .map(|policy| format!("{:?}", policy.policy_arn()))
            .collect();
        roles.push(format!(
            "{} trust={:?} attached={attached:?}",
            role.role_name(),
            role.assume_role_policy_document()
        ));
    }
    let mut groups = Vec::new();
    for group in iam.list_groups().send().await.expect("ListGroups").groups() {
        let policies = iam
            .list_group_policies()
            .group_name(group.group_name())
            .send()
            .await
            .expect("ListGroupPolicies")
            .policy_names()
            .to_vec();
        groups.push(format!("{} policies={policies:?}", group.group_name()));
    }
    let mfa_devices = iam
        .list_virtual_mfa_devices()
        .send()
        .await
        .expect("ListVirtualMFADevices")
        .virtual_mfa_devices()
        .iter()
        .map(|device| {
            format!(
                "{} user={:?} enabled={}",
                device.serial_number(),
                device.user().map(|user| user.user_name()),
                device.enable_date().is_some()
            )
        })
        .collect();
    Snapshot {
        users,
        roles,
        groups,
        mfa_devices,
    }
}
