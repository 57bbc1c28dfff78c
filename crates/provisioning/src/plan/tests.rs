use super::*;
use crate::account::Account;
use crate::config::{Config, TrustMode};
use crate::desired::{UserSpec, desired_role, desired_user};
use crate::state::AccessKeyInfo;
use serde_json::json;
use std::collections::BTreeMap;

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

fn user(config: &Config) -> DesiredUser {
    desired_user(
        UserSpec {
            name: "developer",
            roles: &config.catalog,
            virtual_mfa: true,
            requested_by: "admin@example.com",
            requested_at: "2026-11-25T00:00:00Z",
        },
        config,
        &account(),
    )
}

/// What a complete onboarding leaves behind, as IAM would report it.
fn complete_user(desired: &DesiredUser) -> ObservedUser {
    ObservedUser {
        name: desired.name.clone(),
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
        attached_policies: vec![],
        access_keys: vec![AccessKeyInfo {
            id: "AKIAEXAMPLE".into(),
            active: true,
        }],
        mfa_devices: vec!["arn:aws:iam::123456789012:mfa/onboarded/developer".into()],
        created: None,
    }
}

#[test]
fn a_new_user_gets_everything_in_order() {
    let config = config(&[]);
    let changes = plan_user(&user(&config), None);
    assert_eq!(
        changes,
        vec![
            Change::CreateUser {
                name: "developer".into(),
                path: "/onboarded/".into(),
                tags: vec![
                    ("onboarding:managed".into(), "true".into()),
                    ("onboarding:stack".into(), "iam-onboarding".into()),
                    ("onboarding:requested-by".into(), "admin@example.com".into()),
                    (
                        "onboarding:requested-at".into(),
                        "2026-11-25T00:00:00Z".into()
                    ),
                    ("onboarding:roles".into(), "ResourceCreatorRole".into()),
                ],
                permissions_boundary: None,
            },
            Change::AddUserToGroup {
                user: "developer".into(),
                group: "onboarding-ResourceCreatorRole".into()
            },
            Change::CreateAccessKey {
                user: "developer".into()
            },
            Change::EnsureVirtualMfaDevice {
                user: "developer".into(),
                path: "/onboarded/".into()
            },
        ]
    );
}

#[test]
fn inline_mode_puts_the_seed_policy_on_the_user() {
    let config = config(&[
        ("GRANT_MODE", "inline"),
        ("REQUIRE_SOURCE_IDENTITY", "false"),
    ]);
    let changes = plan_user(&user(&config), None);
    assert!(changes.contains(&Change::PutUserPolicy {
        user: "developer".into(),
        policy_name: "AssumeResourceCreatorRole".into(),
        document: json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::123456789012:role/ResourceCreatorRole"}]}),
    }));
    assert!(
        !changes
            .iter()
            .any(|c| matches!(c, Change::AddUserToGroup { .. }))
    );
}

#[test]
fn a_complete_user_needs_nothing() {
    for vars in [&[][..], &[("GRANT_MODE", "inline")][..]] {
        let config = config(vars);
        let desired = user(&config);
        assert_eq!(plan_user(&desired, Some(&complete_user(&desired))), vec![]);
    }
}

#[test]
fn a_half_made_user_is_finished_without_a_second_user_or_key() {
    let config = config(&[]);
    let desired = user(&config);
    let mut half = complete_user(&desired);
    half.groups.clear();
    half.mfa_devices.clear();
    let changes = plan_user(&desired, Some(&half));
    assert_eq!(
        changes,
        vec![
            Change::AddUserToGroup {
                user: "developer".into(),
                group: "onboarding-ResourceCreatorRole".into()
            },
            Change::EnsureVirtualMfaDevice {
                user: "developer".into(),
                path: "/onboarded/".into()
            },
        ]
    );
    half.access_keys.clear();
    assert!(
        plan_user(&desired, Some(&half)).contains(&Change::CreateAccessKey {
            user: "developer".into()
        })
    );
}

