//! Catalog roles in other accounts: one moto holds the hub (where the users are) and a member account
//! (where the role is). moto's AssumeRole answers with credentials that act in the account of the role
//! ARN, so the functions reach the member account through its spoke role as they do in AWS; the test
//! reads each account back with credentials of its own.

use aws_credential_types::Credentials;
use serde_json::{Value, json};
use test_support::proxy::{Fault, FaultKind, FaultProxy, When};
use test_support::*;

const SPOKE: &str = "111122223333";
const ROLE: &str = "WorkloadDeployer";
const CATALOG: &str = r#"[
    {"name":"ResourceCreatorRole","inline_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]},"self_service":true},
    {"name":"WorkloadDeployer","inline_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudformation:*","Resource":"*"}]},"self_service":true,"account":"111122223333"}
]"#;

/// An IAM client acting in `account`, as anyone holding a role there would.
async fn iam_in(moto: &Moto, account: &str) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&moto.sdk_config_in(account).await)
}

async fn role_names(iam: &aws_sdk_iam::Client) -> Vec<String> {
    iam.list_roles()
        .send()
        .await
        .expect("ListRoles")
        .roles()
        .iter()
        .map(|role| role.role_name().to_string())
        .filter(|name| name != "TestReader")
        .collect()
}

/// dev@example.com asks for `role` for themselves.
async fn onboard_dev(app: &functions::app::App, role: &str) -> Reply {
    onboard_as(
        app,
        self_service("dev@example.com"),
        json!({"roles": [role]}),
    )
    .await
}

fn vars(mode: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![("ROLE_CATALOG", CATALOG), ("TRUST_MODE", mode)]
}

