//! Faults from IAM, injected on the wire by a proxy in front of moto: throttling, 5xx, dropped
//! connections, slow answers, IAM's "Invalid principal" for a new user, answers lost after the change was
//! made, a step that fails for good, and the invocation's deadline. Also answers moto never gives: wrong
//! MFA codes, lists in several pages, an outcome event EventBridge refuses, a new key STS keeps refusing.
//! Each test ends by reading IAM back with a client that bypasses the proxy.

use std::time::{Duration, Instant};

use functions::app::App;
use functions::runtime::with_deadline;
use provisioning::iam::events::EventBus;
use serde_json::{Value, json};
use test_support::logs::CapturedLogs;
use test_support::proxy::{Fault, FaultKind, FaultProxy, When};
use test_support::*;
use tracing::instrument::WithSubscriber;

const ROLE: &str = "ResourceCreatorRole";
const GROUP: &str = "onboarding-ResourceCreatorRole";

/// What IAM holds for one person, in the terms a clean onboarding is judged by. Key ids and dates
/// differ from run to run; their number and state do not.
#[derive(Debug, PartialEq)]
struct EndState {
    user_exists: bool,
    /// `true` per key when active.
    keys: Vec<bool>,
    groups: Vec<String>,
    /// Virtual MFA devices named after the user, assigned or not.
    mfa_devices: Vec<String>,
    /// Whether the role's trust policy names the user (`users` mode).
    trusted: bool,
    /// Trust-policy locks left behind.
    locks: Vec<String>,
}

async fn end_state(iam: &aws_sdk_iam::Client, user: &str) -> EndState {
    let user_exists = iam.get_user().user_name(user).send().await.is_ok();
    let keys = match iam.list_access_keys().user_name(user).send().await {
        Ok(keys) => keys
            .access_key_metadata()
            .iter()
            .map(|key| key.status() == Some(&aws_sdk_iam::types::StatusType::Active))
            .collect(),
        Err(_) => Vec::new(),
    };
    let groups = match iam.list_groups_for_user().user_name(user).send().await {
        Ok(groups) => groups
            .groups()
            .iter()
            .map(|g| g.group_name().to_string())
            .collect(),
        Err(_) => Vec::new(),
    };
    let devices = iam
        .list_virtual_mfa_devices()
        .send()
        .await
        .expect("moto lists MFA devices");
    let mfa_devices = devices
        .virtual_mfa_devices()
        .iter()
        .map(|d| d.serial_number().to_string())
        .filter(|serial| serial.ends_with(&format!("/{user}")))
        .collect();
    let trusted = match iam.get_role().role_name(ROLE).send().await {
        Ok(role) => {
            let document = role.role().and_then(|r| r.assume_role_policy_document());
            document.is_some_and(|d| decode_policy(d).to_string().contains(&format!("/{user}\"")))
        }
        Err(_) => false,
    };
    let locks = iam
        .list_policies()
        .path_prefix("/onboarding/locks/")
        .send()
        .await
        .expect("moto lists policies")
        .policies()
        .iter()
        .filter_map(|p| p.policy_name().map(str::to_string))
        .collect();
    EndState {
        user_exists,
        keys,
        groups,
        mfa_devices,
        trusted,
        locks,
    }
}

fn clean_onboarding(user: &str, users_mode: bool) -> EndState {
    EndState {
        user_exists: true,
        keys: vec![true],
        groups: vec![GROUP.to_string()],
        mfa_devices: vec![format!("arn:aws:iam::{ACCOUNT}:mfa/onboarded/{user}")],
        trusted: users_mode,
        locks: Vec::new(),
    }
}

fn gone() -> EndState {
    EndState {
        user_exists: false,
        keys: Vec::new(),
        groups: Vec::new(),
        mfa_devices: Vec::new(),
        trusted: false,
        locks: Vec::new(),
    }
}

fn mode_vars(users_mode: bool) -> Vec<(&'static str, &'static str)> {
    if users_mode {
        vec![("TRUST_MODE", "users")]
    } else {
        Vec::new()
    }
}

fn fired(proxy: &FaultProxy, kind: &FaultKind) -> usize {
    proxy
        .injected()
        .iter()
        .filter(|(_, injected)| injected == kind)
        .count()
}

