//! The drift check against moto: a clean account is clean; each rule is triggered by a change made the
//! way a person would make it (with the SDK, outside the project), found, repaired, and then clean again.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use aws_sdk_iam::types::StatusType;
use functions::drift_check::handle;
use functions::{enroll_mfa, onboard};
use provisioning::config::DriftSettings;
use provisioning::drift::{Remediation, Report, Severity};
use serde_json::{Value, json};
use test_support::*;

fn settings(vars: &[(&str, &str)]) -> DriftSettings {
    DriftSettings::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("valid drift settings")
}

async fn drift(
    moto: &Moto,
    config: &[(&str, &str)],
    drift: &[(&str, &str)],
    clock: fn() -> SystemTime,
) -> Report {
    let mut app = moto.app(config).await;
    app.clock = clock;
    app.drift = settings(drift);
    handle(
        &app,
        json!({"source": "aws.events", "detail-type": "Scheduled Event"}),
    )
    .await
    .expect("the drift check runs")
}

fn in_100_days() -> SystemTime {
    SystemTime::now() + Duration::from_secs(100 * 86_400)
}

fn rules(report: &Report) -> BTreeSet<(&'static str, String)> {
    report
        .findings
        .iter()
        .map(|f| (f.rule, f.resource_arn.clone()))
        .collect()
}

/// Onboards `name` through the real handler and enables its virtual MFA device with two codes.
async fn onboard_with_mfa(app: &functions::app::App, name: &str) {
    let created =
        reply(onboard::handle(app, http_event(self_service(name), json!({}), None)).await);
    assert_eq!(created.status, 201, "{}", created.body);
    let (code1, code2) =
        consecutive_codes(created.body["mfa"]["otpauth_uri"].as_str().expect("a seed"));
    let enabled = reply(
        enroll_mfa::handle(
            app,
            http_event(
                self_service(name),
                json!({"code1": code1, "code2": code2}),
                Some(name),
            ),
        )
        .await,
    );
    assert_eq!(enabled.status, 200, "{}", enabled.body);
}

/// What a person does to a managed user in the console: AdministratorAccess attached, a console password.
async fn admin_policy_and_console_password(iam: &aws_sdk_iam::Client, user: &str) {
    iam.attach_user_policy()
        .user_name(user)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name(user)
        .password("Sup3r-secret-pw!")
        .send()
        .await
        .unwrap();
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/onboarded/{name}")
}

const ROLE: &str = "ResourceCreatorRole";
const GROUP: &str = "onboarding-ResourceCreatorRole";

