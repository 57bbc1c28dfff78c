//! The rules about grant groups: their policy, and who is in them.

use super::*;

pub(super) fn group_findings(
    role: &CatalogRole,
    snapshot: &AccountSnapshot,
    config: &Config,
    account: &Account,
    has_holders: bool,
) -> Vec<Finding> {
    let grant = grant(role, config, account);
    let name = grant_group_name(&role.name);
    let arn = account.group_arn(&name);
    let mut findings = Vec::new();
    let expected =
        json!({"inline_policies": {&grant.policy_name: grant.document}, "managed_policy_arns": []});
    match snapshot.groups.iter().find(|group| group.name == name) {
        None if has_holders => findings.push(GROUP_POLICY_DRIFT.finding(
            &arn,
            format!(
                "grant group {name} is missing while users hold role {}",
                role.name
            ),
            expected,
            Value::Null,
            vec![
                Change::CreateGroup { name: name.clone() },
                Change::PutGroupPolicy {
                    group: name.clone(),
                    policy_name: grant.policy_name.clone(),
                    document: grant.document.clone(),
                },
            ],
        )),
        None => {}
        Some(group) => {
            let mut repair = Vec::new();
            if !group
                .inline_policies
                .get(&grant.policy_name)
                .is_some_and(|d| semantically_equal(d, &grant.document))
            {
                repair.push(Change::PutGroupPolicy {
                    group: name.clone(),
                    policy_name: grant.policy_name.clone(),
                    document: grant.document.clone(),
                });
            }
            for policy_name in group
                .inline_policies
                .keys()
                .filter(|n| **n != grant.policy_name)
            {
                repair.push(Change::DeleteGroupPolicy {
                    group: name.clone(),
                    policy_name: policy_name.clone(),
                });
            }
            for policy_arn in &group.attached_policies {
                repair.push(Change::DetachGroupPolicy {
                    group: name.clone(),
                    policy_arn: policy_arn.clone(),
                });
            }
            if !repair.is_empty() {
                let actual = json!({
                    "inline_policies": group.inline_policies.iter().map(|(n, d)| (n.clone(), canonical(d))).collect::<BTreeMap<_, _>>(),
                    "managed_policy_arns": group.attached_policies,
                });
                findings.push(GROUP_POLICY_DRIFT.finding(
                    &arn,
                    format!(
                        "grant group {name} holds more or other than {}",
                        grant.policy_name
                    ),
                    expected,
                    actual,
                    repair,
                ));
            }
        }
    }
    for user in snapshot
        .users
        .iter()
        .filter(|user| user.groups.contains(&name) && !user.is_managed(config))
    {
        findings.push(UNMANAGED_MEMBER.finding(
            &arn,
            format!(
                "{} is in grant group {name} but is not a managed user",
                user.name
            ),
            json!([]),
            json!([user.arn]),
            vec![Change::RemoveUserFromGroup {
                user: user.name.clone(),
                group: name.clone(),
            }],
        ));
    }
    findings
}