/// Onboard, enrol MFA, rotate twice, status, drift check, offboard: every step through a proxy that
/// throttles, fails and drops a share of all calls. The SDK's retries (and ours, for the one call that
/// must not be repeated blindly) get every operation through, and each ends exactly as without faults.
async fn the_whole_life_survives(users_mode: bool) {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &mode_vars(users_mode)).await;
    let iam = moto.iam().await;
    let me = "faulty@example.com";
    // About one call in four fails, and retries are faulted too. Far more, and the SDK's retry quota
    // (its guard against retry storms) runs dry, as it is meant to.
    proxy.inject(Fault::everywhere(FaultKind::Throttling, When::EveryNth(6)));
    proxy.inject(Fault::everywhere(
        FaultKind::ServiceFailure,
        When::EveryNth(9),
    ));
    proxy.inject(Fault::everywhere(FaultKind::Drop, When::EveryNth(11)));

    let created = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(end_state(&iam, me).await, clean_onboarding(me, users_mode));

    let uri = created.body["mfa"]["otpauth_uri"].as_str().expect("a seed");
    let enrolled = enroll_with_seed(&app, self_service(me), me, uri).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);

    for _ in 0..2 {
        let rotated = issue_key_as(&app, self_service(me), me).await;
        assert_eq!(rotated.status, 201, "{}", rotated.body);
    }
    let keys = end_state(&iam, me).await.keys;
    assert_eq!(keys.len(), 2, "rotation keeps the new key and one inactive");
    assert_eq!(keys.iter().filter(|active| **active).count(), 1);

    let status = status_as(&app, self_service(me), me).await;
    assert_eq!(status.status, 200, "{}", status.body);

    let report = functions::drift_check::handle(&app, json!({}))
        .await
        .expect("the drift check ends");
    let report = serde_json::to_value(&report).expect("a JSON report");
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(
        !rules
            .iter()
            .any(|rule| rule.starts_with("role.") || rule.starts_with("group.")),
        "faults left drift behind: {rules:?}"
    );

    let offboarded = offboard_as(&app, admin("admin@example.com"), me).await;
    assert_eq!(offboarded.status, 200, "{}", offboarded.body);
    assert_eq!(end_state(&iam, me).await, gone());

    for kind in [
        FaultKind::Throttling,
        FaultKind::ServiceFailure,
        FaultKind::Drop,
    ] {
        assert!(fired(&proxy, &kind) > 0, "{kind:?} was never injected");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_5xx_and_dropped_connections_are_survived_in_account_mode() {
    the_whole_life_survives(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_5xx_and_dropped_connections_are_survived_in_users_mode() {
    the_whole_life_survives(true).await;
}

#[tokio::test]
async fn slow_answers_are_waited_for_and_a_new_users_invalid_principal_is_waited_out() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[("TRUST_MODE", "users")]).await;
    let iam = moto.iam().await;
    let me = "patient@example.com";
    proxy.inject(Fault::on(
        "iam:CreateRole",
        FaultKind::InvalidPrincipal,
        When::First(2),
    ));
    proxy.inject(Fault::everywhere(
        FaultKind::Slow(Duration::from_millis(700)),
        When::EveryNth(3),
    ));

    let created = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(end_state(&iam, me).await, clean_onboarding(me, true));
    assert_eq!(fired(&proxy, &FaultKind::InvalidPrincipal), 2);
    assert!(fired(&proxy, &FaultKind::Slow(Duration::from_millis(700))) > 0);
}

#[tokio::test]
async fn out_of_time_answers_503_with_retry_after_and_the_same_request_then_finishes() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    let iam = moto.iam().await;
    let me = "late@example.com";
    proxy.inject(Fault::on(
        "iam:CreateVirtualMFADevice",
        FaultKind::Throttling,
        When::Always,
    ));

    let started = Instant::now();
    let response = with_deadline(
        Instant::now() + Duration::from_secs(3),
        functions::onboard::handle(&app, http_event(self_service(me), json!({}), None)),
    )
    .await;
    let late = reply(response);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "answered only after {:?}",
        started.elapsed()
    );
    assert_eq!(late.status, 503, "{}", late.body);
    assert_eq!(late.error_code(), "upstream_unavailable");
    assert_eq!(late.header("retry-after"), "5");
    assert!(late.body.get("access_key").is_none());
    let half = end_state(&iam, me).await;
    assert!(
        half.keys.is_empty(),
        "no key before the MFA device: {half:?}"
    );

    proxy.heal();
    let finished = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(finished.status, 201, "{}", finished.body);
    assert!(finished.body["access_key"]["secret_access_key"].is_string());
    assert!(finished.body["mfa"]["otpauth_uri"].is_string());
    assert_eq!(end_state(&iam, me).await, clean_onboarding(me, false));
}

