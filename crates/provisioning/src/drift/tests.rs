use super::*;
use crate::desired::{UserSpec, desired_user};
use crate::state::{CredentialRow, KeyUsage, ObservedGroup};

const NOW: Duration = Duration::from_secs(1_800_000_000);

fn account() -> Account {
    Account {
        id: "123456789012".into(),
        partition: "aws".into(),
    }
}

fn config(vars: &'static [(&'static str, &'static str)]) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .unwrap()
}

fn settings() -> DriftSettings {
    DriftSettings::from_lookup(|_| None).unwrap()
}

/// A snapshot of an account where `dev` was onboarded exactly as desired, MFA enabled, one fresh key.
// Long: a fixture that spells out every part of the snapshot a rule reads.
fn clean(config: &Config) -> AccountSnapshot {
    let account = account();
    let now = SystemTime::UNIX_EPOCH + NOW;
    let desired = desired_user(
        UserSpec {
            name: "dev",
            roles: &config.catalog,
            virtual_mfa: true,
            requested_by: "dev",
            requested_at: "t",
        },
        config,
        &account,
    );
    let user = ObservedUser {
        name: "dev".into(),
        arn: desired.arn.clone(),
        path: desired.path.clone(),
        tags: desired.tags.iter().cloned().collect(),
        permissions_boundary: desired.permissions_boundary.clone(),
        groups: desired
            .grants
            .iter()
            .filter_map(|g| g.group.clone())
            .collect(),
        inline_policies: desired
            .grants
            .iter()
            .filter(|g| g.group.is_none())
            .map(|g| (g.policy_name.clone(), g.document.clone()))
            .collect(),
        ..ObservedUser::default()
    };
    let role = desired_role(
        &config.catalog[0],
        config,
        &account,
        std::slice::from_ref(&desired.arn),
    );
    let grant = grant(&config.catalog[0], config, &account);
    AccountSnapshot {
        users: vec![user],
        groups: grant
            .group
            .iter()
            .map(|name| ObservedGroup {
                name: name.clone(),
                inline_policies: [(grant.policy_name.clone(), grant.document.clone())].into(),
                attached_policies: vec![],
            })
            .collect(),
        other_groups: Vec::new(),
        managed_policies: BTreeMap::new(),
        roles: vec![ObservedRole {
            name: role.name.clone(),
            arn: role.arn.clone(),
            trust_policy: role.trust_policy.clone(),
            attached_policies: role.managed_policy_arns.clone(),
            permissions_boundary: role.permissions_boundary.clone(),
            tags: role.tags.iter().cloned().collect(),
            ..ObservedRole::default()
        }],
        credentials: [(
            "dev".to_string(),
            CredentialRow {
                user: "dev".into(),
                created: Some(now - Duration::from_secs(86_400)),
                password_enabled: false,
                mfa_active: true,
                access_keys: [
                    KeyUsage {
                        active: true,
                        created: Some(now),
                        last_used: Some(now),
                    },
                    KeyUsage::default(),
                ],
            },
        )]
        .into(),
        users_with_virtual_mfa: ["dev".to_string()].into(),
        other_mfa_serials: Default::default(),
        trust_policy_size_quota: 2048,
        roles_account: None,
    }
}

fn found(snapshot: &AccountSnapshot, config: &Config) -> Vec<&'static str> {
    check(
        snapshot,
        config,
        &settings(),
        &account(),
        SystemTime::UNIX_EPOCH + NOW,
    )
    .iter()
    .map(|f| f.rule)
    .collect()
}

#[test]
fn a_clean_account_in_every_mode_has_no_findings() {
    for vars in [
        &[][..],
        &[("GRANT_MODE", "inline")][..],
        &[("TRUST_MODE", "users")][..],
        &[("MFA_MAX_AGE_SECONDS", "3600")][..],
    ] {
        let config = config(vars);
        assert_eq!(
            found(&clean(&config), &config),
            Vec::<&str>::new(),
            "{vars:?}"
        );
    }
}