#[test]
fn a_user_from_before_the_stack_tag_is_named_with_the_roles_record() {
    let config = config(&[]);
    let desired = user(&config);
    let mut older = complete_user(&desired);
    older.tags.remove("onboarding:stack");
    assert_eq!(
        plan_user(&desired, Some(&older)),
        vec![Change::TagUser {
            user: "developer".into(),
            tags: vec![("onboarding:stack".into(), "iam-onboarding".into())],
        }]
    );
    older.tags.remove("onboarding:roles");
    let Change::TagUser { tags, .. } = &plan_user(&desired, Some(&older))[0] else {
        panic!("TagUser first");
    };
    let keys: Vec<&str> = tags.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["onboarding:stack", "onboarding:roles"]);
}

#[test]
fn an_altered_inline_grant_is_restored() {
    let config = config(&[("GRANT_MODE", "inline")]);
    let desired = user(&config);
    let mut altered = complete_user(&desired);
    altered.inline_policies.insert("AssumeResourceCreatorRole".into(), json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}));
    assert!(matches!(
        plan_user(&desired, Some(&altered))[..],
        [Change::PutUserPolicy { .. }]
    ));
}

#[test]
fn boundary_is_set_when_configured_and_missing() {
    let config = config(&[(
        "PERMISSIONS_BOUNDARY_ARN",
        "arn:aws:iam::123456789012:policy/Boundary",
    )]);
    let desired = user(&config);
    let mut observed = complete_user(&desired);
    observed.permissions_boundary = None;
    assert_eq!(
        plan_user(&desired, Some(&observed)),
        vec![Change::SetUserBoundary {
            user: "developer".into(),
            policy_arn: "arn:aws:iam::123456789012:policy/Boundary".into()
        }]
    );
}

#[test]
fn no_mfa_device_when_the_request_says_none() {
    let config = config(&[]);
    let mut desired = user(&config);
    desired.virtual_mfa = false;
    assert!(
        !plan_user(&desired, None)
            .iter()
            .any(|c| matches!(c, Change::EnsureVirtualMfaDevice { .. }))
    );
}

fn observed_role(desired: &DesiredRole) -> ObservedRole {
    ObservedRole {
        name: desired.name.clone(),
        arn: desired.arn.clone(),
        trust_policy: desired.trust_policy.clone(),
        attached_policies: desired.managed_policy_arns.clone(),
        inline_policies: BTreeMap::new(),
        max_session_duration: Some(desired.max_session_duration),
        permissions_boundary: desired.permissions_boundary.clone(),
        tags: desired.tags.iter().cloned().collect(),
    }
}

#[test]
fn a_missing_role_is_created_with_its_catalog_policies() {
    let config = config(&[]);
    let desired = desired_role(&config.catalog[0], &config, &account(), &[]);
    let changes = plan_role(&desired, None).unwrap();
    assert!(
        matches!(&changes[0], Change::CreateRole { name, .. } if name == "ResourceCreatorRole")
    );
    assert_eq!(
        changes[1],
        Change::AttachRolePolicy {
            role: "ResourceCreatorRole".into(),
            policy_arn: "arn:aws:iam::aws:policy/PowerUserAccess".into()
        }
    );
    assert_eq!(changes.len(), 2);
    assert_eq!(
        plan_role(&desired, Some(&observed_role(&desired))).unwrap(),
        vec![]
    );
}

#[test]
fn a_trust_policy_without_mfa_is_repaired() {
    let config = config(&[]);
    let desired = desired_role(&config.catalog[0], &config, &account(), &[]);
    let mut weak = observed_role(&desired);
    weak.trust_policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]});
    assert_eq!(
        plan_role(&desired, Some(&weak)).unwrap(),
        vec![Change::UpdateTrustPolicy {
            role: "ResourceCreatorRole".into(),
            trust_policy: desired.trust_policy.clone()
        }]
    );
    let mut reordered = observed_role(&desired);
    reordered.trust_policy = crate::policy::canonical(&desired.trust_policy);
    assert_eq!(
        plan_role(&desired, Some(&reordered)).unwrap(),
        vec![],
        "same meaning, other spelling: nothing to do"
    );
}