/// The IAM calls onboarding writes with, in order; `users` mode adds the trust-policy lock and edit.
const ONBOARDING_WRITES: [&str; 9] = [
    "iam:CreateUser",
    "iam:CreateRole",
    "iam:AttachRolePolicy",
    "iam:CreateGroup",
    "iam:PutGroupPolicy",
    "iam:AddUserToGroup",
    "iam:CreateVirtualMFADevice",
    "iam:CreatePolicy",
    "iam:CreateAccessKey",
];

async fn onboarding_dies_at_each_step(users_mode: bool) {
    for step in ONBOARDING_WRITES {
        if step == "iam:CreatePolicy" && !users_mode {
            continue;
        }
        let moto = Moto::start();
        let proxy = FaultProxy::start(&moto.endpoint).await;
        let app = app_at(&proxy.endpoint, &mode_vars(users_mode)).await;
        let iam = moto.iam().await;
        let me = "halfway@example.com";

        proxy.inject(Fault::on(step, FaultKind::AccessDenied, When::Always));
        let failed = onboard_as(&app, self_service(me), json!({})).await;
        assert_eq!(failed.status, 500, "{step}: {}", failed.body);
        assert!(failed.body.get("access_key").is_none(), "{step}");
        assert!(
            end_state(&iam, me).await.keys.is_empty(),
            "{step}: no key is made before every other step is done"
        );

        proxy.heal();
        let finished = onboard_as(&app, self_service(me), json!({})).await;
        assert!(
            finished.status == 201 || finished.status == 200,
            "{step}: {}",
            finished.body
        );
        assert!(
            finished.body["access_key"]["secret_access_key"].is_string(),
            "{step}: the retry hands out the key: {}",
            finished.body
        );
        assert!(
            finished.body["mfa"]["otpauth_uri"].is_string(),
            "{step}: the retry hands out an MFA seed nobody received before: {}",
            finished.body
        );
        assert_eq!(
            end_state(&iam, me).await,
            clean_onboarding(me, users_mode),
            "{step}"
        );
    }
}

#[tokio::test]
async fn onboarding_killed_at_any_step_is_finished_by_the_same_request_account_mode() {
    onboarding_dies_at_each_step(false).await;
}

#[tokio::test]
async fn onboarding_killed_at_any_step_is_finished_by_the_same_request_users_mode() {
    onboarding_dies_at_each_step(true).await;
}

#[tokio::test]
async fn a_key_whose_answer_was_lost_is_reported_on_the_retry_and_issue_key_recovers() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    let iam = moto.iam().await;
    let me = "unlucky@example.com";
    proxy.inject(Fault::on(
        "iam:CreateAccessKey",
        FaultKind::LoseAnswer,
        When::First(1),
    ));

    let lost = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(lost.status, 503, "{}", lost.body);
    assert_eq!(lost.error_code(), "upstream_unavailable");
    assert_eq!(
        end_state(&iam, me).await.keys,
        vec![true],
        "one key, not a second one made by a blind retry"
    );

    // The MFA seed made by the first request never reached anyone either: the retry issues a new one.
    let retried = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(retried.status, 201, "{}", retried.body);
    assert!(retried.body["mfa"]["otpauth_uri"].is_string());
    let key = &retried.body["access_key"];
    assert!(key.get("secret_access_key").is_none());
    assert_eq!(key["secret_lost"], true, "{key}");
    assert_eq!(
        key["recover_with"],
        format!("POST /users/{me}/access-keys"),
        "{key}"
    );
    assert_eq!(
        end_state(&iam, me).await.keys,
        vec![true],
        "the retry made no key"
    );

    let recovered = issue_key_as(&app, self_service(me), me).await;
    assert_eq!(recovered.status, 201, "{}", recovered.body);
    assert!(recovered.body["access_key"]["secret_access_key"].is_string());
    let replay = onboard_as(&app, self_service(me), json!({})).await;
    assert!(
        replay.body["access_key"].get("secret_lost").is_none(),
        "after issue-key the active key's secret was shown: {}",
        replay.body
    );
}