#[test]
fn a_missing_boundary_is_drift_and_its_repair_sets_it() {
    let config = config(&[(
        "PERMISSIONS_BOUNDARY_ARN",
        "arn:aws:iam::123456789012:policy/Boundary",
    )]);
    let mut snapshot = clean(&config);
    snapshot.users[0].permissions_boundary =
        Some("arn:aws:iam::aws:policy/AdministratorAccess".into());
    let findings = check(
        &snapshot,
        &config,
        &settings(),
        &account(),
        SystemTime::UNIX_EPOCH + NOW,
    );
    assert_eq!(
        findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["user.boundary-drift"]
    );
    assert_eq!(
        findings[0].repair,
        vec![Change::SetUserBoundary {
            user: "dev".into(),
            policy_arn: "arn:aws:iam::123456789012:policy/Boundary".into()
        }]
    );
}

/// `dev` in group `admins`, which the stack does not manage, and the verdict on that membership.
fn in_foreign_group(
    config: &Config,
    read: Option<ObservedGroup>,
    managed_policies: &[(&str, Value)],
) -> (Severity, Remediation, String) {
    let mut snapshot = clean(config);
    snapshot.users[0].groups.push("admins".into());
    snapshot.other_groups.extend(read);
    snapshot.managed_policies = managed_policies
        .iter()
        .map(|(arn, document)| (arn.to_string(), document.clone()))
        .collect();
    let findings = check(
        &snapshot,
        config,
        &settings(),
        &account(),
        SystemTime::UNIX_EPOCH + NOW,
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0];
    assert_eq!(finding.rule, "user.extra-permissions");
    let leaves = vec![Change::RemoveUserFromGroup {
        user: "dev".into(),
        group: "admins".into(),
    }];
    match finding.remediation {
        Remediation::Automatic => assert_eq!(finding.repair, leaves),
        Remediation::Manual => assert!(finding.repair.is_empty()),
    }
    (
        finding.severity,
        finding.remediation,
        finding.message.clone(),
    )
}

/// Leaving a group is decided from every one of its policies: never when one of them was not read.
#[test]
fn a_foreign_group_is_left_only_when_all_its_policies_are_read_and_none_denies() {
    let config = config(&[]);
    let allow_all = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}});
    let guarded = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
        {"Sid": "NoBilling", "Effect": "Deny", "Action": "aws-portal:*", "Resource": "*"}]});
    let group = |inline: &[(&str, &Value)], attached: &[&str]| {
        Some(ObservedGroup {
            name: "admins".into(),
            inline_policies: inline
                .iter()
                .map(|(name, document)| (name.to_string(), (*document).clone()))
                .collect(),
            attached_policies: attached.iter().map(|arn| arn.to_string()).collect(),
        })
    };
    let admin = "arn:aws:iam::aws:policy/AdministratorAccess";
    let guardrail = "arn:aws:iam::123456789012:policy/Guardrail";

    let (severity, remediation, _) =
        in_foreign_group(&config, group(&[], &[admin]), &[(admin, allow_all.clone())]);
    assert_eq!(
        (severity, remediation),
        (Severity::Critical, Remediation::Automatic)
    );
    let (severity, remediation, _) = in_foreign_group(&config, group(&[], &[]), &[]);
    assert_eq!(
        (severity, remediation),
        (Severity::High, Remediation::Automatic)
    );

    let (severity, remediation, message) = in_foreign_group(
        &config,
        group(&[("open", &allow_all)], &[guardrail]),
        &[(guardrail, guarded)],
    );
    assert_eq!(
        (severity, remediation),
        (Severity::High, Remediation::Manual)
    );
    assert!(
        message.contains(&format!("managed policy {guardrail}, statement #2"))
            && message.contains(&format!(
                "managed policy {guardrail}, statement \"NoBilling\""
            ))
            && !message.contains("open"),
        "{message}"
    );
    // An Effect IAM would not accept is no proof that nothing is denied.
    let odd = json!({"Version": "2012-10-17", "Statement": [{"Effect": "deny ", "Action": "*", "Resource": "*"}]});
    let (_, remediation, _) = in_foreign_group(&config, group(&[("odd", &odd)], &[]), &[]);
    assert_eq!(remediation, Remediation::Manual);

    // Not read: the group itself (`status` reads one user), or an attached policy's document.
    for (read, documents) in [
        (None, &[][..]),
        (group(&[("open", &allow_all)], &[admin]), &[][..]),
    ] {
        let (severity, remediation, message) = in_foreign_group(&config, read, documents);
        assert_eq!(
            (severity, remediation),
            (Severity::High, Remediation::Manual)
        );
        assert!(message.contains("not read"), "{message}");
    }
}