#[tokio::test]
async fn manual_changes_are_found_reported_without_change_then_repaired() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    onboard_with_mfa(&app, "alice").await;
    onboard_with_mfa(&app, "bob").await;

    let clean = drift(&moto, &[], &[], SystemTime::now).await;
    assert!(clean.findings.is_empty(), "{:#?}", clean.findings);
    assert_eq!(
        (
            clean.summary.users,
            clean.summary.groups,
            clean.summary.roles
        ),
        (2, 1, 1)
    );

    // What people do in the console.
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    iam.attach_user_policy()
        .user_name("alice")
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    iam.create_group().group_name("devs").send().await.unwrap();
    let no_production = json!({"Version": "2012-10-17", "Statement": [{"Sid": "NoProduction",
        "Effect": "Deny", "Action": "*", "Resource": "arn:aws:s3:::production-*"}]});
    iam.put_group_policy()
        .group_name("devs")
        .policy_name("guardrail")
        .policy_document(no_production.to_string())
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .user_name("alice")
        .group_name("devs")
        .send()
        .await
        .unwrap();
    iam.remove_user_from_group()
        .user_name("alice")
        .group_name(GROUP)
        .send()
        .await
        .unwrap();
    let s3_all = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    iam.put_user_policy()
        .user_name("bob")
        .policy_name("quick-fix")
        .policy_document(s3_all.to_string())
        .send()
        .await
        .unwrap();
    iam.create_login_profile()
        .user_name("bob")
        .password("Sup3r-secret-pw!")
        .send()
        .await
        .unwrap();
    iam.attach_group_policy()
        .group_name(GROUP)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .send()
        .await
        .unwrap();
    iam.create_user()
        .user_name("intruder")
        .send()
        .await
        .unwrap();
    iam.add_user_to_group()
        .user_name("intruder")
        .group_name(GROUP)
        .send()
        .await
        .unwrap();
    iam.detach_role_policy()
        .role_name(ROLE)
        .policy_arn("arn:aws:iam::aws:policy/PowerUserAccess")
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name(ROLE)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    let weakened = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole",
         "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}, "ArnLike": {"aws:PrincipalArn": format!("arn:aws:iam::{ACCOUNT}:user/onboarded/*")}}},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::999999999999:root", "AIDAJQABLZS4A3QDU576Q"]}, "Action": "sts:AssumeRole",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}
    ]});
    iam.update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(weakened.to_string())
        .send()
        .await
        .unwrap();

    let found = drift(&moto, &[], &[], SystemTime::now).await;
    let group_arn = format!("arn:aws:iam::{ACCOUNT}:group/{GROUP}");
    let expected: BTreeSet<(&str, String)> = [
        ("role.trust-mfa-not-enforced", role_arn.clone()),
        ("role.trust-source-identity-not-enforced", role_arn.clone()),
        ("role.trust-principal-drift", role_arn.clone()),
        ("role.trust-orphaned-principal", role_arn.clone()),
        ("role.policy-drift", role_arn.clone()),
        ("group.policy-drift", group_arn.clone()),
        ("group.unmanaged-member", group_arn.clone()),
        ("user.grant-missing", user_arn("alice")),
        ("user.extra-permissions", user_arn("alice")),
        ("user.extra-permissions", user_arn("bob")),
        ("user.console-access", user_arn("bob")),
    ]
    .into_iter()
    .collect();
    assert_eq!(rules(&found), expected, "{:#?}", found.findings);
    // Alice's membership of "devs", a group the stack does not manage, is reported apart, for a person:
    // leaving it would lift the Deny it holds.
    let by_hand = |f: &&provisioning::drift::Finding| f.remediation == Remediation::Manual;
    let manual: Vec<_> = found.findings.iter().filter(by_hand).collect();
    assert_eq!(manual.len(), 1, "{manual:#?}");
    assert_eq!(manual[0].rule, "user.extra-permissions");
    assert!(
        manual[0].message.contains("devs") && manual[0].message.contains("\"NoProduction\""),
        "{}",
        manual[0].message
    );
    assert!(
        found
            .findings
            .iter()
            .filter(|f| !by_hand(f))
            .all(|f| f.remediation == Remediation::Automatic && !f.remediated)
    );
    assert_eq!(found.summary.findings, expected.len() + 1);
    assert_eq!(
        found.summary.by_severity[&provisioning::drift::Severity::Critical],
        1
    );
    let mfa = found
        .findings
        .iter()
        .find(|f| f.rule == "role.trust-mfa-not-enforced")
        .unwrap();
    assert!(mfa.message.contains("statement #1"), "{}", mfa.message);
    let serialized = serde_json::to_value(&found).unwrap();
    for field in [
        "rule",
        "severity",
        "resource_arn",
        "message",
        "expected",
        "actual",
        "remediation",
        "remediated",
    ] {
        assert!(serialized["findings"][0].get(field).is_some(), "{field}");
    }
    assert!(!serialized.to_string().contains("Sup3r-secret-pw!"));
    // Report only: nothing was changed.
    let attached = iam
        .list_attached_user_policies()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert_eq!(attached.attached_policies().len(), 1);

    let repaired = drift(&moto, &[], &[("REMEDIATE", "true")], SystemTime::now).await;
    assert_eq!(rules(&repaired), expected);
    assert!(
        repaired
            .findings
            .iter()
            .all(|f| f.remediated != by_hand(&f)),
        "{:#?}",
        repaired.findings
    );

    let again = drift(&moto, &[], &[], SystemTime::now).await;
    assert_eq!(
        again
            .findings
            .iter()
            .map(|f| f.message.as_str())
            .collect::<Vec<_>>(),
        vec![manual[0].message.as_str()],
        "only what is left to a person"
    );
    let alices_groups = iam
        .list_groups_for_user()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    assert!(
        alices_groups
            .groups()
            .iter()
            .any(|g| g.group_name() == "devs"),
        "a group the stack does not manage is not touched"
    );
    // The first check of an account also waits for the credential report to be generated.
    let calls_for_two_users = again.summary.iam_calls;
    // The unmanaged user left the grant group, and nothing else of it was touched.
    assert!(
        iam.list_groups_for_user()
            .user_name("intruder")
            .send()
            .await
            .unwrap()
            .groups()
            .is_empty()
    );
    assert!(iam.get_user().user_name("intruder").send().await.is_ok());
    assert!(
        iam.get_login_profile()
            .user_name("bob")
            .send()
            .await
            .is_err()
    );
    let trust = trust_policy(&iam, ROLE).await;
    assert!(provisioning::trust::mfa_enforced(&trust));

    // Cost grows with pages, not with users.
    for name in ["carol", "dave", "erin", "frank", "grace", "heidi"] {
        onboard_with_mfa(&app, name).await;
    }
    let bigger = drift(&moto, &[], &[], SystemTime::now).await;
    assert_eq!(bigger.summary.users, 8);
    assert_eq!(
        bigger.summary.iam_calls, calls_for_two_users,
        "one call per user would grow"
    );
}

fn in_two_hours() -> SystemTime {
    SystemTime::now() + Duration::from_secs(2 * 3600)
}

/// The revoked-sessions policy holds only what the stack wrote, and only while it can still match a live
/// session: a statement added by hand is found (high) and dropped; once the role's maximum session
/// duration has passed, the entry goes, and with it the policy.
#[tokio::test]
async fn the_revoked_sessions_policy_keeps_only_the_stacks_own_live_entries() {
    const ROLE: &str = "ResourceCreatorRole";
    const POLICY: &str = "onboarding-revoked-sessions";
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    onboard_with_mfa(&app, "leaver@example.com").await;
    onboard_with_mfa(&app, "stayer@example.com").await;
    let gone = offboard_as(&app, admin("lead@example.com"), "leaver@example.com").await;
    assert_eq!(gone.status, 200, "{}", gone.body);
    let written = role_policy(&iam, ROLE, POLICY).await;
    let mut edited = written.clone();
    edited["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(json!({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}));
    iam.put_role_policy()
        .role_name(ROLE)
        .policy_name(POLICY)
        .policy_document(edited.to_string())
        .send()
        .await
        .expect("edited by hand");

    let repaired = drift(&moto, &[], &[("REMEDIATE", "true")], SystemTime::now).await;
    let found: Vec<_> = repaired
        .findings
        .iter()
        .filter(|f| f.rule == "role.revoked-sessions-drift")
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", repaired.findings);
    assert_eq!(found[0].severity, provisioning::drift::Severity::High);
    assert!(found[0].remediated, "{:?}", found[0]);
    assert!(
        provisioning::policy::semantically_equal(&role_policy(&iam, ROLE, POLICY).await, &written),
        "the stack's own entry, and nothing else"
    );

    let pruned = drift(&moto, &[], &[("REMEDIATE", "true")], in_two_hours).await;
    let found: Vec<_> = pruned
        .findings
        .iter()
        .filter(|f| f.rule == "role.revoked-sessions-drift")
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", pruned.findings);
    assert_eq!(found[0].severity, provisioning::drift::Severity::Low);
    assert!(found[0].remediated);
    assert!(
        iam.get_role_policy()
            .role_name(ROLE)
            .policy_name(POLICY)
            .send()
            .await
            .is_err(),
        "no session it could end is alive: the policy is gone"
    );
}

/// Puts `user` in `group`, made by hand with the given inline policies and attached managed policies.
async fn group_by_hand(
    iam: &aws_sdk_iam::Client,
    group: &str,
    inline: &[(&str, Value)],
    attached: &[&str],
    user: &str,
) {
    iam.create_group().group_name(group).send().await.unwrap();
    for (name, document) in inline {
        iam.put_group_policy()
            .group_name(group)
            .policy_name(*name)
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap();
    }
    for arn in attached {
        iam.attach_group_policy()
            .group_name(group)
            .policy_arn(*arn)
            .send()
            .await
            .unwrap();
    }
    iam.add_user_to_group()
        .user_name(user)
        .group_name(group)
        .send()
        .await
        .unwrap();
}

async fn groups_of(iam: &aws_sdk_iam::Client, user: &str) -> BTreeSet<String> {
    iam.list_groups_for_user()
        .user_name(user)
        .send()
        .await
        .unwrap()
        .groups()
        .iter()
        .map(|g| g.group_name().to_string())
        .collect()
}

/// Someone else's admin group: a managed user has no permissions of its own, so it leaves a group the
/// stack does not manage whenever that takes permissions away and lifts no Deny; a group holding a Deny
/// is left to a person, told which Deny.
#[tokio::test]
async fn a_managed_user_leaves_a_foreign_group_that_denies_nothing_and_is_told_which_deny_keeps_it()
{
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    onboard_with_mfa(&app, "alice").await;
    onboard_with_mfa(&app, "bob").await;

    let s3_all = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
    group_by_hand(
        &iam,
        "admins",
        &[],
        &["arn:aws:iam::aws:policy/AdministratorAccess"],
        "alice",
    )
    .await;
    group_by_hand(&iam, "helpers", &[], &[], "alice").await;
    let quarantine = json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyEverything", "Effect": "Deny", "Action": "*", "Resource": "*"}]});
    group_by_hand(
        &iam,
        "quarantine",
        &[("Quarantine", quarantine), ("Leftover", s3_all.clone())],
        &[],
        "bob",
    )
    .await;
    let limits = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*"}]});
    let limits_arn = iam
        .create_policy()
        .policy_name("ContractorLimits")
        .policy_document(limits.to_string())
        .send()
        .await
        .unwrap()
        .policy()
        .and_then(|p| p.arn())
        .unwrap()
        .to_string();
    group_by_hand(&iam, "contractors", &[], &[&limits_arn], "bob").await;

    let found = drift(&moto, &[], &[("REMEDIATE", "true")], SystemTime::now).await;
    let about = |user: &str, group: &str| {
        let matching: Vec<&provisioning::drift::Finding> = found
            .findings
            .iter()
            .filter(|f| f.resource_arn == user_arn(user) && f.message.contains(group))
            .collect();
        assert_eq!(matching.len(), 1, "{group}: {:#?}", found.findings);
        assert_eq!(matching[0].rule, "user.extra-permissions");
        matching[0].clone()
    };
    let admins = about("alice", "admins");
    assert_eq!(
        (admins.severity, admins.remediation, admins.remediated),
        (Severity::Critical, Remediation::Automatic, true),
        "{admins:#?}"
    );
    let helpers = about("alice", "helpers");
    assert_eq!(
        (helpers.severity, helpers.remediation, helpers.remediated),
        (Severity::High, Remediation::Automatic, true),
        "{helpers:#?}"
    );
    let quarantined = about("bob", "quarantine");
    assert_eq!(
        (
            quarantined.severity,
            quarantined.remediation,
            quarantined.remediated
        ),
        (Severity::High, Remediation::Manual, false),
        "{quarantined:#?}"
    );
    assert!(
        quarantined.message.contains("Quarantine")
            && quarantined.message.contains("\"DenyEverything\"")
            && !quarantined.message.contains("Leftover"),
        "{}",
        quarantined.message
    );
    let contractors = about("bob", "contractors");
    assert_eq!(
        (
            contractors.severity,
            contractors.remediation,
            contractors.remediated
        ),
        (Severity::High, Remediation::Manual, false),
        "{contractors:#?}"
    );
    assert!(
        contractors.message.contains(&limits_arn) && contractors.message.contains("#2"),
        "{}",
        contractors.message
    );

    assert_eq!(
        groups_of(&iam, "alice").await,
        BTreeSet::from([GROUP.to_string()])
    );
    assert_eq!(
        groups_of(&iam, "bob").await,
        BTreeSet::from([GROUP.to_string(), "contractors".into(), "quarantine".into()])
    );
    let again = drift(&moto, &[], &[], SystemTime::now).await;
    assert_eq!(
        again
            .findings
            .iter()
            .map(|f| (f.resource_arn.as_str(), f.remediation))
            .collect::<Vec<_>>(),
        [(user_arn("bob").as_str(), Remediation::Manual); 2],
        "only what holds a Deny is left: {:#?}",
        again.findings
    );
}

#[tokio::test]
async fn keys_and_mfa_are_judged_by_the_injected_clock() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    onboard_with_mfa(&app, "erin").await;
    iam.create_access_key()
        .user_name("erin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        reply(onboard::handle(&app, http_event(self_service("carol"), json!({}), None)).await)
            .status,
        201
    );
    assert_eq!(
        reply(
            onboard::handle(
                &app,
                http_event(self_service("dave"), json!({"mfa": "none"}), None)
            )
            .await
        )
        .status,
        201
    );
    let fido = format!("arn:aws:iam::{ACCOUNT}:u2f/onboarded/dave/fido-key-1");
    iam.enable_mfa_device()
        .user_name("dave")
        .serial_number(&fido)
        .authentication_code1("000000")
        .authentication_code2("000000")
        .send()
        .await
        .unwrap();

    let today = drift(&moto, &[], &[], SystemTime::now).await;
    let today_rules: BTreeSet<&str> = today.findings.iter().map(|f| f.rule).collect();
    assert_eq!(
        today_rules,
        ["user.mfa-not-totp", "user.too-many-active-keys"]
            .into_iter()
            .collect(),
        "{:#?}",
        today.findings
    );

    let later = drift(&moto, &[], &[], in_100_days).await;
    let count = |rule: &str| later.findings.iter().filter(|f| f.rule == rule).count();
    assert_eq!(
        count("user.mfa-missing"),
        1,
        "carol never enrolled: {:#?}",
        later.findings
    );
    assert_eq!(count("user.mfa-not-totp"), 1);
    assert_eq!(
        count("user.access-key-too-old"),
        4,
        "erin's two, carol's and dave's"
    );
    assert_eq!(count("user.access-key-unused"), 4);
    assert_eq!(count("user.too-many-active-keys"), 1);
    assert!(
        later
            .findings
            .iter()
            .all(|f| f.remediation == Remediation::Manual),
        "keys are not repaired by default"
    );

    let repaired = drift(
        &moto,
        &[],
        &[("REMEDIATE", "true"), ("REMEDIATE_KEYS", "true")],
        in_100_days,
    )
    .await;
    let key_findings: Vec<_> = repaired
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("user.access-key"))
        .collect();
    assert!(
        key_findings
            .iter()
            .all(|f| f.remediation == Remediation::Automatic && f.remediated),
        "{key_findings:#?}"
    );
    for user in ["erin", "carol", "dave"] {
        let keys = iam.list_access_keys().user_name(user).send().await.unwrap();
        assert!(
            keys.access_key_metadata()
                .iter()
                .all(|k| k.status() == Some(&StatusType::Inactive)),
            "{user}"
        );
        assert!(
            iam.get_user().user_name(user).send().await.is_ok(),
            "keys are deactivated, never the user"
        );
    }
    let after: BTreeSet<&str> = drift(&moto, &[], &[], in_100_days)
        .await
        .findings
        .iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(
        after,
        ["user.mfa-missing", "user.mfa-not-totp"]
            .into_iter()
            .collect(),
        "what is left needs a person"
    );
}

#[tokio::test]
async fn users_mode_trust_missing_principal_and_near_quota() {
    let moto = Moto::start();
    let config = [("TRUST_MODE", "users"), ("GRANT_MODE", "inline")];
    let app = moto.app(&config).await;
    let iam = moto.iam().await;
    let mut onboarded = Vec::new();
    loop {
        let name = format!("user-{:02}-with-a-longer-name", onboarded.len());
        let created = reply(
            onboard::handle(
                &app,
                http_event(
                    admin("lead"),
                    json!({"username": name, "mfa": "none"}),
                    None,
                ),
            )
            .await,
        );
        assert_eq!(created.status, 201, "{}", created.body);
        onboarded.push(name);
        let size = provisioning::policy::policy_size(&trust_policy(&iam, ROLE).await);
        if size * 10 > 2048 * 9 {
            break;
        }
    }
    let near = drift(&moto, &config, &[], SystemTime::now).await;
    let near_rules: Vec<&str> = near.findings.iter().map(|f| f.rule).collect();
    assert_eq!(near_rules, ["role.trust-near-quota"]);
    assert_eq!(near.findings[0].remediation, Remediation::Manual);

    // Someone removes a principal by hand, and edits the inline grant of another user.
    let mut trust: Value = trust_policy(&iam, ROLE).await;
    let kept: Vec<Value> = trust["Statement"][0]["Principal"]["AWS"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| **p != json!(user_arn(&onboarded[0])))
        .cloned()
        .collect();
    trust["Statement"][0]["Principal"]["AWS"] = Value::Array(kept);
    iam.update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    let widened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]});
    iam.put_user_policy()
        .user_name(&onboarded[1])
        .policy_name("AssumeResourceCreatorRole")
        .policy_document(widened.to_string())
        .send()
        .await
        .unwrap();

    let found = drift(&moto, &config, &[("REMEDIATE", "true")], SystemTime::now).await;
    let grant_missing: BTreeSet<String> = found
        .findings
        .iter()
        .filter(|f| f.rule == "user.grant-missing")
        .map(|f| f.resource_arn.clone())
        .collect();
    assert_eq!(
        grant_missing,
        [user_arn(&onboarded[0]), user_arn(&onboarded[1])]
            .into_iter()
            .collect(),
        "{:#?}",
        found.findings
    );
    assert!(
        found
            .findings
            .iter()
            .filter(|f| f.rule == "user.grant-missing")
            .all(|f| f.remediated)
    );
    let after: Vec<&str> = drift(&moto, &config, &[], SystemTime::now)
        .await
        .findings
        .iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(after, ["role.trust-near-quota"]);
    let principals = provisioning::policy::trusted_aws_principals(&trust_policy(&iam, ROLE).await);
    assert!(principals.contains(&user_arn(&onboarded[0])));
}

#[tokio::test]
async fn a_catalog_role_that_does_not_exist_is_created_by_the_repair() {
    let moto = Moto::start();
    let config = [(
        "ROLE_CATALOG",
        r#"[{"name":"ResourceCreatorRole","managed_policy_arns":["arn:aws:iam::aws:policy/PowerUserAccess"],"self_service":true},
            {"name":"Auditor","managed_policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"],"max_session_duration":7200}]"#,
    )];
    let app = moto.app(&config).await;
    onboard_with_mfa(&app, "alice").await;
    let found = drift(&moto, &config, &[("REMEDIATE", "true")], SystemTime::now).await;
    let found_rules: Vec<(&str, &str)> = found
        .findings
        .iter()
        .map(|f| (f.rule, f.resource_arn.as_str()))
        .collect();
    let auditor = format!("arn:aws:iam::{ACCOUNT}:role/Auditor");
    assert_eq!(found_rules, [("role.missing", auditor.as_str())]);
    assert!(found.findings[0].remediated);
    let iam = moto.iam().await;
    let role = iam
        .get_role()
        .role_name("Auditor")
        .send()
        .await
        .unwrap()
        .role
        .unwrap();
    assert_eq!(role.max_session_duration(), Some(7200));
    assert!(provisioning::trust::mfa_enforced(&decode_policy(
        role.assume_role_policy_document().unwrap()
    )));
    assert!(
        drift(&moto, &config, &[], SystemTime::now)
            .await
            .findings
            .is_empty()
    );
}

#[tokio::test]
async fn a_removed_catalog_boundary_is_repaired_and_a_role_taken_from_the_stack_is_only_reported() {
    let moto = Moto::start();
    let iam = moto.iam().await;
    let boundary = catalog_boundary(&iam).await;
    let config = [("CATALOG_ROLE_BOUNDARY_ARN", boundary.as_str())];
    let app = moto.app(&config).await;
    onboard_with_mfa(&app, "alice").await;
    let role_arn = format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}");
    let role_boundary = || async {
        iam.get_role()
            .role_name(ROLE)
            .send()
            .await
            .unwrap()
            .role
            .unwrap()
            .permissions_boundary()
            .and_then(|b| b.permissions_boundary_arn())
            .map(str::to_string)
    };
    assert!(
        drift(&moto, &config, &[], SystemTime::now)
            .await
            .findings
            .is_empty()
    );

    iam.delete_role_permissions_boundary()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    let found = drift(&moto, &config, &[], SystemTime::now).await;
    assert_eq!(
        rules(&found),
        [("role.boundary-drift", role_arn.clone())]
            .into_iter()
            .collect(),
        "{:#?}",
        found.findings
    );
    assert_eq!(
        found.findings[0].severity,
        provisioning::drift::Severity::High
    );
    assert_eq!(found.findings[0].remediation, Remediation::Automatic);
    assert_eq!(found.findings[0].expected, json!(boundary));
    assert_eq!(role_boundary().await, None, "report only");
    // `status` applies the role rules to the roles of its user, and says what onboarding would change.
    let status = |app| async move {
        reply(
            functions::status::handle(
                app,
                http_event(self_service("alice"), json!({}), Some("alice")),
            )
            .await,
        )
    };
    let status_rules = |body: &Value| -> Vec<String> {
        body["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["rule"].as_str().map(str::to_string))
            .collect()
    };
    let seen = status(&app).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(status_rules(&seen.body), ["role.boundary-drift"]);
    assert_eq!(
        seen.body["differences"],
        json!([format!(
            "role {ROLE} lacks the permissions boundary {boundary}"
        )])
    );
    let repaired = drift(&moto, &config, &[("REMEDIATE", "true")], SystemTime::now).await;
    assert!(repaired.findings[0].remediated, "{:#?}", repaired.findings);
    assert_eq!(role_boundary().await.as_deref(), Some(boundary.as_str()));
    assert!(
        drift(&moto, &config, &[], SystemTime::now)
            .await
            .findings
            .is_empty()
    );

    // Someone takes the role away from the stack: the ownership tag removed, then trust, policies and
    // boundary changed. The check says so and, even with REMEDIATE, changes nothing of it.
    iam.untag_role()
        .role_name(ROLE)
        .tag_keys("onboarding:managed")
        .send()
        .await
        .unwrap();
    let open = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
    iam.update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(open.to_string())
        .send()
        .await
        .unwrap();
    iam.attach_role_policy()
        .role_name(ROLE)
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .unwrap();
    iam.delete_role_permissions_boundary()
        .role_name(ROLE)
        .send()
        .await
        .unwrap();
    let before = role_state(&iam, ROLE).await;
    let found = drift(&moto, &config, &[("REMEDIATE", "true")], SystemTime::now).await;
    assert_eq!(
        rules(&found),
        [("role.unowned", role_arn.clone())].into_iter().collect(),
        "{:#?}",
        found.findings
    );
    let unowned = &found.findings[0];
    assert_eq!(unowned.severity, provisioning::drift::Severity::High);
    assert_eq!(
        (unowned.remediation, unowned.remediated),
        (Remediation::Manual, false)
    );
    assert_eq!(role_state(&iam, ROLE).await, before);
    // Its user's status still answers, reports the role, and plans nothing for it.
    let seen = status(&app).await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(status_rules(&seen.body), ["role.unowned"]);
    assert_eq!(seen.body["differences"], json!([]));
}

#[tokio::test]
async fn findings_are_sent_to_the_alert_topic() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    onboard_with_mfa(&app, "bob").await;
    moto.iam()
        .await
        .create_login_profile()
        .user_name("bob")
        .password("Sup3r-secret-pw!")
        .send()
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic = sns
        .create_topic()
        .name("drift-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();

    let report = drift(&moto, &[], &[("ALERT_TOPIC_ARN", &topic)], SystemTime::now).await;
    assert_eq!(report.findings.len(), 1);
    let (subject, body) = report.alert(10);
    assert!(subject.contains("1 finding"), "{subject}");
    assert!(
        body.contains("user.console-access") && !body.contains("Sup3r-secret-pw!"),
        "{body}"
    );

    // A topic that does not exist makes the run fail, so that a lost alert is seen in the function's errors.
    let mut app = moto.app(&[]).await;
    app.clock = SystemTime::now;
    let missing = format!("arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic");
    app.drift = settings(&[("ALERT_TOPIC_ARN", &missing)]);
    assert!(handle(&app, json!({})).await.is_err());
}

#[tokio::test]
async fn status_applies_the_drift_rules_to_its_user() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    onboard_with_mfa(&app, "alice").await;
    let status = |app| async move {
        reply(
            functions::status::handle(
                app,
                http_event(self_service("alice"), json!({}), Some("alice")),
            )
            .await,
        )
    };
    let clean = status(&app).await;
    assert_eq!(clean.status, 200, "{}", clean.body);
    assert_eq!(
        (
            clean.body["in_desired_state"].clone(),
            clean.body["findings"].clone()
        ),
        (json!(true), json!([]))
    );

    admin_policy_and_console_password(&iam, "alice").await;
    let drifted = status(&app).await;
    assert_eq!(drifted.body["in_desired_state"], false);
    let rules: BTreeSet<&str> = drifted.body["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert_eq!(
        rules,
        ["user.console-access", "user.extra-permissions"]
            .into_iter()
            .collect(),
        "{}",
        drifted.body
    );
    assert!(!drifted.body.to_string().contains("Sup3r-secret-pw!"));
    assert!(
        iam.get_login_profile()
            .user_name("alice")
            .send()
            .await
            .is_ok(),
        "status only reads"
    );
}

/// Every finding of a run in Security Hub, as the account's own product holds them.
async fn security_hub_findings(
    hub: &aws_sdk_securityhub::Client,
) -> Vec<aws_sdk_securityhub::types::AwsSecurityFinding> {
    hub.get_findings()
        .send()
        .await
        .expect("GetFindings")
        .findings
        .unwrap_or_default()
}

fn record_state(
    findings: &[aws_sdk_securityhub::types::AwsSecurityFinding],
    generator: &str,
) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.generator_id.as_deref() == Some(generator))
        .map(|f| {
            f.record_state
                .as_ref()
                .map(|state| state.as_str().to_string())
                .unwrap_or_default()
        })
        .collect()
}

#[tokio::test]
async fn findings_reach_security_hub_once_each_and_are_archived_when_fixed() {
    let moto = Moto::start();
    let app = moto.app(&[]).await;
    let iam = moto.iam().await;
    let hub = aws_sdk_securityhub::Client::new(&moto.sdk_config().await);
    hub.enable_security_hub()
        .send()
        .await
        .expect("Security Hub on");
    onboard_with_mfa(&app, "alice").await;
    admin_policy_and_console_password(&iam, "alice").await;
    let export = [("SECURITY_HUB", "true")];

    let first = drift(&moto, &[], &export, SystemTime::now).await;
    let imported = security_hub_findings(&hub).await;
    assert_eq!(imported.len(), first.findings.len(), "{imported:#?}");
    let product_arn = format!("arn:aws:securityhub:us-east-1:{ACCOUNT}:product/{ACCOUNT}/default");
    for finding in &first.findings {
        let generator = format!("iam-onboarding/{}", finding.rule);
        let asff = imported
            .iter()
            .find(|f| f.generator_id.as_deref() == Some(generator.as_str()))
            .unwrap_or_else(|| panic!("{generator} is in Security Hub: {imported:#?}"));
        assert_eq!(asff.product_arn.as_deref(), Some(product_arn.as_str()));
        assert_eq!(asff.aws_account_id.as_deref(), Some(ACCOUNT));
        assert_eq!(
            asff.record_state.as_ref().map(|s| s.as_str()),
            Some("ACTIVE")
        );
        let resources = asff.resources.as_deref().unwrap_or_default();
        assert_eq!(resources.len(), 1);
        assert_eq!(resources[0].id.as_deref(), Some(user_arn("alice").as_str()));
        assert_eq!(resources[0].r#type.as_deref(), Some("AwsIamUser"));
    }
    let console = "iam-onboarding/user.console-access";
    assert_eq!(record_state(&imported, console), ["ACTIVE"]);

    // The same drift again: the same findings, updated, none added.
    let again = drift(&moto, &[], &export, SystemTime::now).await;
    assert_eq!(again.findings.len(), first.findings.len());
    let updated = security_hub_findings(&hub).await;
    let ids = |findings: &[aws_sdk_securityhub::types::AwsSecurityFinding]| {
        findings
            .iter()
            .filter_map(|f| f.id.clone())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(ids(&updated), ids(&imported));

    // Fixed by hand: that finding is archived, the other stays active.
    iam.delete_login_profile()
        .user_name("alice")
        .send()
        .await
        .unwrap();
    let fixed = drift(&moto, &[], &export, SystemTime::now).await;
    assert_eq!(fixed.findings.len(), first.findings.len() - 1);
    let after_fix = security_hub_findings(&hub).await;
    assert_eq!(ids(&after_fix), ids(&imported));
    assert_eq!(record_state(&after_fix, console), ["ARCHIVED"]);
    let extra = "iam-onboarding/user.extra-permissions";
    assert_eq!(record_state(&after_fix, extra), ["ACTIVE"]);

    // Repaired by the check itself: recorded, and archived in the same run.
    let repaired = drift(
        &moto,
        &[],
        &[("SECURITY_HUB", "true"), ("REMEDIATE", "true")],
        SystemTime::now,
    )
    .await;
    assert!(
        repaired.findings.iter().all(|f| f.remediated),
        "{:#?}",
        repaired.findings
    );
    let after_repair = security_hub_findings(&hub).await;
    assert_eq!(record_state(&after_repair, extra), ["ARCHIVED"]);
    assert!(
        after_repair
            .iter()
            .all(|f| f.record_state.as_ref().map(|s| s.as_str()) == Some("ARCHIVED")),
        "{after_repair:#?}"
    );

    // Without SECURITY_HUB nothing is sent there.
    iam.create_login_profile()
        .user_name("alice")
        .password("Sup3r-secret-pw!")
        .send()
        .await
        .unwrap();
    let not_exported = drift(&moto, &[], &[], SystemTime::now).await;
    assert_eq!(not_exported.findings.len(), 1);
    assert_eq!(security_hub_findings(&hub).await.len(), after_repair.len());
}

/// In users mode a catalog role's trust policy names every holder, and a finding about the role quotes
/// it: a person asking for their own status sees their own user there and "another principal" for the
/// others; an admin sees them all.
#[tokio::test]
async fn a_persons_status_names_no_other_holder_of_their_role() {
    let moto = Moto::start();
    let app = moto.app(&[("TRUST_MODE", "users")]).await;
    let iam = moto.iam().await;
    onboard_with_mfa(&app, "alice@example.com").await;
    onboard_with_mfa(&app, "bob@example.com").await;
    let role = iam
        .get_role()
        .role_name("ResourceCreatorRole")
        .send()
        .await
        .expect("the catalog role");
    let trust = decode_policy(
        role.role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("a trust policy"),
    );
    let loosened = trust.to_string().replace("\"Bool\"", "\"BoolIfExists\"");
    assert_ne!(loosened, trust.to_string(), "{trust}");
    iam.update_assume_role_policy()
        .role_name("ResourceCreatorRole")
        .policy_document(loosened)
        .send()
        .await
        .expect("the trust policy loosened by hand");
    let status_as = |claims: Value| {
        let app = &app;
        async move {
            reply(
                functions::status::handle(
                    app,
                    http_event(claims, json!({}), Some("alice@example.com")),
                )
                .await,
            )
        }
    };

    let own = status_as(self_service("alice@example.com")).await;
    assert_eq!(own.status, 200, "{}", own.body);
    let text = own.body.to_string();
    assert!(
        text.contains("role.trust-mfa-not-enforced"),
        "the loophole is reported: {text}"
    );
    assert!(text.contains("user/onboarded/alice@example.com"), "{text}");
    assert!(
        !text.contains("bob@example.com"),
        "another holder named: {text}"
    );
    assert!(text.contains("another principal"), "{text}");

    let by_admin = status_as(admin("admin@example.com")).await;
    assert!(by_admin.body.to_string().contains("bob@example.com"));
}

/// Lambda refuses a result above 6 MB, after the repairs have run: an operator's check of an account
/// whose report is larger than 256 KiB answers with its worst findings, how many it left out and where the
/// whole report is (the report bucket, as a run of its own), and the whole report is there.
#[tokio::test]
async fn an_operators_check_of_a_large_report_answers_a_bounded_result_and_keeps_the_whole() {
    const BUCKET: &str = "onboarding-reports";
    let moto = Moto::start();
    let s3 = moto.s3_with_bucket(BUCKET).await;
    let app = functions::app::App {
        drift: provisioning::config::DriftSettings {
            report_bucket: Some(BUCKET.to_string()),
            ..provisioning::config::DriftSettings::default()
        },
        ..moto.app(&[]).await
    };
    let iam = moto.iam().await;
    // 150 managed users, each holding 8 inline policies a person added, under IAM's longest names: one
    // user.extra-permissions finding each, naming them all (about 2 KB).
    let document = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "ec2:DescribeInstances", "Resource": "*"}]})
    .to_string();
    for index in 0..150 {
        let name = format!("person-{index:03}@example.com");
        iam.create_user()
            .user_name(&name)
            .path("/onboarded/")
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("onboarding:managed")
                    .value("true")
                    .build()
                    .expect("a tag"),
            )
            .tags(
                aws_sdk_iam::types::Tag::builder()
                    .key("onboarding:stack")
                    .value("iam-onboarding")
                    .build()
                    .expect("a tag"),
            )
            .send()
            .await
            .expect("CreateUser");
        for policy in 0..8 {
            iam.put_user_policy()
                .user_name(&name)
                .policy_name(format!("{policy}-{}", "added-by-hand-".repeat(9)))
                .policy_document(&document)
                .send()
                .await
                .expect("PutUserPolicy");
        }
    }

    let answer = functions::drift_check::invoke(&app, json!({}))
        .await
        .expect("the check runs");
    let answer = serde_json::to_value(&answer).expect("JSON");
    let size = answer.to_string().len();
    assert!(size <= 256 * 1024, "{size} bytes");
    let total = answer["summary"]["findings"].as_u64().expect("a count");
    let shown = answer["findings"].as_array().expect("findings").len() as u64;
    assert!(shown > 0 && shown < total, "{shown} of {total}");
    assert_eq!(answer["findings_omitted"].as_u64(), Some(total - shown));
    let key = answer["report_key"]
        .as_str()
        .expect("where the whole report is");
    assert!(key.starts_with("runs/manual-"), "{key}");
    let stored = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .send()
        .await
        .expect("the whole report is in the bucket");
    let stored: Value =
        serde_json::from_slice(&stored.body.collect().await.expect("its body").into_bytes())
            .expect("a JSON report");
    assert_eq!(
        stored["findings"].as_array().expect("findings").len() as u64,
        total
    );
}