/// The IAM calls offboarding writes with: everything the user holds is removed before the user.
const OFFBOARDING_WRITES: [&str; 7] = [
    "iam:DeleteAccessKey",
    "iam:DeactivateMFADevice",
    "iam:DeleteVirtualMFADevice",
    "iam:RemoveUserFromGroup",
    "iam:CreatePolicy",
    "iam:UpdateAssumeRolePolicy",
    "iam:DeleteUser",
];

async fn onboarded_with_mfa(app: &App, me: &str) {
    let created = onboard_as(app, self_service(me), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let uri = created.body["mfa"]["otpauth_uri"].as_str().expect("a seed");
    let enrolled = enroll_with_seed(app, self_service(me), me, uri).await;
    assert_eq!(enrolled.status, 200, "{}", enrolled.body);
}

#[tokio::test]
async fn offboarding_killed_at_any_step_is_finished_by_the_same_request() {
    for step in OFFBOARDING_WRITES {
        let moto = Moto::start();
        let proxy = FaultProxy::start(&moto.endpoint).await;
        let app = app_at(&proxy.endpoint, &[("TRUST_MODE", "users")]).await;
        let iam = moto.iam().await;
        let me = "leaver@example.com";
        onboarded_with_mfa(&app, me).await;

        proxy.inject(Fault::on(step, FaultKind::AccessDenied, When::Always));
        let failed = offboard_as(&app, admin("admin@example.com"), me).await;
        assert_eq!(failed.status, 500, "{step}: {}", failed.body);
        assert!(end_state(&iam, me).await.user_exists, "{step}");

        proxy.heal();
        let finished = offboard_as(&app, admin("admin@example.com"), me).await;
        assert_eq!(finished.status, 200, "{step}: {}", finished.body);
        assert_eq!(end_state(&iam, me).await, gone(), "{step}");
    }
}

#[tokio::test]
async fn a_step_that_fails_for_good_is_reported_without_aws_details() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    proxy.inject(Fault::on(
        "iam:AddUserToGroup",
        FaultKind::AccessDenied,
        When::Always,
    ));
    let failed = onboard_as(&app, self_service("denied@example.com"), json!({})).await;
    assert_eq!(failed.status, 500);
    assert_eq!(failed.error_code(), "internal");
    assert!(
        !failed.body.to_string().contains("AccessDenied"),
        "{}",
        failed.body
    );
}

/// IAM's answer to codes that are not the device's: moto accepts any six digits.
const WRONG_CODES: FaultKind = FaultKind::Refuse {
    status: 403,
    code: "InvalidAuthenticationCode",
};

#[tokio::test]
async fn mfa_codes_iam_does_not_accept_answer_400_and_leave_the_device_waiting() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    let iam = moto.iam().await;
    let me = "mistyped@example.com";
    let created = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let uri = created.body["mfa"]["otpauth_uri"].as_str().expect("a seed");

    proxy.inject(Fault::on("iam:EnableMFADevice", WRONG_CODES, When::Always));
    let refused = enroll_with_seed(&app, self_service(me), me, uri).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(refused.error_code(), "invalid_mfa_codes");
    assert_eq!(fired(&proxy, &WRONG_CODES), 1, "a refusal is not retried");
    let enabled = iam
        .list_mfa_devices()
        .user_name(me)
        .send()
        .await
        .expect("moto lists the user's MFA devices");
    assert!(
        enabled.mfa_devices().is_empty(),
        "no device enabled: {:?}",
        enabled.mfa_devices()
    );
    assert_eq!(
        end_state(&iam, me).await.mfa_devices,
        vec![format!("arn:aws:iam::{ACCOUNT}:mfa/onboarded/{me}")],
        "the device issued is kept, waiting for the right codes"
    );

    proxy.heal();
    let retried = enroll_with_seed(&app, self_service(me), me, uri).await;
    assert_eq!(retried.status, 200, "{}", retried.body);
    assert_eq!(retried.body["status"], "enabled");
}

/// The answers of one call, in order, as `(IsTruncated, Marker sent back)` per page.
fn paging(proxy: &FaultProxy, call: &str) -> Vec<(bool, Option<String>)> {
    proxy
        .exchanges()
        .iter()
        .filter(|exchange| exchange.call == call)
        .map(|exchange| {
            let marker = form_urlencoded::parse(exchange.request.as_bytes())
                .find(|(key, _)| key == "Marker")
                .map(|(_, value)| value.into_owned());
            (
                exchange
                    .response
                    .contains("<IsTruncated>true</IsTruncated>"),
                marker,
            )
        })
        .collect()
}