const CATALOG_BOUNDARY: &str = "arn:aws:iam::123456789012:policy/CatalogRoleBoundary";

#[test]
fn a_catalog_role_without_its_boundary_is_drift_and_its_repair_sets_it() {
    let config = config(&[("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY)]);
    assert_eq!(found(&clean(&config), &config), Vec::<&str>::new());
    for boundary in [None, Some("arn:aws:iam::aws:policy/AdministratorAccess")] {
        let mut snapshot = clean(&config);
        snapshot.roles[0].permissions_boundary = boundary.map(str::to_string);
        let findings = check(
            &snapshot,
            &config,
            &settings(),
            &account(),
            SystemTime::UNIX_EPOCH + NOW,
        );
        assert_eq!(
            findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["role.boundary-drift"],
            "{boundary:?}"
        );
        assert_eq!(findings[0].severity, Severity::High);
        assert_eq!(findings[0].remediation, Remediation::Automatic);
        assert_eq!(
            findings[0].repair,
            vec![Change::SetRoleBoundary {
                role: "ResourceCreatorRole".into(),
                policy_arn: CATALOG_BOUNDARY.into()
            }]
        );
    }
}

/// A role someone else made under a catalog name: whatever it holds, the one finding is that it is
/// not ours, with no repair, and no other rule (trust, policies, boundary, a user's principal in
/// `users` mode) touches it. With `adopt`, the repair tags it and the other rules apply as usual.
#[test]
fn an_unowned_catalog_role_is_reported_and_never_repaired_unless_adopted() {
    let weak_trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
    for vars in [
        &[("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY)][..],
        &[
            ("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY),
            ("TRUST_MODE", "users"),
        ][..],
        &[("GRANT_MODE", "inline")][..],
    ] {
        let config = config(vars);
        let mut snapshot = clean(&config);
        let role = &mut snapshot.roles[0];
        role.tags = [("owner".to_string(), "team-a".to_string())].into();
        role.trust_policy = weak_trust.clone();
        role.permissions_boundary = None;
        role.attached_policies = vec!["arn:aws:iam::aws:policy/AdministratorAccess".into()];
        role.inline_policies.insert(
            "Extra".into(),
            json!({"Version": "2012-10-17", "Statement": []}),
        );
        let findings = check(
            &snapshot,
            &config,
            &settings(),
            &account(),
            SystemTime::UNIX_EPOCH + NOW,
        );
        assert_eq!(
            findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
            ["role.unowned"],
            "{vars:?}"
        );
        assert_eq!(findings[0].severity, Severity::High);
        assert_eq!(findings[0].remediation, Remediation::Manual);
        assert!(findings[0].repair.is_empty());
        assert_eq!(findings[0].actual, json!({"owner": "team-a"}));

        let mut adopting = config.clone();
        adopting.catalog[0].adopt = true;
        let findings = check(
            &snapshot,
            &adopting,
            &settings(),
            &account(),
            SystemTime::UNIX_EPOCH + NOW,
        );
        let rules: Vec<&str> = findings.iter().map(|f| f.rule).collect();
        assert_eq!(rules[0], "role.unowned", "{vars:?}");
        assert_eq!(
            findings[0].repair,
            vec![Change::TagRole {
                role: "ResourceCreatorRole".into(),
                tags: vec![
                    ("onboarding:managed".into(), "true".into()),
                    ("onboarding:stack".into(), "iam-onboarding".into())
                ]
            }]
        );
        assert!(rules.contains(&"role.trust-mfa-not-enforced"), "{rules:?}");
        assert!(rules.contains(&"role.policy-drift"), "{rules:?}");
        assert_eq!(
            rules.contains(&"role.boundary-drift"),
            config.catalog_role_boundary_arn.is_some(),
            "{rules:?}"
        );
    }
}

#[test]
fn what_another_stack_manages_is_reported_or_left_alone_and_what_predates_the_stack_tag_is_named() {
    let config = config(&[]);
    let at = SystemTime::UNIX_EPOCH + NOW;
    let findings =
        |snapshot: &AccountSnapshot| check(snapshot, &config, &settings(), &account(), at);

    // Another stack's role of the same name, its grant group holding that stack's user: the role is
    // reported for a person, and the group's member is not taken for a stranger.
    let mut shared = clean(&config);
    shared.roles[0]
        .tags
        .insert("onboarding:stack".into(), "iam-onboarding-dev".into());
    shared.users[0]
        .tags
        .insert("onboarding:stack".into(), "iam-onboarding-dev".into());
    shared.roles[0].trust_policy = json!({"Version": "2012-10-17", "Statement": []});
    let reported = findings(&shared);
    assert_eq!(
        reported.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["role.unowned"],
        "{reported:?}"
    );
    assert!(reported[0].message.contains("iam-onboarding-dev"));
    assert!(reported[0].repair.is_empty());

    // Ours, from before the tag: both are named, and nothing else is found.
    let mut older = clean(&config);
    older.roles[0].tags.remove("onboarding:stack");
    older.users[0].tags.remove("onboarding:stack");
    let adopted = findings(&older);
    let rules: Vec<(&str, Severity)> = adopted.iter().map(|f| (f.rule, f.severity)).collect();
    assert_eq!(
        rules,
        [
            ("role.unowned", Severity::Low),
            ("user.stack-tag-missing", Severity::Low)
        ]
    );
    assert_eq!(
        adopted[1].repair,
        vec![Change::TagUser {
            user: "dev".into(),
            tags: vec![("onboarding:stack".into(), "iam-onboarding".into())]
        }]
    );
    assert!(
        matches!(&adopted[0].repair[..], [Change::TagRole { tags, .. }] if tags.contains(&("onboarding:stack".into(), "iam-onboarding".into())))
    );
}

#[test]
fn a_users_mode_grant_missing_from_an_unowned_role_is_not_repaired_in_its_trust_policy() {
    let config = config(&[("TRUST_MODE", "users")]);
    let mut snapshot = clean(&config);
    snapshot.roles[0].trust_policy =
        desired_role(&config.catalog[0], &config, &account(), &[]).trust_policy;
    // Ours: the missing principal is a grant to repair, in the trust policy.
    let repairs: Vec<Change> = check(
        &snapshot,
        &config,
        &settings(),
        &account(),
        SystemTime::UNIX_EPOCH + NOW,
    )
    .into_iter()
    .flat_map(|f| f.repair)
    .collect();
    assert!(
        repairs
            .iter()
            .any(|c| matches!(c, Change::UpdateTrustPolicy { .. })),
        "{repairs:?}"
    );
    snapshot.roles[0].tags.clear();
    let findings = check(
        &snapshot,
        &config,
        &settings(),
        &account(),
        SystemTime::UNIX_EPOCH + NOW,
    );
    assert_eq!(
        findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["role.unowned"]
    );
}

#[test]
fn fido_only_mfa_cannot_assume_roles_but_hardware_totp_can() {
    let config = config(&[]);
    let mut snapshot = clean(&config);
    snapshot.users_with_virtual_mfa.clear();
    snapshot.other_mfa_serials.insert(
        "dev".into(),
        vec!["arn:aws:iam::123456789012:u2f/user/dev/key-ABC".into()],
    );
    assert_eq!(found(&snapshot, &config), ["user.mfa-not-totp"]);
    snapshot
        .other_mfa_serials
        .insert("dev".into(), vec!["GAHT12345678".into()]);
    assert_eq!(found(&snapshot, &config), Vec::<&str>::new());
}

#[test]
fn the_root_principal_without_the_path_limit_trusts_the_whole_account() {
    let config = config(&[]);
    let mut snapshot = clean(&config);
    snapshot.roles[0].trust_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}, "StringEquals": {"sts:SourceIdentity": "${aws:username}"}}}]});
    assert_eq!(found(&snapshot, &config), ["role.trust-principal-drift"]);
}

