//! The rules about grant groups: their policy, and who is in them.

use super::*;

/// The findings about the grant group of `role`; `has_holders` says whether a managed user holds it.
pub(super) fn group_findings(
    context: &Context,
    role: &CatalogRole,
    has_holders: bool,
) -> Vec<Finding> {
    let name = grant_group_name(&role.name);
    let observed = context
        .snapshot
        .groups
        .iter()
        .find(|group| group.name == name);
    let mut findings = Vec::new();
    match observed {
        None if has_holders => findings.push(missing_group(context, role)),
        None => {}
        Some(group) => findings.extend(group_policy_drift(context, role, group)),
    }
    findings.extend(unmanaged_members(context, &name));
    findings
}

/// What a grant group must hold: its grant's inline policy, nothing attached.
fn expected_policies(grant: &Grant) -> Value {
    json!({"inline_policies": {&grant.policy_name: grant.document}, "managed_policy_arns": []})
}

fn missing_group(context: &Context, role: &CatalogRole) -> Finding {
    let grant = grant(role, context.config, context.account);
    let name = grant_group_name(&role.name);
    GROUP_POLICY_DRIFT.finding(
        &context.account.group_arn(&name),
        format!(
            "grant group {name} is missing while users hold role {}",
            role.name
        ),
        expected_policies(&grant),
        Value::Null,
        vec![
            Change::CreateGroup { name: name.clone() },
            Change::PutGroupPolicy {
                group: name.clone(),
                policy_name: grant.policy_name.clone(),
                document: grant.document.clone(),
            },
        ],
    )
}

fn group_policy_drift(
    context: &Context,
    role: &CatalogRole,
    group: &ObservedGroup,
) -> Option<Finding> {
    let grant = grant(role, context.config, context.account);
    let name = &group.name;
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
    if repair.is_empty() {
        return None;
    }
    let actual = json!({
        "inline_policies": group.inline_policies.iter().map(|(n, d)| (n.clone(), canonical(d))).collect::<BTreeMap<_, _>>(),
        "managed_policy_arns": group.attached_policies,
    });
    Some(GROUP_POLICY_DRIFT.finding(
        &context.account.group_arn(name),
        format!(
            "grant group {name} holds more or other than {}",
            grant.policy_name
        ),
        expected_policies(&grant),
        actual,
        repair,
    ))
}

fn unmanaged_members(context: &Context, group: &str) -> Vec<Finding> {
    context
        .snapshot
        .users
        .iter()
        .filter(|user| user.groups.iter().any(|g| g == group) && !user.is_managed(context.config))
        .map(|user| {
            UNMANAGED_MEMBER.finding(
                &context.account.group_arn(group),
                format!(
                    "{} is in grant group {group} but is not a managed user",
                    user.name
                ),
                json!([]),
                json!([user.arn]),
                vec![Change::RemoveUserFromGroup {
                    user: user.name.clone(),
                    group: group.to_string(),
                }],
            )
        })
        .collect()
}