#[test]
fn custom_inline_role_policy_and_session_length_follow_the_catalog() {
    let config = config(&[(
        "ROLE_CATALOG",
        r#"[{"name":"Ec2Launcher","inline_policy":{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:RunInstances","Resource":"*"}]},"max_session_duration":7200}]"#,
    )]);
    assert_eq!(config.trust_mode, TrustMode::Account);
    let desired = desired_role(&config.catalog[0], &config, &account(), &[]);
    let created = plan_role(&desired, None).unwrap();
    assert!(matches!(
        &created[0],
        Change::CreateRole {
            max_session_duration: 7200,
            ..
        }
    ));
    assert!(
        matches!(&created[1], Change::PutRolePolicy { policy_name, .. } if policy_name == "CatalogPermissions")
    );
    let mut shortened = observed_role(&desired);
    shortened.max_session_duration = Some(3600);
    shortened.inline_policies.insert(
        "CatalogPermissions".into(),
        desired.inline_policy.clone().unwrap(),
    );
    assert_eq!(
        plan_role(&desired, Some(&shortened)).unwrap(),
        vec![Change::UpdateMaxSessionDuration {
            role: "Ec2Launcher".into(),
            seconds: 7200
        }]
    );
}

const CATALOG_BOUNDARY: &str = "arn:aws:iam::123456789012:policy/CatalogRoleBoundary";

#[test]
fn a_new_catalog_role_is_created_tagged_as_ours_with_the_catalog_boundary() {
    for (vars, boundary) in [
        (&[][..], None),
        (
            &[("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY)][..],
            Some(CATALOG_BOUNDARY.to_string()),
        ),
    ] {
        let config = config(vars);
        let desired = desired_role(&config.catalog[0], &config, &account(), &[]);
        let Change::CreateRole {
            permissions_boundary,
            tags,
            ..
        } = &plan_role(&desired, None).unwrap()[0]
        else {
            panic!("CreateRole first");
        };
        assert_eq!(permissions_boundary, &boundary);
        assert_eq!(
            tags,
            &vec![
                ("onboarding:managed".to_string(), "true".to_string()),
                ("onboarding:stack".to_string(), "iam-onboarding".to_string())
            ]
        );
    }
}

// Long: a table of cases (tags, boundary, adopt) with the plan each must give.
#[test]
fn ownership_and_the_boundary_decide_what_is_planned_for_an_existing_role() {
    const OTHER: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
    const ROLE: &str = "ResourceCreatorRole";
    let owned: &[(&str, &str)] = &[
        ("onboarding:managed", "true"),
        ("onboarding:stack", "iam-onboarding"),
    ];
    let tag_role = Change::TagRole {
        role: ROLE.into(),
        tags: vec![
            ("onboarding:managed".into(), "true".into()),
            ("onboarding:stack".into(), "iam-onboarding".into()),
        ],
    };
    let set_boundary = Change::SetRoleBoundary {
        role: ROLE.into(),
        policy_arn: CATALOG_BOUNDARY.into(),
    };
    let unowned = Err(RefusedRole::Unowned(ROLE.into()));
    let another_stacks = Err(RefusedRole::OtherStack {
        role: ROLE.into(),
        stack: "iam-onboarding-dev".into(),
    });
    // (the role's tags, `adopt` in the catalog, the role's boundary, CATALOG_ROLE_BOUNDARY_ARN set,
    // the plan)
    type Case<'a> = (
        &'a [(&'a str, &'a str)],
        bool,
        Option<&'a str>,
        bool,
        Result<Vec<Change>, RefusedRole>,
    );
    let cases: Vec<Case> = vec![
        (owned, false, Some(CATALOG_BOUNDARY), true, Ok(vec![])),
        (owned, false, None, true, Ok(vec![set_boundary.clone()])),
        (
            owned,
            false,
            Some(OTHER),
            true,
            Ok(vec![set_boundary.clone()]),
        ),
        // No boundary configured (a local run): the role's own is left as it is.
        (owned, false, Some(OTHER), false, Ok(vec![])),
        (&[], false, None, true, unowned.clone()),
        (&[], false, Some(CATALOG_BOUNDARY), false, unowned.clone()),
        (
            &[("onboarding:managed", "false")],
            false,
            Some(CATALOG_BOUNDARY),
            true,
            unowned.clone(),
        ),
        (&[("owner", "team-a")], false, None, false, unowned.clone()),
        (
            &[],
            true,
            None,
            true,
            Ok(vec![tag_role.clone(), set_boundary.clone()]),
        ),
        (
            &[("owner", "team-a")],
            true,
            Some(CATALOG_BOUNDARY),
            true,
            Ok(vec![tag_role.clone()]),
        ),
        (&[], true, Some(OTHER), false, Ok(vec![tag_role.clone()])),
        // Managed from before roles carried the stack's name: ours, and named now.
        (
            &[("onboarding:managed", "true")],
            false,
            Some(CATALOG_BOUNDARY),
            true,
            Ok(vec![tag_role.clone()]),
        ),
        // Another onboarding stack's role of the same name: refused, adopt or not.
        (
            &[
                ("onboarding:managed", "true"),
                ("onboarding:stack", "iam-onboarding-dev"),
            ],
            false,
            Some(CATALOG_BOUNDARY),
            true,
            another_stacks.clone(),
        ),
        (
            &[
                ("onboarding:managed", "true"),
                ("onboarding:stack", "iam-onboarding-dev"),
            ],
            true,
            None,
            true,
            another_stacks.clone(),
        ),
        // Our name without the managed tag is not ownership.
        (
            &[("onboarding:stack", "iam-onboarding")],
            false,
            Some(CATALOG_BOUNDARY),
            true,
            unowned.clone(),
        ),
    ];
    for (tags, adopt, boundary, configured, expected) in cases {
        let config = if configured {
            config(&[("CATALOG_ROLE_BOUNDARY_ARN", CATALOG_BOUNDARY)])
        } else {
            config(&[])
        };
        let mut desired = desired_role(&config.catalog[0], &config, &account(), &[]);
        desired.adopt = adopt;
        let mut observed = observed_role(&desired);
        observed.tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        observed.permissions_boundary = boundary.map(str::to_string);
        assert_eq!(
            plan_role(&desired, Some(&observed)),
            expected,
            "tags {tags:?}, adopt {adopt}, boundary {boundary:?}, configured {configured}"
        );
    }
}

#[test]
fn an_unowned_role_gets_no_repair_and_an_adopted_one_is_tagged_before_it_is_repaired() {
    let config = config(&[]);
    let mut desired = desired_role(&config.catalog[0], &config, &account(), &[]);
    let mut foreign = observed_role(&desired);
    foreign.tags.clear();
    foreign.trust_policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "sts:AssumeRole"}]});
    foreign.attached_policies = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()];
    assert_eq!(
        plan_role(&desired, Some(&foreign)),
        Err(RefusedRole::Unowned("ResourceCreatorRole".into()))
    );
    desired.adopt = true;
    let adopted = plan_role(&desired, Some(&foreign)).unwrap();
    assert!(
        matches!(
            &adopted[..],
            [
                Change::TagRole { .. },
                Change::UpdateTrustPolicy { .. },
                Change::AttachRolePolicy { .. }
            ]
        ),
        "{adopted:?}"
    );
    assert_eq!(
        in_apply_order(adopted.clone()),
        adopted,
        "applied in the planned order"
    );
}