#[test]
fn a_trust_policy_that_lets_sessions_choose_their_name_is_repaired() {
    let config = config(&[]);
    let mut snapshot = clean(&config);
    let desired = snapshot.roles[0].trust_policy.clone();
    let mut loosened = desired.clone();
    loosened["Statement"][0]["Condition"]["StringLike"] =
        loosened["Statement"][0]["Condition"]["StringEquals"].take();
    loosened["Statement"][0]["Condition"]
        .as_object_mut()
        .unwrap()
        .remove("StringEquals");
    snapshot.roles[0].trust_policy = loosened;
    let findings = check(
        &snapshot,
        &config,
        &settings(),
        &account(),
        SystemTime::UNIX_EPOCH + NOW,
    );
    assert_eq!(
        findings.iter().map(|f| f.rule).collect::<Vec<_>>(),
        ["role.trust-source-identity-not-enforced"]
    );
    assert_eq!(findings[0].severity, Severity::High);
    assert!(matches!(
        findings[0].repair.as_slice(),
        [Change::UpdateTrustPolicy { trust_policy, .. }] if *trust_policy == desired
    ));

    let optional = self::config(&[("REQUIRE_SOURCE_IDENTITY", "false")]);
    let snapshot = clean(&optional);
    assert!(!source_identity_loopholes(&snapshot.roles[0].trust_policy).is_empty());
    assert_eq!(found(&snapshot, &optional), Vec::<&str>::new());
}