#[tokio::test]
async fn the_drift_check_reads_every_page_of_the_account_and_of_the_mfa_devices() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    let iam = moto.iam().await;
    let users = ["a@example.com", "b@example.com", "c@example.com"];
    for user in users {
        onboarded_with_mfa(&app, user).await;
    }
    // The catalog role comes last (after the users and the grant group): its drift is on the last page.
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let no_mfa = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
    iam.update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(no_mfa.to_string())
        .send()
        .await
        .expect("moto takes the weakened trust policy");

    for call in [
        "iam:GetAccountAuthorizationDetails",
        "iam:ListVirtualMFADevices",
    ] {
        proxy.inject(Fault::on(call, FaultKind::Pages(2), When::Always));
    }
    proxy.clear_calls();
    proxy.clear_exchanges();
    let report = functions::drift_check::handle(&app, json!({}))
        .await
        .expect("the drift check ends");

    let found: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.rule, f.resource_arn.as_str()))
        .collect();
    assert!(
        found.contains(&("role.trust-mfa-not-enforced", role_arn.as_str())),
        "the drift on the last page is reported: {found:?}"
    );
    assert!(
        !found.iter().any(|(rule, _)| *rule == "role.missing"),
        "{found:?}"
    );
    assert_eq!(
        (
            report.summary.users,
            report.summary.groups,
            report.summary.roles
        ),
        (3, 1, 1)
    );
    // 3 users, 1 group, 1 role in pages of 2; 3 enabled devices in pages of 2.
    let marker = |start: usize| Some(format!("fault-proxy-page-{start}"));
    assert_eq!(
        paging(&proxy, "iam:GetAccountAuthorizationDetails"),
        vec![(true, None), (true, marker(2)), (false, marker(4))]
    );
    assert_eq!(
        paging(&proxy, "iam:ListVirtualMFADevices"),
        vec![(true, None), (false, marker(2))]
    );
    let calls = proxy.calls();
    assert!(
        !calls.iter().any(|call| call == "iam:ListMFADevices"),
        "every user's virtual device was seen in the listing, none asked for one by one: {calls:?}"
    );
}

#[tokio::test]
async fn an_outcome_event_eventbridge_refuses_is_logged_and_the_onboarding_answers_as_usual() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let bus = EventBus::new(&sdk_config_at(&proxy.endpoint).await, "onboarding-events");
    let app = app_at(&proxy.endpoint, &[]).await.with_event_bus(bus);
    let iam = moto.iam().await;
    // PutEvents answers 200 even when it refuses an entry; the refusal is inside.
    let refused = FaultKind::Answer {
        content_type: "application/x-amz-json-1.1",
        body: json!({"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure",
            "ErrorMessage": "injected entry failure"}]})
        .to_string(),
    };
    proxy.inject(Fault::on("events:PutEvents", refused.clone(), When::Always));
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber =
        functions::app::json_logs(tracing_subscriber::EnvFilter::new("info"), move || {
            writer.clone()
        });

    let me = "unannounced@example.com";
    let created = onboard_as(&app, self_service(me), json!({}))
        .with_subscriber(subscriber)
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert!(created.body["access_key"]["secret_access_key"].is_string());
    assert!(created.body["mfa"]["otpauth_uri"].is_string());
    assert_eq!(end_state(&iam, me).await, clean_onboarding(me, false));
    assert!(fired(&proxy, &refused) > 0, "the event was never sent");
    let not_published: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|line| line["fields"]["message"] == "outcome event not published")
        .collect();
    assert_eq!(not_published.len(), 1, "{:?}", logs.lines());
    let line = &not_published[0];
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["fields"]["detail_type"], "User Onboarded");
    assert_eq!(line["fields"]["correlation_id"], "\"test-request\"");
    assert!(
        line["fields"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("InternalFailure")),
        "{line}"
    );

    // Over EventBridge the invocation succeeds too, so EventBridge does not run it again.
    let from_hr = functions::onboard::handle_event(
        &app,
        eventbridge(
            "hr-1",
            "Onboarding Requested",
            json!({"username": "hired@example.com", "requested_by": "HR-1"}),
        ),
    )
    .await;
    assert_eq!(from_hr.outcome, "User Onboarded");
    assert!(from_hr.error.is_none(), "{:?}", from_hr.error);
}