#[tokio::test]
async fn a_person_onboarded_in_the_hub_assumes_a_role_in_a_member_account_with_mfa() {
    let moto = Moto::start();
    let app = moto.app(&vars("account")).await;
    let hub = moto.iam().await;
    let spoke = iam_in(&moto, SPOKE).await;
    let me = "dev@example.com";

    let created = onboard_as(&app, self_service(me), json!({"roles": [ROLE]})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let role_arn = format!("arn:aws:iam::{SPOKE}:role/{ROLE}");
    assert_eq!(
        created.body["roles"],
        json!([{"name": ROLE, "arn": role_arn}])
    );
    assert!(
        created.body["aws_cli_config"]
            .as_str()
            .is_some_and(|config| config.contains(&format!("--role-arn {role_arn} "))),
        "{}",
        created.body["aws_cli_config"]
    );

    // The role is in the member account only, trusting the hub's managed users with MFA.
    assert_eq!(role_names(&spoke).await, [ROLE]);
    assert!(!role_names(&hub).await.contains(&ROLE.to_string()));
    let tags = spoke
        .list_role_tags()
        .role_name(ROLE)
        .send()
        .await
        .expect("ListRoleTags");
    assert!(
        tags.tags()
            .iter()
            .any(|tag| tag.key() == "onboarding:managed" && tag.value() == "true"),
        "{tags:?}"
    );
    let trust = trust_policy(&spoke, ROLE).await;
    let statement = &trust["Statement"][0];
    assert_eq!(
        statement["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(
        statement["Condition"]["Bool"]["aws:MultiFactorAuthPresent"],
        "true"
    );
    assert_eq!(
        statement["Condition"]["ArnLike"]["aws:PrincipalArn"],
        format!("arn:aws:iam::{ACCOUNT}:user/onboarded/*")
    );

    // The hub's grant names the member account's role.
    let grant = hub
        .get_group_policy()
        .group_name(format!("onboarding-{ROLE}"))
        .policy_name(format!("Assume{ROLE}"))
        .send()
        .await
        .expect("the grant group holds Assume<Role>");
    let document = decode_policy(grant.policy_document());
    assert_eq!(document["Statement"][0]["Resource"], role_arn);

    // The person enables MFA and assumes the member account's role with the hub key and a code.
    let otpauth_uri = created.body["mfa"]["otpauth_uri"]
        .as_str()
        .expect("a seed")
        .to_string();
    let enabled = enroll_with_seed(&app, self_service(me), me, &otpauth_uri).await;
    assert_eq!(enabled.status, 200, "{}", enabled.body);
    let as_user = moto
        .sdk_config_as(Credentials::new(
            created.body["access_key"]["access_key_id"]
                .as_str()
                .expect("key id"),
            created.body["access_key"]["secret_access_key"]
                .as_str()
                .expect("secret"),
            None,
            None,
            "onboarded-user",
        ))
        .await;
    let assumed = aws_sdk_sts::Client::new(&as_user)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("deploy")
        .serial_number(
            created.body["mfa"]["serial_number"]
                .as_str()
                .expect("serial"),
        )
        .token_code(current_code(&otpauth_uri))
        .send()
        .await
        .expect("AssumeRole into the member account with MFA");
    assert!(
        assumed.assumed_role_user().is_some_and(|user| user
            .arn()
            .starts_with(&format!("arn:aws:sts::{SPOKE}:assumed-role/{ROLE}/"))),
        "{assumed:?}"
    );

    // status reads the role where it lives, and finds nothing wrong with it.
    let status = status_as(&app, self_service(me), me).await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert_eq!(
        status.body["roles"],
        json!([{"name": ROLE, "arn": role_arn}])
    );
    assert_eq!(status.body["findings"], json!([]), "{}", status.body);
}

#[tokio::test]
async fn users_mode_lists_the_hub_user_in_the_member_accounts_role_within_its_quota_and_offboarding_takes_it_out()
 {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &vars("users")).await;
    let spoke = iam_in(&moto, SPOKE).await;
    let user_arn = format!("arn:aws:iam::{ACCOUNT}:user/onboarded/dev@example.com");

    let created = onboard_dev(&app, ROLE).await;
    assert_eq!(created.status, 201, "{}", created.body);
    // The trust policy's size limit is the member account's own quota, read there (with the spoke
    // session's key), not the hub's.
    let quota_reads: Vec<String> = proxy
        .exchanges()
        .into_iter()
        .filter(|exchange| exchange.call == "iam:GetAccountSummary")
        .map(|exchange| exchange.caller)
        .collect();
    assert!(!quota_reads.is_empty());
    assert!(
        quota_reads.iter().all(|caller| caller != "testing"),
        "read with the hub's key: {quota_reads:?}"
    );
    let principals = |trust: Value| trust["Statement"][0]["Principal"]["AWS"].clone();
    assert_eq!(
        principals(trust_policy(&spoke, ROLE).await),
        json!(user_arn)
    );
    // The trust lock was taken and released in the member account, beside the role.
    let locks = spoke
        .list_policies()
        .path_prefix("/onboarding/locks/")
        .send()
        .await
        .expect("ListPolicies");
    assert!(locks.policies().is_empty(), "{locks:?}");

    let offboarded = offboard_as(&app, admin("admin@example.com"), "dev@example.com").await;
    assert_eq!(offboarded.status, 200, "{}", offboarded.body);
    assert!(
        offboarded.body["removed"]
            .as_array()
            .is_some_and(|removed| removed.contains(&json!(format!(
                "principal in the trust policy of role {ROLE}"
            )))),
        "{}",
        offboarded.body
    );
    assert!(
        !trust_policy(&spoke, ROLE)
            .await
            .to_string()
            .contains(&user_arn)
    );
}

#[tokio::test]
async fn an_account_whose_spoke_role_cannot_be_assumed_is_refused_with_nothing_changed_in_the_hub()
{
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &vars("account")).await;
    proxy.inject(Fault::on(
        "sts:AssumeRole",
        FaultKind::AccessDenied,
        When::Always,
    ));

    let refused = onboard_dev(&app, ROLE).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.error_code(), "account_unreachable");
    assert!(refused.response.headers.contains_key("retry-after"));
    let message = refused.body["error"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains(SPOKE) && message.contains("OnboardingSpokeRole"),
        "{message}"
    );
    let hub = moto.iam().await;
    assert!(hub.list_users().send().await.unwrap().users().is_empty());
    assert!(hub.list_groups().send().await.unwrap().groups().is_empty());
    assert!(role_names(&iam_in(&moto, SPOKE).await).await.is_empty());

    // A hub role needs no spoke: the same person is onboarded to it while the member account is down.
    let hub_only = onboard_dev(&app, "ResourceCreatorRole").await;
    assert_eq!(hub_only.status, 201, "{}", hub_only.body);
    assert_eq!(
        hub_only.body["roles"][0]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/ResourceCreatorRole")
    );
}