#[test]
fn a_missing_mfa_age_limit_is_trust_drift() {
    let config = config(&[("MFA_MAX_AGE_SECONDS", "3600")]);
    let mut snapshot = clean(&config);
    let unlimited = crate::policy::trust_policy(&self::config(&[]), &account(), &[]);
    snapshot.roles[0].trust_policy = unlimited;
    assert_eq!(found(&snapshot, &config), ["role.trust-drift"]);
}

#[test]
fn a_users_mode_role_nobody_holds_trusts_only_itself_and_that_is_not_drift() {
    let config = config(&[("TRUST_MODE", "users")]);
    let mut snapshot = clean(&config);
    snapshot.users.clear();
    snapshot.credentials.clear();
    let nobody = desired_role(&config.catalog[0], &config, &account(), &[]);
    assert_eq!(
        nobody.trust_policy["Statement"][0]["Principal"]["AWS"],
        nobody.arn
    );
    assert!(crate::trust::mfa_enforced(&nobody.trust_policy));
    snapshot.roles[0].trust_policy = nobody.trust_policy;
    assert_eq!(found(&snapshot, &config), Vec::<&str>::new());
}

#[test]
fn unique_ids_are_recognised() {
    assert!(is_unique_id("AIDAJQABLZS4A3QDU576Q"));
    assert!(is_unique_id("AROAJQABLZS4A3QDU576Q"));
    assert!(!is_unique_id("arn:aws:iam::123456789012:user/AIDA"));
    assert!(!is_unique_id("AIDA"));
}

#[test]
fn grace_and_key_limits_use_the_clock() {
    let config = config(&[]);
    let mut snapshot = clean(&config);
    let row = snapshot.credentials.get_mut("dev").unwrap();
    row.mfa_active = false;
    assert_eq!(
        found(&snapshot, &config),
        Vec::<&str>::new(),
        "one day old: within the grace period"
    );
    let later = SystemTime::UNIX_EPOCH + NOW + Duration::from_secs(91 * 86_400);
    let rules: Vec<&str> = check(&snapshot, &config, &settings(), &account(), later)
        .iter()
        .map(|f| f.rule)
        .collect();
    assert_eq!(
        rules,
        [
            "user.mfa-missing",
            "user.access-key-too-old",
            "user.access-key-unused"
        ]
    );
}