#[test]
fn grant_group_is_created_and_kept_to_the_seed_policy() {
    let config = config(&[]);
    let grant = crate::desired::grant(&config.catalog[0], &config, &account());
    let created = plan_grant_group(&grant, None);
    assert_eq!(created.len(), 2);
    assert_eq!(
        created[0],
        Change::CreateGroup {
            name: "onboarding-ResourceCreatorRole".into()
        }
    );
    let complete = ObservedGroup {
        name: "onboarding-ResourceCreatorRole".into(),
        inline_policies: [(grant.policy_name.clone(), grant.document.clone())]
            .into_iter()
            .collect(),
        attached_policies: vec![],
    };
    assert_eq!(plan_grant_group(&grant, Some(&complete)), vec![]);
    let inline_config =
        Config::from_lookup(|n| (n == "GRANT_MODE").then(|| "inline".to_string())).unwrap();
    let inline_grant = crate::desired::grant(&inline_config.catalog[0], &inline_config, &account());
    assert_eq!(plan_grant_group(&inline_grant, None), vec![]);
}

#[test]
fn every_change_reads_as_a_sentence() {
    let text = Change::AddUserToGroup {
        user: "dev".into(),
        group: "onboarding-ReadOnly".into(),
    }
    .to_string();
    assert_eq!(text, "user dev is not in group onboarding-ReadOnly");
    assert!(
        Change::CreateAccessKey { user: "dev".into() }
            .to_string()
            .contains("POST /users/dev/access-keys")
    );
}
