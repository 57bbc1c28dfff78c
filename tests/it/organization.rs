//! The organisation drift run: template.yaml's state machine definition, run step by step with the real
//! `drift-org` and `drift-check` binaries (behind the Runtime API emulator) against one moto holding the
//! hub, an Organization of member accounts (each with its own IAM), the report bucket and the alert topic.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_organizations::types::CreateAccountState;
use serde_json::{Value, json};
use test_support::proxy::{Fault, FaultKind, FaultProxy, When};
use test_support::runtime_api::LambdaProcess;
use test_support::step_functions::{Execution, StateMachine};
use test_support::*;

const TEMPLATE: &str = include_str!("../../template.yaml");
const BUCKET: &str = "drift-reports";
/// A catalog account that is not in the Organization (closed, or never joined).
const NOT_LIVE: &str = "999988887777";

/// The state machine's resource in template.yaml, as JSON.
fn state_machine_resource() -> Value {
    let template: serde_norway::Value = serde_norway::from_str(TEMPLATE).expect("template.yaml");
    let resource = &template["Resources"]["DriftStateMachine"];
    let definition = serde_json::to_value(&resource["Properties"]["Definition"])
        .expect("the definition holds no intrinsic function");
    let substitutions: BTreeMap<String, String> = resource["Properties"]["DefinitionSubstitutions"]
        .as_mapping()
        .expect("DefinitionSubstitutions")
        .iter()
        .map(|(key, value)| {
            let serde_norway::Value::Tagged(tagged) = value else {
                panic!("{key:?} is not a !GetAtt");
            };
            (
                key.as_str().unwrap_or_default().to_string(),
                tagged.value.as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    json!({"definition": definition, "substitutions": substitutions})
}

/// The binary template.yaml builds `function` from.
fn binary_of(function: &str) -> String {
    let template: serde_norway::Value = serde_norway::from_str(TEMPLATE).expect("template.yaml");
    template["Resources"][function]["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .unwrap_or_else(|| panic!("{function} names its binary"))
        .to_string()
}

fn binary_path(name: &str) -> &'static str {
    match name {
        "drift-check" => env!("CARGO_BIN_EXE_drift-check"),
        "drift-org" => env!("CARGO_BIN_EXE_drift-org"),
        other => panic!("the state machine invokes a binary this test does not know: {other}"),
    }
}

/// Member accounts made through moto's Organizations, the hub being its management account.
async fn organization(moto: &Moto, members: usize) -> Vec<String> {
    let organizations = aws_sdk_organizations::Client::new(&moto.sdk_config().await);
    organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .expect("CreateOrganization");
    let mut ids = Vec::new();
    for index in 1..=members {
        let created = organizations
            .create_account()
            .email(format!("member{index}@example.com"))
            .account_name(format!("member-{index}"))
            .send()
            .await
            .expect("CreateAccount");
        let status = created.create_account_status().expect("a status");
        assert_eq!(status.state(), Some(&CreateAccountState::Succeeded));
        ids.push(status.account_id().expect("an account id").to_string());
    }
    ids
}

fn workload_role(index: usize) -> String {
    format!("Workload{index:02}")
}

/// A hub role, one role in each member account, and one in an account the Organization does not hold.
fn catalog(members: &[String]) -> String {
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "cloudformation:*", "Resource": "*"}]});
    let mut entries =
        vec![json!({"name": "HubOperator", "inline_policy": policy, "self_service": true})];
    entries.extend(members.iter().enumerate().map(|(index, account)| {
        json!({"name": workload_role(index + 1), "inline_policy": policy, "self_service": true, "account": account})
    }));
    entries.push(json!({"name": "Retired", "inline_policy": policy, "account": NOT_LIVE}));
    Value::Array(entries).to_string()
}

struct Org {
    moto: Moto,
    proxy: FaultProxy,
    members: Vec<String>,
    drift_check: LambdaProcess,
    drift_org: LambdaProcess,
    s3: aws_sdk_s3::Client,
    alerts: aws_sdk_sqs::Client,
    alert_queue: String,
}