/// A slow EventBridge must not keep the answer, and the secret it holds (already recorded as shown), past
/// the invocation's deadline: Lambda would end the invocation and the person would never see it.
#[tokio::test]
async fn an_outcome_event_eventbridge_is_slow_to_take_is_given_up_on_at_the_deadline() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let bus = EventBus::new(&sdk_config_at(&proxy.endpoint).await, "onboarding-events");
    let app = app_at(&proxy.endpoint, &[]).await.with_event_bus(bus);
    let slow = FaultKind::Slow(Duration::from_secs(120));
    proxy.inject(Fault::on("events:PutEvents", slow.clone(), When::Always));
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber =
        functions::app::json_logs(tracing_subscriber::EnvFilter::new("info"), move || {
            writer.clone()
        });

    let deadline = Instant::now() + Duration::from_secs(10);
    let response = with_deadline(
        deadline,
        functions::onboard::handle(
            &app,
            http_event(self_service("hurried@example.com"), json!({}), None),
        ),
    )
    .with_subscriber(subscriber)
    .await;
    assert!(Instant::now() < deadline, "answered after the deadline");
    let answered = reply(response);
    assert_eq!(answered.status, 201, "{}", answered.body);
    assert!(answered.body["access_key"]["secret_access_key"].is_string());
    assert!(fired(&proxy, &slow) > 0, "the event was sent");
    let not_published: Vec<Value> = logs
        .lines()
        .into_iter()
        .filter(|line| line["fields"]["message"] == "outcome event not published")
        .collect();
    assert_eq!(not_published.len(), 1, "{:?}", logs.lines());
    assert!(
        not_published[0]["fields"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("deadline")),
        "{}",
        not_published[0]
    );
}

#[tokio::test]
async fn a_new_key_sts_refuses_for_the_whole_wait_is_answered_not_usable_with_its_secret() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    let iam = moto.iam().await;
    let me = "early@example.com";
    // Every check made with the new key is refused, as while IAM is still propagating it.
    let unknown_key = FaultKind::Refuse {
        status: 403,
        code: "InvalidClientTokenId",
    };
    proxy.inject(Fault::on(
        "sts:GetCallerIdentity",
        unknown_key.clone(),
        When::Always,
    ));

    // An invocation with little time left (an onboarding slowed down by throttling, say): the wait
    // must end in time to answer, since the key already exists.
    let started = Instant::now();
    let response = with_deadline(
        Instant::now() + Duration::from_secs(6),
        functions::onboard::handle(
            &app,
            http_event(self_service(me), json!({"wait_until_usable": true}), None),
        ),
    )
    .await;
    let answered = reply(response);
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "answered only after {:?}",
        started.elapsed()
    );
    assert_eq!(answered.status, 201, "{}", answered.body);
    let key = &answered.body["access_key"];
    assert_eq!(key["usable"], false, "{key}");
    assert!(key["secret_access_key"].is_string(), "{key}");
    assert!(key.get("secret_lost").is_none(), "{key}");
    assert!(
        fired(&proxy, &unknown_key) > 0,
        "the key was checked with STS"
    );

    let key_id = key["access_key_id"].as_str().expect("a key id");
    let in_iam: Vec<String> = iam
        .list_access_keys()
        .user_name(me)
        .send()
        .await
        .expect("moto lists keys")
        .access_key_metadata()
        .iter()
        .filter_map(|key| key.access_key_id().map(str::to_string))
        .collect();
    assert_eq!(in_iam, vec![key_id.to_string()]);
    let tags = iam
        .list_user_tags()
        .user_name(me)
        .send()
        .await
        .expect("moto lists tags");
    let shown = tags
        .tags()
        .iter()
        .find(|tag| tag.key() == "onboarding:key-shown")
        .map(|tag| tag.value());
    assert_eq!(shown, Some(key_id), "the key whose secret was answered");

    proxy.heal();
    let replay = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(replay.status, 200, "{}", replay.body);
    assert!(
        replay.body["access_key"].get("secret_lost").is_none(),
        "{}",
        replay.body
    );
}