#[test]
fn alerts_list_the_worst_findings_first_and_metrics_cover_every_rule() {
    let config = config(&[]);
    let mut snapshot = clean(&config);
    snapshot
        .credentials
        .get_mut("dev")
        .unwrap()
        .password_enabled = true;
    snapshot.roles[0].trust_policy["Statement"][0]["Condition"] =
        serde_json::json!({"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}});
    let now = SystemTime::UNIX_EPOCH + NOW;
    let findings = check(&snapshot, &config, &settings(), &account(), now);
    let report = Report::new(&snapshot, &config, &account(), findings, 5, now);
    let (subject, body) = report.alert(1);
    assert!(subject.contains("123456789012"), "{subject}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["worst_findings"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["worst_findings"][0]["rule"],
        "role.trust-mfa-not-enforced"
    );
    let lines = report.metric_lines(now);
    assert_eq!(lines.len(), RULES.len());
    let console: Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(
        (console["Rule"].as_str(), console["Findings"].as_u64()),
        (Some("user.console-access"), Some(1))
    );
    assert_eq!(
        console["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
        "Findings"
    );
}

#[test]
fn the_hub_in_the_management_account_is_a_critical_manual_finding() {
    let finding = management_account_finding(&account(), "123456789012").expect("a finding");
    assert_eq!(finding.rule, "stack.in-management-account");
    assert_eq!(finding.severity, Severity::Critical);
    assert_eq!(finding.remediation, Remediation::Manual);
    assert_eq!(finding.resource_arn, "arn:aws:iam::123456789012:root");
    assert!(finding.repair.is_empty());
    assert!(RULES.contains(&finding.rule));
    assert_eq!(management_account_finding(&account(), "210987654321"), None);
}

#[test]
fn an_operators_result_stays_under_the_limit_with_the_worst_findings_first() {
    let config = config(&[]);
    let snapshot = clean(&config);
    let finding = |severity: Severity, index: usize| Finding {
        rule: "user.console-access",
        severity,
        resource_arn: format!("arn:aws:iam::123456789012:user/onboarded/user-{index}"),
        message: "x".repeat(500),
        expected: Value::Null,
        actual: Value::Null,
        remediation: Remediation::Manual,
        remediated: false,
        repair: Vec::new(),
    };
    let mut findings: Vec<Finding> = (0..4_000).map(|i| finding(Severity::Low, i)).collect();
    findings.push(finding(Severity::Critical, 4_000));
    let report = Report::new(
        &snapshot,
        &config,
        &account(),
        findings,
        5,
        SystemTime::UNIX_EPOCH,
    );

    let bounded = report.bounded(
        RESULT_LIMIT_BYTES,
        Some("runs/manual-x/accounts/1.json".into()),
    );
    let json = serde_json::to_value(&bounded).unwrap();
    assert!(serde_json::to_vec(&json).unwrap().len() <= RESULT_LIMIT_BYTES);
    assert_eq!(
        json["summary"]["findings"], 4_001,
        "the summary counts them all"
    );
    let shown = json["findings"].as_array().unwrap();
    assert!(!shown.is_empty());
    assert_eq!(shown[0]["severity"], "critical", "worst first");
    assert_eq!(json["findings_omitted"], 4_001 - shown.len());
    assert_eq!(json["report_key"], "runs/manual-x/accounts/1.json");

    let small = Report::new(
        &snapshot,
        &config,
        &account(),
        vec![finding(Severity::Low, 1)],
        5,
        SystemTime::UNIX_EPOCH,
    );
    let whole = serde_json::to_value(small.bounded(RESULT_LIMIT_BYTES, None)).unwrap();
    assert_eq!(
        whole,
        serde_json::to_value(&small).unwrap(),
        "a report that fits is given whole"
    );
}