impl Org {
    async fn start(members: usize) -> Org {
        let moto = Moto::start();
        let members = organization(&moto, members).await;
        let proxy = FaultProxy::start(&moto.endpoint).await;
        let config = moto.sdk_config().await;
        let s3 = moto.s3_with_bucket(BUCKET).await;
        // The alert topic, read through a queue subscribed to it.
        let sns = aws_sdk_sns::Client::new(&config);
        let topic = sns
            .create_topic()
            .name("drift-alerts")
            .send()
            .await
            .expect("CreateTopic")
            .topic_arn()
            .expect("a topic")
            .to_string();
        let alerts = aws_sdk_sqs::Client::new(&config);
        let alert_queue = alerts
            .create_queue()
            .queue_name("drift-alerts")
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("a queue")
            .to_string();
        sns.subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:us-east-1:{ACCOUNT}:drift-alerts"))
            .attributes("RawMessageDelivery", "true")
            .send()
            .await
            .expect("Subscribe");

        let environment: HashMap<String, String> = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_ENDPOINT_URL", proxy.endpoint.as_str()),
            ("ROLE_CATALOG", &catalog(&members)),
            ("REMEDIATE", "true"),
            ("REPORT_BUCKET", BUCKET),
            ("ORGANIZATION_ACCOUNTS", "true"),
            ("ALERT_TOPIC_ARN", &topic),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        let drift_check = LambdaProcess::start(
            binary_path(&binary_of("DriftCheckFunction")),
            "drift-check",
            &environment,
        )
        .await;
        let drift_org = LambdaProcess::start(
            binary_path(&binary_of("DriftOrgFunction")),
            "drift-org",
            &environment,
        )
        .await;
        Org {
            moto,
            proxy,
            members,
            drift_check,
            drift_org,
            s3,
            alerts,
            alert_queue,
        }
    }

    /// One execution of the state machine, started as the daily schedule starts it.
    async fn run(&mut self, name: &str) -> Execution {
        let resource = state_machine_resource();
        let mut placeholders: HashMap<String, &mut LambdaProcess> = HashMap::new();
        let substitutions = &resource["substitutions"];
        assert_eq!(
            substitutions,
            &json!({"DriftCheckFunctionArn": "DriftCheckFunction.Arn", "DriftOrgFunctionArn": "DriftOrgFunction.Arn"})
        );
        placeholders.insert(
            "${DriftCheckFunctionArn}".to_string(),
            &mut self.drift_check,
        );
        placeholders.insert("${DriftOrgFunctionArn}".to_string(), &mut self.drift_org);
        let scheduled = json!({
            "version": "0", "id": "7bf73129-1428-4cd3-a780-95db273d1602", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": ACCOUNT, "time": "2026-11-30T06:00:00Z", "region": "us-east-1",
            "resources": [format!("arn:aws:events:us-east-1:{ACCOUNT}:rule/iam-onboarding-DriftStateMachineDaily")],
            "detail": {}
        });
        StateMachine::new(resource["definition"].clone(), placeholders)
            .start(name, scheduled)
            .await
    }

    async fn object(&self, key: &str) -> Value {
        let object = self
            .s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        let bytes = object.body.collect().await.expect("a body").into_bytes();
        serde_json::from_slice(&bytes).expect("a JSON report")
    }

    /// The alerts sent since the last call.
    async fn alerts(&self) -> Vec<String> {
        let mut messages = Vec::new();
        loop {
            let received = self
                .alerts
                .receive_message()
                .queue_url(&self.alert_queue)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage");
            if received.messages().is_empty() {
                return messages;
            }
            for message in received.messages() {
                messages.push(message.body().unwrap_or_default().to_string());
                self.alerts
                    .delete_message()
                    .queue_url(&self.alert_queue)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("DeleteMessage");
            }
        }
    }

    async fn iam_in(&self, account: &str) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.moto.sdk_config_in(account).await)
    }
}