/// The invocation dies while the new key is being checked with STS (Lambda's timeout, a crash): its
/// answer, and the secret in it, never reach anyone. The replay must say so, for onboarding and rotation.
/// Runs `request` until it is waiting for STS to accept its new key (the proxy holds `hang` on
/// GetCallerIdentity), then drops it there, as Lambda kills an invocation at its deadline. Waits for that
/// moment rather than for a fixed time, which a busy machine would outrun.
async fn cut_off_while_checking_the_key<F: std::future::Future>(
    proxy: &FaultProxy,
    hang: &FaultKind,
    request: F,
) {
    let before = fired(proxy, hang);
    let checking = async {
        while fired(proxy, hang) == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        tokio::select! {
            _ = request => panic!("the request answered although STS never did"),
            () = checking => {}
        }
    })
    .await;
    assert!(
        outcome.is_ok(),
        "the request never checked its key with STS"
    );
}

#[tokio::test]
async fn a_request_killed_while_waiting_for_its_key_leaves_the_secret_reported_lost() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    let me = "killed@example.com";
    let hang = FaultKind::Slow(Duration::from_secs(120));
    proxy.inject(Fault::on(
        "sts:GetCallerIdentity",
        hang.clone(),
        When::Always,
    ));

    cut_off_while_checking_the_key(
        &proxy,
        &hang,
        functions::onboard::handle(
            &app,
            http_event(self_service(me), json!({"wait_until_usable": true}), None),
        ),
    )
    .await;

    proxy.heal();
    let replay = onboard_as(&app, self_service(me), json!({})).await;
    // 201: the MFA seed the lost answer carried is issued again; the key is not, it is reported lost.
    assert_eq!(replay.status, 201, "{}", replay.body);
    assert_eq!(
        replay.body["access_key"]["secret_lost"], true,
        "{}",
        replay.body
    );

    // The same for a rotation killed during its wait: the next request does not take its key as shown.
    let recovered = issue_key_as(&app, self_service(me), me).await;
    assert_eq!(recovered.status, 201, "{}", recovered.body);
    proxy.inject(Fault::on(
        "sts:GetCallerIdentity",
        hang.clone(),
        When::Always,
    ));
    let mut event = http_event(
        self_service(me),
        json!({"wait_until_usable": true}),
        Some(me),
    );
    event["routeKey"] = json!("POST /users/{username}/access-keys");
    cut_off_while_checking_the_key(&proxy, &hang, functions::issue_key::handle(&app, event)).await;
    proxy.heal();
    let replay = onboard_as(&app, self_service(me), json!({})).await;
    assert_eq!(
        replay.body["access_key"]["secret_lost"], true,
        "{}",
        replay.body
    );
}

/// IAM refuses a tag value holding `'` (or any of `!#$%&*?^{|}~`), which an email address may hold, and
/// moto does not: with the proxy validating tags as IAM does, an admin so named onboards someone (201),
/// and the user's `onboarding:requested-by` holds the IAM-valid form of the admin's claim. Before, the
/// raw claim went into the tag and onboarding failed with 500 after CreateUser was refused.
#[tokio::test]
async fn an_admin_whose_email_iam_refuses_as_a_tag_value_still_onboards() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &[]).await;
    proxy.inject(Fault::everywhere(FaultKind::IamValidation, When::Always));
    let admin_email = "o'brien+{ops}@example.com";

    let created = onboard_as(
        &app,
        admin(admin_email),
        json!({"username": "new.hire@example.com"}),
    )
    .await;

    assert_eq!(created.status, 201, "{}", created.body);
    let iam = moto.iam().await;
    let tags = iam
        .list_user_tags()
        .user_name("new.hire@example.com")
        .send()
        .await
        .expect("the user exists");
    let requested_by = tags
        .tags()
        .iter()
        .find(|tag| tag.key() == "onboarding:requested-by")
        .map(|tag| tag.value().to_string());
    assert_eq!(requested_by.as_deref(), Some("o_brien+_ops_@example.com"));
    // The proxy really refuses what IAM refuses: the raw claim as a tag value.
    let raw_claim_as_tag = |client: aws_sdk_iam::Client| async move {
        client
            .tag_user()
            .user_name("new.hire@example.com")
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("onboarding:requested-by")
                    .value(admin_email)
                    .build()
                    .expect("a tag"),
            )
            .send()
            .await
    };
    assert!(raw_claim_as_tag(iam).await.is_ok(), "moto itself takes it");
    let through_proxy = aws_sdk_iam::Client::new(&sdk_config_at(&proxy.endpoint).await);
    let error = raw_claim_as_tag(through_proxy)
        .await
        .expect_err("IAM refuses it");
    assert_eq!(
        error.as_service_error().and_then(|e| e.meta().code()),
        Some("InvalidInput"),
        "{error:?}"
    );
}