#[tokio::test]
async fn the_hubs_drift_check_does_not_report_a_member_accounts_role_as_missing() {
    let moto = Moto::start();
    let app = moto.app(&vars("account")).await;
    let created = onboard_dev(&app, ROLE).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let report = functions::drift_check::handle(&app, json!({}))
        .await
        .expect("the drift check runs");
    let about_the_spoke_role: Vec<_> = report
        .findings
        .iter()
        .filter(|finding| finding.resource_arn.contains(ROLE))
        .map(|finding| finding.rule)
        .collect();
    // Its grant group is the hub's, and in order; the role itself is its own account's to check.
    assert!(about_the_spoke_role.is_empty(), "{:#?}", report.findings);
}

#[tokio::test]
async fn a_member_accounts_check_finds_the_drift_there_under_its_arn_and_repairs_it() {
    let moto = Moto::start();
    let mut app = moto.app(&vars("account")).await;
    let created = onboard_dev(&app, ROLE).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let spoke = iam_in(&moto, SPOKE).await;
    // By hand, in the member account: MFA no longer required, and a second policy on the role.
    let weakened = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]});
    spoke
        .update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(weakened.to_string())
        .send()
        .await
        .unwrap();
    spoke
        .put_role_policy()
        .role_name(ROLE)
        .policy_name("quick-fix")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let role_arn = format!("arn:aws:iam::{SPOKE}:role/{ROLE}");
    let check = async |app: &functions::app::App, event: Value| {
        functions::drift_check::handle(app, event)
            .await
            .expect("the drift check runs")
    };

    // events/drift-check-member-account.json names this member account.
    let sample =
        std::fs::read_to_string(workspace_root().join("events/drift-check-member-account.json"))
            .expect("the sample event");
    let found = check(&app, serde_json::from_str(&sample).expect("JSON")).await;
    assert_eq!(found.account_id, SPOKE);
    let rules: Vec<(&str, &str)> = found
        .findings
        .iter()
        .map(|f| (f.rule, f.resource_arn.as_str()))
        .collect();
    assert!(
        rules.contains(&("role.trust-mfa-not-enforced", role_arn.as_str())),
        "{rules:?}"
    );
    assert!(
        rules.contains(&("role.policy-drift", role_arn.as_str())),
        "{rules:?}"
    );
    assert!(
        rules.iter().all(|(_, arn)| *arn == role_arn),
        "only the member account's role: {rules:?}"
    );
    // The hub's own check reports nothing of the member account.
    let hub = check(&app, json!({})).await;
    assert_eq!(hub.account_id, ACCOUNT);
    assert!(
        hub.findings.iter().all(|f| !f.resource_arn.contains(SPOKE)),
        "{:#?}",
        hub.findings
    );

    app.drift.remediate = true;
    let repaired = check(&app, json!({"account_id": SPOKE})).await;
    assert!(
        repaired.findings.iter().all(|f| f.remediated),
        "{:#?}",
        repaired.findings
    );
    app.drift.remediate = false;
    let clean = check(&app, json!({"account_id": SPOKE})).await;
    assert!(clean.findings.is_empty(), "{:#?}", clean.findings);
    assert_eq!(
        trust_policy(&spoke, ROLE).await["Statement"][0]["Condition"]["Bool"]["aws:MultiFactorAuthPresent"],
        "true"
    );

    // Only the accounts the catalog names can be checked.
    let refused = functions::drift_check::handle(&app, json!({"account_id": "999999999999"})).await;
    assert!(
        matches!(&refused, Err(provisioning::Error::InvalidRequest(message)) if message.contains("999999999999")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_entry_naming_the_hubs_own_account_is_a_hub_role() {
    let moto = Moto::start();
    let catalog = CATALOG.replace(SPOKE, ACCOUNT);
    let app = moto
        .app(&[
            ("ROLE_CATALOG", catalog.as_str()),
            ("TRUST_MODE", "account"),
        ])
        .await;
    let created = onboard_dev(&app, ROLE).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["roles"][0]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:role/{ROLE}")
    );
    assert!(
        role_names(&moto.iam().await)
            .await
            .contains(&ROLE.to_string())
    );
}

/// The admin of a member account can break its spoke role, never block a departure: offboarding deletes
/// the person's credentials, grants and user in the hub all the same, says what is left in that account
/// (`pending_cleanup`), and the next check of that account, once it answers again, takes the departed
/// principal out of its role's trust policy.
#[tokio::test]
async fn a_member_account_that_cannot_be_reached_does_not_block_offboarding() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let app = app_at(&proxy.endpoint, &vars("users")).await;
    let hub = moto.iam().await;
    let spoke = iam_in(&moto, SPOKE).await;
    let user_arn = format!("arn:aws:iam::{ACCOUNT}:user/onboarded/dev@example.com");
    let created = onboard_dev(&app, ROLE).await;
    assert_eq!(created.status, 201, "{}", created.body);

    proxy.inject(Fault::on(
        "sts:AssumeRole",
        FaultKind::AccessDenied,
        When::Always,
    ));
    // Status answers with what it could read, and names the account it could not.
    let seen = status_as(&app, admin("admin@example.com"), "dev@example.com").await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    let unreachable = seen.body["accounts_unreachable"]
        .as_array()
        .expect("the accounts status could not read");
    assert_eq!(unreachable.len(), 1, "{}", seen.body);
    assert!(
        unreachable[0]
            .as_str()
            .is_some_and(|line| line.contains(SPOKE)),
        "{}",
        seen.body
    );
    assert_eq!(seen.body["in_desired_state"], false, "{}", seen.body);

    let offboarded = offboard_as(&app, admin("admin@example.com"), "dev@example.com").await;

    assert_eq!(offboarded.status, 200, "{}", offboarded.body);
    assert_eq!(offboarded.body["outcome"], "removed", "{}", offboarded.body);
    let pending = offboarded.body["pending_cleanup"]
        .as_array()
        .expect("what is left to do");
    // The role's trust policy, and the Deny that would end the sessions there.
    assert_eq!(pending.len(), 2, "{}", offboarded.body);
    for line in pending {
        let line = line.as_str().unwrap_or_default();
        assert!(line.contains(SPOKE) && line.contains(ROLE), "{line}");
    }
    assert!(
        hub.get_user()
            .user_name("dev@example.com")
            .send()
            .await
            .is_err(),
        "the user is gone from the hub"
    );
    assert!(
        trust_policy(&spoke, ROLE)
            .await
            .to_string()
            .contains(&user_arn),
        "the member account was not touched"
    );

    proxy.heal();
    let repairing = functions::app::App {
        drift: provisioning::config::DriftSettings {
            remediate: true,
            ..provisioning::config::DriftSettings::default()
        },
        ..app_at(&proxy.endpoint, &vars("users")).await
    };
    let report = functions::drift_check::handle(&repairing, json!({"account_id": SPOKE}))
        .await
        .expect("the member account's check");
    assert!(
        report.findings.iter().any(|finding| finding.remediated),
        "{report:?}"
    );
    let trust = trust_policy(&spoke, ROLE).await;
    assert!(
        !trust.to_string().contains(&user_arn),
        "the departed principal is gone from the member account's role: {trust}\n{:#?}",
        report.findings
    );
}