fn summary_of(execution: &Execution) -> &Value {
    assert_eq!(execution.failure, None, "the execution succeeds");
    execution.output.as_ref().expect("an output")
}

fn drifted_accounts(summary: &Value) -> BTreeSet<String> {
    summary["by_account"]
        .as_object()
        .expect("by_account")
        .iter()
        .filter(|(_, count)| count.as_u64() > Some(0))
        .map(|(account, _)| account.clone())
        .collect()
}

fn not_checked(summary: &Value) -> BTreeMap<String, String> {
    summary["not_checked"]
        .as_array()
        .expect("not_checked")
        .iter()
        .map(|entry| {
            (
                entry["account_id"].as_str().unwrap_or_default().to_string(),
                entry["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_made_drift_in_3_of_20_accounts_is_found_where_it_is_and_repaired_and_an_unreachable_account_is_reported()
 {
    let mut org = Org::start(19).await;
    let members = org.members.clone();
    let unreachable = members[6].clone();
    // Its spoke role cannot be assumed (no spoke.yaml there, or its trust edited).
    org.proxy.inject(
        Fault::on(
            "sts:AssumeRole",
            FaultKind::Refuse {
                status: 403,
                code: "AccessDenied",
            },
            When::Always,
        )
        .matching(&unreachable),
    );

    // The first run finds every catalog role missing and makes it (REMEDIATE=true); the second is clean.
    let first = org.run("first").await;
    let summary = summary_of(&first);
    assert_eq!(
        summary["accounts"], 20,
        "the hub and the Organization's 19 members"
    );
    assert_eq!(summary["checked"], 19, "all but the unreachable one");
    let accounts_listed: BTreeSet<&str> = first
        .invocations
        .iter()
        .filter(|(function, _)| function == "${DriftCheckFunctionArn}")
        .map(|(_, payload)| {
            assert_eq!(payload["run_id"], "first", "{payload}");
            payload["account_id"].as_str().expect("an account")
        })
        .collect();
    let mut expected: BTreeSet<&str> = members.iter().map(String::as_str).collect();
    expected.insert(ACCOUNT);
    assert_eq!(
        accounts_listed, expected,
        "the hub and every live member, once each"
    );
    assert_eq!(org.alerts().await.len(), 1, "one alert per run");

    org.proxy.clear_exchanges();
    let second = org.run("second").await;
    let summary = summary_of(&second);
    // The hub's IAM is read in bulk twice a run (its own check, and its users for every member
    // account's), not once per member account.
    let hub_bulk_reads = org
        .proxy
        .exchanges()
        .iter()
        .filter(|exchange| {
            exchange.call == "iam:GetAccountAuthorizationDetails" && exchange.caller == "testing"
        })
        .count();
    assert_eq!(hub_bulk_reads, 2);
    only_the_hub_in_the_management_account(summary);
    assert_eq!(summary["checked"], 19);
    let skipped = not_checked(summary);
    let expected: BTreeSet<&str> = [NOT_LIVE, unreachable.as_str()].into();
    assert_eq!(
        skipped.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    assert!(
        skipped[&unreachable].contains("AccessDenied"),
        "{skipped:?}"
    );
    assert!(skipped[NOT_LIVE].contains("not live"), "{skipped:?}");
    let alerts = org.alerts().await;
    assert_eq!(alerts.len(), 1, "one alert per run: {alerts:?}");

    // Drift made by hand in three member accounts.
    let (mfa_dropped, extra_inline, admin_attached) = (2, 10, 16);
    let iam = org.iam_in(&members[mfa_dropped]).await;
    iam.update_assume_role_policy()
        .role_name(workload_role(mfa_dropped + 1))
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("UpdateAssumeRolePolicy by hand");
    let iam = org.iam_in(&members[extra_inline]).await;
    iam.put_role_policy()
        .role_name(workload_role(extra_inline + 1))
        .policy_name("by-hand")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("PutRolePolicy by hand");
    let iam = org.iam_in(&members[admin_attached]).await;
    iam.attach_role_policy()
        .role_name(workload_role(admin_attached + 1))
        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
        .send()
        .await
        .expect("AttachRolePolicy by hand");

    let third = org.run("third").await;
    let summary = summary_of(&third);
    let mut drifted: BTreeSet<String> = [mfa_dropped, extra_inline, admin_attached]
        .iter()
        .map(|index| members[*index].clone())
        .collect();
    drifted.insert(ACCOUNT.to_string());
    assert_eq!(drifted_accounts(summary), drifted, "{summary:#}");
    assert_eq!(
        summary["findings"].as_u64(),
        summary["repaired"].as_u64().map(|repaired| repaired + 1),
        "every one of them is repaired, all but the hub's place in the Organization"
    );
    for index in [mfa_dropped, extra_inline, admin_attached] {
        let account = &members[index];
        let report = org
            .object(&format!("runs/third/accounts/{account}.json"))
            .await;
        assert_eq!(report["account_id"], *account);
        assert_eq!(report["status"], "checked");
        let findings = report["findings"].as_array().expect("findings");
        assert!(!findings.is_empty(), "{report:#}");
        for finding in findings {
            assert_eq!(
                finding["resource_arn"],
                format!("arn:aws:iam::{account}:role/{}", workload_role(index + 1)),
                "{finding:#}"
            );
            assert_eq!(finding["remediated"], true, "{finding:#}");
        }
    }
    let rules: BTreeSet<&str> = summary["by_rule"]
        .as_object()
        .expect("by_rule")
        .keys()
        .map(String::as_str)
        .collect();
    assert!(rules.contains("role.trust-mfa-not-enforced"), "{rules:?}");
    assert!(rules.contains("role.policy-drift"), "{rules:?}");
    let unreachable_report = org
        .object(&format!("runs/third/accounts/{unreachable}.json"))
        .await;
    assert_eq!(unreachable_report["status"], "unreachable");
    let stored_summary = org.object("runs/third/summary.json").await;
    assert_eq!(&stored_summary, summary);
    let alerts = org.alerts().await;
    assert_eq!(alerts.len(), 1, "one alert per run, not one per account");
    assert!(alerts[0].contains(&members[mfa_dropped]), "{}", alerts[0]);

    // Repaired where it was: the next run finds nothing.
    let fourth = org.run("fourth").await;
    only_the_hub_in_the_management_account(summary_of(&fourth));
}

/// A run that finds nothing to repair: moto's organisation is made by the hub, so the hub is its
/// management account, which the hub's check reports every run (critical, manual) and nothing else.
fn only_the_hub_in_the_management_account(summary: &Value) {
    assert_eq!(summary["findings"], 1, "{summary:#}");
    assert_eq!(
        summary["by_rule"],
        json!({"stack.in-management-account": 1}),
        "{summary:#}"
    );
    assert_eq!(
        drifted_accounts(summary),
        BTreeSet::from([ACCOUNT.to_string()]),
        "{summary:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_accounts_fail_past_the_tolerated_share_still_ends_with_a_summary_and_one_alert()
 {
    let mut org = Org::start(3).await;
    // The bucket refuses every account's report (a policy edited by hand): no retry gets past it, so
    // every account's check fails; the summary (which has no "status") is still written.
    org.proxy.inject(
        Fault::on("s3:PutObject", FaultKind::AccessDenied, When::Always).matching("\"status\""),
    );
    let run = org.run("refused").await;
    let summary = summary_of(&run);
    assert!(
        summary["run_failed"]
            .as_str()
            .is_some_and(|why| why.starts_with("States.ExceedToleratedFailureThreshold")),
        "{summary:#}"
    );
    assert_eq!(summary["checked"], 0);
    let skipped = not_checked(summary);
    assert_eq!(
        skipped.len(),
        5,
        "the hub, 3 members and the account not live: {skipped:?}"
    );
    assert!(skipped[ACCOUNT].contains("no report"), "{skipped:?}");
    assert_eq!(org.alerts().await.len(), 1);
    // A non-retryable failure is not retried: each account was tried once.
    let checks = run
        .invocations
        .iter()
        .filter(|(function, _)| function == "${DriftCheckFunctionArn}")
        .count();
    assert_eq!(checks, 4);
}

#[tokio::test]
async fn run_ids_that_could_leave_their_prefix_are_refused_before_anything_is_checked_and_the_samples_are_the_steps_own()
 {
    let mut org = Org::start(1).await;
    for run_id in ["../other", "a/b", "", "x".repeat(81).as_str()] {
        let outcome = org
            .drift_check
            .invoke(json!({"account_id": ACCOUNT, "run_id": run_id}))
            .await;
        assert_eq!(outcome.kind, "error", "{run_id:?}: {}", outcome.body);
        assert_eq!(
            outcome.body["errorType"], "NonRetryable.invalid_request",
            "{run_id:?}"
        );
    }
    let outcome = org
        .drift_org
        .invoke(json!({"step": "summary", "run_id": "../x", "run": {"listed": {"accounts": [], "not_live": []}}}))
        .await;
    assert_eq!(outcome.body["errorType"], "NonRetryable.invalid_request");
    let outcome = org.drift_org.invoke(json!({"step": "everything"})).await;
    assert_eq!(outcome.body["errorType"], "NonRetryable.invalid_request");
    let checks = org
        .proxy
        .calls()
        .iter()
        .filter(|call| call.starts_with("iam:") || call.starts_with("sts:AssumeRole"))
        .count();
    assert_eq!(checks, 0, "no account was checked: {:?}", org.proxy.calls());

    // The sample events: drift-org's first step as the state machine sends it, and drift-check as the
    // Map sends it (the ItemSelector's fields, no others).
    let sample = |name: &str| -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(workspace_root().join("events").join(name))
                .expect("the sample event"),
        )
        .expect("JSON")
    };
    let listed = org
        .drift_org
        .invoke(sample("drift-org-accounts.json"))
        .await;
    assert_eq!(listed.kind, "response", "{}", listed.body);
    assert_eq!(listed.body["accounts"][0], ACCOUNT);
    let item_selector =
        &state_machine_resource()["definition"]["States"]["CheckEachAccount"]["ItemSelector"];
    let fields = |value: &Value| -> Vec<String> {
        value
            .as_object()
            .expect("an object")
            .keys()
            .map(|key| key.trim_end_matches(".$").to_string())
            .collect()
    };
    assert_eq!(
        fields(&sample("drift-check-organization-run.json")),
        fields(item_selector)
    );
}

/// cfn-lint (scripts/test) validates the definition against the States Language schema: a misspelt
/// field in the Map's child state is an error there, not a surprise at the first scheduled run.
#[test]
fn cfn_lint_refuses_a_state_machine_definition_that_is_not_states_language() {
    let cfn_lint = workspace_root().join(".venv/bin/cfn-lint");
    let lint = |template: &str| {
        let file = std::env::temp_dir().join(format!(
            "template-{}-{}.yaml",
            std::process::id(),
            template.len()
        ));
        std::fs::write(&file, template).expect("a temporary template");
        let output = std::process::Command::new(&cfn_lint)
            .arg(&file)
            .output()
            .expect("cfn-lint is installed: pip install -r requirements-dev.txt");
        let _ = std::fs::remove_file(&file);
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    assert_eq!(lint(TEMPLATE), "", "template.yaml passes as it is");
    let misspelt = TEMPLATE.replacen(
        "                  ResultSelector:\n                    account_id.$",
        "                  ResultSelectr:\n                    account_id.$",
        1,
    );
    assert_ne!(
        misspelt, TEMPLATE,
        "the child state's ResultSelector is where the test expects it"
    );
    let findings = lint(&misspelt);
    assert!(
        findings.contains("E3601") && findings.contains("ResultSelectr"),
        "{findings}"
    );
}
